import { isProcessAlive } from '../../core/pid.js';
import { lstatSync as fsLstatSync, type Stats } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheKey, currentPlatform, type KeyPlatform } from './cache-key.js';
import { deleteAside, exists, isErrno, readJsonFile, writeFileAtomic } from '../../core/files.js';
import { resolveLinkMode, restoreTree, type LinkModeSetting } from './link-modes.js';
import { withLock } from '../../core/lock.js';
import { findEmbeddedPaths, isRewrittenInPlace, manifestProblem, scanTree, type Manifest } from './manifest.js';
import { isWorktreePath, RefusedInput } from '../../core/confine.js';
import { detectProject, diskFiles, nodeModulesDirs, type PackageManagerName, type Project } from './package-manager.js';
import { judgeWithReference, referencePath } from './scratch-install.js';
import { tempName, tempNamePid } from '../../core/temp-name.js';
import { changedFilesOffThread } from './tree-check.js';

/** How an entry came to be. */
export type EntrySource = 'seed' | 'partial' | 'miss' | 'import' | 'remote';

/** What the cache knows of an entry besides its tree: `meta.json`. */
export interface EntryMeta {
  key: string;
  source: EntrySource;
  packageManager: PackageManagerName;
  /** The key's inputs, so an imported entry's key can be checked. */
  project: Project;
  platform: KeyPlatform;
  createdAt: string;
  lastUsedAt: string;
  hits: number;
  files: number;
  /** Bytes of its files (each inode once). */
  bytes: number;
}

/** A complete cache entry: `entries/<key>/{tree/, manifest.json, meta.json}`. */
export interface CacheEntry {
  key: string;
  dir: string;
  /** Root of the stored tree: holds the node_modules roots as they sit in a worktree. */
  tree: string;
  manifest: Manifest;
  meta: EntryMeta;
}

/** A temp dir older than this whose creator cannot be asked is abandoned. */
const STALE_TEMP_MS = 60 * 60_000;

export { cacheDirOf } from '../../git/cache-dir.js';

/** Directory of the entry `key`. */
export function entryDir(cacheDir: string, key: string): string {
  return join(cacheDir, 'entries', key);
}

/** The pool of spares of the entry `key` (see spares.ts). */
export function sparesDir(cacheDir: string, key: string): string {
  return join(cacheDir, 'spares', key);
}

/** Where entries and spares are built before they are renamed into place. */
export function tempDir(cacheDir: string): string {
  return join(cacheDir, 'tmp');
}

/** A fresh, unique temp path for `label` ({@link tempName}: carries our pid, so a crash can be told apart from work in progress). */
export function newTempPath(cacheDir: string, label: string): string {
  return join(tempDir(cacheDir), tempName(label));
}

/**
 * The entry `key`, or `undefined` when the cache has none (an entry exists only once complete).
 * An entry directory whose manifest or meta is missing, unparsable, of the wrong shape, or would
 * lead outside its tree ({@link manifestProblem}, {@link metaProblem}) cannot have been published
 * whole by vtree: it is corrupt, and dropped here, so that it is never restored, neither hides from
 * `cache status` nor blocks the next snapshot of its key.
 */
export async function openEntry(cacheDir: string, key: string, onDropped?: (key: string, why: string) => void): Promise<CacheEntry | undefined> {
  const dir = entryDir(cacheDir, key);
  let manifest: unknown;
  let meta: unknown;
  try {
    [manifest, meta] = await Promise.all([readJsonFile<unknown>(join(dir, 'manifest.json')), readJsonFile<unknown>(join(dir, 'meta.json'))]);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  const problem = !isManifest(manifest) ? 'no manifest' : !isEntryMeta(meta, key) ? 'no meta' : (manifestProblem(manifest) ?? metaProblem(meta, key));
  if (problem === undefined) return { key, dir, tree: join(dir, 'tree'), manifest: manifest as Manifest, meta: meta as EntryMeta };
  if (!(await exists(dir))) return undefined;
  await dropEntry(cacheDir, key);
  onDropped?.(key, problem);
  return undefined;
}

function isManifest(value: unknown): value is Manifest {
  const m = value as Partial<Manifest> | null | undefined;
  return typeof m === 'object' && m !== null && Array.isArray(m.roots) && Array.isArray(m.dirs) && Array.isArray(m.files) && Array.isArray(m.links);
}

function isEntryMeta(value: unknown, key: string): value is EntryMeta {
  const m = value as Partial<EntryMeta> | null | undefined;
  return (
    typeof m === 'object' &&
    m !== null &&
    m.key === key &&
    typeof m.packageManager === 'string' &&
    typeof m.project === 'object' &&
    m.project !== null &&
    typeof m.platform === 'object' &&
    m.platform !== null &&
    typeof m.lastUsedAt === 'string' &&
    typeof m.createdAt === 'string' &&
    Number.isFinite(m.hits) &&
    Number.isFinite(m.files) &&
    Number.isFinite(m.bytes)
  );
}

/**
 * Why `meta` (read from an entry's or an archive's `meta.json`) cannot be trusted for entry
 * `key`, or `undefined`: it must name that key, and its package directories (they become the
 * node_modules roots scanned and restored) must be the worktree root first, then workspace
 * directories whose package.json is among the key's inputs, each a plain relative path outside
 * any `.git` ({@link isWorktreePath}).
 */
export function metaProblem(meta: unknown, key: string): string | undefined {
  const m = meta as Partial<EntryMeta> | null;
  if (!m || typeof m !== 'object' || m.key !== key || typeof m.lastUsedAt !== 'string') return 'not the meta of this entry';
  const dirs: unknown = m.project?.packageDirs;
  const manifests = m.project?.manifests ?? {};
  const workspace = (d: unknown, i: number) => i > 0 && isWorktreePath(d) && Object.hasOwn(manifests, `${d}/package.json`);
  if (!Array.isArray(dirs) || dirs[0] !== '' || new Set(dirs).size !== dirs.length || !dirs.every((d, i) => i === 0 || workspace(d, i))) {
    return `package directories ${JSON.stringify(dirs)} are not the worktree's workspaces`;
  }
  return undefined;
}

/** Every complete entry, most recently used first; `onDropped` hears of each corrupt one dropped ({@link openEntry}). */
export async function listEntries(cacheDir: string, onDropped?: (key: string, why: string) => void): Promise<CacheEntry[]> {
  const keys = await readdir(join(cacheDir, 'entries')).catch(() => [] as string[]);
  const entries = await Promise.all(keys.map((key) => openEntry(cacheDir, key, onDropped)));
  return entries.filter((e): e is CacheEntry => e !== undefined).sort((a, b) => b.meta.lastUsedAt.localeCompare(a.meta.lastUsedAt));
}

/** What to snapshot into a new entry. */
export interface EntrySeed {
  key: string;
  project: Project;
  /** Worktree (or any directory) holding the node_modules roots. */
  base: string;
  roots: readonly string[];
  source: EntrySource;
  /**
   * How the entry takes the files: `auto` (and `copy`, `reflink`) as files of its own, cloned
   * where the filesystem clones, else copied, so no worktree shares a file with the cache
   * (docs/trust.md); `hardlink` and `symlink` (the user's choice of disk over isolation) link
   * them. Default `auto`.
   */
  linkMode?: LinkModeSetting;
}

/**
 * Snapshots `seed.base`'s node_modules into a new entry (cloned or copied, or hardlinked when
 * the user chose links: see {@link EntrySeed.linkMode}; files managers rewrite in place are
 * always copied), built in a temp dir and
 * renamed into place. When another process created the entry meanwhile, its entry wins and ours
 * is discarded: both callers get one entry. A crash leaves only a temp dir, which
 * {@link cleanStaleTemps} removes later.
 */
export async function createEntry(cacheDir: string, seed: EntrySeed, warn: (line: string) => void): Promise<CacheEntry> {
  const existing = await openEntry(cacheDir, seed.key);
  if (existing) return existing;
  const temp = newTempPath(cacheDir, seed.key);
  const cleaning = cleanStaleTemps(cacheDir).catch(() => undefined);
  try {
    const source = await findEmbeddedPaths(seed.base, await scanTree(seed.base, seed.roots, { stats: false }));
    // A link out of the tree (a worktree restored with --link-mode symlink links into the cache
    // itself; `npm link` into a global dir) would make the entry corrupt: never snapshot that.
    const problem = manifestProblem(source);
    if (problem) throw new Error(`${seed.base}: ${problem}: not cached`);
    const setting = seed.linkMode ?? 'auto';
    const mode = setting === 'hardlink' || setting === 'symlink' ? 'hardlink' : await resolveLinkMode(setting === 'copy' ? 'copy' : 'auto', source, seed.base, join(temp, 'tree'), warn);
    await restoreTree(source, { from: seed.base, to: join(temp, 'tree'), mode, warn });
    // The entry's own inodes and mtimes, which `cache verify` compares against.
    const manifest: Manifest = { ...(await scanTree(join(temp, 'tree'), source.roots)), ...(source.origin ? { origin: source.origin, rewrite: source.rewrite } : {}) };
    const now = new Date().toISOString();
    const meta: EntryMeta = {
      key: seed.key,
      source: seed.source,
      packageManager: seed.project.manager,
      project: seed.project,
      platform: currentPlatform(),
      createdAt: now,
      lastUsedAt: now,
      hits: 0,
      files: manifest.files.length,
      bytes: uniqueBytes([manifest]),
    };
    await Promise.all([writeFileAtomic(join(temp, 'manifest.json'), JSON.stringify(manifest)), writeFileAtomic(join(temp, 'meta.json'), JSON.stringify(meta, null, 2))]);
    return await publish(cacheDir, temp, seed.key);
  } finally {
    await rm(temp, { recursive: true, force: true });
    await cleaning;
  }
}

/**
 * Caches the dependencies of the worktree at `base` as entry `key`, if its files on disk still
 * give that key and its install is complete (where the check cannot tell, a frozen install in a
 * scratch copy decides: {@link judgeWithReference}, told through `log`); checked again afterwards, and the entry dropped,
 * when the worktree changed while it was being snapshotted. `undefined` when it did not qualify,
 * after telling `refused` why.
 */
export async function cacheWorktree(
  cacheDir: string,
  base: string,
  key: string,
  source: EntrySource,
  warn: (line: string) => void,
  linkMode: LinkModeSetting = 'auto',
  refused: (reason: string) => void = () => undefined,
  log: (line: string) => void = () => undefined,
): Promise<CacheEntry | undefined> {
  const qualifies = async () => {
    const project = await detectProject(diskFiles(base));
    const problem = !project
      ? 'it has no package.json any more'
      : cacheKey(project) !== key
        ? `its lockfile or package.json changed since: it no longer matches ${key}`
        : await judgeWithReference(cacheDir, base, project, key, { install: true, hashes: true, log }).then((v) => (v.complete ? undefined : `its node_modules is not a complete install of its lockfile (${v.problem})`));
    if (problem === undefined) return project;
    refused(problem);
    return undefined;
  };
  const project = await qualifies();
  if (!project) return undefined;
  const existed = await openEntry(cacheDir, key);
  if (existed) return existed;
  const entry = await createEntry(cacheDir, { key, project, base, roots: nodeModulesDirs(project), source, linkMode }, warn);
  if (!(await qualifies())) {
    await dropEntry(cacheDir, key);
    return undefined;
  }
  return entry;
}

/**
 * Why an entry made elsewhere (an imported archive, a registry) cannot be used here as `key`, or
 * `undefined` when it can: its key must be what its recorded inputs give, and it must have been
 * made for this cache format, Node.js major version, platform and architecture.
 */
export function foreignEntryProblem(meta: EntryMeta | undefined, key: string): string | undefined {
  if (!meta?.platform || !meta.project) return 'no meta';
  // Untrusted: it must name this key and keep its package directories inside the tree.
  const bad = metaProblem(meta, key);
  if (bad) return bad;
  // Declared counts: a pull is bounded by them.
  if (!Number.isSafeInteger(meta.files) || meta.files < 0 || !Number.isSafeInteger(meta.bytes) || meta.bytes < 0) return 'its meta declares no size';
  const here = currentPlatform();
  const theirs = meta.platform;
  if (theirs.format !== here.format || theirs.node !== here.node || theirs.platform !== here.platform || theirs.arch !== here.arch) {
    return `made for node ${theirs.node} ${theirs.platform}-${theirs.arch} (cache format ${theirs.format}), this is node ${here.node} ${here.platform}-${here.arch} (format ${here.format})`;
  }
  return keyMatches(meta, key) ? undefined : 'key does not match its inputs';
}

/**
 * Publishes an entry unpacked at `dir` (its `tree/` in place) that was made elsewhere: records
 * this machine's inodes and mtimes for `cache verify`, writes its meta as new with `source`, and
 * renames it into place. The caller checked its meta with {@link foreignEntryProblem}; its tree is
 * checked here ({@link manifestProblem}: a link out of it, or a path leaving it, refuses the entry
 * with a {@link RefusedInput}).
 * Files the maker listed as naming its worktree stay listed for rewriting, if they are in the tree.
 */
export async function adoptEntry(cacheDir: string, dir: string, meta: EntryMeta, source: EntrySource): Promise<CacheEntry> {
  const scanned = await scanTree(join(dir, 'tree'), nodeModulesDirs(meta.project));
  const problem = manifestProblem(scanned);
  if (problem) throw new RefusedInput(problem);
  const made = await readJsonFile<Manifest>(join(dir, 'manifest.json')).catch(() => undefined);
  const inTree = new Set(scanned.files.map(([path]) => path));
  const rewrite = (made?.rewrite ?? []).filter((path) => inTree.has(path));
  const manifest: Manifest = made?.origin && rewrite.length > 0 ? { ...scanned, origin: made.origin, rewrite } : scanned;
  const now = new Date().toISOString();
  await writeFileAtomic(join(dir, 'manifest.json'), JSON.stringify(manifest));
  await writeFileAtomic(join(dir, 'meta.json'), JSON.stringify({ ...meta, source, createdAt: now, lastUsedAt: now, hits: 0 } satisfies EntryMeta, null, 2));
  return publish(cacheDir, dir, meta.key);
}

/** Renames a complete entry built at `temp` into place; if one is there already, that one wins. */
export async function publish(cacheDir: string, temp: string, key: string): Promise<CacheEntry> {
  const dir = entryDir(cacheDir, key);
  await mkdir(join(cacheDir, 'entries'), { recursive: true });
  try {
    await rename(temp, dir);
  } catch (error) {
    if (!isErrno(error, 'ENOTEMPTY', 'EEXIST')) throw error;
  }
  const entry = await openEntry(cacheDir, key);
  if (!entry) throw new Error(`cache entry ${key} vanished right after it was created`);
  return entry;
}

/** Counts a hit and the time of last use (under the entry's lock, so concurrent adds count both). */
export async function recordHit(cacheDir: string, key: string): Promise<void> {
  const metaPath = join(entryDir(cacheDir, key), 'meta.json');
  await withLock(join(cacheDir, 'locks', `${key}.lock`), async () => {
    const meta = await readJsonFile<EntryMeta>(metaPath).catch(() => undefined);
    if (!meta) return;
    await writeFileAtomic(metaPath, JSON.stringify({ ...meta, hits: meta.hits + 1, lastUsedAt: new Date().toISOString() }, null, 2), { durable: false });
  });
}

/**
 * Drops an entry and its spares: renamed away first (so no restore sees them half-deleted),
 * then deleted. A spare holds links to the entry's files, which may be why it is dropped.
 */
export async function dropEntry(cacheDir: string, key: string): Promise<void> {
  // Spares first: they hold links to the entry's files.
  for (const dir of [sparesDir(cacheDir, key), entryDir(cacheDir, key)]) await deleteAside(dir, tempDir(cacheDir), `dropped-${key}`);
  // What a scratch install decided of its lockfile goes with it: decided again if it comes back.
  await rm(referencePath(cacheDir, key), { force: true });
}

/**
 * Removes temp dirs left by crashed creations: those whose creating process is gone, or
 * older than an hour. Only names vtree made ({@link tempName}) are touched: whatever else is in
 * `tmp/` is not vtree's to delete. Returns how many it removed (with `dryRun`: would remove).
 */
export async function cleanStaleTemps(cacheDir: string, options: { dryRun?: boolean } = {}): Promise<number> {
  const dir = tempDir(cacheDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  let removed = 0;
  await Promise.all(
    names.map(async (name) => {
      const pid = tempNamePid(name);
      if (pid === undefined) return;
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (!info) return;
      if (pid === process.pid) return;
      if ((pid > 0 && !isProcessAlive(pid)) || Date.now() - info.mtimeMs > STALE_TEMP_MS) {
        if (!options.dryRun) await rm(path, { recursive: true, force: true });
        removed++;
      }
    }),
  );
  return removed;
}

/**
 * Files of an entry that no longer match its manifest (size or mtime changed, or gone): someone
 * edited them through a hardlink in a worktree (writing a file's content changes its mtime
 * through every link; linking it does not). Empty when the entry is intact. With `inodes`, a
 * file replaced by another inode counts too (`cache verify`; `add` needs only content).
 */
export async function changedFiles(entry: CacheEntry, options: { inodes?: boolean } = {}): Promise<string[]> {
  return changedSince(entry.tree, entry.manifest.files, options);
}

/** Files of `files` (as recorded) that no longer match under `tree`: size or mtime (with `inodes`, inode) changed, or gone. */
export async function changedSince(tree: string, files: Manifest['files'], options: { inodes?: boolean } = {}): Promise<string[]> {
  return (await changedFilesOffThread({ tree, recorded: { files }, inodes: options.inodes ?? false })) ?? [];
}

/**
 * What the tree at `tree` (a spare worktree's, restored by hardlink) is to `entry`: `foreign`
 * when its linked files are not the entry's inodes (restored from an entry since replaced, or
 * installed separately: nothing to judge it by), else the files that no longer match the
 * manifest, as {@link changedFiles}. Files each restore copies rather than links (the package
 * manager's state files, those naming the worktree) are the tree's own and not compared.
 */
export async function linkedTreeChanges(entry: CacheEntry, tree: string): Promise<'foreign' | string[]> {
  const copied = new Set(entry.manifest.rewrite ?? []);
  const linked = entry.manifest.files.filter(([path]) => !copied.has(path) && !isRewrittenInPlace(path));
  const changed: string[] = [];
  let foreign = false;
  await statEach(tree, linked, ([path, , size, mtimeMs, ino], info) => {
    if (!info || info.ino !== ino) {
      foreign = true;
      return false;
    }
    if (info.size !== size || info.mtimeMs !== mtimeMs) changed.push(path);
  });
  return foreign ? 'foreign' : changed.sort();
}

/**
 * Calls `visit` with each of `files` and its `lstat` under `tree` (undefined when gone), until
 * `visit` returns false. On `add`'s path, beside the restore: synchronous calls in slices of
 * {@link SLICE}, which costs about half what the same calls cost through libuv's four threads
 * (measured on 11,569 files), yielding between slices so the other tasks of the graph go on.
 */
async function statEach(tree: string, files: Manifest['files'], visit: (file: Manifest['files'][number], info: Stats | undefined) => boolean | void): Promise<void> {
  for (let start = 0; start < files.length; start += SLICE) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const end = Math.min(files.length, start + SLICE);
    for (let i = start; i < end; i++) {
      const file = files[i]!;
      if (visit(file, fsLstatSync(`${tree}/${file[0]}`, { throwIfNoEntry: false })) === false) return;
    }
  }
}

/** Files checked between two yields to the event loop in {@link statEach}. */
const SLICE = 2000;

/**
 * Why the links of `entry`'s tree as they are on disk may not be restored, or `undefined`: one
 * changed or added since the entry was made, or one leading outside the tree
 * ({@link manifestProblem} of the tree as scanned now). `cache verify` asks; a restore trusts the
 * manifest, which was checked when the entry was made.
 */
export async function linksOnDiskProblem(entry: CacheEntry): Promise<string | undefined> {
  const onDisk = await scanTree(entry.tree, entry.manifest.roots, { stats: false });
  const made = new Map(entry.manifest.links);
  const changed = onDisk.links.find(([path, target]) => made.get(path) !== target);
  if (changed) return `link '${changed[0]}' is not the one the entry was made with (now ${changed[1]})`;
  return manifestProblem(onDisk);
}

/** Checks that an entry's key is what its recorded inputs and this machine's platform give. */
export function keyMatches(meta: EntryMeta, key: string): boolean {
  return meta.key === key && cacheKey(meta.project, meta.platform) === key;
}

/** Bytes of the files of `manifests`, each inode counted once (entries and spares share them). */
export function uniqueBytes(manifests: readonly Manifest[]): number {
  const seen = new Set<number>();
  let bytes = 0;
  for (const manifest of manifests) {
    for (const [, , size, , ino] of manifest.files) {
      if (seen.has(ino)) continue;
      seen.add(ino);
      bytes += size;
    }
  }
  return bytes;
}
