import { errorMessage } from '../errors.js';
import { appendRun, DEFAULT_MAX_RUNS, type RunCommand, type RunRecord } from '../metrics.js';
import type { Profiler } from '../profiler.js';
import { VERSION } from '../version.js';
import type { RepoStage } from './context.js';

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
  if (summary.branch !== undefined) record.branch = summary.branch;
  if (summary.slug !== undefined) record.slug = summary.slug;
  if (summary.path !== undefined) record.path = summary.path;
  if (summary.linkedTo !== undefined) record.linkedTo = summary.linkedTo;
  return record;
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
