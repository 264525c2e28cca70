import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MetricsFile } from '../../src/observe/metrics.js';
import { setupWorktree } from '../../src/pipelines/setup.js';
import { git, repoForEachTest, vtree } from '../helpers.js';

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made));

async function runs(): Promise<MetricsFile['runs']> {
  const file = join(repo, '.git', 'vibetrees', 'metrics.json');
  return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as MetricsFile).runs : [];
}

async function state(id: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(repo, '.git', 'worktrees', id, 'vtree.json'), 'utf8')) as Record<string, unknown>;
}

describe('git vtree setup', () => {
  it('sets up a worktree made by plain git, by branch name, and again without changing its identity', async () => {
    const wt = join(root, 'plain');
    await git(repo, 'worktree', 'add', '-q', '-b', 'feat/plain', wt);
    expect(existsSync(join(wt, '.env'))).toBe(false);

    const first = await vtree(repo, ['setup', 'feat/plain']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`${wt}\n`);
    expect(first.stderr).toMatch(/Worktree 'feat\/plain' set up in/);
    expect(await readFile(join(wt, '.env'), 'utf8')).toContain('SECRET=from-main');
    const [run] = await runs();
    expect(run).toMatchObject({ command: 'setup', ok: true, branch: 'feat/plain', slug: 'plain', path: wt });
    expect(run!.spans.map((s) => s.name)).toEqual(expect.arrayContaining(['resolve-repo', 'locate-worktree', 'write-state']));
    expect(await state('plain')).toMatchObject({ branch: 'feat/plain', slug: 'plain', path: wt, createdBy: 'setup', runId: run!.id });

    // Idempotent: from inside the worktree, with no argument, the same identity again.
    const second = await vtree(wt, ['setup', '--json']);
    expect(second.code, second.stderr).toBe(0);
    const result = JSON.parse(second.stdout);
    expect(result).toMatchObject({ ok: true, branch: 'feat/plain', slug: 'plain', path: wt });
    expect((await runs()).map((r) => [r.command, r.ok, r.slug])).toEqual([
      ['setup', true, 'plain'],
      ['setup', true, 'plain'],
    ]);
    expect(await state('plain')).toMatchObject({ slug: 'plain', runId: result.runId });
    expect(await readFile(join(wt, '.env'), 'utf8')).toContain('SECRET=from-main');
  });

  it('gives a worktree whose directory name another worktree has a distinct slug', async () => {
    await mkdir(join(root, 'a'));
    await mkdir(join(root, 'b'));
    await git(repo, 'worktree', 'add', '-q', '-b', 'one', join(root, 'a', 'same'));
    await git(repo, 'worktree', 'add', '-q', '-b', 'two', join(root, 'b', 'same'));
    const quiet = { log: () => undefined, warn: () => undefined };
    const options = { deps: false, services: false, wait: false };
    const one = await setupWorktree({ cwd: repo, target: 'one', command: 'setup', options }, quiet);
    const two = await setupWorktree({ cwd: repo, target: 'two', command: 'setup', options }, quiet);
    expect(one.slug).toMatch(/^same-[0-9a-f]{6}$/);
    expect(two.slug).toMatch(/^same-[0-9a-f]{6}$/);
    expect(one.slug).not.toBe(two.slug);
  });

  it('refuses the main worktree and names it cannot find, with exit code 2 and a failed run', async () => {
    const main = await vtree(repo, ['setup']);
    expect(main.code).toBe(2);
    expect(main.stderr).toMatch(/is the main worktree/);
    const missing = await vtree(repo, ['setup', 'no-such-branch']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no worktree of this repository matches 'no-such-branch'/);
    expect(missing.stderr).toMatch(/hint: git vtree list/);
    expect((await runs()).map((r) => [r.command, r.ok])).toEqual([
      ['setup', false],
      ['setup', false],
    ]);
  });

  it('under --hook reports a failure in one line and exits 0', async () => {
    const result = await vtree(repo, ['setup', 'no-such-branch', '--hook']);
    expect(result.code).toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual([
      "git vtree: no worktree of this repository matches 'no-such-branch' (post-checkout hook; retry with: git vtree setup)",
    ]);
    expect((await runs()).map((r) => [r.command, r.ok])).toEqual([['hook', false]]);
  });
});
