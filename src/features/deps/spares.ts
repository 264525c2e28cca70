import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { changedFiles, entryDir, newTempPath, openEntry, sparesDir, tempDir } from './cache.js';
import { deleteAside, isErrno, readJsonFile, writeFileAtomic } from '../../core/files.js';
import { resolveLinkMode, restoreTree, rewriteOrigin, type LinkMode, type LinkModeSetting } from './link-modes.js';
import { withLock } from '../../core/lock.js';

/**
 * Spares: fully materialised copies of hot cache entries, made in the background, so that an
 * `add` restores dependencies with one rename instead of one link per file. Each lives at
 * `spares/<key>/<mode>.<id>/`, holding the node_modules roots as they sit in a worktree and a
 * `spare.json` naming them.
 */

/** What `spare.json` records. */
export interface SpareInfo {
  key: string;
  mode: LinkMode;
  roots: string[];
  files: number;
  /** The entry's `manifest.origin` and `manifest.rewrite`: files written for the worktree that takes the spare. */
  origin?: string;
  rewrite?: string[];
}

/** One spare in the pool. */
export interface Spare extends SpareInfo {
  path: string;
}

/**
 * Takes a spare of `key` whose mode suits `setting` (`auto` takes a reflinked or copied one)
 * by renaming it to `dest`: atomic, so two racing `add`s never get the same spare. Never uses a
 * spare whose entry was dropped. `undefined` when none is ready or the spare is on another
 * filesystem than `dest`.
 */
export async function takeSpare(cacheDir: string, key: string, setting: LinkModeSetting, dest: string, target: string): Promise<SpareInfo | undefined> {
  const dir = sparesDir(cacheDir, key);
  const [names, entryThere] = await Promise.all([
    readdir(dir).catch(() => [] as string[]),
    stat(join(entryDir(cacheDir, key), 'meta.json')).then(
      () => true,
      () => false,
    ),
  ]);
  if (!entryThere) return undefined;
  for (const name of names) {
    const mode = name.split('.')[0] as LinkMode;
    // `auto` takes only spares that are their own files (isolation): cloned or copied.
    if (setting === 'auto' ? mode !== 'reflink' && mode !== 'copy' : mode !== setting) continue;
    try {
      await rename(join(dir, name), dest);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) continue; // another add took it first
      if (isErrno(error, 'EXDEV')) return undefined;
      throw error;
    }
    const info = await readJsonFile<SpareInfo>(join(dest, 'spare.json'));
    if (info) {
      await rm(join(dest, 'spare.json'), { force: true });
      if (info.origin && info.rewrite?.length) await rewriteOrigin(dest, info.rewrite, info.origin, target);
      return info;
    }
    await rm(dest, { recursive: true, force: true });
  }
  return undefined;
}

/** Every spare in the pool, of every entry. */
export async function listSpares(cacheDir: string): Promise<Spare[]> {
  const root = join(cacheDir, 'spares');
  const keys = await readdir(root).catch(() => [] as string[]);
  const spares = await Promise.all(
    keys.map(async (key) => {
      const names = await readdir(join(root, key)).catch(() => [] as string[]);
      return Promise.all(
        names.map(async (name) => {
          const path = join(root, key, name);
          const info = await readJsonFile<SpareInfo>(join(path, 'spare.json')).catch(() => undefined);
          return info ? { ...info, path } : undefined;
        }),
      );
    }),
  );
  return spares.flat().filter((s): s is Spare => s !== undefined);
}

/**
 * Tops the pool of `key` up to `count` spares, restoring the entry with `setting` into temp dirs
 * renamed into the pool when complete. One process at a time per entry (a lock), so
 * concurrent background jobs do not overshoot. Returns how many it made.
 */
export async function makeSpares(cacheDir: string, key: string, count: number, setting: LinkModeSetting, warn: (line: string) => void): Promise<number> {
  if (count <= 0) return 0;
  return withLock(
    join(cacheDir, 'locks', `spares-${key}.lock`),
    async () => {
      const entry = await openEntry(cacheDir, key);
      // An entry edited through a hardlink gets no spare: the next add finds the edit and drops it.
      if (!entry || (await changedFiles(entry)).length > 0) return 0;
      const dir = sparesDir(cacheDir, key);
      const have = (await readdir(dir).catch(() => [] as string[])).length;
      let made = 0;
      for (let i = have; i < count; i++) {
        const temp = newTempPath(cacheDir, `spare-${key}`);
        try {
          const mode = await resolveLinkMode(setting, entry.manifest, entry.tree, temp, warn);
          await restoreTree(entry.manifest, { from: entry.tree, to: temp, mode, warn });
          const { origin, rewrite } = entry.manifest;
          const info: SpareInfo = { key, mode, roots: entry.manifest.roots, files: entry.manifest.files.length, ...(origin ? { origin, rewrite } : {}) };
          await writeFileAtomic(join(temp, 'spare.json'), JSON.stringify(info));
          await mkdir(dir, { recursive: true });
          await rename(temp, join(dir, `${mode}.${randomBytes(6).toString('hex')}`));
          made++;
        } finally {
          await rm(temp, { recursive: true, force: true });
        }
      }
      return made;
    },
    { timeoutMs: 120_000, staleMs: 600_000 },
  );
}

/** Removes spares of entries not in `keep` (dropped or pruned). Returns how many it removed. */
export async function pruneSpares(cacheDir: string, keep: ReadonlySet<string>): Promise<number> {
  const root = join(cacheDir, 'spares');
  const keys = await readdir(root).catch(() => [] as string[]);
  let removed = 0;
  for (const key of keys) {
    if (keep.has(key)) continue;
    removed += (await readdir(join(root, key)).catch(() => [] as string[])).length;
    // Renamed out of the pool first, so no add takes a spare while it is being deleted.
    await deleteAside(join(root, key), tempDir(cacheDir), `dropped-spares-${key}`);
  }
  return removed;
}
