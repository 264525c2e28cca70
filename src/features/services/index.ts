/**
 * Services: gives each worktree its own Compose stack: compose files discovered and read from the
 * commit during checkout (`compose.ts`), literal ports and container names remapped through an
 * override, the runtime detected (`runtime.ts`), critical services started before `add` returns
 * when asked and the rest in a detached job, with the stack's live state (`stack.ts`).
 *
 * Plugs into the target stage (discovery, image pulls) and the checkout stage (override, start);
 * its teardown brings the stack down on `rm`.
 */
export { servicesFeature } from './feature.js';
