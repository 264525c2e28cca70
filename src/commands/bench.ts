import type { Args } from './spec.js';
import type { BenchSide } from '../observe/bench-facts.js';
import { runBench, type BenchResult } from '../pipelines/bench.js';
import type { RemoteBenchResult } from '../pipelines/bench-remote.js';
import type { DataBenchResult } from '../pipelines/seed.js';
import { ExitCode, UsageError } from '../core/errors.js';
import { withInterrupts } from '../core/interrupt.js';
import { formatBytes, formatMs, type Io } from '../core/output.js';

/** `git vtree bench [--runs N] [--keep] [--json]`, `git vtree bench --remote [--runs N] [--json]` and `git vtree bench --data [--runs N] [--json]`. */
export default async function bench(args: Args, io: Io): Promise<number> {
  const request = { cwd: process.cwd(), runs: Number(args.runs ?? 5), log: io.log, warn: io.warn };
  if (args.data) {
    if (args.remote || args.keep) throw new UsageError('--data goes with neither --remote nor --keep', 'git vtree bench --data --runs 3');
    const { benchSeedData } = await import('../pipelines/seed.js');
    // Approvals are asked for as `git vtree seed` asks (a terminal, not --json).
    const result = await withInterrupts((signal) => benchSeedData({ ...request, interactive: !io.json, signal }), io.warn);
    io.out(io.json ? JSON.stringify(result) : await dataReport(result));
    return ExitCode.ok;
  }
  if (args.remote) {
    if (args.keep) throw new UsageError('--keep does not go with --remote: its clones are always removed', 'git vtree bench --remote --runs 3');
    const { runRemoteBench } = await import('../pipelines/bench-remote.js');
    const result = await withInterrupts((signal) => runRemoteBench({ ...request, signal }), io.warn);
    io.out(io.json ? JSON.stringify(result) : await remoteReport(result));
    // A round that failed is in the report; the exit status says so too.
    return result.rows.some((r) => r.errors.length > 0) ? ExitCode.failed : ExitCode.ok;
  }
  // After Ctrl-C, what the run made has been removed by the time withInterrupts rethrows.
  const result = await withInterrupts((signal) => runBench({ ...request, keep: Boolean(args.keep), signal }), io.warn);
  io.out(io.json ? JSON.stringify(result) : await report(result));
  return ExitCode.ok;
}

/** A cli-table3 table in the style of every `bench` table (cli-table3 loaded only here). */
async function table(head: string[]) {
  const { default: Table } = await import('cli-table3');
  return new Table({ head, style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } });
}

async function report(result: BenchResult): Promise<string> {
  const totals = await table(['', 'median', 'min', 'max', 'runs']);
  const row = (label: string, s: BenchSide) => [label, formatMs(s.median), formatMs(s.min), formatMs(s.max), s.durations.map(formatMs).join(', ')];
  const beforeLabel = ['git worktree add', result.install, result.compose ? 'docker compose up -d' : null].filter(Boolean).join(' + ');
  totals.push(row(`before: ${beforeLabel}`, result.before), row('git vtree add', result.vtree));
  // vtree's steps run concurrently: their medians do not add up to its total, unlike "before"'s.
  const phases = await table(['phase (median)', 'before (one after another)', 'git vtree add (overlapping)']);
  for (const p of result.before.phases) phases.push([p.name, formatMs(p.median), '']);
  for (const p of result.vtree.phases) phases.push([p.name, '', formatMs(p.median)]);
  const sources = [...new Set(result.vtree.depsSources)].map((s) => `${s} ×${result.vtree.depsSources.filter((x) => x === s).length}`).join(', ');
  return [
    totals.toString(),
    `Speed-up: ${result.speedup}× (median before / median git vtree add)${sources ? ` · dependencies in git vtree add: ${sources}` : ''}`,
    phases.toString(),
    ...(result.compose ? ['git vtree add starts the Compose stack in the background: the user does not wait for it, so it is not in its time.'] : []),
    result.kept.length > 0 ? `Kept: ${result.kept.join(', ')} (remove with \`git vtree rm <path> -d\`, or \`git worktree remove\` for the "before" ones)` : `Recorded as run ${result.runId}: \`git vtree stats --run ${result.runId}\` draws it.`,
  ].join('\n');
}

async function dataReport(result: DataBenchResult): Promise<string> {
  const rows = await table(['', 'median', 'min', 'max', 'runs']);
  for (const r of result.rows) rows.push([r.label, formatMs(r.median), formatMs(r.min), formatMs(r.max), r.durations.map(formatMs).join(', ')]);
  return [
    rows.toString(),
    `Speed-up: ${result.speedup}× (median migrate + seed / median seeded clone) · volume ${result.volume}, golden ${result.key.slice(0, 12)} (${formatBytes(result.goldenBytes)}), ${result.mode}`,
    'Each row ends when the data is there to query: the service answers its healthcheck (and, for migrate + seed, the seed command has finished).',
  ].join('\n');
}

async function remoteReport(result: RemoteBenchResult): Promise<string> {
  const rows = await table(['', 'median', 'min', 'max', 'n', '× warm cache', 'bytes moved']);
  for (const r of result.rows) {
    const times = r.durations.length > 0 ? [formatMs(r.median), formatMs(r.min), formatMs(r.max)] : ['-', '-', '-'];
    const bytes = r.medianBytes === null ? '-' : r.id === 'warm-cache' ? '0 (cache warm)' : formatBytes(r.medianBytes);
    rows.push([r.label, ...times, String(r.durations.length), r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`, bytes]);
  }
  const { target } = result;
  return [
    rows.toString(),
    ...result.rows.flatMap((r) => [...new Set(r.errors)].map((e) => `${r.id}: ${r.errors.filter((x) => x === e).length} of ${result.runs} round(s) failed: ${e}`)),
    `Target: ${target.target}: ${target.status}${target.value === null ? '' : ` (${target.value.toFixed(2)}x)`}`,
    `Recorded as run ${result.runId}: \`git vtree stats --run ${result.runId}\` draws it.`,
  ].join('\n');
}
