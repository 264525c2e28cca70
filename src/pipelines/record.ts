import { errorMessage, ExitCode, VtreeError } from '../core/errors.js';
import { runGraph, TaskFailedError, type Task } from '../core/graph.js';
import { appendRun, DEFAULT_MAX_RUNS, type RunCommand, type RunRecord } from '../observe/metrics.js';
import type { Profiler } from '../core/profiler.js';
import { VERSION } from '../core/version.js';
import type { RepoStage } from '../features/feature.js';
import { RESOLVE_REPO } from './repo-stage.js';

/** Identity and facts of a run to record. */
export interface RunSummary {
  id: string;
  command: RunCommand;
  profiler: Profiler;
  error?: unknown;
  branch?: string;
  slug?: string;
  path?: string;
  linkedTo?: string;
  facts: Record<string, unknown>;
}

/** Builds the metrics record of a finished run; spans still open are closed as failed. */
export function toRunRecord(summary: RunSummary): RunRecord {
  const { profiler, error } = summary;
  if (error !== undefined) profiler.closeOpen(error);
  const record: RunRecord = {
    id: summary.id,
    command: summary.command,
    startedAt: profiler.startedAt.toISOString(),
    duration: profiler.now(),
    ok: error === undefined,
    facts: summary.facts,
    spans: profiler.list(),
    version: VERSION,
  };
  if (error !== undefined) record.error = errorMessage(error);
  if (exitCodeOf(error) === ExitCode.usage) record.refused = true;
  if (summary.branch !== undefined) record.branch = summary.branch;
  if (summary.slug !== undefined) record.slug = summary.slug;
  if (summary.path !== undefined) record.path = summary.path;
  if (summary.linkedTo !== undefined) record.linkedTo = summary.linkedTo;
  return record;
}

/** The exit code the command ends with for `error` (a task's failure carries the task's error). */
function exitCodeOf(error: unknown): number | undefined {
  const root = error instanceof TaskFailedError ? error.cause : error;
  return root instanceof VtreeError ? root.exitCode : undefined;
}

/**
 * Appends the run to `.git/vibetrees/metrics.json`. Metrics never fail a command: a write error
 * becomes a warning.
 */
export async function recordRun(where: RepoStage, record: RunRecord, warn: (line: string) => void): Promise<void> {
  try {
    const maxRuns = where.config.integer('vtree.metrics.maxRuns', DEFAULT_MAX_RUNS);
    await appendRun(where.repo.commonDir, record, { maxRuns, warn });
  } catch (error) {
    warn(`could not record this run in metrics.json: ${errorMessage(error)}`);
  }
}

/** What every pipeline's shared context has, so {@link runRecorded} can record its run. */
export interface RecordedShared {
  runId: string;
  facts: Record<string, unknown>;
  warn(line: string): void;
}

/** What {@link runRecorded} needs besides the tasks. */
export interface RecordedRunOptions<C extends RecordedShared> {
  command: RunCommand;
  profiler: Profiler;
  shared: C;
  signal?: AbortSignal;
  /** The graph's name in its failpoints (core/failpoint.ts); default: `command`. */
  failpoints?: string;
  /** Branch, slug and path of the run, from the results of the tasks that completed. */
  identify: (results: ReadonlyMap<string, unknown>) => Pick<RunSummary, 'branch' | 'slug' | 'path'>;
}

/**
 * Runs a pipeline's task graph and appends the run, failed or not, to the metrics of the
 * repository its `resolve-repo` task found (a run that failed before finding one cannot be
 * recorded anywhere). Rethrows the failure after recording it.
 */
export async function runRecorded<C extends RecordedShared>(
  tasks: readonly Task<C>[],
  options: RecordedRunOptions<C>,
): Promise<{ results: Map<string, unknown>; record: RunRecord }> {
  const { profiler, shared, signal } = options;
  let results: Map<string, unknown> | undefined;
  let failure: unknown;
  try {
    results = await runGraph(tasks, { shared, profiler, failpoints: options.failpoints ?? options.command, ...(signal ? { signal } : {}) });
  } catch (error) {
    failure = error;
  }
  const known = results ?? (failure instanceof TaskFailedError ? failure.results : new Map<string, unknown>());
  const record = toRunRecord({ id: shared.runId, command: options.command, profiler, error: failure, facts: shared.facts, ...options.identify(known) });
  const where = known.get(RESOLVE_REPO) as RepoStage | undefined;
  if (where) await recordRun(where, record, shared.warn);
  if (failure !== undefined) throw failure;
  return { results: results!, record };
}

/** An `identify` for {@link runRecorded}: the branch, slug and path that task `name` returned, if it completed. */
export function identifiedBy(name: string): RecordedRunOptions<RecordedShared>['identify'] {
  return (known) => {
    const found = known.get(name) as { branch?: string; slug?: string; path?: string } | undefined;
    return { branch: found?.branch, slug: found?.slug, path: found?.path };
  };
}

/** The top-level steps of a run, for `--json` output. */
export function topLevelSteps(record: RunRecord): Array<{ name: string; start: number; duration: number; ok: boolean; detail?: Record<string, unknown> }> {
  return record.spans
    .filter((s) => s.parent === null)
    .map(({ name, start, duration, ok, detail }) => ({ name, start, duration, ok, ...(detail ? { detail } : {}) }));
}
