import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckoutStage, Feature, RepoStage, TargetStage } from '../feature.js';
import type { DepsPlan } from './plan.js';

const PLAN = 'deps-plan';
const RESTORE = 'deps-restore';

/** The set-up code, loaded when a task of this feature runs: `rm` and `list` load this file only. */
const setup = () => import('./plan.js');

/**
 * Dependencies restored from the lockfile-keyed cache. `deps-plan` runs while `git worktree
 * add` checks out: it reads the target commit's lockfiles from the object store, computes the
 * key and restores the entry (or a spare, or a seed from another worktree) into a staging
 * directory next to the worktree. `deps-restore` renames it into place once checkout is done,
 * runs the package manager when the cache could not answer, and leaves what the user need not
 * wait for (snapshotting a new entry, making the next spare) to a background job.
 */
export const depsFeature: Feature = {
  name: 'deps',
  enabled: (options) => options.deps,
  setupTasks: (stages) => [
    {
      name: PLAN,
      deps: [stages.repo, stages.target],
      async run(ctx, deps) {
        const { planDeps } = await setup();
        const plan = await planDeps(ctx, deps[stages.repo] as RepoStage, deps[stages.target] as TargetStage);
        ctx.span.set('source', plan.source);
        if (plan.mode) ctx.span.set('linkMode', plan.mode);
        return plan;
      },
      async undo(_ctx, result) {
        const { staging } = result as DepsPlan;
        if (staging) await rm(staging, { recursive: true, force: true });
      },
    },
    {
      name: RESTORE,
      deps: [stages.repo, stages.target, stages.checkout, PLAN],
      async run(ctx, deps) {
        const { discardDirs, finishDeps, planDeps } = await setup();
        const where = deps[stages.repo] as RepoStage;
        const target = deps[stages.target] as TargetStage;
        const checkout = deps[stages.checkout] as CheckoutStage;
        let plan = deps[PLAN] as DepsPlan;
        // Planned for the spare worktree, but checkout fell back to `git worktree add`: plan again, for an empty worktree.
        if (plan.inPlace && !checkout.fromSpare) plan = await planDeps(ctx, where, { ...target, spare: undefined });
        if (checkout.fromSpare && plan.replace?.length) await discardDirs(where.repo, checkout.path, plan.replace, ctx.shared.runId);
        return finishDeps(ctx, where, checkout, plan);
      },
      async undo(_ctx, result) {
        // Only what this task placed; in `add` the worktree itself is removed by its own undo.
        const { path, dirs } = result as { path: string; dirs: string[] };
        await Promise.all(dirs.map((dir) => rm(join(path, dir), { recursive: true, force: true })));
      },
    },
  ],
};
