import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removingDir } from '../../../src/core/paths.js';
import { awaitStackDown, describeRemoval, type Removal } from '../../../src/features/services/removals.js';

let commonDir: string;
const made: string[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function freshCommonDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vtree-removals-'));
  made.push(dir);
  return dir;
}

/** Writes a removal record as `rm` and its job do. */
async function record(name: string, removal: Omit<Removal, 'state'>): Promise<string> {
  await mkdir(removingDir(commonDir), { recursive: true });
  const file = join(removingDir(commonDir), `${name}.json`);
  await writeFile(file, JSON.stringify(removal));
  return file;
}

const base = { path: '/w/app.worktrees/feat', slug: 'feat', project: 'app-feat', leaseHolder: '/w/app.worktrees/feat (removing r1)', log: '/w/log', startedAt: new Date().toISOString() };

describe('awaitStackDown', () => {
  it('returns at once when no stack of the project is going down, and names a removal whose job died', async () => {
    commonDir = await freshCommonDir();
    expect(await awaitStackDown(commonDir, 'app-feat', { timeoutMs: 1_000 })).toEqual({});
    // Another project's removal is not this worktree's business.
    await record('other', { ...base, project: 'app-other', pid: process.pid });
    expect(await awaitStackDown(commonDir, 'app-feat', { timeoutMs: 1_000 })).toEqual({});
    // A job that died (no such pid) before the stack was down: stalled, said, not waited for.
    await record('dead', { ...base, pid: 2 ** 22 + 7 });
    expect((await awaitStackDown(commonDir, 'app-feat', { timeoutMs: 1_000 })).stalled).toMatchObject({ project: 'app-feat', state: 'stalled' });
  });

  it('waits while the job takes the stack down, and stops waiting once it records it down', async () => {
    commonDir = await freshCommonDir();
    const file = await record('live', { ...base, pid: process.pid });
    const seen: Removal[] = [];
    let settled = false;
    const waiting = awaitStackDown(commonDir, 'app-feat', { timeoutMs: 30_000, onWait: (r) => seen.push(r) }).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 400));
    expect(settled).toBe(false);
    expect(seen).toEqual([expect.objectContaining({ project: 'app-feat', state: 'removing' })]);
    // The job's mark: containers, networks and clones gone; the record stays while its ports are freed.
    await writeFile(file, JSON.stringify({ ...base, pid: process.pid, down: true }));
    expect(await waiting).toEqual({ waitedFor: expect.objectContaining({ project: 'app-feat' }) });
  });

  it('gives up after its timeout, naming the removal still going on', async () => {
    commonDir = await freshCommonDir();
    await record('live', { ...base, pid: process.pid });
    expect(await awaitStackDown(commonDir, 'app-feat', { timeoutMs: 300 })).toEqual({ stillGoing: expect.objectContaining({ project: 'app-feat' }) });
  });
});

describe('describeRemoval', () => {
  it('says whether the stack is still stopping, is down with only its ports left, or whose job stalled before or after', () => {
    expect(describeRemoval({ ...base, state: 'removing' })).toBe('/w/app.worktrees/feat: removing (stack app-feat stopping in the background, log: /w/log)');
    expect(describeRemoval({ ...base, state: 'removing', down: true })).toBe('/w/app.worktrees/feat: removing (stack app-feat is down; its ports are freed once nothing listens on them, log: /w/log)');
    expect(describeRemoval({ ...base, state: 'stalled' })).toMatch(/removal stalled before stack app-feat was down .*git vtree prune finishes it$/);
    expect(describeRemoval({ ...base, state: 'stalled', down: true })).toMatch(/removal stalled after stack app-feat was down/);
  });
});
