import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive } from './pid.js';
import { isErrno } from './files.js';
import { tempName } from './temp-name.js';
import { VtreeError } from './errors.js';

/** Options for {@link withLock}. */
export interface LockOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** A lock file naming no owner (written by an older vtree) older than this is taken over (default 60 s). */
  staleMs?: number;
}

/** Who holds a lock: written into the lock file, one JSON line. */
interface Owner {
  pid: number;
  /** The process's start time (Linux `/proc/<pid>/stat` field 22), so a reused pid is not mistaken for the owner. */
  start?: string;
  /** Unique per acquisition: release and break compare it, never just the pid. */
  token: string;
}

/** An item waiting for a turn of a lock; see {@link withLockShared}. */
interface Waiting {
  item: unknown;
  done(result: unknown): void;
  fail(error: unknown): void;
}

/** Per lock file, the items of this process waiting for its next turn. */
const waitingTurns = new Map<string, Waiting[]>();

/**
 * {@link withLock} for work that batches: the items other callers in this process hand in for the
 * same lock while this one waits for it are done in the same turn, by one call of `fn` over all
 * of them (one read and one write of the file the lock guards, however many ask at once: `prune`
 * removes four worktrees at a time). `fn` returns one result per item, in their order.
 */
export function withLockShared<T, R>(lockPath: string, item: T, fn: (items: T[]) => Promise<R[]>, options: LockOptions = {}): Promise<R> {
  return new Promise<R>((done, fail) => {
    const waiting: Waiting = { item, done: done as (result: unknown) => void, fail };
    const queued = waitingTurns.get(lockPath);
    if (queued) {
      queued.push(waiting);
      return;
    }
    const turn = [waiting];
    waitingTurns.set(lockPath, turn);
    const leave = () => {
      // From here on, a new item waits for the next turn.
      if (waitingTurns.get(lockPath) === turn) waitingTurns.delete(lockPath);
    };
    withLock(
      lockPath,
      () => {
        leave();
        return fn(turn.map((w) => w.item as T));
      },
      options,
    ).then(
      (results) => turn.forEach((w, i) => w.done(results[i])),
      (error: unknown) => {
        // The lock was never had (a timeout), or fn failed: every item of the turn fails with it.
        leave();
        turn.forEach((w) => w.fail(error));
      },
    );
  });
}

/**
 * Runs `fn` while holding an exclusive lock file at `lockPath`. The file appears complete, with
 * the owner's pid, start time and a unique token, through `link()` of a written temp file (which
 * fails when the lock exists), so nobody ever reads a half-written lock (docs/trust.md). A lock whose owner process
 * is dead (what SIGKILL leaves) is broken atomically, see {@link breakStale}; a live owner's lock is
 * never broken, however long it is held. Release removes the file only while it still holds this
 * run's token.
 */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  await mkdir(dirname(lockPath), { recursive: true });
  const token = await acquire(lockPath, staleMs, () => {
    if (Date.now() > deadline) {
      throw new VtreeError(`timed out waiting for the lock ${lockPath}`, `if no other git vtree is running, delete ${lockPath}`);
    }
  });
  try {
    return await fn();
  } finally {
    await release(lockPath, token);
  }
}

/** Takes `lockPath` (waiting while a live owner holds it); returns the token written into it. */
async function acquire(lockPath: string, staleMs: number, checkDeadline: () => void): Promise<string> {
  const owner: Owner = { pid: process.pid, start: processStart(process.pid), token: randomBytes(12).toString('hex') };
  return withOwnerFile(lockPath, owner, async (written) => {
    let delay = 2;
    for (;;) {
      if (await linkExclusive(written, lockPath)) return owner.token;
      const seen = await readLock(lockPath);
      if (seen === undefined) continue; // released between our link and our read: try again at once
      if (isStale(seen, staleMs)) {
        if (await breakStale(lockPath, seen, staleMs)) continue;
      }
      checkDeadline();
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 50);
    }
  });
}

/**
 * Writes `owner` to a unique temp file next to `path` (a {@link tempName}, so a killed run's is
 * reclaimable), runs `fn` with it, then removes it. The lock itself is made by
 * hard-linking this complete file into place ({@link linkExclusive}).
 */
async function withOwnerFile<T>(path: string, owner: Owner, fn: (written: string) => Promise<T>): Promise<T> {
  const temp = join(dirname(path), tempName(basename(path)));
  await writeFile(temp, JSON.stringify(owner) + '\n', { flag: 'wx' });
  try {
    return await fn(temp);
  } finally {
    await rm(temp, { force: true });
  }
}

/** Links `written` to `path`: atomic, and false (EEXIST) when `path` exists. */
async function linkExclusive(written: string, path: string): Promise<boolean> {
  try {
    await link(written, path);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  }
}

/** What a lock file held when read, and which file (inode) it was. */
interface SeenLock {
  text: string;
  ino: number;
  mtimeMs: number;
  owner?: Owner;
}

async function readLock(path: string): Promise<SeenLock | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, ino: info.ino, mtimeMs: info.mtimeMs, ...ownerOf(text) };
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

function ownerOf(text: string): { owner?: Owner } {
  try {
    const parsed = JSON.parse(text) as Owner;
    if (Number.isInteger(parsed.pid) && typeof parsed.token === 'string') return { owner: parsed };
  } catch {
    // An older vtree wrote just the pid.
  }
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 ? { owner: { pid, token: text } } : {};
}

function isStale(seen: SeenLock, staleMs: number): boolean {
  // No owner: a lock an older vtree was writing at that moment (open, then write); judge by age.
  if (!seen.owner) return Date.now() - seen.mtimeMs > staleMs;
  return !isOwnerAlive(seen.owner);
}

function isOwnerAlive(owner: Owner): boolean {
  if (!isProcessAlive(owner.pid)) return false;
  const start = processStart(owner.pid);
  return owner.start === undefined || start === undefined || start === owner.start;
}

/**
 * Removes the stale lock file `seen`, atomically: only a process holding the *break lock*
 * `<lock>.break-<id of seen>` (taken by the same algorithm, so a breaker killed mid-way is itself
 * broken) may remove it, and only after checking that the lock file is still that very file with
 * that content. Without it, two waiters that both saw the dead owner would both remove "the" lock,
 * and the second removal would delete the lock the first had just taken: two live holders.
 * Returns true when the caller should try to acquire again at once.
 */
async function breakStale(lockPath: string, seen: SeenLock, staleMs: number): Promise<boolean> {
  const id = createHash('sha256').update(`${seen.ino}\0${seen.text}`).digest('hex').slice(0, 16);
  const guard = `${lockPath}.break-${id}`;
  const owner: Owner = { pid: process.pid, start: processStart(process.pid), token: randomBytes(12).toString('hex') };
  if (!(await withOwnerFile(guard, owner, (written) => linkExclusive(written, guard)))) {
    const guardSeen = await readLock(guard);
    if (guardSeen === undefined) return true;
    return isStale(guardSeen, staleMs) ? breakStale(guard, guardSeen, staleMs) : false;
  }
  try {
    const now = await readLock(lockPath);
    if (now !== undefined && now.ino === seen.ino && now.text === seen.text) await unlink(lockPath).catch(ignoreMissing);
  } finally {
    await release(guard, owner.token);
  }
  return true;
}

/** Removes `lockPath` if it still holds `token`: never another run's lock. */
async function release(lockPath: string, token: string): Promise<void> {
  const seen = await readLock(lockPath);
  // Nobody breaks a live owner's lock, so between this read and the unlink the file stays ours.
  if (seen?.owner?.token === token) await unlink(lockPath).catch(ignoreMissing);
}

function ignoreMissing(error: unknown): void {
  if (!isErrno(error, 'ENOENT')) throw error;
}

/** A process's start time in clock ticks since boot, where `/proc` says it (Linux); else undefined. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
