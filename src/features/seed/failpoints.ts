import { declareFailpoints } from '../../core/failpoint.js';

/**
 * The crash windows inside the seed steps (core/failpoint.ts), killed at by the fault suite:
 * a worktree's clone made but its Docker volume not yet (`clone:copied`), the volume made but
 * not yet recorded (`clone:volume-created`); a golden build with its scratch stack up
 * (`build:started`), seeded but running (`build:seeded`), stopped but not published
 * (`build:stopped`); a spare copy made but not renamed ready (`spare:copied`). Declared when the
 * seed feature loads, so `allFailpoints()` lists them.
 */
export const SEED_FAILPOINTS = declareFailpoints('seed', ['clone:copied', 'clone:volume-created', 'build:started', 'build:seeded', 'build:stopped', 'spare:copied']);
