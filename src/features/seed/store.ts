import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteAside, readJsonFile, writeFileAtomic } from '../../core/files.js';
import { tempName, tempNamePid } from '../../core/temp-name.js';
import { failpoint } from '../../core/failpoint.js';
import { isProcessAlive } from '../../core/pid.js';
import { SEED_FAILPOINTS } from './failpoints.js';
import { committedEntries } from '../../git/objects.js';
import { run } from '../../core/exec.js';
import type { SeedSpec } from './definitions.js';
import { copyTree, makeDataDir, setCowExtentHint } from './volume.js';

/**
 * Where seeded data lives, under vtree's cache directory (on the worktrees' filesystem, so clones
 * are reflinks): `goldens/<volume>-<key>/` (the stopped data, `data/`, and `meta.json`),
 * `volumes/<compose volume>/` (each worktree's clone, bind-mounted by its Docker volume),
 * `spares/<volume>-<key>/` (clones or copies made ahead of the next `add`), `tmp/` (golden
 * copies being built, pruned ones being deleted) and `locks/`.
 */
export function seedsDir(cacheDir: string): string {
  return join(cacheDir, 'seeds');
}

/** The golden copy of `volume` for `key`. */
export function goldenDir(cacheDir: string, volume: string, key: string): string {
  return join(seedsDir(cacheDir), 'goldens', `${volume}-${key}`);
}

/** The directory a worktree's clone of a golden lives in, named after its Docker volume. */
export function cloneDir(cacheDir: string, dockerVolume: string): string {
  return join(seedsDir(cacheDir), 'volumes', dockerVolume);
}

/** What is recorded beside a golden copy's data. */
export interface GoldenMeta {
  volume: string;
  service: string;
  key: string;
  image: string;
  imageId: string;
  run: string;
  /** The commit whose inputs it was seeded from. */
  commit: string;
  createdAt: string;
  /** Bytes of its data directory. */
  bytes: number;
  buildMs: number;
}

/** A golden copy on disk. */
export interface Golden extends GoldenMeta {
  dir: string;
  /** Its data directory: what worktrees clone. */
  data: string;
  /** When a worktree last got a clone of it (its directory's mtime, see {@link touchGolden}); when built, before that. */
  lastUsedAt: string;
}

/** The key of a seeded copy and what went into it. */
export interface SeedKey {
  key: string;
  /** `<mode> <object id> <path>` of every committed input file. */
  inputs: string[];
}

/**
 * The key of `spec`'s seeded data at `commit`: a hash of the service's image id, the `run` text
 * and the committed content of `inputs` (read from the object store, so it is known before the
 * checkout is written and does not see uncommitted edits).
 */
export async function seedKey(repoDir: string, commit: string, spec: SeedSpec, image: string | Promise<string>): Promise<SeedKey> {
  const [imageId, inputs] = await Promise.all([image, committedEntries(repoDir, commit, spec.inputs)]);
  const hash = createHash('sha256').update(`image ${imageId}\0run ${spec.run}\0service ${spec.service}\0`);
  for (const line of inputs) hash.update(`${line}\0`);
  return { key: hash.digest('hex').slice(0, 32), inputs };
}

/** The golden copy of `volume` for `key`, if one was published. */
export async function readGolden(cacheDir: string, volume: string, key: string): Promise<Golden | undefined> {
  return goldenAt(goldenDir(cacheDir, volume, key));
}

/** Every published golden copy, newest first. */
export async function listGoldens(cacheDir: string): Promise<Golden[]> {
  const root = join(seedsDir(cacheDir), 'goldens');
  const names = await readdir(root).catch(() => [] as string[]);
  const goldens = await Promise.all(names.map((name) => goldenAt(join(root, name))));
  return goldens.filter((g): g is Golden => g !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

async function goldenAt(dir: string): Promise<Golden | undefined> {
  const [meta, used] = await Promise.all([readJsonFile<GoldenMeta>(join(dir, 'meta.json')).catch(() => undefined), stat(dir).catch(() => undefined)]);
  return meta && used ? { ...meta, dir, data: join(dir, 'data'), lastUsedAt: used.mtime.toISOString() } : undefined;
}

/**
 * Records that a worktree got a clone of `golden` now, in its directory's mtime (nothing else
 * writes that directory once it is published; its data is never touched): `cache prune` drops
 * the least recently used goldens first. A golden pruned meanwhile is no error.
 */
export async function touchGolden(golden: Golden): Promise<void> {
  const now = new Date();
  await utimes(golden.dir, now, now).catch(() => undefined);
}

/** The limits an LRU pass over the goldens keeps them within (as `cache prune` gives them). */
export interface GoldenLimits {
  /** Drop least recently used goldens until their bytes total at most this. */
  maxBytes?: number;
  /** Drop goldens no worktree got a clone of for this long. */
  olderThanMs?: number;
}

/**
 * The goldens to drop, least recently used first, so that the rest stay within `limits`; a golden
 * whose key is in `inUse` (a worktree's volume is of that key, or was cloned from it) is never
 * chosen. Changes nothing.
 */
export function goldensPastLimits(goldens: readonly Golden[], inUse: ReadonlySet<string>, limits: GoldenLimits, now = Date.now()): Golden[] {
  const kept = [...goldens].sort((a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt));
  const dropped: Golden[] = [];
  const drop = (g: Golden) => {
    dropped.push(g);
    kept.splice(kept.indexOf(g), 1);
  };
  if (limits.olderThanMs !== undefined) {
    for (const g of [...kept]) if (!inUse.has(g.key) && now - Date.parse(g.lastUsedAt) > limits.olderThanMs) drop(g);
  }
  if (limits.maxBytes !== undefined) {
    for (const g of [...kept]) {
      if (kept.reduce((sum, k) => sum + k.bytes, 0) <= limits.maxBytes) break;
      if (!inUse.has(g.key)) drop(g);
    }
  }
  return dropped;
}

/**
 * Copies of a golden made ahead of time, so that `add` renames one into place: a reflink clone
 * where the filesystem clones (a clone of 2 GB still costs an `add` about 0.1 s of `cp`), a full
 * copy where it cannot. Ready ones are named `ready-<reflink|copy>-*`; one being made has a temp
 * name.
 */
function sparesDir(cacheDir: string, volume: string, key: string): string {
  return join(seedsDir(cacheDir), 'spares', `${volume}-${key}`);
}

/** How a spare was made: a reflink clone, or a full copy. */
export type SpareKind = 'reflink' | 'copy';

/**
 * Renames a ready spare of the golden `volume`/`key` to `to` (same filesystem). Says how it was
 * made, or undefined when none is ready.
 */
export async function takeSpare(cacheDir: string, volume: string, key: string, to: string): Promise<SpareKind | undefined> {
  const dir = sparesDir(cacheDir, volume, key);
  for (const name of (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('ready-'))) {
    // Two adds may reach for the same spare: rename is atomic, the loser tries the next one.
    if (await rename(join(dir, name), to).then(() => true, () => false)) return name.startsWith('ready-reflink-') ? 'reflink' : 'copy';
  }
  return undefined;
}

/**
 * Makes spares of `golden` until `count` are ready: each cloned (or copied) under a temp name,
 * then renamed. On XFS the spares' directory gets the small copy-on-write extent hint first, as
 * the clones' does: a file keeps the hint of the directory it was made in.
 */
export async function makeSpares(cacheDir: string, golden: Golden, count: number): Promise<number> {
  const dir = sparesDir(cacheDir, golden.volume, golden.key);
  await mkdir(dir, { recursive: true });
  await setCowExtentHint(dir);
  await reclaimTemps(dir);
  let made = 0;
  while ((await readdir(dir)).filter((n) => n.startsWith('ready-')).length < count) {
    const partial = join(dir, tempName('spare'));
    // Niced: a spare is made ahead of time, for a worktree nobody waits for yet.
    const kind: SpareKind = await copyTree(golden.data, partial, ['nice', '-n', '19']);
    failpoint(SEED_FAILPOINTS['spare:copied']);
    made++;
    await rename(partial, join(dir, `ready-${kind}-${process.pid}-${Date.now()}-${made}`));
  }
  return made;
}

/** A fresh directory for building a golden copy in, under `tmp/`, named so cleanup knows its owner. */
export async function goldenTempDir(cacheDir: string, volume: string): Promise<string> {
  const tmp = join(seedsDir(cacheDir), 'tmp');
  await mkdir(tmp, { recursive: true });
  await reclaimTemps(tmp);
  const dir = join(tmp, tempName(`golden-${volume}`));
  await makeDataDir(join(dir, 'data'));
  return dir;
}

/** Removes what killed runs left in `dir` (golden builds in `tmp/`, clones in `volumes/`): temp names whose creating process is gone. */
export async function reclaimTemps(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => {
        const pid = tempNamePid(name);
        return pid !== undefined && pid !== process.pid && !isProcessAlive(pid);
      })
      .map((name) => rm(join(dir, name), { recursive: true, force: true })),
  );
}

/**
 * Publishes a built golden copy: writes its meta, then renames the whole directory into place in
 * one step, so a reader sees either no golden or a complete one. A golden already there (a
 * `--rebuild`) is renamed aside first and deleted after.
 */
export async function publishGolden(tempDir: string, cacheDir: string, meta: GoldenMeta): Promise<Golden> {
  await writeFileAtomic(join(tempDir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  const dir = goldenDir(cacheDir, meta.volume, meta.key);
  await mkdir(join(seedsDir(cacheDir), 'goldens'), { recursive: true });
  const old = join(seedsDir(cacheDir), 'tmp', tempName(`old-${meta.volume}`));
  const replaced = await rename(dir, old).then(
    () => true,
    () => false,
  );
  await rename(tempDir, dir);
  if (replaced) await rm(old, { recursive: true, force: true });
  return { ...meta, dir, data: join(dir, 'data'), lastUsedAt: meta.createdAt };
}

/**
 * Deletes a golden copy (pruning) and its spares, each renamed out of the way first: an `add` that
 * reaches for a spare meanwhile takes a whole one (renamed out before) or none, never one being
 * deleted file by file, and no reader sees the golden half deleted.
 */
export async function removeGolden(cacheDir: string, golden: Golden): Promise<void> {
  const tmp = join(seedsDir(cacheDir), 'tmp');
  // No spares (none made, or a golden on btrfs): nothing to delete.
  await Promise.all([deleteAside(golden.dir, tmp, `pruned-${golden.volume}`), deleteAside(sparesDir(cacheDir, golden.volume, golden.key), tmp, `pruned-spares-${golden.volume}`)]);
}

/**
 * The golden a worktree at `commit` can be brought up to date from when its own key has none: the
 * newest golden of the same volume, image and seed command built from an ancestor of `commit`
 * (its inputs are older; the project's `update` command applies the difference).
 */
export async function nearestOlderGolden(cacheDir: string, repoDir: string, spec: SeedSpec, imageId: string, commit: string): Promise<Golden | undefined> {
  const candidates = (await listGoldens(cacheDir)).filter((g) => g.volume === spec.volume && g.imageId === imageId && g.run === spec.run && g.service === spec.service);
  for (const golden of candidates) {
    const ancestor = await run('git', ['merge-base', '--is-ancestor', golden.commit, commit], { cwd: repoDir, okCodes: [0, 1, 128] });
    if (ancestor.code === 0) return golden;
  }
  return undefined;
}
