/**
 * Environment files: copies the ignored files a worktree needs (`.env`, what `.worktreeinclude`
 * lists) from the main worktree (`files-feature.ts`, `worktree-include.ts`), then writes vtree's
 * managed block of ports and `COMPOSE_PROJECT_NAME` into the worktree's `.env` (`block-feature.ts`,
 * `block.ts`), leaving every user line byte for byte.
 *
 * Both plug into the checkout stage.
 */
export { envFilesFeature } from './files-feature.js';
export { envBlockFeature } from './block-feature.js';
