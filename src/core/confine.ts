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
 * True when `path` (relative to a worktree) is plainly relative ({@link isPlainRelative}) and not
 * in or under a `.git` directory: where a tree taken from a file (an entry's package
 * directories, a manifest's roots) may place things. A worktree's `.git` is a file naming the
 * repository's own git directory; nothing restored may land there.
 */
export function isWorktreePath(path: unknown): path is string {
  return isPlainRelative(path) && !path.split('/').some((part) => part.toLowerCase() === '.git');
}

/** An input refused for where it leads or what it holds (a link out of its tree, an archive past its bounds). */
export class RefusedInput extends Error {}

/** Links followed in one resolution, at most (Linux's own limit, MAXSYMLINKS). */
const MAX_LINK_DEPTH = 40;

/**
 * The first of a tree's symlinks (`[path, target]`, paths relative to the tree root) that leads
 * outside the tree, or `undefined` when none does. Judged by where each link leads once
 * placed, not by its letters: each target is walked part by part from the link's directory, and
 * every part that is itself one of the tree's links is followed first, as the kernel does. So
 * `D/s -> ../../..` (the root) and `D/t -> s/../../..` (`..` of the root: outside) are told
 * apart, whatever order they come in. Absolute targets, a `..` above the root, loops and chains
 * deeper than the kernel follows are refused. Parts that are not links are taken as directories
 * (a path that does not exist yet may become one). The whole set is needed: a link placed later
 * changes where an earlier one leads.
 */
export function linkLeavingTree(links: Iterable<readonly [path: unknown, target: unknown]>): [path: string, target: unknown] | undefined {
  const targets = new Map<string, unknown>();
  for (const [path, target] of links) targets.set(String(path), target);
  // Where each link leads, relative to the root ('' is the root); null: outside (or never resolves).
  const resolved = new Map<string, string | null>();
  const resolving = new Set<string>();
  const follow = (link: string, depth: number): string | null => {
    const known = resolved.get(link);
    if (known !== undefined) return known;
    if (resolving.has(link) || depth > MAX_LINK_DEPTH) return null;
    resolving.add(link);
    const target = targets.get(link);
    const ok = typeof target === 'string' && target !== '' && !target.includes('\0') && !isAbsolute(target);
    const slash = link.lastIndexOf('/');
    const at = ok ? walk(slash === -1 ? '' : link.slice(0, slash), target, depth) : null;
    resolving.delete(link);
    resolved.set(link, at);
    return at;
  };
  const walk = (from: string, target: string, depth: number): string | null => {
    let at = from;
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (at === '') return null;
        const slash = at.lastIndexOf('/');
        at = slash === -1 ? '' : at.slice(0, slash);
        continue;
      }
      at = at === '' ? part : `${at}/${part}`;
      if (targets.has(at)) {
        const to = follow(at, depth + 1);
        if (to === null) return null;
        at = to;
      }
    }
    return at;
  };
  for (const [path, target] of targets) {
    if (follow(path, 0) === null) return [path, target];
  }
  return undefined;
}

async function realpathOrSelf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}
