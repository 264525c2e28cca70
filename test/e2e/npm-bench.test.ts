import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The benchmark harness (bench/run.mjs) in its quickest mode, on a two-package fixture: it must
// build its repositories, time every row, clean up after itself and write complete JSON. Timings
// are never asserted, only that they are there.

const PROJECT = fileURLToPath(new URL('../..', import.meta.url));
const ROWS = ['worktree', 'node+worktree', 'cp-al', 'npm', 'pnpm', 'vtree-spare', 'vtree-hit', 'vtree-seed', 'vtree-partial'];

interface Stats {
  n: number;
  median: number;
  min: number;
  max: number;
  mean: number;
}
interface Row {
  id: string;
  group: string;
  status: string;
  reason?: string;
  stats: Stats | null;
  samples: number[];
  ratioToWorktree: number | null;
  ratioToVtree: number | null;
  ratioToNode?: number | null;
  observed: string;
  depsRestored: boolean | null;
  maxRssMb: number | null;
}
interface Report {
  schema: number;
  rows: Row[];
  startup: Row[];
  targets: Array<{ id: string; status: string; value: number | null; detail: string }>;
  repos: Record<string, { root?: string; reason?: string }>;
  warnings: string[];
}

let work: string;
let output: { code: number | null; stdout: string; stderr: string };
let report: Report;

function runHarness(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(PROJECT, 'bench', 'run.mjs'), ...args], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`git ${args.join(' ')} exited ${code}`))));
  });
}

const isNumber = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0;

describe('npm run bench (bench/run.mjs)', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'vtree-bench-test-'));
    output = await runHarness([
      '--quick',
      '--no-tools',
      '--source-files', '30',
      '--fixture', join(PROJECT, 'bench', 'fixture-tiny'),
      '--work-dir', join(work, 'work'),
      '--tools-dir', join(work, 'tools'),
      '--out', join(work, 'results.json'),
      '--only', ROWS.join(','),
    ]);
    report = JSON.parse(await readFile(join(work, 'results.json'), 'utf8')) as Report;
  }, 170_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('exits 0, prints the tables and the path of the JSON', () => {
    expect(output.code, output.stderr).toBe(0);
    expect(output.stdout).toContain('× worktree');
    expect(output.stdout).toContain('Targets (issues 4 and 12):');
    expect(output.stdout).toContain(`Results: ${join(work, 'results.json')}`);
  });

  it('writes one row per requested variant, each with numbers or a reason', () => {
    expect(report.schema).toBe(1);
    expect(report.rows.map((r) => r.id)).toEqual(ROWS);
    for (const row of report.rows) {
      if (row.id === 'pnpm') {
        // The tiny fixture has no pnpm lockfile, and --no-tools installs no pnpm.
        expect(row.status).toBe('not available');
        expect(row.reason).toMatch(/pnpm/);
        expect(row.stats).toBeNull();
        continue;
      }
      expect(row.status, `${row.id}: ${row.reason}`).toBe('measured');
      expect(row.samples).toHaveLength(1);
      for (const key of ['median', 'min', 'max', 'mean'] as const) expect(isNumber(row.stats?.[key]), `${row.id} ${key}`).toBe(true);
      expect(isNumber(row.ratioToWorktree), `${row.id} ratio to worktree`).toBe(true);
      expect(isNumber(row.ratioToVtree), `${row.id} ratio to vtree`).toBe(true);
      expect(row.observed).not.toBe('');
    }
    expect(report.rows.find((r) => r.id === 'worktree')?.ratioToWorktree).toBe(1);
    expect(report.rows.find((r) => r.id === 'vtree-spare')?.ratioToVtree).toBe(1);
  });

  it('records what each vtree run restored and its peak memory', () => {
    for (const row of report.rows.filter((r) => r.group === 'vtree')) {
      expect(typeof row.depsRestored, row.id).toBe('boolean');
      expect(isNumber(row.maxRssMb), `${row.id} max RSS`).toBe(true);
    }
    // The copy row of a baseline really got node_modules: the harness looks, it does not assume.
    expect(report.rows.find((r) => r.id === 'cp-al')?.observed).toMatch(/node_modules: \d+ entries/);
  });

  it('times start-up and judges every target of the issue', () => {
    expect(report.startup.map((r) => r.id)).toEqual(['node-e0', 'git-vtree-version', 'git-vtree-version-via-git']);
    for (const row of report.startup) {
      expect(isNumber(row.stats?.median), row.id).toBe(true);
      expect(isNumber(row.ratioToNode), row.id).toBe(true);
    }
    // pnpm-hit-vs-pnpm: the pnpm project's cache hit (vtree-hit-pnpm); list-board-50: `list` with its board columns (vtree-list-board-50); rm-stack and prune-50: issue 22's rm with a running stack and prune of 50 merged worktrees.
    expect(report.targets.map((t) => t.id)).toEqual(['spare-vs-node-floor', 'hit-vs-cp-al', 'hit-vs-bun', 'modes-vs-pnpm', 'pnpm-hit-vs-pnpm', 'seed-vs-hit', 'startup', 'spare-wt', 'spare-wt-100k', 'spare-wt-flat', 'rm', 'rm-recycled', 'rm-stack', 'prune-50', 'list-50', 'list-board-50', 'memory']);
    for (const target of report.targets) {
      expect(['met', 'not met', 'not measured']).toContain(target.status);
      expect(target.detail).not.toBe('');
    }
    // Rows that did not run make their targets "not measured", never "met".
    for (const id of ['hit-vs-bun', 'pnpm-hit-vs-pnpm', 'list-board-50']) expect(report.targets.find((t) => t.id === id)?.status, id).toBe('not measured');
    expect(isNumber(report.targets.find((t) => t.id === 'seed-vs-hit')?.value)).toBe(true);
  });

  it('leaves every benchmark repository as it found it: no worktrees, no run branches', async () => {
    for (const [name, repo] of Object.entries(report.repos)) {
      if (!repo.root) continue;
      const worktrees = (await git(repo.root, ['worktree', 'list', '--porcelain'])).split('\n').filter((l) => l.startsWith('worktree '));
      expect(worktrees, name).toHaveLength(1);
      expect(await git(repo.root, ['branch', '--list', 'timed-*']), name).toBe('');
    }
  });
});
