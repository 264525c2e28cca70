import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { withLock, withLockShared } from '../../src/core/lock.js';
import { tempDir } from '../helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

/**
 * Starts `count` waiters for `lock` at once (waiter `i` after `delay(i)` ms), each holding it for
 * `holdMs`; returns the most that were ever inside together.
 */
async function mostInsideAtOnce(lock: string, count: number, holdMs: number, delay: (i: number) => number = () => 0): Promise<number> {
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      await sleep(delay(i));
      await withLock(lock, async () => {
        inside++;
        most = Math.max(most, inside);
        await sleep(holdMs);
        inside--;
      });
    }),
  );
  return most;
}

describe('withLock', () => {
  it('serialises critical sections and removes the lock afterwards', async () => {
    const lock = join(dir, 'locks', 'x.lock');
    expect(await mostInsideAtOnce(lock, 6, 5)).toBe(1);
    expect(existsSync(lock)).toBe(false);
  });

  it('breaks a lock whose owner process is gone', async () => {
    const lock = join(dir, 'stale.lock');
    await mkdir(dir, { recursive: true });
    // Pid 2^22+1 is above Linux's pid_max default range, so no live process has it.
    await writeFile(lock, `${2 ** 22 + 1}\n`);
    await expect(withLock(lock, async () => 'got it', { timeoutMs: 2000 })).resolves.toBe('got it');
  });

  it('lets exactly one of many waiters in when they all find the same stale lock', async () => {
    const lock = join(dir, 'contended.lock');
    for (let round = 0; round < 5; round++) {
      await writeFile(lock, `${2 ** 22 + 1}\n`);
      // Staggered starts: each waiter sees the stale lock at a slightly different moment.
      expect(await mostInsideAtOnce(lock, 20, 2, (i) => i % 4)).toBe(1);
      expect(existsSync(lock)).toBe(false);
    }
    // Nothing of the breaking is left behind.
    expect((await readdir(dir)).filter((f) => f.startsWith('contended'))).toEqual([]);
  });

  it('breaks a lock whose breaker was killed while breaking it', async () => {
    const lock = join(dir, 'twice.lock');
    const dead = `${2 ** 22 + 1}\n`;
    await writeFile(lock, dead);
    const info = await stat(lock);
    // The break lock a breaker holds is named after the stale lock it breaks (its inode and text).
    const id = createHash('sha256').update(`${info.ino}\0${dead}`).digest('hex').slice(0, 16);
    await writeFile(`${lock}.break-${id}`, dead);
    await expect(withLock(lock, async () => 'got it', { timeoutMs: 2000 })).resolves.toBe('got it');
    expect(await readdir(dir)).toEqual([]);
  });

  it('never removes a lock it does not hold, even when the holder took it over meanwhile', async () => {
    const lock = join(dir, 'mine.lock');
    await withLock(lock, async () => {
      // Someone broke our lock (for example a user deleting it by hand) and another run took it.
      await writeFile(lock, JSON.stringify({ pid: process.pid, token: 'someone-else' }) + '\n');
    });
    expect(await readFile(lock, 'utf8')).toContain('someone-else');
  });

  it('does not break a live owner’s lock however long it is held', async () => {
    const lock = join(dir, 'slow.lock');
    const order: string[] = [];
    const first = withLock(lock, async () => {
      await sleep(150);
      order.push('first');
    });
    await sleep(20);
    await withLock(lock, async () => void order.push('second'), { staleMs: 10 });
    await first;
    expect(order).toEqual(['first', 'second']);
  });

  it('times out with the lock path and a hint when a live owner holds it', async () => {
    const lock = join(dir, 'held.lock');
    await writeFile(lock, `${process.pid}\n`);
    await expect(withLock(lock, async () => undefined, { timeoutMs: 100 })).rejects.toThrow(/timed out waiting for the lock .*held\.lock/);
  });
});

describe('withLockShared', () => {
  it('does the items handed in while one waits for the lock in one turn, each getting its own result; a later item gets a turn of its own', async () => {
    const lock = join(dir, 'shared.lock');
    const turns: number[][] = [];
    const double = async (items: number[]) => {
      turns.push(items);
      return items.map((n) => n * 2);
    };
    let release!: () => void;
    const held = withLock(lock, () => new Promise<void>((resolve) => (release = resolve)));
    await sleep(20);
    const waiting = [1, 2, 3].map((n) => withLockShared(lock, n, double));
    await sleep(50);
    release();
    await held;
    expect(await Promise.all(waiting)).toEqual([2, 4, 6]);
    expect(await withLockShared(lock, 4, double)).toBe(8);
    expect(turns).toEqual([[1, 2, 3], [4]]);
  });

  it('fails every item of a turn whose work fails, and the next turn still runs', async () => {
    const lock = join(dir, 'failing.lock');
    let release!: () => void;
    const held = withLock(lock, () => new Promise<void>((resolve) => (release = resolve)));
    await sleep(20);
    const waiting = [1, 2].map((n) => withLockShared(lock, n, async (): Promise<number[]> => Promise.reject(new Error('disk full'))));
    const settled = Promise.allSettled(waiting);
    release();
    await held;
    expect((await settled).map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await withLockShared(lock, 5, async (items: number[]) => items)).toBe(5);
  });
});
