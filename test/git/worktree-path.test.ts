import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeAdminDirs } from '../../src/git/worktree.js';
import { git, makeRepo, repoForEachTest, vtree } from '../helpers.js';

let root: string;
let repo: string;
let state: string;
repoForEachTest((made) => {
  ({ root, repo } = made);
  state = join(root, 'state');
}, makeRepo);

/** The pid of a process that has exited: what a SIGKILLed run's pid looks like afterwards. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;
const add = (...args: string[]) => vtree(repo, ['add', ...args, '--no-deps', '--no-services'], { XDG_STATE_HOME: state });

describe('debris of killed runs', () => {
  it('reclaims an empty directory a killed add claimed, so the branch gets its own path back', async () => {
    const worktrees = join(root, 'app.worktrees');
    await mkdir(join(worktrees, 'feat'), { recursive: true });
    const pid = deadPid();
    await writeFile(join(worktrees, `.feat.vtree-claim.${pid}`), `${join(worktrees, 'feat')}\n`);
    // An empty directory vtree did not claim (no marker) is not vtree's to remove.
    await mkdir(join(worktrees, 'users-own'));
    const result = await add('feat');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(join(worktrees, 'feat'));
    expect((await readdir(worktrees)).sort()).toEqual(['feat', 'users-own']);
  });

  it('keeps a claimed directory that holds files, dropping only the dead marker', async () => {
    const worktrees = join(root, 'app.worktrees');
    await mkdir(join(worktrees, 'kept'), { recursive: true });
    await writeFile(join(worktrees, 'kept', 'notes.txt'), 'mine\n');
    await writeFile(join(worktrees, `.kept.vtree-claim.${deadPid()}`), '');
    expect((await add('other')).code).toBe(0);
    expect((await readdir(worktrees)).sort()).toEqual(['kept', 'other']);
    expect(existsSync(join(worktrees, 'kept', 'notes.txt'))).toBe(true);
  });

  it('leaves no claim marker after a successful add or a rolled-back one, nor the worktrees directory it made', async () => {
    // Rolled back after the claim, before the checkout: git refuses a branch name that is a prefix of an existing one.
    await git(repo, 'branch', 'taken/x');
    const failed = await add('taken');
    expect(failed.code, failed.stderr).toBe(1);
    expect(await readdir(root)).not.toContain('app.worktrees');
    expect((await add('ok')).code).toBe(0);
    expect((await add('bad', '--from', 'no-such-ref')).code).toBe(2);
    expect(await readdir(join(root, 'app.worktrees'))).toEqual(['ok']);
  });

  it('removes temp files of killed runs from .git/vibetrees and the port registry directory', async () => {
    const vibetrees = join(repo, '.git', 'vibetrees');
    await mkdir(join(vibetrees, 'locks'), { recursive: true });
    await mkdir(join(state, 'vibetrees', 'locks'), { recursive: true });
    const pid = deadPid();
    const debris = [join(vibetrees, `.vtree-tmp-${pid}-0123abcd-metrics.json`), join(vibetrees, 'locks', `.vtree-tmp-${pid}-0123abcd-metrics.lock`), join(state, 'vibetrees', `.vtree-tmp-${pid}-89abcdef-ports.json`)];
    for (const file of debris) await writeFile(file, '{');
    // A temp file of a live process is work in progress.
    const live = join(vibetrees, `.vtree-tmp-${process.pid}-0123abcd-metrics.json`);
    await writeFile(live, '{');
    await git(repo, 'config', 'vtree.ports.vars', 'PORT');
    await git(repo, 'config', 'vtree.ports.range', '44000-44099');
    expect((await add('t')).code).toBe(0);
    for (const file of debris) expect(existsSync(file), file).toBe(false);
    expect(existsSync(live)).toBe(true);
  });

  it('prunes the git admin dir of a worktree gone from vtree’s directory, and only there', async () => {
    const gone = join(root, 'app.worktrees', 'gone');
    const elsewhere = join(root, 'elsewhere');
    await git(repo, 'worktree', 'add', '-q', '-b', 'gone', gone);
    await git(repo, 'worktree', 'add', '-q', '-b', 'elsewhere', elsewhere);
    await rm(gone, { recursive: true });
    await rm(elsewhere, { recursive: true });
    expect((await add('next')).code).toBe(0);
    expect((await readdir(join(repo, '.git', 'worktrees'))).sort()).toEqual(['elsewhere', 'next']);
  });

  it('removes the admin dir of a checkout that failed part way, which `git worktree remove` refuses', async () => {
    const half = join(root, 'app.worktrees', 'half');
    await git(repo, 'worktree', 'add', '-q', '-b', 'half', half);
    await rm(join(half, '.git'));
    expect(await removeAdminDirs(join(repo, '.git'), half)).toEqual(['half']);
    expect(existsSync(join(repo, '.git', 'worktrees', 'half'))).toBe(false);
  });

  it('after its own failed checkout, also removes an admin dir git left before writing its gitdir, by name only', async () => {
    const admin = join(repo, '.git', 'worktrees');
    // What a `git worktree add` killed right after creating its admin dir leaves: git's lock, no gitdir.
    for (const id of ['early', 'early1', 'someone-else']) {
      await mkdir(join(admin, id), { recursive: true });
      await writeFile(join(admin, id, 'locked'), 'initializing\n');
    }
    const path = join(root, 'app.worktrees', 'early');
    expect(await removeAdminDirs(join(repo, '.git'), path)).toEqual([]);
    expect((await removeAdminDirs(join(repo, '.git'), path, { failedCheckout: true })).sort()).toEqual(['early', 'early1']);
    expect(await readdir(admin)).toEqual(['someone-else']);
  });
});

describe('a worktree that was never set up', () => {
  it('add of its branch says so and how to finish it', async () => {
    const plain = join(root, 'app.worktrees', 'plain');
    await git(repo, 'worktree', 'add', '-q', '-b', 'plain', plain);
    const result = await add('plain');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/already checked out at .*plain, which was never set up/);
    expect(result.stderr).toContain(`hint: finish it: git vtree setup "${plain}"`);
    const setup = await vtree(repo, ['setup', plain, '--no-deps', '--no-services'], { XDG_STATE_HOME: state });
    expect(setup.code, setup.stderr).toBe(0);
    expect((await add('plain')).stderr).toMatch(/already checked out at .*plain\nhint: cd /);
  });
});
