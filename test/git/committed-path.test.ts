import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/core/exec.js';
import { git, makeRepo, SPARES_ON, tempDir, testEnv, vtree } from '../helpers.js';

// A committed `vtree.path` pointing outside the main worktree's parent is refused the same way by
// every code path that places a worktree: add, setup, the post-checkout hook, the spare pool (in
// the foreground and in its background job) and rm's recycling into the pool.

let root: string;
let repo: string;
let cleanup: () => Promise<void>;
let elsewhere: string;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  ({ root, repo, cleanup } = await makeRepo({ 'README.md': '# app\n', '.gitignore': '.env\n' }));
  elsewhere = await tempDir('vtree-elsewhere-');
  await writeFile(join(repo, '.vtreeconfig'), `[vtree]\n\tpath = ${elsewhere}/{slug}\n`);
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-qm', 'hostile path');
  await git(repo, 'config', 'vtree.spares.worktrees', '1');
  env = { ...SPARES_ON, XDG_STATE_HOME: join(root, 'state') };
});
afterEach(async () => {
  await cleanup();
  await rm(elsewhere, { recursive: true, force: true });
});

/** Waits until every background job of the repository has finished (their logs say so). */
async function waitForJobs(): Promise<void> {
  const logs = join(repo, '.git', 'vibetrees', 'logs');
  for (let i = 0; i < 600; i++) {
    const names = await readdir(logs).catch(() => [] as string[]);
    const texts = await Promise.all(names.map((n) => readFile(join(logs, n), 'utf8').catch(() => '')));
    if (texts.every((t) => / finished in /.test(t))) return;
    await sleep(100);
  }
  throw new Error('background jobs did not finish');
}

async function worktreePaths(): Promise<string[]> {
  return (await git(repo, 'worktree', 'list', '--porcelain')).split('\n').filter((l) => l.startsWith('worktree ')).map((l) => l.slice('worktree '.length));
}

async function expectNothingElsewhere(): Promise<void> {
  expect(await readdir(elsewhere)).toEqual([]);
  const defaultDir = join(root, `${repo.split('/').at(-1)}.worktrees`);
  for (const path of (await worktreePaths()).slice(1)) expect(path.startsWith(`${defaultDir}/`), path).toBe(true);
}

describe('a committed vtree.path outside the parent directory', () => {
  it('places nothing outside through add, its spare job, cache warm, setup, the hook and rm', async () => {
    const added = await vtree(repo, ['add', '--no-services', 'a'], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr.split('\n').filter((l) => l.includes('sets vtree.path'))).toHaveLength(1);
    await waitForJobs();
    // The job has built the spare: in the default pool, not in the committed directory.
    const spares = (await git(repo, 'worktree', 'list', '--porcelain')).split('\n\n').filter((b) => /\nlocked git vtree spare/.test(b));
    expect(spares).toHaveLength(1);
    await expectNothingElsewhere();

    expect((await vtree(repo, ['cache', 'warm'], env)).code).toBe(0);
    await expectNothingElsewhere();

    const plain = join(root, `${repo.split('/').at(-1)}.worktrees`, 'by-git');
    await git(repo, 'worktree', 'add', '-q', '-b', 'by-git', plain);
    expect((await vtree(repo, ['setup', '--no-services', 'by-git'], env)).code).toBe(0);
    await expectNothingElsewhere();

    expect((await vtree(repo, ['hooks', 'install'], env)).code).toBe(0);
    await run('git', ['worktree', 'add', '-q', '-b', 'by-hook', join(root, `${repo.split('/').at(-1)}.worktrees`, 'by-hook')], { cwd: repo, env: testEnv(env) });
    await expectNothingElsewhere();

    // rm of a clean worktree while the pool has room recycles it into the pool.
    expect((await vtree(repo, ['cache', 'prune', '--spares', '0'], env)).code).toBe(0);
    const removed = await vtree(repo, ['rm', 'a'], env);
    expect(removed.code, removed.stderr).toBe(0);
    await waitForJobs();
    await expectNothingElsewhere();
    expect(existsSync(join(elsewhere, '.vtree-spares'))).toBe(false);
  }, 120_000);
});
