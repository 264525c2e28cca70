import { readFileSync } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tempName } from './temp-name.js';

/**
 * Writes `data` to `path` so that readers see either the old or the new content, never a torn
 * file: write a sibling temp file (named by {@link tempName}), fsync it, rename it over the target (atomic on POSIX). The
 * file gets `mode`, or keeps the mode of the file it replaces, from the moment the temp file
 * exists: a private `.env` is never readable by others, not even briefly.
 *
 * `durable: false` skips the fsync, for vtree's own state that it rebuilds when it reads it torn
 * or empty (metrics, the port registry, a worktree's `vtree.json`, a cache entry's hit count, caches of parsed files): the
 * rename alone is atomic against a killed process, and only a power cut could leave such a file
 * empty. On `add`'s path an fsync waited 7-152 ms behind a restore's metadata writes on ext4
 * (1-2 ms otherwise). Files of the user's (`.env`, settings, hooks) stay durable.
 */
export async function writeFileAtomic(path: string, data: string, options: { mode?: number; durable?: boolean } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const mode = options.mode ?? (await stat(path).then((s) => s.mode & 0o7777, () => undefined));
  const temp = join(dirname(path), tempName(basename(path)));
  const handle = await open(temp, 'w', mode ?? 0o666);
  try {
    // open() applies the umask; chmod makes the mode exact.
    if (mode !== undefined) await handle.chmod(mode);
    await handle.writeFile(data);
    if (options.durable !== false) await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Reads and parses a JSON file; `undefined` when it does not exist. Parse errors propagate. */
export async function readJsonFile<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    // Synchronous: vtree's JSON files are small, and one read costs a few system calls where the
    // promise form makes four round trips through libuv's thread pool (measured: reading the
    // state of 50 worktrees took 15-20 ms that way, 5 ms this way).
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  return JSON.parse(text) as T;
}

/** True when `error` is a Node.js system error with one of the given codes. */
export function isErrno(error: unknown, ...codes: string[]): error is NodeJS.ErrnoException {
  return typeof error === 'object' && error !== null && codes.includes((error as NodeJS.ErrnoException).code ?? '');
}

/**
 * Deletes the directory `dir` after renaming it into `tmp` under a {@link tempName} labelled
 * `label`: one rename takes it from where readers look (a restore never takes a spare, an entry or
 * a golden half deleted), and a crash mid-delete leaves it to the stale-temp reclaim of `tmp`.
 * False when there was no `dir`.
 */
export async function deleteAside(dir: string, tmp: string, label: string): Promise<boolean> {
  const aside = join(tmp, tempName(label));
  await mkdir(tmp, { recursive: true });
  try {
    await rename(dir, aside);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
  return true;
}

/** True when `path` exists (any type; a dangling symlink counts as absent). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Bytes of the files under `path` (0 when it does not exist), each hardlinked file counted once:
 * what the tree holds on disk, not what its links add up to.
 */
export async function diskUse(path: string, seen: Set<number> = new Set()): Promise<number> {
  let total = 0;
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) total += await diskUse(full, seen);
    else {
      const info = await lstat(full).catch(() => undefined);
      if (info && !seen.has(info.ino)) {
        seen.add(info.ino);
        total += info.size;
      }
    }
  }
  return total;
}
