import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MetricsFile } from '../../src/observe/metrics.js';
import type { StatsReport } from '../../src/observe/stats.js';
import type { RemoteBenchResult } from '../../src/pipelines/bench-remote.js';
import { BIN, git, npmProjectsForFile, testEnv, vtree } from '../helpers.js';
import { requirePrereq, startRegistry } from '../remote-prereqs.js';

// `git vtree bench --remote` against a real registry (docker-registry on 127.0.0.1, shared with the
// remote-cache tests under repository names of its own), real clones and real npm installs, through
// the built CLI. No timing is asserted: only that every row was measured, and what it moved.

const open = await requirePrereq('docker-registry on 127.0.0.1:5110', () => startRegistry(5110));
const REGISTRY = open.ok ? open.value : '';
/** A fresh repository name per run: the registry outlives test runs. */
const run_ = `bench${Date.now().toString(36)}${process.pid}`;
const { projectRepo, warmedRepo } = npmProjectsForFile();

/** What the benchmark may have left beside the repository: its bench directory, named after it. */
const leftBeside = async (repo: string) => (await readdir(dirname(repo))).filter((name) => name.includes('vtree-bench'));
const worktrees = async (repo: string) => (await git(repo, 'worktree', 'list', '--porcelain')).split('\n').filter((l) => l.startsWith('worktree ')).map((l) => l.slice(9));
const benchRuns = async (repo: string) => (JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8')) as MetricsFile).runs.filter((r) => r.command === 'bench');

describe.skipIf(!open.ok)(`git vtree bench --remote${open.ok ? '' : ` (skipped: ${open.reason})`}`, () => {
  it('pushes the entry the registry lacks, times the three rows in fresh clones, records the run and leaves nothing behind', async () => {
    const remote = `${REGISTRY}/${run_}/rows`;
    const repo = await warmedRepo(remote);
    const result = await vtree(repo, ['bench', '--remote', '--runs', '1', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const bench = JSON.parse(result.stdout) as RemoteBenchResult;

    expect(bench).toMatchObject({ runs: 1, repository: repo, remote, pushed: true, packageManager: 'npm', install: 'npm ci' });
    expect(bench.base).toBe(await git(repo, 'rev-parse', 'HEAD'));
    expect(bench.rows.map((r) => r.id)).toEqual(['remote-hit', 'warm-cache', 'cold-cache']);
    for (const row of bench.rows) {
      expect(row.errors, row.id).toEqual([]);
      expect(row.durations, row.id).toHaveLength(1);
      expect(row.median, row.id).toBe(row.durations[0]);
      expect(row.ratio, row.id).toEqual(expect.any(Number));
    }
    const [hit, warm, cold] = bench.rows;
    // The remote hit pulled HEAD's entry into the clone's empty cache: bytes moved are the download.
    expect(bench.hit).toMatchObject({ source: 'remote', key: bench.key, from: remote });
    expect(hit!.bytes).toEqual([bench.hit!.remoteBytes]);
    expect(hit!.bytes[0]).toBeGreaterThan(0);
    expect(warm!.bytes).toEqual([0]);
    expect(warm!.ratio).toBe(1);
    // npm's empty cache holds what npm ci downloaded.
    expect(cold!.bytes[0]).toBeGreaterThan(0);
    expect(bench.target).toMatchObject({ value: hit!.ratio, status: expect.stringMatching(/^(met|NOT MET)$/) });

    // Every clone, worktree and cache was in the bench directory beside the repository, now gone.
    expect(await leftBeside(repo)).toEqual([]);
    expect(await worktrees(repo)).toEqual([repo]);

    const [recorded] = await benchRuns(repo);
    expect(recorded).toMatchObject({ id: bench.runId, ok: true, facts: { bench: { remote: { key: bench.key, target: bench.target } } } });
    expect(recorded!.spans.filter((s) => s.name === 'bench:remote:remote-hit')).toHaveLength(2);
    // stats reads the run (a benchmark of another shape: not among `bench`'s before/after lines).
    const stats = await vtree(repo, ['stats', '--json']);
    expect(stats.code, stats.stderr).toBe(0);
    expect((JSON.parse(stats.stdout) as StatsReport).benchmarks).toEqual([]);
    expect((await vtree(repo, ['stats'])).code).toBe(0);
  }, 240_000);

  it('prints the rows, bytes moved and the target for people', async () => {
    const repo = await warmedRepo(`${REGISTRY}/${run_}/people`);
    const result = await vtree(repo, ['bench', '--remote', '--runs', '1']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/round 0\/1 \(warm-up\) remote-hit\s+\d/);
    expect(result.stdout).toMatch(/│ git vtree add: fresh clone, empty local cache, warm registry\s+│ \d.*│ 1\s+│ \d+\.\d\d×\s+│ \d+(\.\d)? [KM]?B\s+│/);
    expect(result.stdout).toMatch(/│ git worktree add \+ npm ci, cache warm\s+│ .*│ 1\.00×\s+│ 0 \(cache warm\)\s+│/);
    expect(result.stdout).toMatch(/│ git worktree add \+ npm ci, cache empty\s+│ /);
    expect(result.stdout).toMatch(/^Target: remote hit at most 0\.5x a frozen install with a warm cache: (met|NOT MET) \(\d+\.\d\dx\)$/m);
  }, 240_000);

  it('refuses when neither the local cache nor the registry has the entry of the lockfile', async () => {
    const repo = await projectRepo();
    await git(repo, 'config', 'vtree.cache.remote', `${REGISTRY}/${run_}/empty`);
    const result = await vtree(repo, ['bench', '--remote', '--runs', '1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^git vtree: neither the local cache nor ${REGISTRY}/${run_}/empty has the dependencies of ${repo}'s lockfile \\(entry [0-9a-f]{12}\\)\\nhint: git vtree cache warm, then git vtree cache push\\n$`));
    expect(await leftBeside(repo)).toEqual([]);
  }, 60_000);

  it('Ctrl-C to its process group part way removes every clone it made and records the run as failed', async () => {
    const repo = await warmedRepo(`${REGISTRY}/${run_}/interrupted`);
    const child = spawn(process.execPath, [BIN, 'bench', '--remote', '--runs', '3'], { cwd: repo, env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    // Interrupt once the first row is done: the next clone is being made, or timed.
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: string) => {
        stderr += d;
        if (/round 0\/3 \(warm-up\) remote-hit/.test(stderr)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`bench exited (${code}) before its first row: ${stderr}`)));
    });
    const exited = once(child, 'exit');
    process.kill(-child.pid!, 'SIGINT');
    const [code] = await exited;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/git vtree: interrupted by SIGINT/);
    expect(await leftBeside(repo)).toEqual([]);
    expect(await worktrees(repo)).toEqual([repo]);
    expect((await benchRuns(repo)).at(-1)).toMatchObject({ ok: false, error: expect.stringMatching(/interrupted by SIGINT/) });
  }, 240_000);
});

describe('git vtree bench --remote without a remote cache', () => {
  it('fails with one line saying what is missing and the command that sets it', async () => {
    const repo = await projectRepo();
    const result = await vtree(repo, ['bench', '--remote', '--runs', '1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('git vtree: no remote cache configured (vtree.cache.remote)\nhint: git config vtree.cache.remote <registry>/<repository>   (for example ghcr.io/team/app-deps)\n');
    expect(await leftBeside(repo)).toEqual([]);
  }, 60_000);
});
