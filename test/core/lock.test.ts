import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { withLock } from '../../src/core/lock.js';
import { tempDir } from '../helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('withLock', () => {
  it('serialises critical sections and removes the lock afterwards', async () => {
    const lock = join(dir, 'locks', 'x.lock');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        withLock(lock, async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await sleep(5);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(existsSync(lock)).toBe(false);
  });

  it('breaks a lock whose owner process is gone', async () => {
    const lock = join(dir, 'stale.lock');
    await mkdir(dir, { recursive: true });
    // Pid 2^22+1 is above Linux's pid_max default range, so no live process has it.
    await writeFile(lock, `${2 ** 22 + 1}\n`);
    await expect(withLock(lock, async () => 'got it', { timeoutMs: 2000 })).resolves.toBe('got it');
  });

  it('times out with the lock path and a hint when a live owner holds it', async () => {
    const lock = join(dir, 'held.lock');
    await writeFile(lock, `${process.pid}\n`);
    await expect(withLock(lock, async () => undefined, { timeoutMs: 100 })).rejects.toThrow(/timed out waiting for the lock .*held\.lock/);
  });
});
