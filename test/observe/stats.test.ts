import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricsFile, RunRecord } from '../../src/observe/metrics.js';
import type { Span } from '../../src/core/profiler.js';
import { buildStats, filterRuns, parseSince, STATS_SCHEMA, type StatsReport } from '../../src/observe/stats.js';
import { layoutWaterfall, renderWaterfall, unionLength } from '../../src/observe/waterfall.js';
import { BIN } from '../helpers.js';

const execFileAsync = promisify(execFile);

function span(id: number, parent: number | null, name: string, start: number, duration: number, ok = true): Span {
  return { id, parent, name, start, duration, ok };
}

function runRecord(fields: Partial<RunRecord> & Pick<RunRecord, 'id' | 'command' | 'startedAt' | 'duration' | 'spans'>): RunRecord {
  return { ok: true, facts: {}, version: '0.1.0', ...fields };
}

/**
 * Five runs: A (deps hit) with deps-restore running beside git-worktree-add and a nested span;
 * B (deps miss) with a background services run E linked to it; C an rm; D a failed add.
 */
const A = runRecord({
  id: 'run-a',
  command: 'add',
  startedAt: '2026-11-20T10:00:00.000Z',
  duration: 100,
  branch: 'feat-a',
  slug: 'feat-a',
  path: '/w/app.worktrees/feat-a',
  facts: { deps: { source: 'hit' } },
  spans: [
    span(1, null, 'resolve-repo', 0, 10),
    span(2, null, 'resolve-branch', 10, 5),
    span(3, null, 'claim-path', 15, 5),
    span(4, null, 'git-worktree-add', 20, 50),
    span(5, null, 'deps-restore', 20, 60),
    span(6, 5, 'link-files', 25, 40),
    span(7, null, 'write-state', 80, 10),
  ],
});
const B = runRecord({
  id: 'run-b',
  command: 'add',
  startedAt: '2026-11-21T10:00:00.000Z',
  duration: 200,
  branch: 'feat-b',
  slug: 'feat-b',
  facts: { deps: { source: 'miss' } },
  spans: [span(1, null, 'resolve-repo', 0, 20), span(2, null, 'git-worktree-add', 20, 100), span(3, null, 'deps-restore', 20, 170), span(4, 3, 'npm-install', 30, 150)],
});
const C = runRecord({
  id: 'run-c',
  command: 'rm',
  startedAt: '2026-11-22T10:00:00.000Z',
  duration: 40,
  slug: 'feat-a',
  spans: [span(1, null, 'locate', 0, 10), span(2, null, 'git-worktree-remove', 10, 30)],
});
const D = runRecord({
  id: 'run-d',
  command: 'add',
  startedAt: '2026-11-23T10:00:00.000Z',
  duration: 50,
  ok: false,
  error: 'boom',
  branch: 'feat-c',
  slug: 'feat-c',
  spans: [span(1, null, 'resolve-repo', 0, 10), span(2, null, 'git-worktree-add', 10, 40, false)],
});
const E = runRecord({
  id: 'run-e',
  command: 'services',
  startedAt: '2026-11-21T10:00:00.150Z',
  duration: 300,
  slug: 'feat-b',
  linkedTo: 'run-b',
  spans: [span(1, null, 'compose-up', 0, 300)],
});
// File order is completion order: E (background) finished after C was started but is listed last.
const RUNS = [A, B, C, D, E];

describe('buildStats on a hand-made metrics file', () => {
  const report = buildStats(RUNS, {}, { now: new Date('2026-11-24T00:00:00.000Z') });

  it('aggregates every span by name with exact count, avg, p50, p95, min, max and total', () => {
    const byName = Object.fromEntries(report.operations.map((op) => [op.name, op]));
    expect(byName['resolve-repo']).toEqual({ name: 'resolve-repo', count: 3, avg: 13.333, min: 10, max: 20, p50: 10, p95: 19, total: 40 });
    expect(byName['git-worktree-add']).toEqual({ name: 'git-worktree-add', count: 3, avg: 63.333, min: 40, max: 100, p50: 50, p95: 95, total: 190 });
    expect(byName['deps-restore']).toEqual({ name: 'deps-restore', count: 2, avg: 115, min: 60, max: 170, p50: 115, p95: 164.5, total: 230 });
    // Nested spans are rows of their own, never folded into their parent's numbers.
    expect(byName['npm-install']).toMatchObject({ count: 1, total: 150 });
    expect(byName['link-files']).toMatchObject({ count: 1, total: 40 });
    expect(report.operations.slice(0, 3).map((op) => op.name)).toEqual(['compose-up', 'deps-restore', 'git-worktree-add']);
    expect(report.operations).toHaveLength(11);
  });

  it('summarises whole runs per command from their wall-clock durations', () => {
    expect(report.commands).toEqual([
      { command: 'add', count: 3, avg: 116.667, min: 50, max: 200, p50: 100, p95: 190, total: 350, failed: 1, refused: 0 },
      { command: 'rm', count: 1, avg: 40, min: 40, max: 40, p50: 40, p95: 40, total: 40, failed: 0, refused: 0 },
      { command: 'services', count: 1, avg: 300, min: 300, max: 300, p50: 300, p95: 300, total: 300, failed: 0, refused: 0 },
    ]);
  });

  it('totals wall-clock time, counting overlapping runs once and never adding up spans', () => {
    // A 100 + (B 0..200 with its background run E 150..450: 450) + C 40 + D 50.
    expect(report.totalTime).toBe(640);
    expect(RUNS.reduce((sum, r) => sum + r.duration, 0)).toBe(690);
    const spanSum = RUNS.flatMap((r) => r.spans).reduce((sum, s) => sum + s.duration, 0);
    expect(spanSum).toBe(1010);
    expect(report.avgWorktreeCreation).toBe(150); // A and B; D failed
  });

  it('reports the dependency source mix and cold versus warm medians', () => {
    expect(report.deps).toEqual({
      runs: 2,
      sources: [
        { source: 'hit', count: 1, share: 0.5, p50: 100 },
        { source: 'remote', count: 0, share: 0, p50: 0 },
        { source: 'seed', count: 0, share: 0, p50: 0 },
        { source: 'partial', count: 0, share: 0, p50: 0 },
        { source: 'miss', count: 1, share: 0.5, p50: 200 },
      ],
      warm: { count: 1, p50: 100 },
      cold: { count: 1, p50: 200 },
      ratio: 2,
    });
  });

  it('lists runs, creations and the latest (non-background) run by start time', () => {
    expect(report.schema).toBe(STATS_SCHEMA);
    expect(report.runs).toEqual({ recorded: 5, matched: 5, failed: 1, refused: 0, first: A.startedAt, last: D.startedAt });
    expect(report.recent.map((r) => r.id)).toEqual(['run-d', 'run-c', 'run-e', 'run-b', 'run-a']);
    expect(report.creations.map((c) => [c.id, c.depsSource])).toEqual([
      ['run-a', 'hit'],
      ['run-b', 'miss'],
      ['run-d', undefined],
    ]);
    expect(report.waterfall?.runId).toBe('run-d');
    expect(report.waterfall?.criticalPath).toEqual(['resolve-repo', 'git-worktree-add']);
  });
});

describe('bench runs', () => {
  const F = runRecord({
    id: 'run-f',
    command: 'bench',
    startedAt: '2026-11-23T11:00:00.000Z',
    duration: 1000,
    facts: {
      bench: {
        runs: 1,
        base: 'abc',
        install: 'npm i',
        compose: false,
        before: { median: 600, min: 600, max: 600, durations: [600], phases: [] },
        vtree: { median: 200, min: 200, max: 200, durations: [200], phases: [], depsSources: ['hit'] },
        speedup: 3,
        kept: [],
      },
    },
    spans: [span(1, null, 'bench:before', 0, 600), span(2, 1, 'bench:before:npm i', 50, 550), span(3, null, 'bench:vtree', 600, 200), span(4, 3, 'bench:vtree:git-worktree-add', 700, 50)],
  });
  const report = buildStats([...RUNS, F]);

  it('are listed as benchmarks and commands, but their spans (which repeat whole add runs) stay out of the operations', () => {
    expect(report.benchmarks).toEqual([{ id: 'run-f', startedAt: F.startedAt, runs: 1, before: 600, vtree: 200, speedup: 3 }]);
    expect(report.commands.map((c) => c.command)).toEqual(['add', 'rm', 'bench', 'services']);
    expect(report.operations.map((o) => o.name).filter((n) => n.startsWith('bench:'))).toEqual([]);
    expect(report.operations.find((o) => o.name === 'git-worktree-add')?.count).toBe(3);
    expect(report.waterfall?.runId).toBe('run-f');
  });

  it('can be looked at by operation name', () => {
    expect(buildStats([...RUNS, F], { op: 'bench:before' }).operations).toEqual([{ name: 'bench:before', count: 1, avg: 600, min: 600, max: 600, p50: 600, p95: 600, total: 600 }]);
  });
});

describe('waterfall layout', () => {
  it('orders rows depth-first, finds the critical path through parallel steps, and measures overlap', () => {
    const w = layoutWaterfall(A);
    expect(w.rows.map((r) => [r.name, r.depth, r.critical])).toEqual([
      ['resolve-repo', 0, true],
      ['resolve-branch', 0, true],
      ['claim-path', 0, true],
      ['git-worktree-add', 0, false],
      ['deps-restore', 0, true],
      ['link-files', 1, false],
      ['write-state', 0, true],
    ]);
    expect(w.criticalPath).toEqual(['resolve-repo', 'resolve-branch', 'claim-path', 'deps-restore', 'write-state']);
    expect(w.busy).toBe(90);
    expect(w.spanSum).toBe(140);
    expect(w.extent).toBe(100);
  });

  it('places linked background runs on the same axis', () => {
    const w = layoutWaterfall(B, [E]);
    const background = w.rows.filter((r) => r.background);
    expect(background).toEqual([expect.objectContaining({ runId: 'run-e', name: 'compose-up', start: 150, duration: 300 })]);
    expect(w.extent).toBe(450);
    expect(w.duration).toBe(200);
    const text = renderWaterfall(w, 100);
    const barOf = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(name))!;
      return line.slice(line.indexOf('│') + 1, line.lastIndexOf('│'));
    };
    // B returned at 200 ms; its background compose-up ran 150..450 ms, over the marker.
    expect(barOf('resolve-repo').indexOf('┊')).toBe(Math.round((200 / 450) * barOf('resolve-repo').length));
    expect(barOf('compose-up').search(/░/)).toBe(Math.floor((150 / 450) * barOf('compose-up').length));
    expect(barOf('compose-up')).not.toContain('┊');
    expect(text).toContain('░ background run  ┊ command returned');
  });

  it('draws bars whose columns follow start and duration', () => {
    const text = renderWaterfall(layoutWaterfall(A), 100);
    const lines = text.split('\n');
    const bar = (name: string) => {
      const line = lines.find((l) => l.trimStart().startsWith(name))!;
      return line.slice(line.indexOf('│') + 1, line.lastIndexOf('│'));
    };
    const width = bar('resolve-repo').length;
    // git-worktree-add (20..70) and deps-restore (20..80) start in the same column: they overlapped.
    expect(bar('git-worktree-add').search(/\S/)).toBe(bar('deps-restore').search(/\S/));
    expect(bar('git-worktree-add').search(/\S/)).toBe(Math.floor((20 / 100) * width));
    expect(bar('deps-restore')).toContain('█');
    expect(bar('git-worktree-add')).toContain('▓');
    expect(bar('git-worktree-add')).not.toContain('█');
    expect(bar('link-files')).toContain('▒');
    expect(text).toContain('critical path: resolve-repo → resolve-branch → claim-path → deps-restore → write-state');
    expect(text).toMatch(/140 ms of step time ran in 90 ms \(1\.6× concurrency\)/);
  });

  it('counts overlapping intervals once', () => {
    expect(unionLength([[0, 10], [5, 20], [30, 40]])).toBe(30);
    expect(unionLength([])).toBe(0);
  });
});

describe('filters', () => {
  const now = new Date('2026-11-23T12:00:00.000Z');
  it('--since takes durations and dates', () => {
    expect(parseSince('2d', now).toISOString()).toBe('2026-11-21T12:00:00.000Z');
    expect(parseSince('90m', now).toISOString()).toBe('2026-11-23T10:30:00.000Z');
    expect(parseSince('2026-11-22', now).toISOString()).toBe('2026-11-22T00:00:00.000Z');
    expect(() => parseSince('yesterday-ish', now)).toThrow(/neither a duration nor a date/);
    expect(filterRuns(RUNS, { since: parseSince('2d', now) }).map((r) => r.id)).toEqual(['run-c', 'run-d']);
  });

  it('--last, --op and --worktree pick runs; --op also narrows the operations', () => {
    expect(filterRuns(RUNS, { last: 2 }).map((r) => r.id)).toEqual(['run-c', 'run-d']);
    expect(filterRuns(RUNS, { worktree: 'feat-a' }).map((r) => r.id)).toEqual(['run-a', 'run-c']);
    const byOp = buildStats(RUNS, { op: 'npm-install' });
    expect(byOp.runs.matched).toBe(1);
    expect(byOp.operations).toEqual([{ name: 'npm-install', count: 1, avg: 150, min: 150, max: 150, p50: 150, p95: 150, total: 150 }]);
    expect(byOp.waterfall?.runId).toBe('run-b');
    expect(byOp.totalTime).toBe(200);
  });

  it('--run picks a run by id or unique prefix and refuses unknown or ambiguous ones', () => {
    expect(buildStats(RUNS, {}, { runId: 'run-b' }).waterfall?.rows.some((r) => r.background)).toBe(true);
    expect(() => buildStats(RUNS, {}, { runId: 'run-' })).toThrow(/5 runs start with 'run-'/);
    expect(() => buildStats(RUNS, {}, { runId: 'nope' })).toThrow(/no recorded run/);
  });
});

describe('git vtree stats (the built command in a real repository)', () => {
  let repo: string;
  let metricsFile: string;
  const vtree = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [BIN, 'stats', ...args], { cwd: repo, env: { ...process.env, COLUMNS: '120' } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const writeMetrics = (content: string) => writeFile(metricsFile, content);

  beforeAll(async () => {
    repo = await mkdtemp(join(tmpdir(), 'vtree-stats-'));
    await execFileAsync('git', ['init', '-q', repo]);
    await mkdir(join(repo, '.git', 'vibetrees'), { recursive: true });
    metricsFile = join(repo, '.git', 'vibetrees', 'metrics.json');
  });
  afterAll(async () => {
    await rm(repo, { recursive: true, force: true });
  });

  it('says so in one friendly line when nothing was recorded yet', async () => {
    const missing = await vtree();
    expect(missing).toMatchObject({ code: 0, stderr: '' });
    expect(missing.stdout.trim().split('\n')).toHaveLength(1);
    expect(missing.stdout).toMatch(/^No runs recorded yet .*git vtree add <branch>/);

    await writeMetrics(JSON.stringify({ schema: 1, runs: [] } satisfies MetricsFile));
    const empty = await vtree();
    expect(empty.stdout).toMatch(/^No runs recorded yet/);

    const json = JSON.parse((await vtree('--json')).stdout) as StatsReport;
    expect(json).toMatchObject({ schema: STATS_SCHEMA, runs: { recorded: 0, matched: 0, failed: 0, refused: 0 }, totalTime: 0, avgWorktreeCreation: 0, operations: [], commands: [], waterfall: null });
  });

  it('moves a corrupt file aside with a warning and still answers', async () => {
    await writeMetrics('{"schema": 1, "runs": [');
    const result = await vtree();
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^warning: .*metrics\.json cannot be parsed .*moved it to .*metrics\.json\.corrupt-/);
    expect(result.stdout).toMatch(/^No runs recorded yet/);
    const files = await readdir(join(repo, '.git', 'vibetrees'));
    expect(files.filter((f) => f.startsWith('metrics.json.corrupt-'))).toHaveLength(1);
    expect(files).not.toContain('metrics.json');

    await writeMetrics(JSON.stringify({ schema: 99, runs: 'no' }));
    const unknown = await vtree('--json');
    expect(unknown.stderr).toMatch(/has an unknown shape/);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ runs: { recorded: 0 } });
  });

  it('skips malformed runs with one warning and reports the rest', async () => {
    const bad = [null, 'run', { id: 'x' }, { ...RUNS[0]!, id: 'bad-span', spans: [{ name: 3 }] }, { ...RUNS[0]!, id: 'bad-date', startedAt: 'yesterday' }, { ...RUNS[0]!, id: 'bad-duration', duration: 'slow' }];
    await writeMetrics(JSON.stringify({ schema: 1, runs: [...bad, ...RUNS] }));
    const text = await vtree();
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toMatch(/^warning: skipped 6 malformed run\(s\) in .*metrics\.json\n$/);
    expect(text.stdout).toMatch(/5 of 5 runs/);
    const json = JSON.parse((await vtree('--json')).stdout) as StatsReport;
    expect(json.runs.recorded).toBe(5);
    // Reading does not rewrite the file: the malformed runs are still there for whoever wrote them.
    expect(JSON.parse(await readFile(metricsFile, 'utf8')).runs).toHaveLength(bad.length + RUNS.length);
  });

  it('prints tables and the waterfall, and --json has the documented shape', async () => {
    await writeMetrics(JSON.stringify({ schema: 1, runs: RUNS } satisfies MetricsFile));
    const text = await vtree('--run', 'run-a');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/5 of 5 runs \(1 failed\)/);
    expect(text.stdout).toMatch(/│ add\s+│ 3\s+│ 117 ms\s+│ 100 ms\s+│ 190 ms\s+│ 50 ms\s+│ 200 ms\s+│ 1\s+│/);
    expect(text.stdout).toMatch(/│ deps-restore\s+│ 2\s+│ 115 ms\s+│ 115 ms\s+│ 165 ms\s+│ 60 ms\s+│ 170 ms\s+│/);
    expect(text.stdout).toMatch(/│ hit\s+│ 1\s+│ 50%\s+│ 100 ms\s+│/);
    expect(text.stdout).toContain('Median run, warm (hit/seed) 100 ms (1 runs) vs cold (partial/miss) 200 ms (1 runs): cold takes 2× as long');
    expect(text.stdout).toContain('Run run-a · add feat-a');
    expect(text.stdout).toContain('critical path: resolve-repo → resolve-branch → claim-path → deps-restore → write-state');

    const json = JSON.parse((await vtree('--json', '--worktree', 'feat-a')).stdout) as StatsReport;
    expect(Object.keys(json)).toEqual(['schema', 'generatedAt', 'filter', 'runs', 'totalTime', 'avgWorktreeCreation', 'operations', 'commands', 'deps', 'creations', 'recent', 'benchmarks', 'waterfall']);
    expect(json.filter).toEqual({ worktree: 'feat-a' });
    expect(json.runs).toMatchObject({ recorded: 5, matched: 2 });
    expect(json.totalTime).toBe(140);
    expect(json.commands.map((c) => c.command)).toEqual(['add', 'rm']);
    expect(Object.keys(json.operations[0]!)).toEqual(['name', 'count', 'avg', 'min', 'max', 'p50', 'p95', 'total']);
    expect(json.waterfall).toMatchObject({ runId: 'run-c', command: 'rm', duration: 40 });
    expect(Object.keys(json.waterfall!.rows[0]!).sort()).toEqual(['background', 'critical', 'depth', 'duration', 'id', 'name', 'ok', 'parent', 'runId', 'start'].sort());
  });

  it('reads what a real `git vtree add` recorded', async () => {
    const real = await mkdtemp(join(tmpdir(), 'vtree-stats-real-'));
    try {
      const app = join(real, 'app');
      await execFileAsync('git', ['init', '-q', '-b', 'main', app]);
      await writeFile(join(app, 'README.md'), '# app\n');
      await execFileAsync('git', ['add', '-A'], { cwd: app });
      await execFileAsync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.com', 'commit', '-qm', 'init'], { cwd: app });
      const added = JSON.parse((await execFileAsync(process.execPath, [BIN, 'add', 'feat/x', '--json'], { cwd: app })).stdout) as { runId: string; duration: number };
      const { stdout } = await execFileAsync(process.execPath, [BIN, 'stats', '--json'], { cwd: app });
      const report = JSON.parse(stdout) as StatsReport;
      expect(report.commands.find((c) => c.command === 'add')).toMatchObject({ count: 1, p50: added.duration, failed: 0, refused: 0 });
      // A refused add (the branch is checked out already: exit 2, nothing done) is neither a failure nor a timing.
      const refused = await execFileAsync(process.execPath, [BIN, 'add', 'feat/x'], { cwd: app }).catch((e: { code: number }) => e);
      expect(refused.code).toBe(2);
      const metrics = JSON.parse(await readFile(join(app, '.git', 'vibetrees', 'metrics.json'), 'utf8')) as MetricsFile;
      expect(metrics.runs.at(-1)).toMatchObject({ command: 'add', ok: false, refused: true });
      const after = JSON.parse((await execFileAsync(process.execPath, [BIN, 'stats', '--json'], { cwd: app })).stdout) as StatsReport;
      expect(after.commands.find((c) => c.command === 'add')).toMatchObject({ count: 1, min: added.duration, avg: added.duration, p50: added.duration, failed: 0, refused: 1 });
      expect(after.runs).toMatchObject({ matched: 2, failed: 0, refused: 1 });
      expect(after.operations.find((o) => o.name === 'resolve-repo')).toMatchObject({ count: 1 });
      expect((await execFileAsync(process.execPath, [BIN, 'stats'], { cwd: app })).stdout).toMatch(/2 of 2 runs \(1 refused as bad input\)/);
      expect(report.avgWorktreeCreation).toBe(added.duration);
      expect(report.operations.find((o) => o.name === 'git-worktree-add')).toMatchObject({ count: 1 });
      expect(report.waterfall).toMatchObject({ runId: added.runId, command: 'add', branch: 'feat/x' });
      // The critical path is a chain back from the step that ended last, each ending before the next starts.
      const top = report.waterfall!.rows.filter((r) => r.depth === 0 && !r.background);
      const lastEnding = top.reduce((a, b) => (b.start + b.duration > a.start + a.duration ? b : a));
      expect(report.waterfall!.criticalPath.at(-1)).toBe(lastEnding.name);
      const chain = report.waterfall!.criticalPath.map((name) => top.find((r) => r.name === name)!);
      for (let i = 1; i < chain.length; i++) expect(chain[i - 1]!.start + chain[i - 1]!.duration).toBeLessThanOrEqual(chain[i]!.start + 0.001);
      expect(chain[0]!.name).toBe('resolve-repo');
      // Top-level steps overlap, so their sum may exceed the run; the run's own total never does.
      expect(report.waterfall!.busy).toBeLessThanOrEqual(report.waterfall!.duration);
      const text = (await execFileAsync(process.execPath, [BIN, 'stats', '--worktree', 'feat-x'], { cwd: app })).stdout;
      expect(text).toContain(`Run ${added.runId} · add feat/x`);
    } finally {
      await execFileAsync('git', ['worktree', 'remove', '--force', join(real, 'app.worktrees', 'feat-x')], { cwd: join(real, 'app') }).catch(() => undefined);
      await rm(real, { recursive: true, force: true });
    }
  });

  it('says when a filter leaves nothing, and rejects bad filter values with a hint', async () => {
    await writeMetrics(JSON.stringify({ schema: 1, runs: RUNS } satisfies MetricsFile));
    const none = await vtree('--since', '1h');
    expect(none).toMatchObject({ code: 0 });
    expect(none.stdout).toMatch(/^No run matches --since 1h \(5 runs recorded in all\)/);
    const bad = await vtree('--since', 'someday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since: 'someday' is neither a duration nor a date\nhint: git vtree stats --since 7d/);
    expect((await vtree('--last', '0')).code).toBe(2);
    const unknownRun = await vtree('--run', 'zzz');
    expect(unknownRun.code).toBe(2);
    expect(unknownRun.stderr).toMatch(/no recorded run has the id 'zzz'/);
  });
});
