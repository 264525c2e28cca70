import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchResult } from '../../src/pipelines/bench.js';
import type { MetricsFile } from '../../src/observe/metrics.js';
import type { StatsReport } from '../../src/observe/stats.js';
import { BIN, requirePrereq } from '../helpers.js';

const execFileAsync = promisify(execFile);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A small repository as users have them: a few source files, one real dependency from the npm
 * registry with its lockfile, node_modules installed in the main worktree and ignored.
 */
describe('git vtree bench on a small repository', () => {
  let dir: string;
  let repo: string;
  const sh = async (command: string, args: string[], cwd = repo) => (await execFileAsync(command, args, { cwd })).stdout.trim();
  const vtree = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [BIN, ...args], { cwd: repo });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const worktreePaths = async () => (await sh('git', ['worktree', 'list', '--porcelain'])).split('\n').filter((l) => l.startsWith('worktree ')).map((l) => l.slice(9));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vtree-bench-'));
    repo = join(dir, 'app');
    await execFileAsync('git', ['init', '-q', '-b', 'main', repo]);
    for (let i = 1; i <= 20; i++) await writeFile(join(repo, `module${i}.js`), `export const value${i} = ${i};\n`);
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'bench-fixture', version: '1.0.0', private: true, dependencies: { 'is-number': '7.0.0' } }, null, 2));
    await writeFile(join(repo, '.gitignore'), 'node_modules\n');
    await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline']);
    await sh('git', ['add', '-A']);
    await sh('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@example.com', 'commit', '-q', '-m', 'fixture']);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--runs 1 times both ways, prints the split, records a bench run and leaves nothing behind', async () => {
    const result = await vtree('bench', '--runs', '1', '--json');
    expect(result.stderr).not.toMatch(/warning/);
    expect(result.code).toBe(0);
    const bench = JSON.parse(result.stdout) as BenchResult;

    expect(bench).toMatchObject({ runs: 1, repository: repo, compose: false, kept: [] });
    expect(bench.base).toBe(await sh('git', ['rev-parse', 'HEAD']));
    expect(bench.install).toMatch(/^npm /);
    expect(bench.before.durations).toHaveLength(1);
    expect(bench.vtree.durations).toHaveLength(1);
    expect(bench.before.median).toBe(bench.before.durations[0]);
    expect(bench.before.phases.map((p) => p.name)).toEqual(['git worktree add', bench.install]);
    expect(bench.vtree.phases.map((p) => p.name)).toEqual(expect.arrayContaining(['resolve-repo', 'git-worktree-add', 'write-state', 'node start-up + exit']));
    expect(bench.vtree.depsSources).toHaveLength(1);
    expect(bench.speedup).toBe(Math.round((bench.before.median / bench.vtree.median) * 100) / 100);

    // Everything it made is gone: worktrees, branches, the bench directory.
    expect(await worktreePaths()).toEqual([repo]);
    expect(await sh('git', ['branch', '--list', 'vtree-bench/*'])).toBe('');
    expect((await readdir(dir)).filter((name) => name.includes('vtree-bench'))).toEqual([]);

    // The run is in metrics.json, its spans the measured runs with their phases nested inside.
    const metrics = JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8')) as MetricsFile;
    const run = metrics.runs.find((r) => r.id === bench.runId)!;
    expect(run).toMatchObject({ command: 'bench', ok: true, facts: { bench: { runs: 1, speedup: bench.speedup } } });
    const top = run.spans.filter((s) => s.parent === null);
    expect(top.map((s) => s.name).sort()).toEqual(['bench:before', 'bench:cleanup', 'bench:cleanup', 'bench:vtree']);
    const beforeSpan = top.find((s) => s.name === 'bench:before')!;
    const vtreeSpan = top.find((s) => s.name === 'bench:vtree')!;
    expect(run.spans.filter((s) => s.parent === beforeSpan.id).map((s) => s.name)).toEqual(['bench:before:git worktree add', `bench:before:${bench.install}`]);
    const vtreeChildren = run.spans.filter((s) => s.parent === vtreeSpan.id);
    expect(vtreeChildren.map((s) => s.name)).toContain('bench:vtree:git-worktree-add');
    for (const child of vtreeChildren) {
      expect(child.start).toBeGreaterThanOrEqual(vtreeSpan.start);
      expect(child.start + child.duration).toBeLessThanOrEqual(vtreeSpan.start + vtreeSpan.duration + 0.01);
    }

    // stats shows it.
    const stats = JSON.parse((await vtree('stats', '--json')).stdout) as StatsReport;
    expect(stats.benchmarks).toEqual([{ id: bench.runId, startedAt: run.startedAt, runs: 1, before: bench.before.median, vtree: bench.vtree.median, speedup: bench.speedup }]);
    expect(stats.waterfall?.runId).toBe(bench.runId);
    const text = await vtree('stats');
    expect(text.stdout).toMatch(/│ benchmark\s+│ runs\s+│ before \(p50\)\s+│ git vtree add \(p50\)\s+│ speed-up\s+│/);
  });

  it('prints medians, speed-up and the per-phase split for people', async () => {
    const result = await vtree('bench', '--runs', '1');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/│ before: git worktree add \+ npm \S+\s+│ \d/);
    expect(result.stdout).toMatch(/│ git vtree add\s+│ \d/);
    expect(result.stdout).toMatch(/Speed-up: \d+(\.\d+)?× \(median before \/ median git vtree add\)/);
    expect(result.stdout).toMatch(/│ git-worktree-add\s+│\s+│ \d+ ms/);
    expect(result.stderr).toMatch(/run 1 before\s+\d/);
  });

  it('--keep leaves the worktrees in place', async () => {
    const result = await vtree('bench', '--runs', '1', '--keep', '--json');
    expect(result.code).toBe(0);
    const bench = JSON.parse(result.stdout) as BenchResult;
    expect(bench.kept).toHaveLength(2);
    expect((await worktreePaths()).sort()).toEqual([repo, ...bench.kept].sort());
    expect((await sh('git', ['branch', '--list', `vtree-bench/${bench.runId}/*`])).split('\n')).toHaveLength(2);
    for (const path of bench.kept) await sh('git', ['worktree', 'remove', '--force', path]);
    for (const way of ['before', 'vtree']) await sh('git', ['branch', '-D', `vtree-bench/${bench.runId}/${way}-1`]);
    await rm(join(dir, `app.vtree-bench-${bench.runId}`), { recursive: true });
  });

  it('with a compose file and a Docker engine, "before" also runs docker compose up -d, and brings it down again', async (context) => {
    const { image } = await requirePrereq('docker', context);
    const port = await freePort();
    await writeFile(
      join(repo, 'compose.yaml'),
      `services:\n  web:\n    image: ${image}\n    command: ["httpd", "-f", "-p", "8080", "-h", "/"]\n    ports: ["127.0.0.1:\${WEB_PORT:-${port}}:8080"]\n`,
    );
    await sh('git', ['add', 'compose.yaml']);
    await sh('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@example.com', 'commit', '-q', '-m', 'compose']);
    // Your own repository: its stack is trusted by your git config (else neither way starts it).
    await sh('git', ['config', 'vtree.services.trusted', 'true']);
    try {
      const result = await vtree('bench', '--runs', '1', '--json');
      expect(result.code, result.stderr).toBe(0);
      const bench = JSON.parse(result.stdout) as BenchResult;
      expect(bench.compose).toBe(true);
      expect(bench.before.phases.map((p) => p.name)).toEqual(['git worktree add', bench.install, 'docker compose up -d']);
      const projects = await sh('docker', ['ps', '-a', '--filter', 'label=com.docker.compose.project', '--format', '{{.Label "com.docker.compose.project"}}']);
      expect(projects.split('\n').filter((p) => p.includes(bench.runId.toLowerCase()))).toEqual([]);
      // Nor the stack `git vtree add` started in the background (its project is named after the repository and branch):
      // `rm` hands it to a background stack-down job, and bench waits for that job as "before" waits for compose down.
      const vtreeStack = await sh('docker', ['ps', '-a', '--filter', 'label=com.docker.compose.project=app-vtree-1', '--format', '{{.Names}}']);
      expect(vtreeStack).toBe('');
      expect(await worktreePaths()).toEqual([repo]);
    } finally {
      await sh('git', ['config', '--unset', 'vtree.services.trusted']);
      await sh('git', ['rm', '-q', 'compose.yaml']);
      await sh('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@example.com', 'commit', '-q', '-m', 'no compose']);
    }
  });

  it.each([
    ['the bench process alone', false],
    ['its whole process group, as a terminal does', true],
  ])('Ctrl-C to %s part way removes every worktree and branch it made, and records the run as failed', async (_name, group) => {
    const child = spawn(process.execPath, [BIN, 'bench', '--runs', '3'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], detached: group });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    // Interrupt once the first measurement is done: the next worktree is being made (or the first removed).
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: string) => {
        stderr += d;
        if (/run 1 before/.test(stderr)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`bench exited (${code}) before its first measurement: ${stderr}`)));
    });
    const exited = once(child, 'exit');
    if (group) process.kill(-child.pid!, 'SIGINT');
    else child.kill('SIGINT');
    const [code] = await exited;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/git vtree: interrupted by SIGINT/);
    expect(await worktreePaths(), stderr).toEqual([repo]);
    expect(await sh('git', ['branch', '--list', 'vtree-bench/*'])).toBe('');
    expect((await readdir(dir)).filter((name) => name.includes('vtree-bench'))).toEqual([]);
    const metrics = JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8')) as MetricsFile;
    expect(metrics.runs.filter((r) => r.command === 'bench').at(-1)).toMatchObject({ ok: false, error: expect.stringMatching(/interrupted by SIGINT/) });
  });

  it('refuses a run count that is not a positive whole number', async () => {
    const result = await vtree('bench', '--runs', '0');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--runs must be a whole number, at least 1.*\nhint: git vtree bench --runs 3/);
  });
});
