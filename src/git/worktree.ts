import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exists } from '../core/files.js';
import { CommandError } from '../core/errors.js';
import { git } from '../core/exec.js';
import { escapeRegExp } from '../core/regexp.js';
import { worktreeGitDir } from './worktree-state.js';

/** One entry of `git worktree list --porcelain`. */
export interface WorktreeEntry {
  path: string;
  /** Commit checked out, absent for a bare entry. */
  head?: string;
  /** Short branch name (`feat/x`), absent when detached or bare. */
  branch?: string;
  bare: boolean;
  detached: boolean;
  locked: boolean;
  /** Why it is locked, when a reason was given (`git worktree lock --reason`). */
  lockReason?: string;
  /** git considers it prunable (its directory is gone). */
  prunable: boolean;
  /** The first entry: the main worktree (or the bare repository itself). */
  main: boolean;
}

/** Every spare worktree's lock reason starts with this: how vtree (and `git worktree list`) tells spares from real worktrees (git/spare-worktree.ts). */
export const SPARE_LOCK_REASON = 'git vtree spare';

/** True when `worktree` is one of vtree's spare worktrees (by its lock reason). */
export function isSpare(worktree: WorktreeEntry): boolean {
  return worktree.lockReason?.startsWith(SPARE_LOCK_REASON) ?? false;
}

/** Every worktree of the repository `cwd` belongs to, the main one first. */
export async function listWorktrees(cwd: string): Promise<WorktreeEntry[]> {
  const out = await retryWorktreeRace(() => git(cwd, ['worktree', 'list', '--porcelain', '-z']));
  return parseWorktreeList(out);
}

/**
 * True when git died reading the half-written admin directory of a worktree that another process
 * is creating at this moment (git 2.39 reads every `.git/worktrees/<id>/` without a lock, and a
 * concurrent `git worktree add` writes `gitdir` and `commondir` one after the other). Such a
 * command changed nothing and can simply be run again.
 */
export function isWorktreeRace(error: unknown): boolean {
  return error instanceof CommandError && /failed to read .*worktrees\/[^/]+\/(commondir|gitdir)|could not lock config file/.test(error.stderr);
}

/** Runs `fn`, again after a short, jittered pause while it fails with {@link isWorktreeRace} (5 tries). */
export async function retryWorktreeRace<T>(fn: () => Promise<T>, beforeRetry?: () => Promise<void>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= 5 || !isWorktreeRace(error)) throw error;
      await beforeRetry?.();
      await sleep(10 * attempt + Math.random() * 20);
    }
  }
}

/** Parses `git worktree list --porcelain -z` output: records separated by an empty field. */
export function parseWorktreeList(out: string): WorktreeEntry[] {
  const entries: WorktreeEntry[] = [];
  let current: WorktreeEntry | undefined;
  for (const field of out.split('\0')) {
    if (field === '') {
      current = undefined;
      continue;
    }
    const space = field.indexOf(' ');
    const key = space === -1 ? field : field.slice(0, space);
    const value = space === -1 ? '' : field.slice(space + 1);
    if (key === 'worktree') {
      current = { path: value, bare: false, detached: false, locked: false, prunable: false, main: entries.length === 0 };
      entries.push(current);
    } else if (current) {
      if (key === 'HEAD') current.head = value;
      else if (key === 'branch') current.branch = value.replace(/^refs\/heads\//, '');
      else if (key === 'bare') current.bare = true;
      else if (key === 'detached') current.detached = true;
      else if (key === 'locked') {
        current.locked = true;
        if (value) current.lockReason = value;
      }
      else if (key === 'prunable') current.prunable = true;
    }
  }
  return entries;
}

/**
 * Removes the admin directories (`<common>/worktrees/<id>`) that register a worktree at `path`
 * whose directory holds no checkout: what a `git worktree add` that failed or was killed part
 * way leaves, which `git worktree remove` refuses ("not a working tree"). The same as `git
 * worktree prune` for that one path, never for the user's other worktrees. A locked one stays,
 * unless `failedCheckout`: this run's own `git worktree add` of `path` just failed, so its admin
 * dir may still hold git's "initializing" lock, or not yet name `path` at all (killed before it
 * wrote `gitdir`: then it is known by its name, `path`'s base name with git's optional number).
 */
export async function removeAdminDirs(commonDir: string, path: string, options: { failedCheckout?: boolean } = {}): Promise<string[]> {
  const admin = join(commonDir, 'worktrees');
  const ids = await readdir(admin).catch(() => [] as string[]);
  const removed: string[] = [];
  const ownName = new RegExp(`^${escapeRegExp(basename(path))}\\d*$`);
  await Promise.all(
    ids.map(async (id) => {
      const gitdir = (await readFile(join(admin, id, 'gitdir'), 'utf8').catch(() => '')).trim();
      const names = gitdir === '' ? options.failedCheckout === true && ownName.test(id) : resolve(gitdir) === join(path, '.git');
      if (!names) return;
      if (!options.failedCheckout && (await exists(join(admin, id, 'locked')))) return;
      if (await exists(join(path, '.git'))) return;
      await rm(join(admin, id), { recursive: true, force: true });
      removed.push(id);
    }),
  );
  return removed;
}

/**
 * Removes a worktree completely: its directory and git's admin dir, even when git no longer
 * finds it at `path` (a spare renamed but not yet repaired) or it is locked.
 */
export async function destroyWorktree(mainPath: string, path: string): Promise<void> {
  const gitDir = await worktreeGitDir(path);
  try {
    await git(mainPath, ['worktree', 'remove', '--force', '--force', '--', path]);
    return;
  } catch {
    // Not where git thinks it is: remove both halves by hand.
  }
  await rm(path, { recursive: true, force: true, maxRetries: 3 });
  if (basename(dirname(gitDir)) === 'worktrees') await rm(gitDir, { recursive: true, force: true });
}

/** The lock reason `git worktree add` writes while it creates a worktree (C locale; git translates it). */
const GIT_ADD_LOCK_REASON = 'initializing';

/**
 * What a `git worktree add` killed part way left at `worktree`, if it is that: a registered
 * worktree still locked by git's own "initializing" (any lock, when `claimedByDeadRun`: a vtree
 * run claimed the directory and died, and vtree never locks a worktree it adds), `never checked
 * out` (killed before its checkout: no index, HEAD may still be the null object) or `checked out`
 * (killed between the checkout and the unlock). A spare is never one. A `git worktree add`
 * running right now looks the same: callers judge liveness.
 */
export async function unfinishedAdd(worktree: WorktreeEntry, claimedByDeadRun = false): Promise<'never checked out' | 'checked out' | undefined> {
  if (!worktree.locked || worktree.main || worktree.bare || worktree.prunable || isSpare(worktree)) return undefined;
  if (!claimedByDeadRun && worktree.lockReason !== GIT_ADD_LOCK_REASON) return undefined;
  return (await exists(join(await worktreeGitDir(worktree.path), 'index'))) ? 'checked out' : 'never checked out';
}

/**
 * Finishes off what a dead `git worktree add` left at `worktree`: a directory holding nothing
 * but its `.git` file is removed with its admin dir (its branch stays: `add` checks it out
 * again); one holding files is unlocked, so that it is a worktree vtree never set up (`git vtree
 * setup` sets it up, `rm` removes it). Returns which.
 */
export async function finishUnfinishedAdd(mainPath: string, worktree: WorktreeEntry): Promise<'removed' | 'unlocked'> {
  const gitDir = await worktreeGitDir(worktree.path);
  const files = await readdir(worktree.path).catch(() => [] as string[]);
  if (!(await exists(join(gitDir, 'index'))) && files.every((name) => name === '.git')) {
    await destroyWorktree(mainPath, worktree.path);
    return 'removed';
  }
  await rm(join(gitDir, 'locked'), { force: true });
  return 'unlocked';
}

/**
 * Whether the worktree directory `path` is a spare that an `add` renamed there (outside the pool)
 * and had not finished switching when it died: its admin dir still holds the spare lock. Such a
 * directory holds nothing of the user's (its branch, if the switch made one, stays).
 */
export async function isInterruptedClaim(commonDir: string, path: string): Promise<boolean> {
  const gitDir = await worktreeGitDir(path).catch(() => undefined);
  if (!gitDir || dirname(gitDir) !== join(commonDir, 'worktrees')) return false;
  const reason = await readFile(join(gitDir, 'locked'), 'utf8').catch(() => '');
  return reason.startsWith(SPARE_LOCK_REASON);
}
