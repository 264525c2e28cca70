import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { isProcessAlive } from './pid.js';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno } from './files.js';
import { VtreeError } from './errors.js';

/** Options for {@link withLock}. */
export interface LockOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** A lock older than this whose owner cannot be checked is taken over (default 60 s). */
  staleMs?: number;
}

/**
 * Runs `fn` while holding an exclusive lock file at `lockPath` (created with O_EXCL, holding the
 * owner's pid). A lock whose owner process is gone, or that is older than `staleMs`, is broken:
 * a crashed `git vtree` never wedges the next one.
 */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  await mkdir(dirname(lockPath), { recursive: true });
  let delay = 2;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
    const holder = await lockHolder(lockPath, staleMs);
    if (holder === 'released') continue;
    if (holder === 'stale') {
      await rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new VtreeError(`timed out waiting for the lock ${lockPath}`, `if no other git vtree is running, delete ${lockPath}`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
  try {
    return await fn();
  } finally {
    await rm(lockPath, { force: true });
  }
}

async function lockHolder(lockPath: string, staleMs: number): Promise<'held' | 'stale' | 'released'> {
  try {
    const [text, info] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    const pid = Number.parseInt(text, 10);
    // An empty file is a lock being written right now: judge it by age only.
    if (Number.isInteger(pid) && pid > 0 && !isProcessAlive(pid)) return 'stale';
    return Date.now() - info.mtimeMs > staleMs ? 'stale' : 'held';
  } catch (error) {
    // Vanished between our open and our read: the owner released it; try again at once.
    if (isErrno(error, 'ENOENT')) return 'released';
    throw error;
  }
}
