import { declaredFailpoints } from '../core/failpoint.js';
import { graphFailpoints } from '../core/graph.js';
import { depsFeature } from '../features/deps/index.js';
import type { SetupOptions, SetupShared } from '../features/feature.js';
import { addGraph } from './add.js';
import { removeGraph } from './remove.js';
import { setupGraph } from './setup.js';
import { SPARE_SETUP_GRAPH } from './spare-pool.js';

/**
 * Every failpoint (core/failpoint.ts) of `add`, `setup`, `rm` and the spare pool, from their
 * task graphs as they are built (every feature on) and the points declared inside multi-step
 * tasks: what the fault suite kills at, one after the other, with no hand-kept list. The
 * project's own tasks (added at run time from its config) are not among them.
 */
export function allFailpoints(): string[] {
  const options: SetupOptions = { deps: true, services: true, wait: false };
  const quiet = { log: () => undefined, warn: () => undefined };
  const shared = (command: SetupShared['command']): SetupShared => ({ command, runId: '', options, facts: {}, state: {}, ...quiet });
  const request = { cwd: '', target: '', options };
  return [
    ...graphFailpoints('add', addGraph({ ...request, branch: '' }, shared('add'))),
    ...graphFailpoints('setup', setupGraph({ ...request, command: 'setup' }, shared('setup'))),
    ...graphFailpoints('rm', removeGraph({ cwd: '', target: '', force: false, deleteBranch: false, volumes: false }, { runId: '', force: false, volumes: false, facts: {}, ...quiet }, quiet)),
    ...graphFailpoints(SPARE_SETUP_GRAPH, setupGraph({ ...request, command: 'setup' }, shared('setup'), [depsFeature])),
    ...declaredFailpoints(),
  ];
}
