import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { dropEntry, type CacheEntry } from './cache.js';
import { readJsonFile, writeFileAtomic } from '../../core/files.js';

/**
 * Files of a cache entry edited through a hardlink. With `hardlink` (ext4's `auto`), an entry,
 * its spares, the worktree it was seeded from and every worktree restored from it share inodes:
 * one `echo >> node_modules/x/index.js` in any of them writes the file of all of them. vtree
 * cannot stop that write; it detects it (size and mtime of the shared inode against the
 * entry's manifest) before it hands the entry out again, and then never hands out that entry,
 * nor starts a tree from a worktree that shares the edited inode.
 */

/** A tainted entry's record, `tainted/<key>.json`: the edited files and their (shared) inodes. */
export interface Tombstone {
  key: string;
  at: string;
  files: Array<[path: string, ino: number]>;
}

/** An edited file of an entry, with the worktrees that hold the same inode (and so the edit). */
export interface EditedFile {
  path: string;
  sharedWith: string[];
}

function tombstonesDir(cacheDir: string): string {
  return join(cacheDir, 'tainted');
}

/**
 * Which of `worktrees` hold each of `paths` of `entry` as the same inode as the entry's file:
 * those that got (or made) the edit. A worktree whose file was replaced (an install) does not.
 */
export async function whoShares(entry: CacheEntry, paths: readonly string[], worktrees: readonly string[]): Promise<EditedFile[]> {
  return Promise.all(
    paths.map(async (path) => {
      const ino = await lstat(join(entry.tree, path)).then((i) => i.ino, () => undefined);
      const holders = await Promise.all(worktrees.map((w) => lstat(join(w, path)).then((i) => i.ino === ino, () => false)));
      return { path, sharedWith: ino === undefined ? [] : worktrees.filter((_, i) => holders[i]) };
    }),
  );
}

/**
 * Takes a tainted entry out of use: records its edited files' inodes in a tombstone (so no
 * worktree that shares them seeds the key again), then drops the entry and its spares.
 */
export async function quarantine(cacheDir: string, entry: CacheEntry, paths: readonly string[]): Promise<void> {
  const files: Tombstone['files'] = [];
  for (const path of paths) {
    const info = await lstat(join(entry.tree, path)).catch(() => undefined);
    if (info) files.push([path, info.ino]);
  }
  const file = join(tombstonesDir(cacheDir), `${entry.key}.json`);
  const before = await readJsonFile<Tombstone>(file).catch(() => undefined);
  const known = new Set((before?.files ?? []).map(([p, i]) => `${i}:${p}`));
  const merged = [...(before?.files ?? []), ...files.filter(([p, i]) => !known.has(`${i}:${p}`))];
  await mkdir(tombstonesDir(cacheDir), { recursive: true });
  await writeFileAtomic(file, JSON.stringify({ key: entry.key, at: new Date().toISOString(), files: merged } satisfies Tombstone));
  await dropEntry(cacheDir, entry.key);
}

/**
 * The first file of a tainted entry that the worktree at `base` still holds as the edited inode,
 * or `undefined`: a tree with it would hand the edit on, so it is never a seed or a partial start.
 */
export async function sharedTaint(cacheDir: string, base: string): Promise<string | undefined> {
  return (await taintedFiles(cacheDir, base, true))[0];
}

/**
 * Files of tainted entries that the worktree at `base` still holds as the edited inode (all of
 * them, or with `first` the first found): what `cache verify` names and `--repair` re-installs.
 */
export async function taintedFiles(cacheDir: string, base: string, first = false): Promise<string[]> {
  const held: string[] = [];
  const names = await readdir(tombstonesDir(cacheDir)).catch(() => [] as string[]);
  for (const name of names) {
    const stone = await readJsonFile<Tombstone>(join(tombstonesDir(cacheDir), name)).catch(() => undefined);
    for (const [path, ino] of stone?.files ?? []) {
      if ((await lstat(join(base, path)).catch(() => undefined))?.ino !== ino) continue;
      held.push(path);
      if (first) return held;
    }
  }
  return [...new Set(held)].sort();
}

/**
 * Forgets the edited inodes no worktree of `worktrees` holds any more (their trees were
 * re-installed), so that a later file given the same inode number is not taken for one.
 */
export async function forgetRepairedTaint(cacheDir: string, worktrees: readonly string[]): Promise<void> {
  const names = await readdir(tombstonesDir(cacheDir)).catch(() => [] as string[]);
  for (const name of names) {
    const file = join(tombstonesDir(cacheDir), name);
    const stone = await readJsonFile<Tombstone>(file).catch(() => undefined);
    if (!stone) continue;
    const held = await Promise.all(stone.files.map(async ([path, ino]) => (await Promise.all(worktrees.map((w) => lstat(join(w, path)).then((i) => i.ino === ino, () => false)))).some(Boolean)));
    const files = stone.files.filter((_, i) => held[i]);
    if (files.length === stone.files.length) continue;
    if (files.length === 0) await rm(file, { force: true });
    else await writeFileAtomic(file, JSON.stringify({ ...stone, files } satisfies Tombstone));
  }
}

/** One line naming the edited files and where the edit is: for `add`'s warning and `cache verify`. */
export function describeEdits(edited: readonly EditedFile[]): string {
  return fewOf(edited.map((e) => `${e.path}${e.sharedWith.length ? ` (shared with ${e.sharedWith.join(', ')})` : ''}`), '; ');
}

/** The first three of `paths` and how many more: one line, however many files changed. */
export function fewOf(paths: readonly string[], separator = ', '): string {
  return `${paths.slice(0, 3).join(separator)}${paths.length > 3 ? `${separator.trimEnd()} and ${paths.length - 3} more` : ''}`;
}
