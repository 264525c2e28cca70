import type { Task } from '../core/graph.js';
import { writeWorktreeState } from '../git/worktree-state.js';
import type { CheckoutStage, Feature, SetupShared, Stages, TargetStage } from '../features/feature.js';
import { FEATURES } from './features.js';

/**
 * The feature tasks of a set-up run plus the final `write-state` task that persists what they
 * recorded. Shared by `add`, `setup` and the post-checkout hook; only their first stages differ.
 */
export function featureTasks(stages: Stages, shared: SetupShared, features: readonly Feature[] = FEATURES): Task<SetupShared>[] {
  const tasks = features.filter((f) => f.enabled?.(shared.options) ?? true).flatMap((f) => f.setupTasks(stages));
  const writeState: Task<SetupShared> = {
    name: 'write-state',
    deps: [stages.target, stages.checkout],
    after: tasks.map((t) => t.name),
    async run({ shared }, deps) {
      const target = deps[stages.target] as TargetStage;
      const checkout = deps[stages.checkout] as CheckoutStage;
      await writeWorktreeState(checkout.gitDir, {
        branch: target.branch,
        slug: target.slug,
        path: target.path,
        createdAt: new Date().toISOString(),
        createdBy: shared.command,
        runId: shared.runId,
        ...shared.state,
      });
    },
  };
  return [...tasks, writeState];
}
