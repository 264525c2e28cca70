import type { Feature } from '../pipelines/context.js';

/** Dependencies restored from the lockfile-keyed cache (issue #4 fills this in). */
export const depsFeature: Feature = {
  name: 'deps',
  enabled: (options) => options.deps,
  setupTasks: (stages) => [
    {
      name: 'deps-restore',
      deps: [stages.checkout],
      async run({ span }) {
        span.set('status', 'not implemented yet');
      },
    },
  ],
};
