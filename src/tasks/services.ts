import type { Feature } from '../pipelines/context.js';

/** The worktree's own Compose stack, started lazily in the background (issue #5 fills this in). */
export const servicesFeature: Feature = {
  name: 'services',
  enabled: (options) => options.services,
  setupTasks: (stages) => [
    {
      name: 'services-start',
      deps: [stages.checkout],
      after: ['ports', 'env-files'],
      async run({ span }) {
        span.set('status', 'not implemented yet');
      },
    },
  ],
};
