import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { planBranch, type BranchPlan } from '../git/branch.js';
import { errorMessage } from '../core/errors.js';
import { declareFailpoints, failpoint } from '../core/failpoint.js';
import { worktreeStatePath } from '../core/paths.js';
import { git } from '../core/exec.js';
import type { Task } from '../core/graph.js';
import { newRunId } from '../observe/metrics.js';
import { Profiler } from '../core/profiler.js';
import { worktreeGitDir } from '../git/worktree-state.js';
import { destroyWorktree, removeAdminDirs, retryWorktreeRace } from '../git/worktree.js';
import type { Repo } from '../git/repo.js';
import { projectPrefix } from '../git/project-prefix.js';
import { composeProjectName } from '../git/slug.js';
import { claimWorktreePath, dropClaimMarker, pathTemplate, releaseClaim, type ClaimedPath } from '../git/worktree-path.js';
import { claimSpare, HookFailedError, returnSpare, sparePoolDir, sparesWanted, startSpareJob, switchSpare } from '../git/spare-worktree.js';
import type { CheckoutStage, Feature, RepoStage, SetupOptions, SetupShared, Stages, TargetStage } from '../features/feature.js';
import { FEATURES } from './features.js';
import { identifiedBy, runRecorded, topLevelSteps } from './record.js';
import { RESOLVE_REPO, resolveRepoTask } from './repo-stage.js';
import { featureTasks } from './setup-graph.js';

/** What `git vtree add` was asked to do. */
export interface AddRequest {
  cwd: string;
  branch: string;
  from?: string;
  path?: string;
  options: SetupOptions;
}

/** What `git vtree add` did; also the `--json` output. */
export interface AddResult {
  runId: string;
  branch: string;
  slug: string;
  path: string;
  commit: string;
  /** How the branch was obtained. */
  branchSource: BranchPlan['kind'];
  /** Wall-clock ms of the whole run. */
  duration: number;
  facts: Record<string, unknown>;
  steps: Array<{ name: string; start: number; duration: number; ok: boolean; detail?: Record<string, unknown> }>;
}

/** Where the user sees progress. */
export interface Reporter {
  log(line: string): void;
  warn(line: string): void;
}

/** Environment for git commands vtree runs itself, so vtree's own post-checkout hook stands aside. */
export const VTREE_CALLER_ENV = { ...process.env, VTREE_CALLER: 'add' };

/** Crash windows inside `git-worktree-add` (core/failpoint.ts), besides its task boundaries. */
const FAIL = declareFailpoints('add:git-worktree-add', ['spare-state-dropped', 'spare-switched', 'checked-out']);

/** Task names that provide each stage in `add`. */
export const ADD_STAGES: Stages = { repo: RESOLVE_REPO, target: 'claim-path', checkout: 'git-worktree-add' };

/**
 * `git vtree add`: a task graph that resolves the repository and branch, claims the directory,
 * runs `git worktree add` and, concurrently where they can, every feature's set-up tasks. A
 * failure or an abort of `signal` rolls back what the run created. Every run, failed or not, is
 * appended to `.git/vibetrees/metrics.json`. `features` defaults to every feature of
 * `pipelines/features.ts`.
 */
export async function addWorktree(
  request: AddRequest,
  reporter: Reporter,
  signal?: AbortSignal,
  features: readonly Feature[] = FEATURES,
): Promise<AddResult> {
  const profiler = new Profiler();
  const shared: SetupShared = { command: 'add', runId: newRunId(profiler.startedAt), options: request.options, facts: {}, state: {}, ...reporter };
  const { results, record } = await runRecorded(addGraph(request, shared, features), {
    command: 'add',
    profiler,
    shared,
    ...(signal ? { signal } : {}),
    // The branch as typed: a failed run may not have got as far as claiming a directory.
    identify: (known) => ({ ...identifiedBy(ADD_STAGES.target)(known), branch: request.branch }),
  });
  const target = results.get(ADD_STAGES.target) as TargetStage;
  const plan = results.get('resolve-branch') as BranchPlan;
  const { repo, config } = results.get(RESOLVE_REPO) as RepoStage;
  // Top the pool of spare worktrees up (and bring it forward) once this command has returned.
  if (sparesWanted(config) > 0) await startSpareJob(repo, shared.runId, reporter.warn);
  return {
    runId: shared.runId,
    branch: target.branch,
    slug: target.slug,
    path: target.path,
    commit: target.commit,
    branchSource: plan.kind,
    duration: record.duration,
    facts: shared.facts,
    steps: topLevelSteps(record),
  };
}

/** The task graph of `git vtree add` (also what failpoints are listed from, pipelines/failpoints.ts). */
export function addGraph(request: AddRequest, shared: SetupShared, features: readonly Feature[] = FEATURES): Task<SetupShared>[] {
  return [resolveRepoTask(request.cwd), ...coreTasks(request), ...featureTasks(ADD_STAGES, shared, features)];
}

function coreTasks(request: AddRequest): Task<SetupShared>[] {
  return [
    {
      name: 'resolve-branch',
      deps: [RESOLVE_REPO],
      async run({ span }, deps) {
        const { repo } = deps[RESOLVE_REPO] as RepoStage;
        const plan = await planBranch(repo, request.branch, request.from);
        span.set('kind', plan.kind);
        return plan;
      },
    },
    {
      name: 'claim-path',
      deps: [RESOLVE_REPO, 'resolve-branch'],
      async run({ shared, span }, deps): Promise<TargetStage & { claim: ClaimedPath }> {
        const { repo, config } = deps[RESOLVE_REPO] as RepoStage;
        const plan = deps['resolve-branch'] as BranchPlan;
        // Before the claim: what fails here leaves nothing to give back.
        const [template, prefix] = await Promise.all([request.path === undefined ? pathTemplate(repo, config, plan.branch, shared.warn) : '', projectPrefix(repo)]);
        const claim = await claimWorktreePath(repo, plan.branch, template, request.path);
        span.set('path', claim.path);
        if (!claim.created) shared.state.existedBefore = true;
        // A spare worktree renamed onto the claimed (empty) directory: checkout then only switches it.
        // (Not for --path: the pool lives in the directory vtree.path puts worktrees in.)
        const spare = request.path === undefined && sparesWanted(config) > 0 ? await claimSpare(repo.worktrees, sparePoolDir(repo, template), claim.path) : undefined;
        if (spare) span.set('spare', spare.from);
        return { branch: plan.branch, slug: claim.slug, project: composeProjectName(prefix, claim.slug), path: claim.path, commit: plan.commit, claim, ...(spare ? { spare } : {}) };
      },
      async undo(_ctx, result) {
        const { claim, spare } = result as TargetStage & { claim: ClaimedPath };
        // Untouched by checkout (a failure or Ctrl-C came first): it goes back to the pool as it was.
        if (spare) await returnSpare(spare, claim.path);
        await releaseClaim(claim);
      },
    },
    {
      name: 'git-worktree-add',
      deps: [RESOLVE_REPO, 'resolve-branch', 'claim-path'],
      async run({ signal, span, shared }, deps): Promise<CheckoutStage & { createdBranch?: string }> {
        const { repo } = deps[RESOLVE_REPO] as RepoStage;
        const plan = deps['resolve-branch'] as BranchPlan;
        const { path, spare } = deps['claim-path'] as TargetStage;
        const ours = plan.kind === 'local' ? undefined : plan.branch;
        if (spare) {
          spare.consumed = true;
          try {
            // The spare's vtree.json describes the spare, not this worktree: a crash from here on
            // must leave a worktree that reads as never set up (its state was read at the claim).
            await rm(worktreeStatePath(spare.gitDir), { force: true });
            failpoint(FAIL['spare-state-dropped']);
            await switchSpare(path, spare.gitDir, spare.head, plan, signal);
            failpoint(FAIL['spare-switched']);
            await dropClaimMarker((deps['claim-path'] as { claim: ClaimedPath }).claim);
            span.set('spare', spare.head === plan.commit ? 'same commit' : 'switched from another commit');
            span.set('branch', plan.kind === 'local' ? 'existing' : `created (${plan.kind})`);
            return { path, gitDir: spare.gitDir, fromSpare: true, ...(ours ? { createdBranch: ours } : {}) };
          } catch (error) {
            // Nothing of the spare stays half-switched: it goes, with the branch it may have made.
            await destroyWorktree(repo.mainPath, path).catch(() => undefined);
            if (ours !== undefined && !/already exists/.test(errorMessage(error))) await git(repo.cwd, ['branch', '-D', '--', ours]).catch(() => undefined);
            if (signal.aborted || error instanceof HookFailedError) throw error;
            shared.warn(`could not use the spare worktree (${errorMessage(error).split('\n')[0]}); checking out with git worktree add`);
            span.set('spare', `fell back: ${errorMessage(error).split('\n')[0]}`);
            await mkdir(path, { recursive: true });
          }
        }
        const args =
          plan.kind === 'new'
            ? ['worktree', 'add', '--no-track', '-b', plan.branch, '--', path, plan.commit]
            : plan.kind === 'remote'
              ? ['worktree', 'add', '--track', '-b', plan.branch, '--', path, plan.remoteRef]
              : ['worktree', 'add', '--', path, plan.branch];
        try {
          await retryWorktreeRace(
            () => git(repo.cwd, args, { signal, env: VTREE_CALLER_ENV }),
            () => cleanUpFailedCheckout(repo, path, ours),
          );
        } catch (error) {
          // git itself failed or was interrupted part way: undo its half-made worktree and branch.
          // If git refused because the branch appeared meanwhile, that branch is someone else's.
          await cleanUpFailedCheckout(repo, path, /already exists/.test(errorMessage(error)) ? undefined : ours);
          throw error;
        }
        failpoint(FAIL['checked-out']);
        // The directory holds a checkout now: a crash from here on leaves a registered worktree, not an empty claim.
        await dropClaimMarker((deps['claim-path'] as { claim: ClaimedPath }).claim);
        span.set('branch', plan.kind === 'local' ? 'existing' : `created (${plan.kind})`);
        return { path, gitDir: await worktreeGitDir(path), ...(plan.kind === 'local' ? {} : { createdBranch: plan.branch }) };
      },
      async undo(_ctx, result) {
        const { path, createdBranch } = result as CheckoutStage & { createdBranch?: string };
        await removeCreatedWorktree(request.cwd, path, createdBranch);
      },
    },
  ];
}

/**
 * Undoes what a failed `git worktree add` may have made: its worktree registration, the files it
 * checked out and the branch (`-b` creates it before checking out). The claimed directory itself
 * is emptied, not removed, so that the claim holds for a retry.
 */
async function cleanUpFailedCheckout(repo: Repo, path: string, branch: string | undefined): Promise<void> {
  const cwd = repo.cwd;
  await git(cwd, ['worktree', 'remove', '--force', '--force', '--', path]).catch(() => undefined);
  await mkdir(path, { recursive: true });
  const leftovers = await readdir(path);
  await Promise.all(leftovers.map((entry) => rm(join(path, entry), { recursive: true, force: true })));
  // What `worktree remove` refuses: an admin dir registering a directory with no checkout in it.
  await removeAdminDirs(repo.commonDir, path, { failedCheckout: true });
  if (branch !== undefined) await git(cwd, ['branch', '-D', '--', branch]).catch(() => undefined);
}

async function removeCreatedWorktree(cwd: string, path: string, branch: string | undefined): Promise<void> {
  // Twice --force: also removes a worktree a failing task left locked or dirty; it is ours.
  await git(cwd, ['worktree', 'remove', '--force', '--force', '--', path]);
  if (branch !== undefined) await git(cwd, ['branch', '-D', '--', branch]);
}
