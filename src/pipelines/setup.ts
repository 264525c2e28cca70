import { UsageError } from '../core/errors.js';
import type { Task } from '../core/graph.js';
import { newRunId } from '../observe/metrics.js';
import { Profiler } from '../core/profiler.js';
import { uniqueSlug } from '../git/slug.js';
import { worktreeProject } from '../git/project-prefix.js';
import { readWorktreeState, worktreeGitDir } from '../git/worktree-state.js';
import { listWorktrees, unfinishedAdd } from '../git/worktree.js';
import { reclaimUnfinishedAdds } from '../git/worktree-path.js';
import type { Reporter } from './add.js';
import type { CheckoutStage, Feature, RepoStage, SetupOptions, SetupShared, Stages, TargetStage } from '../features/feature.js';
import { FEATURES } from './features.js';
import { identifiedBy, runRecorded, topLevelSteps } from './record.js';
import { findWorktree } from './remove.js';
import { RESOLVE_REPO, resolveRepoTask } from './repo-stage.js';
import { featureTasks } from './setup-graph.js';

/** What `git vtree setup` (or the post-checkout hook) was asked to do. */
export interface SetupRequest {
  cwd: string;
  /** Branch, slug or path of the worktree; default: the worktree `cwd` is in. */
  target?: string;
  /** `hook` when the post-checkout hook runs it (recorded as such in metrics.json). */
  command: 'setup' | 'hook';
  options: SetupOptions;
  /** The graph's name in failpoints (core/failpoint.ts), when not `command`: the spare pool's set-ups are its own. */
  failpoints?: string;
}

/** What a set-up run did; also the `--json` output of `git vtree setup`. */
export interface SetupResult {
  runId: string;
  branch: string;
  slug: string;
  path: string;
  commit: string;
  /** Wall-clock ms of the whole run. */
  duration: number;
  facts: Record<string, unknown>;
  steps: ReturnType<typeof topLevelSteps>;
}

/** The one task that finds the existing worktree; it provides both the target and the checkout stage. */
const LOCATE = 'locate-worktree';

/** Task names that provide each stage in `setup` and the hook: the worktree is already on disk. */
export const SETUP_STAGES: Stages = { repo: RESOLVE_REPO, target: LOCATE, checkout: LOCATE };

/**
 * `git vtree setup` and the post-checkout hook: every feature's set-up tasks for a worktree that
 * already exists (made by plain `git worktree add`, with `--no-checkout`, before the hook was
 * installed, or after a failed set-up). Running it again sets the worktree up again with the
 * slug it was given the first time, so it is idempotent as far as each feature is. `features`
 * defaults to every feature (the spare job sets spares up with dependencies only). Every run,
 * failed or not, is appended to `.git/vibetrees/metrics.json` as command `setup` or `hook`.
 */
export async function setupWorktree(request: SetupRequest, reporter: Reporter, signal?: AbortSignal, features: readonly Feature[] = FEATURES): Promise<SetupResult> {
  const profiler = new Profiler();
  const shared: SetupShared = { command: request.command, runId: newRunId(profiler.startedAt), options: request.options, facts: {}, state: {}, ...reporter };
  const { results, record } = await runRecorded(setupGraph(request, shared, features), {
    command: request.command,
    profiler,
    shared,
    ...(signal ? { signal } : {}),
    ...(request.failpoints ? { failpoints: request.failpoints } : {}),
    identify: identifiedBy(LOCATE),
  });
  const target = results.get(LOCATE) as TargetStage;
  return {
    runId: shared.runId,
    branch: target.branch,
    slug: target.slug,
    path: target.path,
    commit: target.commit,
    duration: record.duration,
    facts: shared.facts,
    steps: topLevelSteps(record),
  };
}

/** The task graph of `git vtree setup` and the post-checkout hook. */
export function setupGraph(request: SetupRequest, shared: SetupShared, features: readonly Feature[] = FEATURES): Task<SetupShared>[] {
  return [
    resolveRepoTask(request.cwd),
    { name: LOCATE, deps: [RESOLVE_REPO], run: (_ctx, deps) => locate(deps[RESOLVE_REPO] as RepoStage, request) },
    ...featureTasks(SETUP_STAGES, shared, features),
  ];
}

/**
 * Finds the worktree to set up: the one named by `request.target`, or the one `cwd` is in.
 * Refuses the main worktree (features copy from it) and a worktree whose directory is gone.
 */
async function locate(where: RepoStage, request: SetupRequest): Promise<TargetStage & CheckoutStage> {
  const { repo } = where;
  const named = request.target ?? repo.toplevel;
  // What a killed `git worktree add` left is reclaimed first, never set up as if it were a worktree.
  const worktrees = (await reclaimUnfinishedAdds(repo.mainPath, repo.worktrees)) ? await listWorktrees(repo.mainPath) : repo.worktrees;
  const entry = named === null ? undefined : await findWorktree(worktrees, named, request.cwd);
  if (!entry) {
    throw new UsageError(
      request.target === undefined ? `${request.cwd} is not inside a worktree` : `no worktree of this repository matches '${request.target}'`,
      'git vtree list',
    );
  }
  if (entry.main || entry.bare) throw new UsageError(`${entry.path} is the main worktree; vtree sets up linked worktrees only`, 'git vtree add <branch>');
  if (entry.prunable) throw new UsageError(`worktree ${entry.path} is missing on disk`, 'git worktree prune');
  if (await unfinishedAdd(entry)) throw new UsageError(`worktree ${entry.path} is still being created by git worktree add`, 'wait for it to finish, then run: git vtree setup');
  const gitDir = await worktreeGitDir(entry.path);
  const state = await readWorktreeState(gitDir);
  const slug = typeof state?.slug === 'string' ? state.slug : uniqueSlug(entry.path, repo.worktrees.map((w) => w.path));
  return {
    branch: entry.branch ?? 'HEAD',
    slug,
    project: await worktreeProject(repo, slug, state),
    path: entry.path,
    commit: entry.head ?? '',
    gitDir,
  };
}
