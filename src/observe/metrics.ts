import { rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { reclaimDead, TEMP_FILE } from '../core/debris.js';
import { randomBytes } from 'node:crypto';
import { readJsonFile, writeFileAtomic } from '../core/files.js';
import { withLockShared } from '../core/lock.js';
import { lockPath, metricsPath } from '../core/paths.js';
import type { Span } from '../core/profiler.js';

/** Version of the metrics.json layout; docs/metrics.md describes each version. */
export const METRICS_SCHEMA = 1;

/** Which command produced a run. */
export type RunCommand = 'add' | 'hook' | 'setup' | 'rm' | 'bench' | 'services' | 'tasks' | 'deps';

/** One recorded command run. */
export interface RunRecord {
  id: string;
  command: RunCommand;
  /** ISO 8601 wall-clock start. */
  startedAt: string;
  /** Wall-clock length of the whole run in ms (not a sum of spans, which overlap). */
  duration: number;
  ok: boolean;
  error?: string;
  /** Refused as bad input (exit code 2: a typo, a branch checked out elsewhere): nothing was done. */
  refused?: true;
  branch?: string;
  slug?: string;
  path?: string;
  /** The id of the run this one continues (a background job started by `add`). */
  linkedTo?: string;
  /** What was done, for example `{ deps: { source: 'hit', linkMode: 'hardlink', files: 11843 } }`. */
  facts: Record<string, unknown>;
  spans: Span[];
  /** vtree version that wrote the run. */
  version: string;
}

/** The whole file. */
export interface MetricsFile {
  schema: number;
  runs: RunRecord[];
}

/** Default number of runs kept (config `vtree.metrics.maxRuns`). */
export const DEFAULT_MAX_RUNS = 1000;

/** A fresh run id: sortable by time, unique across concurrent processes. */
export function newRunId(now = new Date()): string {
  // Fixed width, so that ids sort as strings in time order.
  return `${now.getTime().toString(36).padStart(9, '0')}-${randomBytes(3).toString('hex')}`;
}

/**
 * Appends `run` to the repository's metrics file under a lock, keeping the newest `maxRuns`.
 * A corrupt or unreadable file is moved aside (`metrics.json.corrupt-<time>`) with a warning
 * through `warn`, and a new file started: metrics never break a command.
 */
export async function appendRun(
  commonDir: string,
  run: RunRecord,
  options: { maxRuns?: number; warn?: (message: string) => void } = {},
): Promise<void> {
  const maxRuns = Math.max(1, options.maxRuns ?? DEFAULT_MAX_RUNS);
  const file = metricsPath(commonDir);
  // Runs of this process ending while one waits for the lock (`prune`'s removals) are written together.
  await withLockShared(lockPath(commonDir, 'metrics'), run, async (turn) => {
    // Malformed runs are kept as they are: reading skips them, appending is no reason to drop them.
    const current = await readMetricsFile(commonDir, options.warn);
    const runs = [...current.runs, ...turn].slice(-maxRuns);
    await writeFileAtomic(file, JSON.stringify({ schema: METRICS_SCHEMA, runs } satisfies MetricsFile) + '\n', { durable: false });
    // Temp files of writes and locks a killed run left here (two readdirs of small directories).
    await Promise.all([reclaimDead(dirname(file), TEMP_FILE), reclaimDead(dirname(lockPath(commonDir, 'metrics')), TEMP_FILE)]);
    return turn.map(() => undefined);
  });
}

/**
 * Reads the metrics file for reports. Missing means no runs. An unparsable file, or one of
 * another shape, is moved aside and reported through `warn`, and an empty file is returned.
 * Runs that are not well-formed records (hand-edited, or from a broken writer) are skipped with
 * one warning: a report never crashes on one bad run.
 */
export async function readMetrics(commonDir: string, warn?: (message: string) => void): Promise<MetricsFile> {
  const file = await readMetricsFile(commonDir, warn);
  const runs = file.runs.filter(isRunRecord);
  const skipped = file.runs.length - runs.length;
  if (skipped > 0) warn?.(`skipped ${skipped} malformed run(s) in ${metricsPath(commonDir)}`);
  return { ...file, runs };
}

/** True when `value` has every field a report reads, with the right type. */
function isRunRecord(value: unknown): value is RunRecord {
  if (typeof value !== 'object' || value === null) return false;
  const run = value as Partial<RunRecord>;
  return (
    typeof run.id === 'string' &&
    typeof run.command === 'string' &&
    typeof run.startedAt === 'string' &&
    !Number.isNaN(Date.parse(run.startedAt)) &&
    Number.isFinite(run.duration) &&
    typeof run.ok === 'boolean' &&
    typeof run.facts === 'object' &&
    run.facts !== null &&
    Array.isArray(run.spans) &&
    run.spans.every(isSpan)
  );
}

function isSpan(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const span = value as Partial<Span>;
  return typeof span.name === 'string' && Number.isFinite(span.start) && Number.isFinite(span.duration) && typeof span.ok === 'boolean';
}

async function readMetricsFile(commonDir: string, warn?: (message: string) => void): Promise<MetricsFile> {
  const file = metricsPath(commonDir);
  let parsed: unknown;
  try {
    parsed = await readJsonFile<unknown>(file);
  } catch (error) {
    return moveAside(file, `cannot be parsed (${error instanceof Error ? error.message : String(error)})`, warn);
  }
  if (parsed === undefined) return { schema: METRICS_SCHEMA, runs: [] };
  if (!isMetricsFile(parsed)) return moveAside(file, 'has an unknown shape', warn);
  return parsed;
}

function isMetricsFile(value: unknown): value is MetricsFile {
  if (typeof value !== 'object' || value === null) return false;
  const { schema, runs } = value as Partial<MetricsFile>;
  return schema === METRICS_SCHEMA && Array.isArray(runs);
}

async function moveAside(file: string, why: string, warn?: (message: string) => void): Promise<MetricsFile> {
  const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    await rename(file, aside);
    warn?.(`${file} ${why}; moved it to ${aside} and started a new one`);
  } catch (error) {
    warn?.(`${file} ${why} and could not be moved aside: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { schema: METRICS_SCHEMA, runs: [] };
}
