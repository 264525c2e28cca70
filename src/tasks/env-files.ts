import type { Feature } from '../pipelines/context.js';

/** Ignored files a new worktree needs (`.env`), copied from the main worktree (issue #4 fills this in). */
export const envFilesFeature: Feature = {
  name: 'env-files',
  setupTasks: (stages) => [
    {
      name: 'env-files',
      deps: [stages.checkout],
      async run({ span }) {
        span.set('status', 'not implemented yet');
      },
    },
  ],
};
