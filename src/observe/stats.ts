import { basename } from 'node:path';
import type { BenchFacts } from './bench-facts.js';
import { durationMs } from '../core/duration.js';
import { UsageError } from '../core/errors.js';
import type { RunRecord } from './metrics.js';
import { aggregateSpans, summarize, type SpanAggregate } from '../core/profiler.js';
import { layoutWaterfall, unionLength, type Waterfall } from './waterfall.js';

/** Version of the `git vtree stats --json` document; docs/performance.md describes it. */
export const STATS_SCHEMA = 1;

/** Which runs `stats` looks at. */
export interface StatsFilter {
  /** Only runs started at or after this time (`--since`). */
  since?: Date;
  /** Only the newest n runs left after the other filters (`--last`). */
  last?: number;
  /** Only this operation (span name) in the operations table, and only runs that have it (`--op`). */
  op?: string;
  /** Only runs of this worktree: slug, branch or directory name (`--worktree`). */
  worktree?: string;
}

/** count, avg, min, max, p50, p95 and total of a set of durations (ms). */
export type Summary = Omit<SpanAggregate, 'name'>;

/** Whole-run timings of one command. */
export interface CommandSummary extends Summary {
  command: string;
  failed: number;
  /** Refused as bad input (exit code 2): counted apart, and out of the timings. */
  refused: number;
}

/** The dependency sources `add` records in `facts.deps.source`, cheapest first (`remote`: pulled from a registry). */
export const DEPS_SOURCES = ['hit', 'remote', 'seed', 'partial', 'miss'] as const;
type DepsSource = (typeof DEPS_SOURCES)[number];

/** Warm: no package manager ran (a cache entry or a worktree was linked). Cold: it did. */
const DEPS_WARMTH = { hit: 'warm', remote: 'warm', seed: 'warm', partial: 'cold', miss: 'cold' } as const satisfies Record<DepsSource, 'warm' | 'cold'>;

/** How dependencies were obtained across set-up runs, with run-time medians per source. */
export interface DepsMix {
  /** Set-up runs (`add`, `hook`, `setup`) that recorded a dependency source. */
  runs: number;
  sources: Array<{ source: string; count: number; share: number; p50: number }>;
  warm: { count: number; p50: number };
  cold: { count: number; p50: number };
  /** cold p50 / warm p50, or null when either side has no runs. */
  ratio: number | null;
}

/** One worktree creation (`add` or `hook` run), for the chart of creation times. */
export interface CreationPoint {
  id: string;
  command: string;
  startedAt: string;
  duration: number;
  ok: boolean;
  depsSource?: string;
}

/** A line of the recent-runs list. */
export interface RunLine {
  id: string;
  command: string;
  startedAt: string;
  duration: number;
  ok: boolean;
  branch?: string;
  slug?: string;
}

/** One `git vtree bench` invocation, from its run's facts. */
export interface BenchLine {
  id: string;
  startedAt: string;
  runs: number;
  before: number;
  vtree: number;
  speedup: number;
}

/** The `git vtree stats --json` document (schema {@link STATS_SCHEMA}). */
export interface StatsReport {
  schema: number;
  generatedAt: string;
  filter: { since?: string; last?: number; op?: string; worktree?: string; run?: string };
  /** Runs in the file, runs left after the filters, and the first and last start time among those. */
  runs: { recorded: number; matched: number; failed: number; refused: number; first?: string; last?: string };
  /**
   * Wall-clock time (ms) during which at least one matched run was running: runs that overlap
   * (a background job beside its `add`, the `add`s inside a `bench`) count once; spans are never added up.
   */
  totalTime: number;
  /** Mean wall-clock duration of successful `add` and `hook` runs (ms); 0 when there are none. */
  avgWorktreeCreation: number;
  /** Per span name, over the matched runs except `bench` ones (whose spans repeat whole `add` runs) unless `op` is set. */
  operations: SpanAggregate[];
  commands: CommandSummary[];
  deps: DepsMix;
  /** The newest 30 worktree creations, oldest first. */
  creations: CreationPoint[];
  /** The newest 10 matched runs, newest first. */
  recent: RunLine[];
  benchmarks: BenchLine[];
  /** The latest matched run (or `--run`), laid out; null when there is none. */
  waterfall: Waterfall | null;
}

/** The dashboard's `GET /api/performance/metrics` answer (the seed plan's shape plus p50/p95). */
export interface PerformanceMetrics {
  operations: SpanAggregate[];
  totalTime: number;
  avgWorktreeCreation: number;
}

const COMMAND_ORDER = ['add', 'hook', 'setup', 'rm', 'bench', 'services', 'tasks'];
const CREATION_COMMANDS = new Set(['add', 'hook']);
const SETUP_COMMANDS = new Set(['add', 'hook', 'setup']);

/** Reads `--since`: a duration back from `now` (`90s`, `30m`, `12h`, `7d`, `2w`) or a date. */
export function parseSince(text: string, now = new Date()): Date {
  const ago = durationMs(text);
  if (ago !== undefined) return new Date(now.getTime() - ago);
  const date = Date.parse(text);
  if (!Number.isNaN(date)) return new Date(date);
  throw new UsageError(`--since: '${text}' is neither a duration nor a date`, 'git vtree stats --since 7d   (or 12h, 30m, or a date like 2026-11-01)');
}

/** Reads `--last`: a whole number of runs, at least 1. */
export function parseLast(value: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--last must be a whole number of runs, at least 1, not '${String(value)}'`, 'git vtree stats --last 20');
  return n;
}

/**
 * The runs that pass `filter`, in the order they finished (start + duration): "the latest run"
 * is the one that just ended, even when it started before others (a `bench` run contains whole
 * `add` runs). The file itself is in the order of the appends, which can differ under contention.
 */
export function filterRuns(runs: readonly RunRecord[], filter: StatsFilter): RunRecord[] {
  const since = filter.since?.getTime();
  const matched = sortByEnd(runs).filter(
    (run) =>
      (since === undefined || Date.parse(run.startedAt) >= since) &&
      (filter.worktree === undefined || belongsTo(run, filter.worktree)) &&
      (filter.op === undefined || run.spans.some((s) => s.name === filter.op)),
  );
  return filter.last === undefined ? matched : matched.slice(-filter.last);
}

function belongsTo(run: RunRecord, worktree: string): boolean {
  return run.slug === worktree || run.branch === worktree || (run.path !== undefined && (run.path === worktree || basename(run.path) === worktree));
}

function sortByEnd(runs: readonly RunRecord[]): RunRecord[] {
  return runs
    .map((run, index) => ({ run, index, at: Date.parse(run.startedAt) + run.duration }))
    .sort((a, b) => (a.at - b.at) || (a.index - b.index))
    .map(({ run }) => run);
}

/** A run that failed at its work, not one refused as bad input before doing anything. */
const failedRun = (run: RunRecord): boolean => !run.ok && !run.refused;

/** Whole-run summaries per command, in the order add, hook, setup, rm, bench, then any other. */
export function commandSummaries(runs: readonly RunRecord[]): CommandSummary[] {
  const byCommand = new Map<string, RunRecord[]>();
  for (const run of runs) byCommand.set(run.command, [...(byCommand.get(run.command) ?? []), run]);
  const rank = (command: string) => (COMMAND_ORDER.includes(command) ? COMMAND_ORDER.indexOf(command) : COMMAND_ORDER.length);
  return [...byCommand]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([command, list]) => ({
      command,
      ...summarize(list.filter((r) => !r.refused).map((r) => r.duration)),
      failed: list.filter(failedRun).length,
      refused: list.filter((r) => r.refused).length,
    }));
}

/** Where set-up runs got their dependencies, and what that cost (median run duration). */
export function depsMix(runs: readonly RunRecord[]): DepsMix {
  const bySource = new Map<string, number[]>(DEPS_SOURCES.map((s) => [s, []]));
  for (const run of runs) {
    const source = depsSource(run);
    if (source === undefined || !SETUP_COMMANDS.has(run.command) || !run.ok) continue;
    bySource.set(source, [...(bySource.get(source) ?? []), run.duration]);
  }
  const total = [...bySource.values()].reduce((n, list) => n + list.length, 0);
  const side = (warmth: 'warm' | 'cold') => {
    const durations = DEPS_SOURCES.filter((s) => DEPS_WARMTH[s] === warmth).flatMap((s) => bySource.get(s) ?? []);
    return { count: durations.length, p50: summarize(durations).p50 };
  };
  const warm = side('warm');
  const cold = side('cold');
  return {
    runs: total,
    sources: [...bySource].map(([source, durations]) => ({
      source,
      count: durations.length,
      share: total === 0 ? 0 : Math.round((durations.length / total) * 1000) / 1000,
      p50: summarize(durations).p50,
    })),
    warm,
    cold,
    ratio: warm.count > 0 && cold.count > 0 && warm.p50 > 0 ? Math.round((cold.p50 / warm.p50) * 100) / 100 : null,
  };
}

function depsSource(run: RunRecord): string | undefined {
  const deps = run.facts.deps;
  const source = typeof deps === 'object' && deps !== null ? (deps as { source?: unknown }).source : undefined;
  return typeof source === 'string' ? source : undefined;
}

/** Benchmarks recorded by `git vtree bench` (runs with command `bench`). */
export function benchLines(runs: readonly RunRecord[]): BenchLine[] {
  return runs.flatMap((run) => {
    const facts = run.facts.bench as BenchFacts | undefined;
    if (run.command !== 'bench' || !facts?.before || !facts.vtree) return [];
    return [{ id: run.id, startedAt: run.startedAt, runs: facts.runs, before: facts.before.median, vtree: facts.vtree.median, speedup: facts.speedup }];
  });
}

/** Finds `--run`: an exact id or a unique prefix of one. */
export function findRun(runs: readonly RunRecord[], id: string): RunRecord {
  const exact = runs.find((r) => r.id === id);
  if (exact) return exact;
  const matches = runs.filter((r) => r.id.startsWith(id));
  if (matches.length === 1) return matches[0]!;
  const why = matches.length === 0 ? 'no recorded run has the id' : `${matches.length} runs start with`;
  throw new UsageError(`--run: ${why} '${id}'`, 'git vtree stats   (lists the recent runs with their ids)');
}

/**
 * Everything `stats` shows, computed from the recorded runs: the filters pick the runs, the
 * waterfall shows `runId` (looked up among all runs) or else the latest matched run.
 */
export function buildStats(allRuns: readonly RunRecord[], filter: StatsFilter = {}, options: { runId?: string; now?: Date } = {}): StatsReport {
  const runs = filterRuns(allRuns, filter);
  const shown = options.runId !== undefined ? findRun(allRuns, options.runId) : runs.filter((r) => r.linkedTo === undefined).at(-1) ?? runs.at(-1);
  // A bench run's spans time whole `add` runs that are recorded on their own: counted once, unless asked for by name.
  // A refused run (a typo, an existing branch) did nothing: its few milliseconds would pull the timings down.
  const worked = runs.filter((r) => !r.refused);
  const operationRuns = filter.op === undefined ? worked.filter((r) => r.command !== 'bench') : worked;
  const operations = aggregateSpans(operationRuns.flatMap((r) => r.spans)).filter((op) => filter.op === undefined || op.name === filter.op);
  const creations = worked.filter((r) => CREATION_COMMANDS.has(r.command));
  return {
    schema: STATS_SCHEMA,
    generatedAt: (options.now ?? new Date()).toISOString(),
    filter: {
      ...(filter.since ? { since: filter.since.toISOString() } : {}),
      ...(filter.last !== undefined ? { last: filter.last } : {}),
      ...(filter.op !== undefined ? { op: filter.op } : {}),
      ...(filter.worktree !== undefined ? { worktree: filter.worktree } : {}),
      ...(options.runId !== undefined ? { run: options.runId } : {}),
    },
    runs: {
      recorded: allRuns.length,
      matched: runs.length,
      failed: runs.filter(failedRun).length,
      refused: runs.filter((r) => r.refused).length,
      ...(runs.length > 0 ? { first: earliest(runs.map((r) => r.startedAt)), last: earliest(runs.map((r) => r.startedAt), -1) } : {}),
    },
    totalTime: round(unionLength(runs.map((r) => [Date.parse(r.startedAt), Date.parse(r.startedAt) + r.duration] as const))),
    avgWorktreeCreation: summarize(creations.filter((r) => r.ok).map((r) => r.duration)).avg,
    operations,
    commands: commandSummaries(runs),
    deps: depsMix(runs),
    creations: creations.slice(-30).map((r) => {
      const source = depsSource(r);
      return { id: r.id, command: r.command, startedAt: r.startedAt, duration: r.duration, ok: r.ok, ...(source ? { depsSource: source } : {}) };
    }),
    recent: runs
      .slice(-10)
      .reverse()
      .map((r) => ({
        id: r.id,
        command: r.command,
        startedAt: r.startedAt,
        duration: r.duration,
        ok: r.ok,
        ...(r.branch !== undefined ? { branch: r.branch } : {}),
        ...(r.slug !== undefined ? { slug: r.slug } : {}),
      })),
    benchmarks: benchLines(runs),
    waterfall: shown ? layoutWaterfall(shown, allRuns.filter((r) => r.linkedTo === shown.id)) : null,
  };
}

/** The dashboard API's answer, from a report. */
export function performanceMetrics(report: StatsReport): PerformanceMetrics {
  return { operations: report.operations, totalTime: report.totalTime, avgWorktreeCreation: report.avgWorktreeCreation };
}

/** The earliest ISO time of `times` (or, with `order` -1, the latest). */
function earliest(times: readonly string[], order: 1 | -1 = 1): string {
  return times.reduce((best, t) => (order * (Date.parse(t) - Date.parse(best)) < 0 ? t : best));
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
