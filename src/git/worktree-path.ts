import { mkdir, readdir, rmdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { UsageError } from '../core/errors.js';
import { isErrno } from '../core/files.js';
import type { Repo } from './repo.js';
import { disambiguate, slugify, uniqueSlug } from './slug.js';
import { listWorktrees } from './worktree.js';

/** Default `vtree.path`: beside the main worktree, `<parent>/<repo>.worktrees/<slug>`. */
export const DEFAULT_PATH_TEMPLATE = '{repo}.worktrees/{slug}';

/** A worktree directory this run has claimed. */
export interface ClaimedPath {
  path: string;
  slug: string;
  /** This run created the directory (so rolling back removes it). */
  created: boolean;
  /** The topmost parent directory this run created, if any (rolling back removes it when empty). */
  createdParent?: string;
}

/**
 * Picks and claims the directory for `branch`'s worktree. With `explicitPath` (`--path`) that
 * directory is used, and must be absent or empty. Otherwise the `vtree.path` template is filled
 * in; when its directory is taken by another worktree (two branches whose slugs collide, such as
 * `feat/x` and `feat-x`, or a concurrent `add`), a hash of the branch makes it distinct. The
 * claim is an exclusive `mkdir`, so concurrent runs never share a directory.
 */
export async function claimWorktreePath(repo: Repo, branch: string, template: string, explicitPath?: string): Promise<ClaimedPath> {
  if (explicitPath !== undefined) {
    const path = resolve(repo.cwd, expandHome(explicitPath));
    const { created, createdParent } = await claimDirectory(path);
    if (!created && !(await isEmptyDir(path))) throw pathTaken(path);
    return { path, slug: uniqueSlug(path, worktreePaths(repo)), created, createdParent };
  }
  if (!template.includes('{slug}') && !template.includes('{branch}')) {
    throw new UsageError(`vtree.path '${template}' names no {slug} or {branch}, so every worktree would share one directory`, `git config vtree.path '${DEFAULT_PATH_TEMPLATE}'`);
  }
  const base = slugify(branch);
  const candidates = [base, disambiguate(base, branch)];
  for (const [index, slug] of candidates.entries()) {
    const path = fillTemplate(repo, template, branch, slug);
    const { created, createdParent } = await claimDirectory(path);
    if (created) return { path, slug: uniqueSlug(path, worktreePaths(repo), slug), created, createdParent };
    // Taken by another worktree, or empty because a concurrent `add` just claimed it: try the
    // hashed slug. Taken by unrelated files: that is the user's data, so stop and say so.
    const registered = (await listWorktrees(repo.cwd)).some((w) => w.path === path);
    const empty = !registered && (await isEmptyDir(path));
    if (!registered && !empty) throw pathTaken(path);
    if (index === candidates.length - 1) {
      if (empty) return { path, slug: uniqueSlug(path, worktreePaths(repo), slug), created: false, createdParent };
      throw pathTaken(path);
    }
  }
  throw pathTaken(fillTemplate(repo, template, branch, base));
}

/** Removes a directory {@link claimWorktreePath} created, if it is still there and empty. */
export async function releaseClaim(claim: ClaimedPath): Promise<void> {
  const dirs = claim.created ? [claim.path] : [];
  if (claim.createdParent) {
    const top = claim.createdParent;
    for (let dir = dirname(claim.path); dir === top || dir.startsWith(top + sep); dir = dirname(dir)) dirs.push(dir);
  }
  for (const dir of dirs) {
    try {
      await rmdir(dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) continue;
      // Not empty: another worktree lives there now; leave it and its parents.
      if (isErrno(error, 'ENOTEMPTY', 'EEXIST')) return;
      throw error;
    }
  }
}

/**
 * The directory new worktrees go into under `template` (`<parent>/<repo>.worktrees` by
 * default): where the pool of spare worktrees lives, on the same filesystem as the worktrees.
 */
export function worktreesRoot(repo: Repo, template: string): string {
  return dirname(fillTemplate(repo, template, 'spare', 'spare'));
}

function fillTemplate(repo: Repo, template: string, branch: string, slug: string): string {
  const filled = expandHome(template).replaceAll('{repo}', repo.name).replaceAll('{branch}', branch).replaceAll('{slug}', slug);
  return isAbsolute(filled) ? filled : join(dirname(repo.mainPath), filled);
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

/** Creates `path` exclusively; `created` is false when it already existed. */
async function claimDirectory(path: string): Promise<{ created: boolean; createdParent?: string }> {
  const createdParent = await mkdir(dirname(path), { recursive: true });
  try {
    await mkdir(path);
    return { created: true, createdParent };
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return { created: false, createdParent };
    throw error;
  }
}

async function isEmptyDir(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length === 0;
  } catch {
    return false;
  }
}

function worktreePaths(repo: Repo): string[] {
  return repo.worktrees.map((w) => w.path);
}

function pathTaken(path: string): UsageError {
  return new UsageError(`target path ${path} exists and is not empty`, 'pass --path <dir> to put the worktree elsewhere, or move that directory away');
}
