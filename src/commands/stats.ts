import type { Args } from './spec.js';
import { ExitCode, UsageError } from '../core/errors.js';
import { readMetrics } from '../observe/metrics.js';
import { formatMs, type Io } from '../core/output.js';
import { metricsPath } from '../core/paths.js';
import { resolveRepo } from '../git/repo.js';
import { buildStats, parseLast, parseSince, type StatsFilter, type StatsReport } from '../observe/stats.js';
import { renderWaterfall } from '../observe/waterfall.js';

/** Port of the dashboard unless `--port` says otherwise. */
const DEFAULT_PORT = 7420;

/** `git vtree stats [--json] [--since] [--last] [--op] [--worktree] [--run] [--serve [--port]]`. */
export default async function stats(args: Args, io: Io): Promise<number> {
  const filter = readFilter(args);
  const runId = args.run === undefined ? undefined : String(args.run);
  const repo = await resolveRepo(process.cwd());
  if (args.serve) return serve(repo.commonDir, filter, args.port, io);

  const metrics = await readMetrics(repo.commonDir, io.warn);
  const report = buildStats(metrics.runs, filter, runId !== undefined ? { runId } : {});
  if (io.json) {
    io.out(JSON.stringify(report));
    return ExitCode.ok;
  }
  if (report.runs.recorded === 0) {
    io.out(`No runs recorded yet (${metricsPath(repo.commonDir)}): run \`git vtree add <branch>\`, then \`git vtree stats\` again.`);
    return ExitCode.ok;
  }
  if (report.runs.matched === 0 && !report.waterfall) {
    io.out(`No run matches ${describeFilter(args)} (${report.runs.recorded} runs recorded in all); widen or drop the filter.`);
    return ExitCode.ok;
  }
  io.out(await renderReport(report, process.stdout.columns || 100));
  return ExitCode.ok;
}

function readFilter(args: Args): StatsFilter {
  const filter: StatsFilter = {};
  if (args.since !== undefined) filter.since = parseSince(String(args.since));
  if (args.last !== undefined) filter.last = parseLast(args.last);
  if (args.op !== undefined) filter.op = String(args.op);
  if (args.worktree !== undefined) filter.worktree = String(args.worktree);
  return filter;
}

function describeFilter(args: Args): string {
  return (['since', 'last', 'op', 'worktree'] as const)
    .filter((key) => args[key] !== undefined)
    .map((key) => `--${key} ${String(args[key])}`)
    .join(' ');
}

/** The human report: tables (cli-table3, loaded only here) and the waterfall. */
/** ` (2 failed, 1 refused)`, or nothing when every run succeeded. */
function outcomes(runs: { failed: number; refused: number }): string {
  const parts = [runs.failed ? `${runs.failed} failed` : '', runs.refused ? `${runs.refused} refused as bad input` : ''].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

async function renderReport(report: StatsReport, columns: number): Promise<string> {
  const { default: Table } = await import('cli-table3');
  // Compact: no rule between rows, so a long operations table still fits on a screen.
  const style = { head: [], border: [] };
  const chars = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };
  const ms = (value: number) => formatMs(value);
  const sections: string[] = [];
  const { runs } = report;
  if (runs.first && runs.last) {
    sections.push(
      `${runs.matched} of ${runs.recorded} runs${outcomes(runs)}, ${minute(runs.first)} to ${minute(runs.last)}` +
        ` · wall-clock total ${ms(report.totalTime)}` +
        (report.avgWorktreeCreation > 0 ? ` · average worktree creation ${ms(report.avgWorktreeCreation)}` : ''),
    );
  }

  const summaryHead = ['count', 'avg', 'p50', 'p95', 'min', 'max'];
  const summaryCells = (s: { count: number; avg: number; p50: number; p95: number; min: number; max: number }) => [String(s.count), ms(s.avg), ms(s.p50), ms(s.p95), ms(s.min), ms(s.max)];

  if (report.commands.length > 0) {
    const table = new Table({ head: ['command (whole run)', ...summaryHead, 'failed', 'refused'], style, chars });
    for (const c of report.commands) table.push([c.command, ...summaryCells(c), String(c.failed), String(c.refused)]);
    sections.push(table.toString());
  }
  if (report.operations.length > 0) {
    const table = new Table({ head: ['operation (span)', ...summaryHead], style, chars });
    for (const op of report.operations) table.push([op.name, ...summaryCells(op)]);
    sections.push(table.toString());
  }
  const deps = report.deps;
  if (deps.runs > 0) {
    const table = new Table({ head: ['dependencies from', 'runs', 'share', 'p50 of run'], style, chars });
    for (const s of deps.sources) table.push([s.source, String(s.count), `${Math.round(s.share * 100)}%`, s.count ? ms(s.p50) : '-']);
    sections.push(table.toString());
    const side = (s: { count: number; p50: number }) => (s.count ? `${ms(s.p50)} (${s.count} runs)` : 'no runs');
    sections.push(`Median run, warm (hit/seed) ${side(deps.warm)} vs cold (partial/miss) ${side(deps.cold)}${deps.ratio !== null ? `: cold takes ${deps.ratio}× as long` : ''}`);
  }
  if (report.benchmarks.length > 0) {
    const table = new Table({ head: ['benchmark', 'runs', 'before (p50)', 'git vtree add (p50)', 'speed-up'], style, chars });
    for (const b of report.benchmarks) table.push([minute(b.startedAt), String(b.runs), ms(b.before), ms(b.vtree), `${b.speedup}×`]);
    sections.push(table.toString());
  }
  if (report.recent.length > 0) {
    const table = new Table({ head: ['recent run', 'command', 'worktree', 'started', 'duration', 'ok'], style, chars });
    for (const r of report.recent) table.push([r.id, r.command, r.branch ?? r.slug ?? '-', r.startedAt.slice(0, 19).replace('T', ' '), ms(r.duration), r.ok ? 'yes' : 'FAILED']);
    sections.push(table.toString());
  }
  if (report.waterfall) sections.push(renderWaterfall(report.waterfall, columns));
  return sections.join('\n\n');
}

function minute(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ');
}

/** `--serve`: the dashboard until Ctrl-C. */
async function serve(commonDir: string, filter: StatsFilter, portArg: unknown, io: Io): Promise<number> {
  const port = portArg === undefined ? DEFAULT_PORT : Number(portArg);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0-65535), not '${String(portArg)}'`, 'git vtree stats --serve --port 7420');
  const [{ startDashboard }, { readControlRoom }] = await Promise.all([import('../observe/dashboard.js'), import('../pipelines/control-room.js')]);
  const cwd = process.cwd();
  const dashboard = await startDashboard({ commonDir, port, filter, worktrees: () => readControlRoom(cwd), warn: io.warn });
  if (io.json) io.out(JSON.stringify({ url: dashboard.url }));
  else io.out(`Dashboard on ${dashboard.url} (only this machine can reach it); Ctrl-C stops it.`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await dashboard.close();
  return ExitCode.ok;
}
