import * as fs from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { isPlainRelative, isWorktreePath, linkLeavingTree } from '../../core/confine.js';
import { isErrno } from '../../core/files.js';
import { escapeRegExp } from '../../core/regexp.js';
import { REWRITTEN_IN_PLACE, TOOL_CACHES } from './package-manager.js';

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
  /** The worktree the files were taken from, when some of them name it (see `rewrite`). */
  origin?: string;
  /**
   * Files that embed `origin`'s absolute path (pnpm's workspace state, `.bin` shims with an
   * absolute NODE_PATH): never linked; each restore writes them with its own worktree's path.
   */
  rewrite?: string[];
}

/**
 * Why `manifest` may not be restored, or `undefined` when it may. A manifest is read from a file
 * (a cache entry's `manifest.json`, or rebuilt from an imported archive), so it is checked before
 * anything is created from it: roots are `node_modules` directories given as plain relative
 * paths; every directory, file and link lies under a listed directory (so no entry can be
 * created through a symlink the manifest itself makes); no path has a `..`, `.` or empty part or
 * is absolute or in a `.git`; every link, followed through the tree's other links as the kernel
 * would once they are placed, stays inside the tree ({@link linkLeavingTree}). Linear.
 */
export function manifestProblem(manifest: unknown): string | undefined {
  const m = manifest as Partial<Manifest> | null;
  if (!m || typeof m !== 'object' || !Array.isArray(m.roots) || !Array.isArray(m.dirs) || !Array.isArray(m.files) || !Array.isArray(m.links)) return 'not a manifest';
  // A hit checks its manifest when the entry is opened and again before restoring: pass once.
  if (checked.has(m)) return undefined;
  const problem = findProblem(m as Manifest);
  if (problem === undefined) checked.add(m);
  return problem;
}

/** Manifests that passed {@link manifestProblem}; they are not changed after they are read. */
const checked = new WeakSet<object>();

/** A root that is one file beside a node_modules rather than a directory: yarn berry's install state. */
function isStateFileRoot(root: string): boolean {
  return root === '.yarn/install-state.gz' || root.endsWith('/.yarn/install-state.gz');
}

function findProblem(m: Manifest): string | undefined {
  const dirs = new Set<string>();
  for (const root of m.roots) {
    if (!isWorktreePath(root) || !(root === 'node_modules' || root.endsWith('/node_modules') || isStateFileRoot(root))) return `root '${String(root)}' is not a node_modules directory inside the tree`;
  }
  const roots = new Set(m.roots);
  // The directory holding a state file root (`.yarn`) is listed so that the file can be placed.
  const stateDirs = new Set(m.roots.filter(isStateFileRoot).map((root) => root.slice(0, root.lastIndexOf('/'))));
  const parentListed = (path: string) => {
    const slash = path.lastIndexOf('/');
    return slash !== -1 && dirs.has(path.slice(0, slash));
  };
  // Parents come first (scanTree sorts them), so one pass sees each parent before its children.
  for (const dir of m.dirs) {
    if (!isPlainRelative(dir) || !(roots.has(dir) || stateDirs.has(dir) || parentListed(dir))) return `directory '${String(dir)}' leaves the tree`;
    dirs.add(dir);
  }
  for (const entry of m.files) {
    const path = Array.isArray(entry) ? entry[0] : undefined;
    if (!isPlainRelative(path) || !parentListed(path) || dirs.has(path)) return `file '${String(path)}' leaves the tree`;
  }
  for (const entry of m.links) {
    const path = Array.isArray(entry) ? entry[0] : undefined;
    if (!isPlainRelative(path) || !parentListed(path) || dirs.has(path)) return `link '${String(path)}' leaves the tree`;
  }
  const leaving = linkLeavingTree(m.links);
  return leaving && `link '${leaving[0]}' leads outside the tree (${String(leaving[1])})`;
}

/** Upper bound of filesystem calls in flight: enough to keep libuv's threads and the disk busy. */
export const FS_CONCURRENCY = 64;

/**
 * Scans the node_modules directories `roots` under `base`. Tool caches (`node_modules/.cache`,
 * ...) are left out, so every worktree starts them empty. An absolute symlink pointing inside
 * `base` is made relative, so a restored `.bin` link never points back into the tree it was
 * taken from. With `stats: false` files are not stat'ed (mode, size, mtime and inode are 0):
 * enough to link or copy them, which keeps their mode anyway, at a fraction of the cost.
 */
export async function scanTree(base: string, roots: readonly string[], options: { stats?: boolean } = {}): Promise<Manifest> {
  const manifest: Manifest = { roots: [], dirs: [], files: [], links: [] };
  for (const root of roots) {
    let info;
    try {
      info = await lstat(join(base, root));
    } catch (error) {
      if (isErrno(error, 'ENOENT', 'ENOTDIR')) continue;
      throw error;
    }
    if (info.isFile()) {
      // A state file beside the node_modules (yarn berry's `.yarn/install-state.gz`): copied as it is.
      manifest.roots.push(root);
      manifest.files.push([root, info.mode & 0o7777, info.size, info.mtimeMs, info.ino]);
      if (root.includes('/')) manifest.dirs.push(root.slice(0, root.lastIndexOf('/')));
      continue;
    }
    if (!info.isDirectory()) continue;
    manifest.roots.push(root);
    manifest.dirs.push(root);
    await walk(base, root, options.stats ?? true, manifest);
  }
  // Parents before children, for creating them in order.
  manifest.dirs.sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : 1));
  return manifest;
}

/**
 * Sets `manifest.origin` and `manifest.rewrite`: the files of the tree at `base` that name
 * `base` itself. Only files written per install can: the package manager's state files, the
 * shims directly in a `.bin` directory, and the text node-gyp leaves in a native module's
 * `build/` (package files are the same bytes in every install), so few files are read.
 */
export async function findEmbeddedPaths(base: string, manifest: Manifest): Promise<Manifest> {
  const candidates = manifest.files.map(([path]) => path).filter((path) => /\/\.bin\/[^/]+$/.test(path) || isRewrittenInPlace(path) || NATIVE_BUILD_TEXT.test(path));
  const names = pathPattern(base);
  const found = await Promise.all(candidates.map((path) => readFile(join(base, path), 'utf8').then((text) => names.test(text), () => false)));
  const rewrite = candidates.filter((_, i) => found[i]);
  if (rewrite.length === 0) return manifest;
  return { ...manifest, origin: base, rewrite };
}

/**
 * Matches `path` as a whole path or a path's prefix (`/src/app`, `/src/app/node_modules`), never
 * as the start of a longer name (`/src/app.worktrees/x`).
 */
export function pathPattern(path: string, flags = ''): RegExp {
  return new RegExp(`${escapeRegExp(path)}(?![\\w.-])`, flags);
}

/**
 * What node-gyp writes into a package's `build/` naming the directory it built in: the Makefiles
 * (`Makefile`, `*.mk`), `config.gypi` and the compiler's dependency files (`.deps/.../*.d`). Left
 * naming the source worktree, a `node-gyp rebuild` in another worktree would build that one.
 */
const NATIVE_BUILD_TEXT = /(^|\/)node_modules\/(@[^/]+\/)?[^/]+\/build\/(.+\.(mk|d|gypi)|([^/]+\.)?Makefile)$/;

/**
 * `manifest` without the package managers' state files ({@link isRewrittenInPlace}): not among
 * its files, not to be rewritten, not a root. One rule for what is copied and what is then
 * rewritten or moved, so nothing is asked of a file the copy left out.
 */
export function withoutStateFiles(manifest: Manifest): Manifest {
  const keep = ([path]: ManifestFile) => !isRewrittenInPlace(path);
  const rewrite = manifest.rewrite?.filter((path) => !isRewrittenInPlace(path));
  const { origin: _origin, rewrite: _rewrite, ...rest } = manifest;
  const roots = manifest.roots.filter((root) => !isRewrittenInPlace(root));
  return {
    ...rest,
    roots,
    // Without the parent a dropped state file root needed (`.yarn`): only what lies in a root stays.
    dirs: manifest.dirs.filter((dir) => roots.some((root) => dir === root || dir.startsWith(`${root}/`))),
    files: manifest.files.filter(keep),
    ...(manifest.origin && rewrite?.length ? { origin: manifest.origin, rewrite } : {}),
  };
}

/** True for `node_modules/.package-lock.json` and the like, at any node_modules root; and yarn berry's install state. */
export function isRewrittenInPlace(path: string): boolean {
  if (path.endsWith('/install-state.gz')) return true;
  const at = path.lastIndexOf('node_modules/');
  if (at === -1) return false;
  return REWRITTEN_IN_PLACE.has(path.slice(at + 'node_modules/'.length));
}

/** Adds everything under `root` to `manifest`: every readdir and lstat issued at once, callbacks throughout. */
function walk(base: string, root: string, stats: boolean, manifest: Manifest): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = 0;
    let failed = false;
    const fail = (error: Error) => {
      if (!failed) reject(error);
      failed = true;
    };
    const finish = () => {
      if (--pending === 0 && !failed) resolve();
    };
    const readDir = (dir: string): void => {
      pending++;
      fs.readdir(join(base, dir), { withFileTypes: true }, (error, entries) => {
        if (error) return fail(error);
        for (const entry of entries) {
          const path = `${dir}/${entry.name}`;
          if (dir === root && TOOL_CACHES.has(entry.name)) continue;
          if (entry.isDirectory()) {
            manifest.dirs.push(path);
            readDir(path);
          } else if (entry.isSymbolicLink()) {
            pending++;
            fs.readlink(join(base, path), (e, target) => {
              if (e) return fail(e);
              manifest.links.push([path, relativeTarget(base, path, target)]);
              finish();
            });
          } else if (entry.isFile() && !stats) {
            manifest.files.push([path, 0, 0, 0, 0]);
          } else if (entry.isFile()) {
            pending++;
            fs.lstat(join(base, path), (e, info) => {
              if (e) return fail(e);
              manifest.files.push([path, info.mode & 0o7777, info.size, info.mtimeMs, info.ino]);
              finish();
            });
          }
        }
        finish();
      });
    };
    readDir(root);
  });
}

/** How many `/`-separated parts a relative path has. */
export function depth(path: string): number {
  let n = 1;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) n++;
  return n;
}

/** A Node.js callback: called once with an error or nothing. */
export type Done = (error?: NodeJS.ErrnoException | null) => void;

/**
 * Runs the callback-style `op` over `items` with at most `concurrency` calls in flight. On the
 * first failure no new call starts, and it rejects once the calls in flight have finished, so
 * the caller can clean up without racing them. Callbacks, not promises: for ten thousand
 * `link()` calls the promise machinery costs more than the kernel does.
 */
export function pump<T>(items: readonly T[], concurrency: number, op: (item: T, done: Done) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const total = items.length;
    let next = 0;
    let active = 0;
    let failure: NodeJS.ErrnoException | undefined;
    const start = (): void => {
      while (!failure && active < concurrency && next < total) {
        const item = items[next++]!;
        active++;
        op(item, (error) => {
          active--;
          if (error && !failure) failure = error;
          start();
        });
      }
      if (active === 0 && (failure || next === total)) {
        if (failure) reject(failure);
        else resolve();
      }
    };
    start();
  });
}

function relativeTarget(base: string, path: string, target: string): string {
  if (!isAbsolute(target)) return target;
  const inside = relative(base, target);
  if (inside.startsWith('..') || isAbsolute(inside)) return target;
  return relative(join(base, path, '..'), target).split(sep).join('/');
}
