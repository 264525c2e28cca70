import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { git, repoForEachTest, testEnv, vtree } from '../helpers.js';

/** The shipped check an agent's session-start hook runs. */
const ENSURE = fileURLToPath(new URL('../../hooks/ensure-setup', import.meta.url));

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made));

/** Runs hooks/ensure-setup in `cwd` with `env` over the test environment. */
function ensure(cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(ENSURE, [], { cwd, env: testEnv(env) }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A PATH holding git and sh and nothing else: a Node.js start there fails. */
async function pathWithoutNode(): Promise<string> {
  const bin = join(root, 'bin-no-node');
  await mkdir(bin, { recursive: true });
  for (const tool of ['git', 'sh', 'cat', 'rm', 'mkdir', 'dirname']) {
    const found = await new Promise<string>((resolve) => execFile('sh', ['-c', `command -v ${tool}`], (_e, out) => resolve(out.trim())));
    if (found) await symlink(found, join(bin, tool));
  }
  return bin;
}

function stateFile(id: string): string {
  return join(repo, '.git', 'worktrees', id, 'vtree.json');
}

describe('worktrees that skipped post-checkout', () => {
  it('list marks --no-checkout worktrees as never set up, and setup --all sets up each of them', async () => {
    const a = join(root, 'nock-a');
    const b = join(root, 'nock-b');
    await git(repo, 'worktree', 'add', '-q', '--no-checkout', '-b', 'nock-a', a);
    await git(repo, 'worktree', 'add', '-q', '--no-checkout', '-b', 'nock-b', b);
    // A --no-checkout worktree has no files until the caller checks them out, as tools that use it do.
    await git(a, 'checkout', '-q', 'HEAD', '--', '.');
    await git(b, 'checkout', '-q', 'HEAD', '--', '.');

    const listed = await vtree(repo, ['list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout).worktrees as Array<{ path: string; setUp: boolean; main: boolean }>;
    expect(rows.map((r) => [r.path, r.setUp])).toEqual([
      [repo, true],
      [a, false],
      [b, false],
    ]);
    const table = await vtree(repo, ['list']);
    expect(table.stdout).toContain('never set up');
    expect(table.stderr).toContain('2 worktree(s) never set up (made with --no-checkout, or without the hook): git vtree setup --all');

    const all = await vtree(repo, ['setup', '--all', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({ ok: true, worktrees: [{ path: a, ok: true }, { path: b, ok: true }] });
    for (const [wt, id] of [[a, 'nock-a'], [b, 'nock-b']] as const) {
      expect(await readFile(join(wt, '.env'), 'utf8')).toContain('SECRET=from-main');
      expect(JSON.parse(await readFile(stateFile(id), 'utf8'))).toMatchObject({ path: wt, createdBy: 'setup' });
    }
    const after = JSON.parse((await vtree(repo, ['list', '--json'])).stdout).worktrees as Array<{ setUp: boolean }>;
    expect(after.every((r) => r.setUp)).toBe(true);

    // Nothing left to do: a second run sets up nothing and says so.
    const again = await vtree(repo, ['setup', '--all']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('Every worktree is set up already.');
  });

  it('list --all shows a spare worktree being built as such, and does not count it as never set up', async () => {
    // How the spare job starts one: locked as a spare before its set-up has written vtree.json.
    const spare = join(root, 'spare-being-built');
    await git(repo, 'worktree', 'add', '-q', '--detach', '--lock', '--reason', 'git vtree spare', spare);
    const table = await vtree(repo, ['list', '--all']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n').find((line) => line.includes(spare))).toMatch(/\(spare\).*being built\s*$/);
    expect(table.stderr).not.toContain('never set up');
    const rows = JSON.parse((await vtree(repo, ['list', '--all', '--json'])).stdout).worktrees as Array<{ path: string; spare?: boolean; setUp: boolean }>;
    expect(rows.find((r) => r.path === spare)).toMatchObject({ spare: true, setUp: false });
  });

  it('setup --all refuses a named worktree', async () => {
    const result = await vtree(repo, ['setup', 'x', '--all']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/name no worktree with it/);
  });

  it('ensure-setup sets up a never-set-up worktree, and costs no Node.js start once it is set up', async () => {
    const wt = join(root, 'agent');
    await git(repo, 'worktree', 'add', '-q', '--no-checkout', '-b', 'agent', wt);
    await git(wt, 'checkout', '-q', 'HEAD', '--', '.');
    const noNode = await pathWithoutNode();

    // Never set up, and no Node.js on PATH: it must try to start vtree, and cannot.
    const blocked = await ensure(wt, { PATH: noNode });
    expect(blocked.code).toBe(0); // never fails its caller
    expect(blocked.stderr).toContain('set-up of this worktree did not finish; retry with: git vtree setup');
    expect(existsSync(stateFile('agent'))).toBe(false);

    // With Node.js, from a subdirectory, as a session-start hook would run it: set up, nothing on stdout.
    await mkdir(join(wt, 'sub'));
    const first = await ensure(join(wt, 'sub'));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('');
    expect(first.stderr).toContain(`Worktree 'agent' set up in`);
    expect(await readFile(join(wt, '.env'), 'utf8')).toContain('SECRET=from-main');
    expect(JSON.parse(await readFile(stateFile('agent'), 'utf8'))).toMatchObject({ branch: 'agent', createdBy: 'setup' });
    expect(existsSync(join(repo, '.git', 'worktrees', 'agent', 'vtree-ensure.lock'))).toBe(false);

    // Set up now: the same PATH without Node.js succeeds silently, so no Node.js was started.
    const fast = await ensure(wt, { PATH: noNode });
    expect(fast).toEqual({ code: 0, stdout: '', stderr: '' });
    // In the main worktree and outside any repository: nothing to do, no Node.js either.
    expect(await ensure(repo, { PATH: noNode })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await ensure(root, { PATH: noNode, GIT_CEILING_DIRECTORIES: root })).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('ensure-setup leaves a worktree another caller is setting up to that caller', async () => {
    const wt = join(root, 'busy');
    await git(repo, 'worktree', 'add', '-q', '-b', 'busy', wt);
    const lock = join(repo, '.git', 'worktrees', 'busy', 'vtree-ensure.lock');
    await mkdir(lock);
    await writeFile(join(lock, 'pid'), `${process.pid}\n`);
    const result = await ensure(wt);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`being set up already (pid ${process.pid})`);
    expect(existsSync(stateFile('busy'))).toBe(false);
  });
});
