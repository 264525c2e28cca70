/**
 * Dependencies: gives a worktree its `node_modules` from a lockfile-keyed cache, fastest source
 * first (spare, cache hit, seed from a worktree with a complete install, partial entry plus an
 * offline reconcile, and only then a real install), and snapshots new installs in the background.
 *
 * Plugs into the target stage (the key is read from the commit while git checks out) and the
 * checkout stage (the restore). Owns: the cache and its entries (`cache.ts`, `cache-key.ts`,
 * `manifest.ts`), the plan and restore of one worktree (`plan.ts`, loaded only when a set-up runs), how files are placed (`link-modes.ts`), spare trees (`spares.ts`) and the
 * package managers (`package-manager.ts`).
 */
export { depsFeature } from './feature.js';
