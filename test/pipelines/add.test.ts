import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VtreeError } from '../../src/core/errors.js';
import { TaskFailedError } from '../../src/core/graph.js';
import type { Feature } from '../../src/features/feature.js';
import { addWorktree } from '../../src/pipelines/add.js';
import type { MetricsFile } from '../../src/observe/metrics.js';
import { BIN, git, makeRepo, repoForEachTest, tempDir, testEnv, vtree } from '../helpers.js';

const execFileAsync = promisify(execFile);

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made), makeRepo);

async function metrics(): Promise<MetricsFile> {
  return JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8')) as MetricsFile;
}

/** Everything a failed add could leave behind: worktrees, branches, directories. */
async function snapshot() {
  return {
    worktrees: await git(repo, 'worktree', 'list', '--porcelain'),
    branches: await git(repo, 'branch', '--list', '--all'),
    dirs: (await readdir(root)).sort(),
  };
}

const quiet = { log: () => undefined, warn: () => undefined };
const noFeatures = { deps: false, services: false, wait: false };

describe('git vtree add', () => {
  it('creates a new branch from the main worktree HEAD beside the repository', async () => {
    const result = await vtree(repo, ['add', 'feat/x']);
    expect(result.code, result.stderr).toBe(0);
    const path = join(root, 'app.worktrees', 'feat-x');
    expect(result.stdout).toBe(`${path}\n`);
    expect(result.stderr).toMatch(/Worktree for 'feat\/x' \(new branch\) ready in/);
    expect(await git(path, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('feat/x');
    expect(await git(path, 'rev-parse', 'HEAD')).toBe(await git(repo, 'rev-parse', 'HEAD'));
    const [run] = (await metrics()).runs;
    expect(run).toMatchObject({ command: 'add', ok: true, branch: 'feat/x', slug: 'feat-x', path });
    expect(run!.spans.map((s) => s.name)).toEqual(expect.arrayContaining(['resolve-repo', 'resolve-branch', 'claim-path', 'git-worktree-add', 'write-state']));
    expect(run!.spans.every((s) => s.ok && s.duration >= 0)).toBe(true);
    const state = JSON.parse(await readFile(join(repo, '.git', 'worktrees', 'feat-x', 'vtree.json'), 'utf8'));
    expect(state).toMatchObject({ branch: 'feat/x', slug: 'feat-x', path, createdBy: 'add', runId: run!.id });
  });

  it('checks out an existing local branch, and starts new ones from --from', async () => {
    await writeFile(join(repo, 'second.txt'), '2\n');
    await git(repo, 'add', '.');
    await git(repo, 'commit', '-qm', 'second');
    await git(repo, 'branch', 'existing', 'HEAD~1');
    const existing = await vtree(repo, ['add', 'existing', '--json']);
    expect(existing.code, existing.stderr).toBe(0);
    const json = JSON.parse(existing.stdout);
    expect(json).toMatchObject({ ok: true, branch: 'existing', branchSource: 'local', commit: await git(repo, 'rev-parse', 'HEAD~1') });
    expect(json.steps.map((s: { name: string }) => s.name)).toContain('git-worktree-add');

    const fromRef = await vtree(repo, ['add', 'topic', '--from', 'existing', '--json']);
    expect(fromRef.code, fromRef.stderr).toBe(0);
    expect(JSON.parse(fromRef.stdout)).toMatchObject({ branchSource: 'new', commit: await git(repo, 'rev-parse', 'existing') });
  });

  it('tracks a remote branch given as origin/x or as plain x', async () => {
    await git(repo, 'branch', 'remote-only');
    await git(repo, 'branch', 'other');
    const clone = join(root, 'clone');
    await git(root, 'clone', '-q', repo, clone);
    const plain = await vtree(clone, ['add', 'remote-only', '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ branch: 'remote-only', branchSource: 'remote' });
    expect(await git(clone, 'rev-parse', '--abbrev-ref', 'remote-only@{upstream}')).toBe('origin/remote-only');
    const prefixed = await vtree(clone, ['add', 'origin/other', '--json']);
    expect(prefixed.code, prefixed.stderr).toBe(0);
    expect(JSON.parse(prefixed.stdout)).toMatchObject({ branch: 'other', branchSource: 'remote', slug: 'other' });
    expect(await git(clone, 'rev-parse', '--abbrev-ref', 'other@{upstream}')).toBe('origin/other');
  });

  it('gives branches whose slugs collide distinct directories', async () => {
    const a = await vtree(repo, ['add', 'feat/x']);
    const b = await vtree(repo, ['add', 'feat-x']);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(a.stdout.trim()).toBe(join(root, 'app.worktrees', 'feat-x'));
    expect(b.stdout.trim()).toMatch(new RegExp(`^${join(root, 'app.worktrees', 'feat-x-')}[0-9a-f]{6}$`));
    expect(await git(b.stdout.trim(), 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('feat-x');
  });

  it('passes names with shell metacharacters and unicode to git verbatim', async () => {
    for (const name of ['weird/$(touch${IFS}PWNED)', "q'uo\"te;echo", 'fé/ünï-ḉødé']) {
      const result = await vtree(repo, ['add', name, '--json']);
      expect(result.code, result.stderr).toBe(0);
      const { path } = JSON.parse(result.stdout);
      expect(await git(path, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(name);
    }
    expect(existsSync(join(repo, 'PWNED'))).toBe(false);
    expect(existsSync(join(root, 'PWNED'))).toBe(false);
  });

  describe('bad input: one line, exit 2, nothing left behind', () => {
    const cases: Array<[string, () => Promise<{ args: string[]; cwd?: string; message: RegExp }>]> = [
      ['an invalid branch name', async () => ({ args: ['add', 'a..b'], message: /'a\.\.b' is not a valid branch name/ })],
      ['a leading dash', async () => ({ args: ['add', '-rf'], message: /Not enough non-option arguments|Unknown arguments/ })],
      ['a leading dash after --', async () => ({ args: ['add', '--', '-rf'], message: /'-rf' is not a valid branch name/ })],
      ['a branch checked out elsewhere', async () => ({ args: ['add', 'main'], message: new RegExp(`branch 'main' is already checked out at ${repo}`) })],
      ['a --from ref that does not exist', async () => ({ args: ['add', 'topic', '--from', 'no-such-ref'], message: /--from ref 'no-such-ref' does not exist/ })],
      [
        'a target path that is not empty',
        async () => {
          await mkdir(join(root, 'occupied'));
          await writeFile(join(root, 'occupied', 'keep.txt'), 'mine');
          return { args: ['add', 'topic', '--path', join(root, 'occupied')], message: /target path .*occupied exists and is not empty/ };
        },
      ],
    ];
    for (const [what, prepare] of cases) {
      it(what, async () => {
        const { args, message } = await prepare();
        const before = await snapshot();
        const result = await vtree(repo, args);
        expect(result.code).toBe(2);
        expect(result.stdout).toBe('');
        expect(result.stderr.split('\n')[0]).toMatch(message);
        expect(result.stderr).not.toMatch(/\n\s+at /);
        expect(await snapshot()).toEqual(before);
      });
    }

    it('outside a repository', async () => {
      const outside = await tempDir();
      const result = await vtree(outside, ['add', 'x']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^git vtree: not inside a git repository/);
      expect(await readdir(outside)).toEqual([]);
    });

    it('in a bare repository without a worktree', async () => {
      const bare = join(root, 'bare.git');
      await git(root, 'clone', '-q', '--bare', repo, bare);
      const result = await vtree(bare, ['add', 'x']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/is a bare repository without a worktree/);
      expect(await git(bare, 'branch', '--list', 'x')).toBe('');
    });

    it('keeps the user files in an occupied default path', async () => {
      await mkdir(join(root, 'app.worktrees', 'topic'), { recursive: true });
      await writeFile(join(root, 'app.worktrees', 'topic', 'notes.txt'), 'mine');
      const result = await vtree(repo, ['add', 'topic']);
      expect(result.code).toBe(2);
      expect(await readFile(join(root, 'app.worktrees', 'topic', 'notes.txt'), 'utf8')).toBe('mine');
      expect(await git(repo, 'branch', '--list', 'topic')).toBe('');
    });
  });

  it('rolls back the worktree and branch when a late task fails, and records the failed run', async () => {
    const before = await snapshot();
    const failing: Feature = {
      name: 'failing',
      setupTasks: (stages) => [{ name: 'explode', deps: [stages.checkout], run: async () => Promise.reject(new VtreeError('late failure')) }],
    };
    const error = await addWorktree({ cwd: repo, branch: 'doomed', options: noFeatures }, quiet, undefined, [failing]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).task).toBe('explode');
    expect((error as TaskFailedError).undoFailures).toEqual([]);
    expect(await snapshot()).toEqual(before);
    const [run] = (await metrics()).runs;
    expect(run).toMatchObject({ command: 'add', ok: false, error: 'late failure', branch: 'doomed' });
    expect(run!.spans.map((s) => `${s.name}:${s.ok}`)).toEqual(expect.arrayContaining(['git-worktree-add:true', 'explode:false', 'undo:git-worktree-add:true', 'undo:claim-path:true']));
  });

  it('rolls back when interrupted part way (Ctrl-C)', async () => {
    const before = await snapshot();
    const controller = new AbortController();
    const hanging: Feature = {
      name: 'hanging',
      setupTasks: (stages) => [
        {
          name: 'wait-forever',
          deps: [stages.checkout],
          run: ({ signal }) => {
            controller.abort(new Error('interrupted by SIGINT'));
            return new Promise((_resolve, reject) => {
              if (signal.aborted) reject(signal.reason);
              signal.addEventListener('abort', () => reject(signal.reason));
            });
          },
        },
      ],
    };
    const error = await addWorktree({ cwd: repo, branch: 'stopped', options: noFeatures }, quiet, controller.signal, [hanging]).catch((e: unknown) => e);
    expect((error as Error).message).toBe('interrupted by SIGINT');
    expect(await snapshot()).toEqual(before);
    expect((await metrics()).runs[0]).toMatchObject({ ok: false, error: 'interrupted by SIGINT' });
  });

  it('Ctrl-C during a real dependency install exits 130 and leaves nothing behind', async () => {
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', dependencies: { 'is-number': '7.0.0' } }));
    await execFileAsync('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: repo });
    await writeFile(join(repo, '.gitignore'), 'node_modules/\n');
    await git(repo, 'add', '.');
    await git(repo, 'commit', '-qm', 'deps');
    const before = await snapshot();
    // No node_modules anywhere: a miss, so add runs npm ci, which takes long enough to interrupt.
    const child = spawn(process.execPath, [BIN, 'add', 'interrupted', '--no-services'], { cwd: repo, env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const worktree = join(root, 'app.worktrees', 'interrupted');
    for (let i = 0; i < 600 && !existsSync(join(worktree, 'package.json')); i++) await sleep(10);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping and rolling back/);
    expect(stderr).toMatch(/interrupted by SIGINT; rolled back/);
    expect(await snapshot()).toEqual(before);
    expect((await metrics()).runs.at(-1)).toMatchObject({ command: 'add', ok: false, branch: 'interrupted' });
  });

  it('leaves an existing branch alone when rolling back', async () => {
    await git(repo, 'branch', 'keep-me');
    const failing: Feature = { name: 'failing', setupTasks: (s) => [{ name: 'explode', deps: [s.checkout], run: async () => Promise.reject(new Error('x')) }] };
    await expect(addWorktree({ cwd: repo, branch: 'keep-me', options: noFeatures }, quiet, undefined, [failing])).rejects.toThrow('x');
    expect(await git(repo, 'branch', '--list', 'keep-me')).toContain('keep-me');
  });

  it('five adds at once all succeed with distinct paths and five complete runs', async () => {
    const names = ['one', 'two', 'three', 'four', 'five'];
    const results = await Promise.all(names.map((n) => vtree(repo, ['add', `c/${n}`, '--json'])));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const paths = results.map((r) => JSON.parse(r.stdout).path as string);
    expect(new Set(paths).size).toBe(5);
    const runs = (await metrics()).runs;
    expect(runs).toHaveLength(5);
    expect(runs.every((r) => r.ok && r.spans.some((s) => s.name === 'git-worktree-add'))).toBe(true);
    expect(new Set(runs.map((r) => r.branch))).toEqual(new Set(names.map((n) => `c/${n}`)));
  });
});

describe('configuration', () => {
  it('takes vtree.path from .vtreeconfig, git config over it, and --path over both', async () => {
    await writeFile(join(repo, '.vtreeconfig'), '[vtree]\n\tpath = team/{slug}\n');
    const team = await vtree(repo, ['add', 'a/b']);
    expect(team.stdout.trim()).toBe(join(root, 'team', 'a-b'));
    await git(repo, 'config', 'vtree.path', 'mine/{repo}-{slug}');
    const mine = await vtree(repo, ['add', 'c']);
    expect(mine.stdout.trim()).toBe(join(root, 'mine', 'app-c'));
    const explicit = await vtree(repo, ['add', 'd', '--path', join(root, 'elsewhere')]);
    expect(explicit.stdout.trim()).toBe(join(root, 'elsewhere'));
  });

  it('refuses a path template that would put every worktree in one directory', async () => {
    await git(repo, 'config', 'vtree.path', '../shared-dir');
    const result = await vtree(repo, ['add', 'x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/names no \{slug\} or \{branch\}/);
  });

  it('rejects a malformed number with the key name', async () => {
    await git(repo, 'config', 'vtree.metrics.maxRuns', 'lots');
    const result = await vtree(repo, ['add', 'x']);
    expect(result.stderr).toMatch(/vtree\.metrics\.maxRuns must be a whole number/);
  });
});
