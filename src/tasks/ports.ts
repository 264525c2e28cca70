import type { Feature } from '../pipelines/context.js';

/** Per-worktree port leases (issue #5 fills this in). */
export const portsFeature: Feature = {
  name: 'ports',
  setupTasks: (stages) => [
    {
      name: 'ports',
      deps: [stages.target],
      async run({ span }) {
        span.set('status', 'not implemented yet');
      },
    },
  ],
};
