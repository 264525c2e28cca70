import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { git, repoForEachTest, SPARES_ON, vtree } from '../helpers.js';

// Crash windows reached on purpose: a failpoint (VTREE_FAILPOINT, core/failpoint.ts) or a
// `git worktree add` killed at its checkout, then what the next command makes of what is left.

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made));

/** The ports registry the test processes share (test/setup-env.ts). */
async function leasesOf(path: string): Promise<number[]> {
  const registry = await readFile(join(process.env.XDG_STATE_HOME!, 'vibetrees', 'ports.json'), 'utf8').then(JSON.parse, () => ({ leases: {} }));
  return Object.values(registry.leases as Record<string, { port: number; worktree: string }>)
    .filter((l) => l.worktree === path)
    .map((l) => l.port);
}

/** Spares on, and one ready in the pool (made by the job the first `add` starts). */
async function withReadySpare(): Promise<void> {
  await git(repo, 'config', 'vtree.spares.worktrees', '1');
  expect((await vtree(repo, ['add', 'first', '--no-services'], SPARES_ON)).code).toBe(0);
  await waitForSpare();
}

async function waitForSpare(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const listed = await git(repo, 'worktree', 'list', '--porcelain');
    if (/worktree .*\/\.vtree-spares\/s[0-9a-f]+\n(?:.*\n)*?locked git vtree spare/.test(listed + '\n')) return;
    await sleep(100);
  }
  throw new Error('no spare worktree became ready');
}

/** What `list`, `wait` and `status` say of the worktree at `path`. */
async function reported(path: string): Promise<{ listed: boolean; waited: string; status: string }> {
  const list = JSON.parse((await vtree(repo, ['list', '--json'])).stdout).worktrees as Array<{ path: string; setUp: boolean }>;
  const wait = await vtree(repo, ['wait', path, '--json', '--timeout', '1']);
  const status = await vtree(repo, ['status', '-w', path, '--json']);
  return { listed: list.find((w) => w.path === path)?.setUp ?? false, waited: JSON.parse(wait.stdout).state, status: JSON.parse(status.stdout).readiness.state };
}

describe('a spare claimed by an add that died', () => {
  it('is never reported ready, its port lease goes with the dead run, and setup finishes it', async () => {
    await git(repo, 'config', 'vtree.ports.vars', 'PORT');
    await git(repo, 'config', 'vtree.ports.range', '41000-41999');
    await withReadySpare();
    // Switched to the branch and every feature done, killed before the worktree's own state is written.
    const killed = await vtree(repo, ['add', 'half', '--no-services'], { ...SPARES_ON, VTREE_FAILPOINT: 'add:before:write-state' });
    expect(killed.code).toBe(-1);
    const path = join(root, 'app.worktrees', 'half');
    expect(existsSync(join(path, 'README.md'))).toBe(true);
    expect(await leasesOf(path)).toHaveLength(1);
    expect(await reported(path)).toEqual({ listed: false, waited: 'pending', status: 'pending' });
    // The next set-up anywhere frees the dead run's lease; `setup` then finishes the worktree.
    expect((await vtree(repo, ['add', 'other', '--no-services'])).code).toBe(0);
    expect(await leasesOf(path)).toEqual([]);
    const setup = await vtree(repo, ['setup', path, '--no-services']);
    expect(setup.code, setup.stderr).toBe(0);
    expect(await leasesOf(path)).toHaveLength(1);
    expect(await reported(path)).toEqual({ listed: true, waited: 'ready', status: 'ready' });
  }, 120_000);

  it('killed right after the switch: not set up, whatever the spare recorded', async () => {
    await withReadySpare();
    const killed = await vtree(repo, ['add', 'half', '--no-services'], { ...SPARES_ON, VTREE_FAILPOINT: 'add:git-worktree-add:spare-switched' });
    expect(killed.code).toBe(-1);
    const path = join(root, 'app.worktrees', 'half');
    expect(await git(path, 'branch', '--show-current')).toBe('half');
    expect(await reported(path)).toEqual({ listed: false, waited: 'pending', status: 'pending' });
  }, 120_000);
});

describe('an rm that died part way', () => {
  it('after releasing the ports: the worktree is not called ready, and rm again removes it', async () => {
    await git(repo, 'config', 'vtree.ports.vars', 'PORT');
    await git(repo, 'config', 'vtree.ports.range', '41000-41999');
    expect((await vtree(repo, ['add', 'going', '--no-services'])).code).toBe(0);
    const path = join(root, 'app.worktrees', 'going');
    const killed = await vtree(repo, ['rm', 'going'], { VTREE_FAILPOINT: 'rm:after:release-ports' });
    expect(killed.code).toBe(-1);
    expect(await leasesOf(path)).toEqual([]);
    const seen = await reported(path);
    expect(seen.listed).toBe(false);
    expect([seen.waited, seen.status]).toEqual(['failed', 'failed']);
    const again = await vtree(repo, ['rm', 'going']);
    expect(again.code, again.stderr).toBe(0);
    expect(existsSync(path)).toBe(false);
  }, 60_000);
});

describe('a pass of the spare pool that died part way', () => {
  it('with a spare moved aside for pruning: the next pass removes it, and git forgets it', async () => {
    await withReadySpare();
    const killed = await vtree(repo, ['cache', 'prune', '--spares', '0'], { ...SPARES_ON, VTREE_FAILPOINT: 'spares:prune:moved-away' });
    expect(killed.code).toBe(-1);
    const pool = join(root, 'app.worktrees', '.vtree-spares');
    expect((await readdir(pool)).filter((n) => n.startsWith('.prune-'))).toHaveLength(1);
    const warm = await vtree(repo, ['cache', 'warm'], SPARES_ON);
    expect(warm.code, warm.stderr).toBe(0);
    expect((await readdir(pool)).filter((n) => /^\.(prune|refresh)-/.test(n))).toEqual([]);
    // One spare, ready; no registration of a directory that is gone.
    const listed = await git(repo, 'worktree', 'list', '--porcelain');
    expect(listed.match(/locked git vtree spare/g)).toHaveLength(1);
    expect(listed).not.toContain('prunable');
  }, 120_000);
});

/**
 * A `git` for vtree (GIT_EXEC_PATH, so the commands `git worktree add` runs come here too) that
 * kills the vtree process and its `git worktree add` at the add's checkout: before it
 * (`KILL_AT=reset`) or after it, before git unlocks the new worktree (`KILL_AFTER=reset`).
 */
async function killingGit(): Promise<string> {
  const real = (await git(repo, '--exec-path')).trim();
  const dir = join(root, 'git-killing');
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'git'),
    `#!/bin/sh
die() { kill -9 "$(ps -o ppid= -p "$PPID" | tr -d ' ')" "$PPID"; exit 1; }
[ "$1" = "$KILL_AT" ] && die
GIT_EXEC_PATH='${real}' '${real}/git' "$@"
code=$?
[ "$1" = "$KILL_AFTER" ] && die
exit $code
`,
  );
  await chmod(join(dir, 'git'), 0o755);
  return dir;
}

describe('a git worktree add killed part way', () => {
  it('before its checkout: setup --all does not set the empty shell up, it is reclaimed, and add makes the worktree', async () => {
    const execPath = await killingGit();
    const killed = await vtree(repo, ['add', 'shell', '--no-services'], { GIT_EXEC_PATH: execPath, KILL_AT: 'reset' });
    expect(killed.code).toBe(-1);
    const path = join(root, 'app.worktrees', 'shell');
    expect(await readdir(path)).toEqual(['.git']);
    expect(await git(repo, 'worktree', 'list', '--porcelain')).toContain('locked initializing');

    const setupAll = await vtree(repo, ['setup', '--all', '--no-services', '--json']);
    expect(setupAll.code, setupAll.stderr).toBe(0);
    expect(JSON.parse(setupAll.stdout).worktrees).toEqual([]);
    expect(existsSync(path)).toBe(false);
    expect(await readdir(join(repo, '.git', 'worktrees')).catch(() => [])).toEqual([]);
    const again = await vtree(repo, ['add', 'shell', '--no-services']);
    expect(again.code, again.stderr).toBe(0);
    expect(await readFile(join(path, 'README.md'), 'utf8')).toBe('# app\n');
  }, 60_000);

  it('after its checkout, still locked: rm removes it', async () => {
    const execPath = await killingGit();
    const killed = await vtree(repo, ['add', 'locked', '--no-services'], { GIT_EXEC_PATH: execPath, KILL_AFTER: 'reset' });
    expect(killed.code).toBe(-1);
    const path = join(root, 'app.worktrees', 'locked');
    expect(existsSync(join(path, 'README.md'))).toBe(true);
    expect(await git(repo, 'worktree', 'list', '--porcelain')).toContain('locked initializing');

    const removed = await vtree(repo, ['rm', 'locked']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await git(repo, 'worktree', 'list', '--porcelain')).not.toContain('locked');
    expect(existsSync(path)).toBe(false);
  }, 60_000);

  it('after its checkout, still locked: the next list unlocks it as a worktree never set up, and setup sets it up', async () => {
    const execPath = await killingGit();
    expect((await vtree(repo, ['add', 'locked', '--no-services'], { GIT_EXEC_PATH: execPath, KILL_AFTER: 'reset' })).code).toBe(-1);
    const path = join(root, 'app.worktrees', 'locked');
    const list = JSON.parse((await vtree(repo, ['list', '--json'])).stdout).worktrees as Array<{ path: string; setUp: boolean; locked: boolean }>;
    expect(list.find((w) => w.path === path)).toMatchObject({ setUp: false, locked: false });
    const setup = await vtree(repo, ['setup', path, '--no-services']);
    expect(setup.code, setup.stderr).toBe(0);
    expect(existsSync(join(path, '.env'))).toBe(true);
  }, 60_000);
});
