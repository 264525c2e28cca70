import { lstat, readdir, readlink } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { isErrno } from './files.js';
import { TOOL_CACHES } from './package-manager.js';

/** A regular file of a tree: path (relative to the tree root), mode, size, mtime (ms), inode. */
export type ManifestFile = [path: string, mode: number, size: number, mtimeMs: number, ino: number];

/**
 * Everything in a dependency tree, so that restoring it never walks it: the node_modules roots
 * (relative to the worktree), their directories (parents first), files and symlinks.
 */
export interface Manifest {
  roots: string[];
  dirs: string[];
  files: ManifestFile[];
  /** Symlinks: path and target, relative targets kept verbatim (`.bin/x` → `../pkg/cli.js`). */
  links: Array<[path: string, target: string]>;
}

/** Upper bound of filesystem calls in flight: enough to keep libuv's threads and the disk busy. */
export const FS_CONCURRENCY = 64;

/**
 * Scans the node_modules directories `roots` under `base` (one lstat per entry, directories
 * read concurrently). Tool caches (`node_modules/.cache`, ...) are left out, so every worktree
 * starts them empty. An absolute symlink pointing inside `base` is made relative, so a restored
 * `.bin` link never points back into the tree it was taken from.
 */
export async function scanTree(base: string, roots: readonly string[]): Promise<Manifest> {
  const manifest: Manifest = { roots: [], dirs: [], files: [], links: [] };
  const limit = limiter(FS_CONCURRENCY);
  const visit = async (dir: string, root: string): Promise<void> => {
    const names = await limit(() => readdir(join(base, dir)));
    await Promise.all(
      names.map(async (name) => {
        const path = `${dir}/${name}`;
        if (dir === root && TOOL_CACHES.has(name)) return;
        const info = await limit(() => lstat(join(base, path)));
        if (info.isDirectory()) {
          manifest.dirs.push(path);
          await visit(path, root);
        } else if (info.isSymbolicLink()) {
          manifest.links.push([path, relativeTarget(base, path, await limit(() => readlink(join(base, path))))]);
        } else if (info.isFile()) {
          manifest.files.push([path, info.mode & 0o7777, info.size, info.mtimeMs, info.ino]);
        }
      }),
    );
  };
  for (const root of roots) {
    try {
      if (!(await lstat(join(base, root))).isDirectory()) continue;
    } catch (error) {
      if (isErrno(error, 'ENOENT', 'ENOTDIR')) continue;
      throw error;
    }
    manifest.roots.push(root);
    manifest.dirs.push(root);
    await visit(root, root);
  }
  // Parents before children, for creating them in order.
  manifest.dirs.sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : 1));
  return manifest;
}

/** How many `/`-separated parts a relative path has. */
export function depth(path: string): number {
  let n = 1;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) n++;
  return n;
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; rejects on the first failure. */
export async function forEachConcurrent<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** A semaphore: `limit(fn)` runs `fn` once fewer than `concurrency` limited calls are running. */
function limiter(concurrency: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (active >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

function relativeTarget(base: string, path: string, target: string): string {
  if (!isAbsolute(target)) return target;
  const inside = relative(base, target);
  if (inside.startsWith('..') || isAbsolute(inside)) return target;
  return relative(join(base, path, '..'), target).split(sep).join('/');
}
