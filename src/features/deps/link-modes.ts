import * as fs from 'node:fs';
import { mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { confinedPath } from '../../core/confine.js';
import { UsageError, VtreeError } from '../../core/errors.js';
import { isErrno } from '../../core/files.js';
import { tempName } from '../../core/temp-name.js';
import { depth, FS_CONCURRENCY, isRewrittenInPlace, manifestProblem, pathPattern, pump, type Done, type Manifest } from './manifest.js';
import { REWRITTEN_IN_PLACE } from './package-manager.js';

/** How a file of a cache entry appears in a worktree. */
export type LinkMode = 'reflink' | 'hardlink' | 'copy' | 'symlink';
/** A link mode as configured: `auto` probes the filesystem once. */
export type LinkModeSetting = LinkMode | 'auto';

/** Every setting of `vtree.linkMode` / `--link-mode`. */
export const LINK_MODE_SETTINGS: readonly LinkModeSetting[] = ['auto', 'reflink', 'hardlink', 'copy', 'symlink'];

/** Checks a `--link-mode` or `vtree.linkMode` value. */
export function parseLinkMode(value: string | undefined): LinkModeSetting {
  const mode = (value ?? 'auto') as LinkModeSetting;
  if (!LINK_MODE_SETTINGS.includes(mode)) {
    throw new UsageError(`unknown link mode '${value}'`, `use one of ${LINK_MODE_SETTINGS.join(', ')}: git config vtree.linkMode hardlink`);
  }
  return mode;
}

/** What one restore shares between its concurrent calls. */
export interface RestoreContext {
  /** Absolute root of the tree restored from (a cache entry's `tree/`, or a worktree). */
  from: string;
  /** Absolute directory the tree is restored into (a staging directory). */
  to: string;
  /** Mode in use; becomes `copy` after the first EXDEV (the two are on different filesystems). */
  mode: LinkMode;
  /** Told once when the mode falls back to copy. */
  warn(line: string): void;
  /**
   * The worktree the restored roots end up in: files of `manifest.rewrite` get its path in
   * place of `manifest.origin`. Unset (an entry, a spare), they are copied as they are.
   */
  target?: string;
}

/** Places one regular file of the source tree at `dest`, keeping its mode (callback style: see {@link pump}). */
type PlaceFile = (source: string, dest: string, done: Done) => void;

/** Restores a whole tree as described by its manifest. */
type Restorer = (manifest: Manifest, ctx: RestoreContext) => Promise<void>;

const PLACE_FILE = {
  reflink: (source, dest, done) => fs.copyFile(source, dest, fs.constants.COPYFILE_FICLONE_FORCE, done),
  hardlink: (source, dest, done) => fs.link(source, dest, done),
  // libuv's copyfile gives the copy the source's mode.
  copy: (source, dest, done) => fs.copyFile(source, dest, done),
} satisfies Record<Exclude<LinkMode, 'symlink'>, PlaceFile>;

/** One restorer per mode: the file modes share the manifest walk, symlink links whole packages. */
const RESTORERS = {
  reflink: restoreFiles,
  hardlink: restoreFiles,
  copy: restoreFiles,
  symlink: restorePackageLinks,
} satisfies Record<LinkMode, Restorer>;

/** Per-process memo of the filesystem probe, by source and destination directory. */
const probed = new Map<string, LinkMode>();

/**
 * Resolves `auto` to the cheapest mode that keeps the restored tree its own (docs/trust.md,
 * isolation): `reflink` where the filesystem clones, else `copy`. An explicit setting is kept.
 * Different filesystems are said once through `warn`.
 */
export async function resolveLinkMode(setting: LinkModeSetting, manifest: Manifest, from: string, to: string, warn: (line: string) => void): Promise<LinkMode> {
  if (setting !== 'auto') return setting;
  return (await probeFilesystem(manifest, from, to, warn)) === 'reflink' ? 'reflink' : 'copy';
}

/**
 * Whether `auto` may link now and copy later: true where the filesystem cannot clone but can
 * hardlink (ext4). `add` then restores by hardlink, fast, and a background job replaces every
 * linked file with a copy of its own within seconds ({@link isolateTree} in isolate.ts).
 */
export async function linkNowCopyLater(setting: LinkModeSetting, manifest: Manifest, from: string, to: string, warn: (line: string) => void): Promise<boolean> {
  return setting === 'auto' && (await probeFilesystem(manifest, from, to, warn)) === 'hardlink';
}

/**
 * What the filesystem allows from `from` to `to`, cheapest first: `reflink` where it clones,
 * else `hardlink`, else (different filesystems) `copy`, said once through `warn`. Probes once
 * per process with the first file of the manifest.
 */
async function probeFilesystem(manifest: Manifest, from: string, to: string, warn: (line: string) => void): Promise<LinkMode> {
  const probeKey = `${from}\0${dirname(to)}`;
  const known = probed.get(probeKey);
  if (known) return known;
  const file = manifest.files.find(([path]) => !REWRITTEN_IN_PLACE.has(path));
  if (!file) return 'copy';
  await mkdir(to, { recursive: true });
  const probe = join(to, tempName('probe'));
  let mode: LinkMode = 'copy';
  for (const candidate of ['reflink', 'hardlink'] as const) {
    try {
      await new Promise<void>((resolve, reject) => PLACE_FILE[candidate](join(from, file[0]), probe, (error) => (error ? reject(error) : resolve())));
      await unlink(probe);
      mode = candidate;
      break;
    } catch (error) {
      await rm(probe, { force: true });
      if (candidate === 'hardlink' && !isErrno(error, 'EXDEV', 'EPERM', 'EMLINK')) throw error;
    }
  }
  if (mode === 'copy') warn(`the cache (${from}) is on another filesystem than ${dirname(to)}: copying files instead of linking (slower; set vtree.cacheDir on the worktrees' filesystem)`);
  probed.set(probeKey, mode);
  return mode;
}

/**
 * Restores the tree described by `manifest` from `ctx.from` into `ctx.to` with `ctx.mode`. Files
 * package managers rewrite in place are always copied. On failure, what was restored so far is
 * removed: `ctx.to` never holds a half-populated node_modules for long.
 */
export async function restoreTree(manifest: Manifest, ctx: RestoreContext): Promise<void> {
  // The last check before anything is created: a manifest is read from a file (docs/trust.md).
  const problem = manifestProblem(manifest);
  if (problem) throw new VtreeError(`not restoring dependencies from ${ctx.from}: ${problem} (a corrupt cache entry or a tampered tree)`, 'git vtree cache verify');
  try {
    await RESTORERS[ctx.mode](manifest, ctx);
  } catch (error) {
    await rm(ctx.to, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Moves the restored roots (`node_modules`, `packages/a/node_modules`) from `staging` into the
 * worktree at `dest` with one rename each, then removes the staging directory. A root that
 * already exists in the worktree is an error: vtree never merges into a node_modules.
 */
export async function moveIntoPlace(staging: string, roots: readonly string[], dest: string): Promise<void> {
  for (const root of roots) {
    // A workspace directory that is a symlink out of the worktree must not receive a node_modules.
    if (!(await confinedPath(dest, root))) throw new VtreeError(`not placing ${root} in ${dest}: it leads outside the worktree`);
  }
  for (const root of roots) {
    await mkdir(dirname(join(dest, root)), { recursive: true });
    await rename(join(staging, root), join(dest, root));
  }
  await rm(staging, { recursive: true, force: true });
}

/**
 * Writes `target` in place of `origin` in the files `paths` of the restored tree at `to`: the
 * files are copies of their own (never links), so no other tree sees the change. A listed file
 * that is not there is skipped.
 */
export async function rewriteOrigin(to: string, paths: readonly string[], origin: string, target: string): Promise<void> {
  await Promise.all(
    paths.map(async (path) => {
      const file = join(to, path);
      // A state file the restore left out (a partial start drops them): nothing to rewrite.
      const text = await readFile(file, 'utf8').catch((error: unknown) => (isErrno(error, 'ENOENT') ? undefined : Promise.reject(error)));
      if (text !== undefined) await writeFile(file, text.replace(pathPattern(origin, 'g'), () => target));
    }),
  );
}

async function restoreFiles(manifest: Manifest, ctx: RestoreContext): Promise<void> {
  await makeDirs(manifest.dirs, ctx.to);
  const rewrite = new Set(manifest.rewrite ?? []);
  await settled([
    pump(manifest.files, FS_CONCURRENCY, ([path], done) => (rewrite.has(path) ? fs.copyFile(`${ctx.from}/${path}`, `${ctx.to}/${path}`, done) : placeFile(path, ctx, done))),
    pump(manifest.links, FS_CONCURRENCY, ([path, target], done) => (ctx.mode === 'hardlink' ? linkSymlink(path, target, ctx, done) : fs.symlink(target, `${ctx.to}/${path}`, done))),
  ]);
  if (ctx.target && manifest.origin && rewrite.size > 0) await rewriteOrigin(ctx.to, [...rewrite], manifest.origin, ctx.target);
}

/**
 * A symlink of a hardlinked restore, as a hardlink to the source's symlink (`link()` does not
 * follow it): a new name, where `symlink()` allocates an inode, and a data block for a target
 * of 60 bytes or more, which is most of the cost of restoring pnpm's virtual store (one symlink
 * per dependency of every package) on ext4. Sharing it isolates as well as a copy: no call
 * changes a symlink's target in place, replacing one makes a new inode. The target the new
 * name reads is checked against the manifest's (the tree on disk is not trusted; a symlink's
 * target never changes after it was read), else it is made from the manifest.
 */
function linkSymlink(path: string, target: string, ctx: RestoreContext, done: Done): void {
  const dest = `${ctx.to}/${path}`;
  const make = () => fs.symlink(target, dest, done);
  fs.link(`${ctx.from}/${path}`, dest, (error) => {
    if (error) return isErrno(error, 'EXDEV', 'EPERM', 'EMLINK', 'ENOENT', 'EOPNOTSUPP', 'ENOTSUP') ? make() : done(error);
    fs.readlink(dest, (readError, found) => {
      if (!readError && found === target) return done();
      fs.unlink(dest, (unlinkError) => (unlinkError ? done(unlinkError) : make()));
    });
  });
}

/**
 * Package-level symlinks into the source tree, as pnpm's global store does: a node_modules of
 * symlinks to whole packages, with its own `.bin` and its own copies of the files managers
 * rewrite. The fastest and least isolated mode: editing a package's file edits the cache.
 */
async function restorePackageLinks(manifest: Manifest, ctx: RestoreContext): Promise<void> {
  const linked: string[] = [];
  const created: string[] = [];
  for (const root of manifest.roots) {
    const rootDepth = depth(root);
    for (const dir of manifest.dirs) {
      if (!dir.startsWith(`${root}/`) || manifest.roots.some((r) => r !== root && r.startsWith(`${root}/`) && (dir === r || dir.startsWith(`${r}/`)))) continue;
      const name = dir.slice(root.length + 1);
      const d = depth(dir) - rootDepth;
      // Scope directories (@types) and .bin are real directories; packages beneath them are linked.
      if (d === 1 && (name.startsWith('@') || name === '.bin')) created.push(dir);
      else if (d === 1 || (d === 2 && name.startsWith('@'))) linked.push(dir);
    }
  }
  const linkedSet = new Set(linked);
  const outsideLinked = (path: string) => {
    for (let dir = posix.dirname(path); dir !== '.'; dir = posix.dirname(dir)) if (linkedSet.has(dir)) return false;
    return true;
  };
  // A root that is a file (yarn berry's install state) is copied below; only its parent is made.
  const dirRoots = new Set(manifest.dirs);
  await makeDirs([...manifest.roots.map((root) => (dirRoots.has(root) ? root : posix.dirname(root))).filter((dir) => dir !== '.'), ...created], ctx.to);
  await settled([
    pump(linked, FS_CONCURRENCY, (dir, done) => fs.symlink(join(ctx.from, dir), join(ctx.to, dir), 'dir', done)),
    pump(
      manifest.files.filter(([path]) => outsideLinked(path)),
      FS_CONCURRENCY,
      ([path], done) => fs.copyFile(join(ctx.from, path), join(ctx.to, path), done),
    ),
    pump(
      manifest.links.filter(([path]) => outsideLinked(path)),
      FS_CONCURRENCY,
      ([path, target], done) => fs.symlink(target, join(ctx.to, path), done),
    ),
  ]);  const rewrite = (manifest.rewrite ?? []).filter(outsideLinked);
  if (ctx.target && manifest.origin && rewrite.length > 0) await rewriteOrigin(ctx.to, rewrite, manifest.origin, ctx.target);
}

function placeFile(path: string, ctx: RestoreContext, done: Done): void {
  // Manifest paths are normalised already: concatenation, not path.join, ten thousand times.
  const source = `${ctx.from}/${path}`;
  const dest = `${ctx.to}/${path}`;
  if (ctx.mode === 'copy' || isRewrittenInPlace(path)) return fs.copyFile(source, dest, done);
  PLACE_FILE[ctx.mode as 'hardlink' | 'reflink'](source, dest, (error) => {
    if (!error) return done();
    if (!isErrno(error, 'EXDEV', 'EOPNOTSUPP', 'ENOTSUP', 'EMLINK')) return done(error);
    // Concurrent calls fail alike; the first one to get here says it, once.
    if ((ctx.mode as LinkMode) !== 'copy') {
      ctx.warn(`cannot ${ctx.mode} from ${ctx.from} (${error.code}): copying files instead`);
      ctx.mode = 'copy';
    }
    fs.rm(dest, { force: true }, () => fs.copyFile(source, dest, done));
  });
}

/** Waits for every one of `work` (so a cleanup never races a call still in flight), then throws the first failure. */
async function settled(work: Array<Promise<void>>): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}


async function makeDirs(dirs: readonly string[], to: string): Promise<void> {
  // Parents before children: one depth level at a time, each level concurrently. A root's
  // parents (`packages/a` of `packages/a/node_modules`) are not in the list: made recursively.
  const known = new Set(dirs);
  const levels = new Map<number, string[]>();
  for (const dir of dirs) {
    const d = depth(dir);
    const level = levels.get(d);
    if (level) level.push(dir);
    else levels.set(d, [dir]);
  }
  for (const d of [...levels.keys()].sort((a, b) => a - b)) {
    await pump(levels.get(d)!, FS_CONCURRENCY, (dir, done) => fs.mkdir(`${to}/${dir}`, { recursive: !known.has(posix.dirname(dir)) }, (error) => done(error)));
  }
}
