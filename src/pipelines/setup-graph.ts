import type { Task } from '../core/graph.js';
import { writeWorktreeState } from '../git/worktree-state.js';
import type { CheckoutStage, Feature, SetupShared, Stages, TargetStage } from '../features/feature.js';
import { FEATURES } from './features.js';

/**
 * The feature tasks of a set-up run plus the final `write-state` task that persists what they
 * recorded. Shared by `add`, `setup` and the post-checkout hook; only their first stages differ.
 */
export function featureTasks(stages: Stages, shared: SetupShared, features: readonly Feature[] = FEATURES): Task<SetupShared>[] {
  const byFeature = features.map((f) => [f.name, (f.enabled?.(shared.options) ?? true) ? f.setupTasks(stages) : []] as const);
  shared.featureTasks = Object.fromEntries(byFeature.map(([name, tasks]) => [name, tasks.map((t) => t.name)]));
  const tasks = byFeature.flatMap(([, tasks]) => tasks);
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
