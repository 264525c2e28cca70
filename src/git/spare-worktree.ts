import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, realpath, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { startBackgroundJob } from '../core/background.js';
import { errorMessage } from '../core/errors.js';
import { declareFailpoints, failpoint } from '../core/failpoint.js';
import { git } from '../core/exec.js';
import { exists, isErrno, writeFileAtomic } from '../core/files.js';
import { isProcessAlive } from '../core/pid.js';
import type { BranchPlan } from './branch.js';
import type { Config } from './config.js';
import type { Repo } from './repo.js';
import { pathTemplate, worktreesRoot } from './worktree-path.js';
import { readWorktreeState, worktreeGitDir, type WorktreeState } from './worktree-state.js';
import { destroyWorktree, isSpare, retryWorktreeRace, SPARE_LOCK_REASON, type WorktreeEntry } from './worktree.js';

// Spare worktrees: worktrees checked out ahead of time, detached and locked, kept in a pool
// beside the real ones, so that `git vtree add` renames one into place and switches it to the
// new branch instead of checking every file out. See docs/spares.md.

/** The pool's directory name inside the worktrees directory; hidden, so neither the user nor an IDE takes it for a worktree. */
export const SPARES_DIR_NAME = '.vtree-spares';

/** The null object name git passes as the previous HEAD to post-checkout in a new worktree. */
const NULL_OID = '0'.repeat(40);

/**
 * git as vtree runs it on spares: hooks off (they run once, as `git worktree add` would run
 * them, when a spare is claimed), and vtree's own post-checkout hook told to stand aside.
 */
const SPARE_GIT = ['-c', 'core.hooksPath=/dev/null'];
const SPARE_ENV = { ...process.env, VTREE_CALLER: 'add' };

/** How many spare worktrees to keep ready: config `vtree.spares.worktrees` (default 1; 0 turns spares off). */
export function sparesWanted(config: Config): number {
  return config.integer('vtree.spares.worktrees', 1);
}

/**
 * Starts the background job that keeps the pool full and fresh (`git vtree __job spare-worktrees`),
 * once this process has exited. Never fails the command: a failure is a warning.
 */
export async function startSpareJob(repo: Repo, runId: string, warn: (line: string) => void): Promise<void> {
  const args = [String(process.pid)];
  await startBackgroundJob({ job: 'spare-worktrees', id: runId, commonDir: repo.commonDir, args, cwd: repo.mainPath }).catch((error: unknown) =>
    warn(`could not start making a spare worktree in the background: ${errorMessage(error)}`),
  );
}

/** The pool of spare worktrees for worktrees placed by `template` (config `vtree.path`). */
export function sparePoolDir(repo: Repo, template: string): string {
  return join(worktreesRoot(repo, template), SPARES_DIR_NAME);
}

/** The pool of spare worktrees for the configured `vtree.path`, confined as `add` confines it ({@link pathTemplate}). */
export async function configuredSparePool(repo: Repo, config: Config, warn: (line: string) => void): Promise<string> {
  return sparePoolDir(repo, await pathTemplate(repo, config, undefined, warn));
}

/** Spares ready to be claimed: registered at `<pool>/<id>` (not being built, refreshed or recycled). */
export function readySpares(worktrees: readonly WorktreeEntry[], pool: string): WorktreeEntry[] {
  return worktrees.filter((w) => isSpare(w) && dirname(w.path) === pool && !basename(w.path).startsWith('.'));
}

/** A spare `add` has taken out of the pool. */
export interface ClaimedSpare {
  /** Where it sat in the pool (and where git's admin dir still says it is until repaired). */
  from: string;
  /** The commit it had checked out. */
  head: string;
  gitDir: string;
  /** What the spare job recorded of it (`deps`: the dependencies it holds). */
  state?: WorktreeState;
  /** Set once `add` started changing it: from then on it can no longer go back to the pool. */
  consumed: boolean;
}

/**
 * Takes a ready spare by renaming it onto `target` (an empty directory this run claimed). The
 * rename is the claim: of concurrent `add`s only one can move a given directory, the others get
 * ENOENT and try the next spare or the ordinary path. `undefined` when none could be taken (none
 * ready, all taken, or the pool is on another filesystem than `target`).
 */
export async function claimSpare(worktrees: readonly WorktreeEntry[], pool: string, target: string): Promise<ClaimedSpare | undefined> {
  for (const spare of readySpares(worktrees, pool)) {
    try {
      await rename(spare.path, target);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) continue; // another add (or the spare job) took it first
      if (isErrno(error, 'EXDEV', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'EINVAL')) return undefined;
      throw error;
    }
    const gitDir = await worktreeGitDir(target);
    const state = await readWorktreeState(gitDir);
    return { from: spare.path, head: spare.head ?? '', gitDir, consumed: false, ...(state ? { state } : {}) };
  }
  return undefined;
}

/** Puts a claimed spare nobody has changed back into the pool. */
export async function returnSpare(spare: ClaimedSpare, target: string): Promise<void> {
  if (spare.consumed) return;
  await rename(target, spare.from).catch((error: unknown) => {
    if (!isErrno(error, 'ENOENT')) throw error;
  });
}

/**
 * Turns the spare now at `path` into the worktree `git worktree add` would have made for
 * `plan`: switches it to the branch (writing only the files that differ from the spare's
 * commit), then tells git where it is now and unlocks it, then runs the user's post-checkout
 * hook, if there is one, with the arguments `git worktree add` passes (null previous HEAD).
 * Throws {@link HookFailedError} when the hook fails, as `git worktree add` fails then.
 *
 * The spare stays locked as a spare until it has been switched, so a run killed part way leaves
 * a directory that `isInterruptedClaim` (git/worktree.ts) recognises and the next run reclaims.
 */
export async function switchSpare(path: string, gitDir: string, spareHead: string, plan: BranchPlan, signal: AbortSignal): Promise<void> {
  const switchArgs =
    plan.kind === 'new'
      ? ['switch', '-q', '--no-track', '-c', plan.branch, plan.commit]
      : plan.kind === 'remote'
        ? ['switch', '-q', '--track', '-c', plan.branch, plan.remoteRef]
        : ['switch', '-q', '--no-guess', plan.branch];
  const [hook] = await Promise.all([
    // Where git looks for the hook (core.hooksPath honoured), asked while the switch runs.
    git(path, ['rev-parse', '--path-format=absolute', '--git-path', 'hooks/post-checkout'], { signal }),
    spareHead === plan.commit && plan.kind !== 'local'
      ? pointAtNewBranch(path, spareHead, plan, signal)
      : retryWorktreeRace(() => git(path, [...SPARE_GIT, ...switchArgs], { signal, env: SPARE_ENV })),
  ]);
  // What `git worktree repair <path>` and `git worktree unlock` do, done as git does them (the
  // admin dir's `gitdir` names the worktree's .git file; `locked` holds the lock reason), without
  // two git processes on the critical path.
  await writeFileAtomic(join(gitDir, 'gitdir'), `${join(await realpath(path), '.git')}\n`);
  await rm(join(gitDir, 'locked'), { force: true });
  if (!(await isExecutable(hook))) return;
  try {
    await git(path, ['hook', 'run', '--ignore-missing', 'post-checkout', '--', NULL_OID, plan.commit, '1'], { signal, env: SPARE_ENV });
  } catch (error) {
    throw new HookFailedError(errorMessage(error), { cause: error });
  }
}

/**
 * A new branch at the commit the spare already has checked out: what `git switch -c` does then
 * (create the branch, with its upstream for a remote one; point HEAD at it), without git reading
 * and rewriting an index that does not change, which on a large repository is most of the cost.
 * Creating the branch is atomic, so of two racing `add`s of one branch only one gets it.
 */
async function pointAtNewBranch(path: string, head: string, plan: BranchPlan & { kind: 'new' | 'remote' }, signal: AbortSignal): Promise<void> {
  const branchArgs = plan.kind === 'new' ? ['branch', '--no-track', plan.branch, plan.commit] : ['branch', '--track', plan.branch, plan.remoteRef];
  await git(path, branchArgs, { signal, env: SPARE_ENV });
  await git(path, ['symbolic-ref', '-m', `checkout: moving from ${head} to ${plan.branch}`, 'HEAD', `refs/heads/${plan.branch}`], { signal, env: SPARE_ENV });
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The user's post-checkout hook failed in a claimed spare: `git worktree add` would have failed too. */
export class HookFailedError extends Error {}

/**
 * Checks a new spare out at `commit` under `<pool>/.build/<id>` (hooks off, locked as a spare
 * from its first moment, so no prune, `rm` or `add` touches it). Returns its path.
 */
export async function createSpare(mainPath: string, pool: string, commit: string, signal?: AbortSignal): Promise<string> {
  const path = join(pool, '.build', `s${randomBytes(5).toString('hex')}`);
  await mkdir(dirname(path), { recursive: true });
  const args = [...SPARE_GIT, 'worktree', 'add', '-q', '--detach', '--lock', '--reason', `${SPARE_LOCK_REASON} (see docs/spares.md; git vtree cache prune removes it)`, '--', path, commit];
  await retryWorktreeRace(
    () => git(mainPath, args, { env: SPARE_ENV, ...(signal ? { signal } : {}) }),
    () => destroyWorktree(mainPath, path),
  );
  return path;
}

/** Moves a spare to `to` and tells git (its admin dir records the path). */
export async function moveSpare(mainPath: string, from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to);
  await git(mainPath, ['worktree', 'repair', '--', to]);
}

/** Detaches the spare at `path` onto `commit`, writing only what differs (hooks off). */
export async function switchSpareDetached(path: string, commit: string): Promise<void> {
  await retryWorktreeRace(() => git(path, [...SPARE_GIT, 'switch', '-q', '--detach', commit], { env: SPARE_ENV }));
}

/** Whether `spare` was locked for recycling by an `rm` that is gone (the lock reason names its pid). */
export function recyclerGone(spare: WorktreeEntry): boolean {
  const pid = Number(/\(recycled by (\d+)\)$/.exec(spare.lockReason ?? '')?.[1]);
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isProcessAlive(pid);
}

/** Crash windows of `rm` recycling a worktree (core/failpoint.ts). */
const RECYCLE = declareFailpoints('rm:recycle', ['detached', 'locked']);

/**
 * Makes the clean worktree at `path` a spare in the making: detached at its commit (its branch
 * is free again), locked as a spare, moved to `<pool>/.recycle/<id>`. The spare job finishes it.
 * When a step fails the worktree is removed, wherever it is by then: `rm` was removing it anyway.
 */
export async function recycleWorktree(mainPath: string, path: string, pool: string): Promise<string> {
  const to = join(pool, '.recycle', `s${randomBytes(5).toString('hex')}`);
  try {
    await git(path, [...SPARE_GIT, 'switch', '-q', '--detach'], { env: SPARE_ENV });
    failpoint(RECYCLE.detached);
    await git(mainPath, ['worktree', 'lock', '--reason', `${SPARE_LOCK_REASON} (recycled by ${process.pid})`, '--', path]);
    failpoint(RECYCLE.locked);
    await moveSpare(mainPath, path, to);
  } catch (error) {
    await destroyWorktree(mainPath, (await exists(to)) ? to : path).catch(() => undefined);
    throw error;
  }
  return to;
}
