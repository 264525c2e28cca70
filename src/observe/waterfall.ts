import type { RunRecord } from './metrics.js';
import { formatMs } from '../core/output.js';

/** One bar of a waterfall: a span placed on the run's time axis. */
export interface WaterfallRow {
  /** The run the span belongs to: the shown run, or a background run linked to it. */
  runId: string;
  /** Span id, unique within its run. */
  id: number;
  parent: number | null;
  /** Nesting depth: 0 for a top-level span. */
  depth: number;
  name: string;
  /** ms from the start of the shown run. */
  start: number;
  duration: number;
  ok: boolean;
  /** A top-level span of the shown run on its critical path. */
  critical: boolean;
  /** Belongs to a linked background run (for example the Compose stack started after `add` returned). */
  background: boolean;
}

/** A run laid out for drawing. */
export interface Waterfall {
  runId: string;
  command: string;
  startedAt: string;
  branch?: string;
  ok: boolean;
  /** Wall-clock length of the run itself, as recorded (never a sum of spans). */
  duration: number;
  /** Length of the drawn time axis: the run, or its linked background runs if they end later. */
  extent: number;
  /** ms during which at least one top-level span of the run was running (the union of their intervals). */
  busy: number;
  /** Plain sum of the run's top-level span durations; more than `busy` when steps overlapped. */
  spanSum: number;
  /** Names of the top-level spans on the critical path, first to last. */
  criticalPath: string[];
  rows: WaterfallRow[];
}

/**
 * Lays out `run` (and the background runs linked to it) as rows in depth-first order, children
 * under their parent, siblings by start. The critical path is found backwards from the
 * top-level span that ends last: each step's predecessor is the top-level span that ended last
 * before it started, because the task graph starts a task the moment its last dependency ends.
 */
export function layoutWaterfall(run: RunRecord, linked: readonly RunRecord[] = []): Waterfall {
  const critical = criticalPath(run);
  const rows = orderRows(run, 0, false).map((row) => ({ ...row, critical: row.depth === 0 && critical.has(row.id) }));
  const origin = Date.parse(run.startedAt);
  for (const other of linked) {
    const offset = Math.max(0, Date.parse(other.startedAt) - origin);
    rows.push(...orderRows(other, Number.isFinite(offset) ? offset : run.duration, true));
  }
  const topLevel = run.spans.filter((s) => s.parent === null);
  const extent = Math.max(run.duration, ...rows.map((r) => r.start + r.duration));
  return {
    runId: run.id,
    command: run.command,
    startedAt: run.startedAt,
    ...(run.branch !== undefined ? { branch: run.branch } : {}),
    ok: run.ok,
    duration: run.duration,
    extent: round(extent),
    busy: round(unionLength(topLevel.map((s) => [s.start, s.start + s.duration] as const))),
    spanSum: round(topLevel.reduce((sum, s) => sum + s.duration, 0)),
    criticalPath: run.spans.filter((s) => s.parent === null && critical.has(s.id)).sort((a, b) => a.start - b.start).map((s) => s.name),
    rows,
  };
}

function orderRows(run: RunRecord, offset: number, background: boolean): WaterfallRow[] {
  const children = new Map<number | null, RunRecord['spans']>();
  const ids = new Set(run.spans.map((s) => s.id));
  for (const span of run.spans) {
    // A span whose parent is missing (a truncated record) is shown at top level rather than lost.
    const parent = span.parent !== null && ids.has(span.parent) ? span.parent : null;
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const rows: WaterfallRow[] = [];
  const visit = (parent: number | null, depth: number): void => {
    const list = [...(children.get(parent) ?? [])].sort((a, b) => a.start - b.start || a.id - b.id);
    for (const span of list) {
      rows.push({
        runId: run.id,
        id: span.id,
        parent: span.parent,
        depth,
        name: span.name,
        start: round(span.start + offset),
        duration: span.duration,
        ok: span.ok,
        critical: false,
        background,
      });
      visit(span.id, depth + 1);
    }
  };
  visit(null, 0);
  return rows;
}

function criticalPath(run: RunRecord): Set<number> {
  const topLevel = run.spans.filter((s) => s.parent === null);
  const end = (s: (typeof topLevel)[number]) => s.start + s.duration;
  const path = new Set<number>();
  let current = topLevel.reduce<(typeof topLevel)[number] | undefined>((best, s) => (!best || end(s) > end(best) || (end(s) === end(best) && s.duration > best.duration) ? s : best), undefined);
  while (current) {
    path.add(current.id);
    const startsAt = current.start;
    // Offsets are rounded to microseconds; allow for that when comparing an end with a start.
    current = topLevel
      .filter((s) => !path.has(s.id) && end(s) <= startsAt + 0.001)
      .reduce<(typeof topLevel)[number] | undefined>((best, s) => (!best || end(s) > end(best) ? s : best), undefined);
  }
  return path;
}

/** Total length covered by a set of intervals, counting overlaps once. */
export function unionLength(intervals: ReadonlyArray<readonly [number, number]>): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let from = -Infinity;
  let to = -Infinity;
  for (const [start, end] of sorted) {
    if (start > to) {
      if (to > from) total += to - from;
      from = start;
      to = end;
    } else {
      to = Math.max(to, end);
    }
  }
  if (to > from) total += to - from;
  return total;
}

/** Bar characters, by what a row is: the legend printed under the waterfall names them. */
const BAR = { critical: '█', step: '▓', nested: '▒', background: '░' } as const satisfies Record<string, string>;

/**
 * Draws a waterfall for a terminal: one line per span, a bar placed on a shared time axis so
 * overlapping steps are visible at a glance, critical-path steps in solid blocks.
 */
export function renderWaterfall(waterfall: Waterfall, columns = 100): string {
  const labelWidth = Math.min(34, Math.max(12, ...waterfall.rows.map((r) => r.depth * 2 + r.name.length + 2)));
  const barWidth = Math.max(20, Math.min(80, columns - labelWidth - 26));
  const scale = waterfall.extent > 0 ? barWidth / waterfall.extent : 0;
  // When background runs go on after the command returned, a dotted line marks where it did.
  const returnedAt = waterfall.extent > waterfall.duration ? Math.min(barWidth - 1, Math.round(waterfall.duration * scale)) : undefined;
  const lines = [
    `Run ${waterfall.runId} · ${waterfall.command}${waterfall.branch ? ` ${waterfall.branch}` : ''} · ${waterfall.startedAt.slice(0, 19).replace('T', ' ')} · ${formatMs(waterfall.duration)} wall clock${waterfall.ok ? '' : ' · FAILED'}`,
  ];
  for (const row of waterfall.rows) {
    const from = Math.min(barWidth - 1, Math.floor(row.start * scale));
    const to = Math.min(barWidth, Math.max(from + 1, Math.round((row.start + row.duration) * scale)));
    const char = row.background ? BAR.background : row.critical ? BAR.critical : row.depth > 0 ? BAR.nested : BAR.step;
    let bar = ' '.repeat(from) + char.repeat(to - from) + ' '.repeat(barWidth - to);
    if (returnedAt !== undefined && bar[returnedAt] === ' ') bar = `${bar.slice(0, returnedAt)}${RETURNED}${bar.slice(returnedAt + 1)}`;
    const label = `${'  '.repeat(row.depth)}${row.name}${row.ok ? '' : ' ✗'}`;
    lines.push(`${fit(label, labelWidth)} │${bar}│ ${formatMs(row.start).padStart(7)} +${formatMs(row.duration)}`);
  }
  const axisEnd = formatMs(waterfall.extent);
  lines.push(`${' '.repeat(labelWidth)} 0${axisEnd.padStart(barWidth + 1)}`);
  lines.push(`${BAR.critical} critical path: ${waterfall.criticalPath.join(' → ') || '-'}`);
  const legend = [`${BAR.step} other step`, `${BAR.nested} nested`];
  if (waterfall.rows.some((r) => r.background)) legend.push(`${BAR.background} background run`);
  if (returnedAt !== undefined) legend.push(`${RETURNED} command returned`);
  lines.push(legend.join('  '));
  if (waterfall.spanSum > waterfall.busy + 0.5) {
    lines.push(`Steps overlapped: ${formatMs(waterfall.spanSum)} of step time ran in ${formatMs(waterfall.busy)} (${(waterfall.spanSum / waterfall.busy).toFixed(1)}× concurrency).`);
  }
  return lines.join('\n');
}

const RETURNED = '┊';

function fit(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
