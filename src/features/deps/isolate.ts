import * as fs from 'node:fs';
import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CacheEntry } from './cache.js';
import { changedFilesOffThread } from './tree-check.js';
import { depsRecordPath } from '../../core/paths.js';
import { isErrno, writeFileAtomic } from '../../core/files.js';
import { FS_CONCURRENCY, isRewrittenInPlace, pump, scanTree, type Manifest, type ManifestFile } from './manifest.js';

/**
 * Isolation on a filesystem that cannot clone (ext4, docs/trust.md): `add` with nothing ready
 * restores by hardlink (one `link()` per file, fast) and a detached job then gives the worktree
 * a copy of its own of every file still linked to the cache entry, within seconds. Until then an
 * edit in place through a link writes the entry's file too: the job finds it (the shared
 * inode's size or mtime no longer matches the entry's manifest), keeps the edited content in
 * the worktree, and reports it (the caller drops the entry and records the file in the
 * worktree's state, where `cache verify` names it).
 */

/** What a worktree's state says of its isolation (`deps.isolation`), for `wait`, `list` and `cache verify`. */
export interface IsolationState {
  state: 'pending' | 'done' | 'failed';
  /** When the hardlinked restore was placed: files are shared from then on. */
  since: string;
  /** How long files were shared with the cache, from the restore to the last copy (done). */
  sharedMs?: number;
  replaced?: number;
  log?: string;
}

/** What {@link isolateTree} did. */
export interface Isolated {
  /** Files that were still the entry's inode and are now the worktree's own copy. */
  replaced: number;
  /** Files that had been edited through the link before their copy was made (now the worktree's own, edit kept). */
  edited: string[];
}

/** Tries per file before an edit racing the copy is given up on (the file stays linked and is reported). */
const ATTEMPTS = 3;

/**
 * Replaces every file of the worktree `tree` that is still the inode of the file `manifest` (a
 * cache entry's) records, and shares it (more than one link), with a copy (same mode), renamed
 * over it: readers see the old or the new file, never a partial one.
 * Files another process replaced meanwhile (an install) are the worktree's own already and left
 * alone. Copies are made in a sibling staging directory (`.<name>.vtree-deps.<pid>`, which the
 * next `add` reclaims if this job dies).
 */
export async function isolateTree(manifest: Manifest, tree: string): Promise<Isolated> {
  const copied = new Set(manifest.rewrite ?? []);
  const linked = manifest.files.filter(([path]) => !copied.has(path) && !isRewrittenInPlace(path));
  const scratch = join(dirname(tree), `.${basename(tree)}.vtree-deps.${process.pid}`);
  await mkdir(scratch, { recursive: true });
  const result: Isolated = { replaced: 0, edited: [] };
  let n = 0;
  try {
    await pump(linked, FS_CONCURRENCY, (file, done) => {
      isolateFile(file, `${tree}/${file[0]}`, `${scratch}/${n++}`).then((outcome) => {
        if (outcome === 'edited' || outcome === 'edited, replaced') result.edited.push(file[0]);
        if (outcome === 'replaced' || outcome === 'edited, replaced') result.replaced++;
        done();
      }, done);
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  result.edited.sort();
  return result;
}

type Outcome = 'own' | 'replaced' | 'edited, replaced' | 'edited';

async function isolateFile([, , size, mtimeMs, ino]: ManifestFile, file: string, temp: string): Promise<Outcome> {
  let edited = false;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const before = await lstat(file).catch(() => undefined);
    // Gone, no longer the entry's inode (the package manager replaced it), or linked nowhere else: the worktree's own.
    if (!before || before.ino !== ino || before.nlink === 1) return edited ? 'edited, replaced' : 'own';
    if (before.size !== size || before.mtimeMs !== mtimeMs) edited = true;
    await copy(file, temp);
    const after = await lstat(file).catch(() => undefined);
    if (!after || after.ino !== ino) {
      await rm(temp, { force: true });
      return edited ? 'edited, replaced' : 'own';
    }
    // Written while we copied: copy again, so the worktree keeps what was written.
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
      edited = true;
      continue;
    }
    const renamed = await new Promise<boolean>((resolve, reject) => fs.rename(temp, file, (error) => (!error ? resolve(true) : isErrno(error, 'ENOENT') ? resolve(false) : reject(error))));
    // The worktree's directory went meanwhile (`rm`): nothing left to isolate there.
    if (!renamed) return edited ? 'edited' : 'own';
    return edited ? 'edited, replaced' : 'replaced';
  }
  await rm(temp, { force: true });
  return 'edited';
}

function copy(source: string, dest: string): Promise<void> {
  // libuv's copyfile gives the copy the source's mode.
  return new Promise((resolve, reject) => fs.copyFile(source, dest, (error) => (error ? reject(error) : resolve())));
}

/**
 * Files of the tree at `tree` (a worktree's dependencies) that differ from `entry`: content
 * compared byte for byte (a copy or a clone has its own mtime; a file still linked to the entry
 * is compared by the entry's recorded size and mtime), plus files and links one has and the
 * other has not. Files each restore writes for its own worktree (the package managers' state
 * files, files naming the worktree) are not compared. Empty when the tree is the entry's.
 */
export async function treeDifferences(entry: CacheEntry, tree: string): Promise<string[]> {
  const copied = new Set(entry.manifest.rewrite ?? []);
  const compared = (path: string) => !copied.has(path) && !isRewrittenInPlace(path);
  const theirs = await scanTree(tree, entry.manifest.roots, { stats: false });
  const differ: string[] = [];
  const ours = new Set(entry.manifest.files.map(([path]) => path));
  for (const [path] of theirs.files) if (!ours.has(path) && compared(path)) differ.push(path);
  const ourLinks = new Map(entry.manifest.links.map(([path, target]) => [path, target]));
  const theirLinks = new Map(theirs.links.map(([path, target]) => [path, target]));
  for (const [path, target] of ourLinks) if (theirLinks.get(path) !== target) differ.push(path);
  for (const path of theirLinks.keys()) if (!ourLinks.has(path)) differ.push(path);
  await pump(
    entry.manifest.files.filter(([path]) => compared(path)),
    FS_CONCURRENCY,
    (file, done) => {
      sameFile(entry, file, `${tree}/${file[0]}`).then((same) => {
        if (!same) differ.push(file[0]);
        done();
      }, done);
    },
  );
  return differ.sort();
}

async function sameFile(entry: CacheEntry, [path, mode, size, mtimeMs, ino]: ManifestFile, file: string): Promise<boolean> {
  const info = await lstat(file).catch(() => undefined);
  if (!info?.isFile() || info.size !== size || (info.mode & 0o777) !== (mode & 0o777)) return false;
  if (info.ino === ino) return info.mtimeMs === mtimeMs;
  const [a, b] = await Promise.all([readFile(file), readFile(`${entry.tree}/${path}`)]);
  return a.equals(b);
}

/**
 * Records the files of the dependency dirs `dirs` of the worktree at `path` as they are now
 * (size, mtime, inode), in its admin dir: a spare worktree's tree, once the spare job made or
 * checked it, so that `add` can check it like any hit ({@link recordedTreeChanges}).
 */
export async function recordTree(path: string, dirs: readonly string[], gitDir: string): Promise<void> {
  const { files } = await scanTree(path, dirs);
  await writeFileAtomic(depsRecordPath(gitDir), JSON.stringify({ files }));
}

/**
 * Files of the worktree at `path` that changed since {@link recordTree} recorded them (an edit in
 * place changes the mtime; a replaced file its inode), or `undefined` when nothing was recorded.
 */
export async function recordedTreeChanges(path: string, gitDir: string): Promise<string[] | undefined> {
  return changedFilesOffThread({ tree: path, recorded: { recordPath: depsRecordPath(gitDir) }, inodes: true });
}
