import type { Args } from './spec.js';
import type { BenchSide } from '../observe/bench-facts.js';
import { runBench } from '../pipelines/bench.js';
import { ExitCode } from '../core/errors.js';
import { withInterrupts } from '../core/interrupt.js';
import { formatMs, type Io } from '../core/output.js';

/** `git vtree bench [--runs N] [--keep] [--json]`. */
export default async function bench(args: Args, io: Io): Promise<number> {
  const request = { cwd: process.cwd(), runs: Number(args.runs ?? 5), keep: Boolean(args.keep), log: io.log, warn: io.warn };
  // After Ctrl-C, what the run made has been removed by the time withInterrupts rethrows.
  const result = await withInterrupts((signal) => runBench({ ...request, signal }), io.warn);
  if (io.json) {
    io.out(JSON.stringify(result));
    return ExitCode.ok;
  }
  const { default: Table } = await import('cli-table3');
  const style = { head: [], border: [] };
  const chars = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };
  const totals = new Table({ head: ['', 'median', 'min', 'max', 'runs'], style, chars });
  const row = (label: string, s: BenchSide) => [label, formatMs(s.median), formatMs(s.min), formatMs(s.max), s.durations.map(formatMs).join(', ')];
  const beforeLabel = ['git worktree add', result.install, result.compose ? 'docker compose up -d' : null].filter(Boolean).join(' + ');
  totals.push(row(`before: ${beforeLabel}`, result.before), row('git vtree add', result.vtree));
  // vtree's steps run concurrently: their medians do not add up to its total, unlike "before"'s.
  const phases = new Table({ head: ['phase (median)', 'before (one after another)', 'git vtree add (overlapping)'], style, chars });
  for (const p of result.before.phases) phases.push([p.name, formatMs(p.median), '']);
  for (const p of result.vtree.phases) phases.push([p.name, '', formatMs(p.median)]);
  const sources = [...new Set(result.vtree.depsSources)].map((s) => `${s} ×${result.vtree.depsSources.filter((x) => x === s).length}`).join(', ');
  io.out(
    [
      totals.toString(),
      `Speed-up: ${result.speedup}× (median before / median git vtree add)${sources ? ` · dependencies in git vtree add: ${sources}` : ''}`,
      phases.toString(),
      ...(result.compose ? ['git vtree add starts the Compose stack in the background: the user does not wait for it, so it is not in its time.'] : []),
      result.kept.length > 0 ? `Kept: ${result.kept.join(', ')} (remove with \`git vtree rm <path> -d\`, or \`git worktree remove\` for the "before" ones)` : `Recorded as run ${result.runId}: \`git vtree stats --run ${result.runId}\` draws it.`,
    ].join('\n'),
  );
  return ExitCode.ok;
}
