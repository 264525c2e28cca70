import { lstat, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { isErrno } from './files.js';

/**
 * Confinement of paths vtree takes from files (a cache manifest, `meta.json`, a worktree's
 * `vtree.json`, a tar archive, `.worktreeinclude`, a committed `.vtreeconfig`): a repository's
 * files are untrusted input, so no such path may lead vtree to read, write or delete outside
 * the directory it belongs to. See docs/trust.md.
 */

/**
 * True when `path` (`/`-separated, relative) stays inside the directory it is relative to by its
 * letters alone: not absolute, not empty, no `.` or `..` segment, no empty segment, no NUL. Cheap
 * enough for every entry of a manifest; symlinks on disk are {@link resolvesInside}'s job.
 */
export function isPlainRelative(path: unknown): path is string {
  return typeof path === 'string' && !NOT_PLAIN.test(path) && !isAbsolute(path);
}

/** An empty, `.` or `..` segment (which also catches a leading `/` and the empty path), a NUL or a backslash. */
const NOT_PLAIN = /(^|\/)\.{0,2}(\/|$)|[\0\\]/;

/** True when `path` is `root` or below it, by letters (both absolute and normalised). */
export function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * True when the absolute `path` stays inside `root` after resolving `..` and every symlink on
 * the way: the deepest part of `path` that exists is realpath'd, the rest (to be created) is
 * appended. A path through a symlink that points outside `root` is refused, however it is spelt.
 */
export async function resolvesInside(root: string, path: string): Promise<boolean> {
  const realRoot = await realpathOrSelf(resolve(root));
  let existing = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      await lstat(existing);
      break;
    } catch (error) {
      if (!isErrno(error, 'ENOENT', 'ENOTDIR')) throw error;
      const parent = dirname(existing);
      if (parent === existing) break;
      rest.unshift(existing.slice(parent.length).replace(/^[/\\]+/, ''));
      existing = parent;
    }
  }
  const real = await realpathOrSelf(existing);
  return isWithin(realRoot, join(real, ...rest));
}

/**
 * `root/rel` when `rel` is plainly relative and resolves inside `root` (symlinks included),
 * else `undefined`: what a caller that writes or deletes a path read from a file checks first.
 */
export async function confinedPath(root: string, rel: string): Promise<string | undefined> {
  if (!isPlainRelative(rel)) return undefined;
  const path = join(root, rel);
  return (await resolvesInside(root, path)) ? path : undefined;
}

/**
 * True when a symlink at `linkPath` (relative, inside a tree) with target `target` points inside
 * the tree by its letters: a relative target whose `..` steps do not climb above the tree root.
 * Absolute targets are refused: a tree vtree restores must not reach out of itself.
 */
export function linkStaysInside(linkPath: string, target: unknown): target is string {
  if (typeof target !== 'string' || target === '' || target.includes('\0') || isAbsolute(target)) return false;
  const parts = linkPath.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return false;
      parts.pop();
    } else parts.push(part);
  }
  return true;
}

async function realpathOrSelf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}
