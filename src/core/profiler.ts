import { performance } from 'node:perf_hooks';

/** One timed step. Offsets are milliseconds from the start of the run. */
export interface Span {
  id: number;
  /** The enclosing span's id, or null for a top-level span. */
  parent: number | null;
  name: string;
  start: number;
  duration: number;
  ok: boolean;
  error?: string;
  /** Small facts about the step, for example `{ source: 'hit' }`. */
  detail?: Record<string, unknown>;
}

/** Per-name aggregate of spans, in milliseconds. */
export interface SpanAggregate {
  name: string;
  count: number;
  avg: number;
  min: number;
  max: number;
  p50: number;
  p95: number;
  total: number;
}

/** A span that is still running; {@link Profiler.start} returns it. */
export interface OpenSpan {
  readonly id: number;
  /** Closes the span; a second call is ignored. */
  end(error?: unknown): void;
  /** Attaches a fact to the span. */
  set(key: string, value: unknown): void;
}

/**
 * Collects nested spans for one run. Spans may overlap (the task graph runs steps concurrently),
 * so a run's total is its wall-clock length, never the sum of its spans.
 */
export class Profiler {
  /** Wall-clock start of the run, for metrics. */
  readonly startedAt = new Date();
  private readonly origin: number;
  private readonly spans: Span[] = [];
  private readonly open = new Map<number, Span>();
  private nextId = 1;

  constructor(origin = performance.now()) {
    this.origin = origin;
  }

  /** Milliseconds since the run started. */
  now(): number {
    return round(performance.now() - this.origin);
  }

  /** Opens a span named `name` under `parent` (a span id, or null for top level). */
  start(name: string, parent: number | null = null): OpenSpan {
    const span: Span = { id: this.nextId++, parent, name, start: this.now(), duration: 0, ok: true };
    this.spans.push(span);
    this.open.set(span.id, span);
    return {
      id: span.id,
      end: (error?: unknown) => this.close(span, error),
      set: (key, value) => {
        span.detail = { ...span.detail, [key]: value };
      },
    };
  }

  /** Runs `fn` inside a span, closing it as failed when `fn` throws. */
  async time<T>(name: string, parent: number | null, fn: (span: OpenSpan) => Promise<T>): Promise<T> {
    const span = this.start(name, parent);
    try {
      const result = await fn(span);
      span.end();
      return result;
    } catch (error) {
      span.end(error);
      throw error;
    }
  }

  /** Closes every span still open as failed with `error`: what an aborted run leaves behind. */
  closeOpen(error: unknown): void {
    for (const span of [...this.open.values()]) this.close(span, error ?? new Error('not finished'));
  }

  /** All spans so far, in start order. */
  list(): Span[] {
    return this.spans.map((s) => ({ ...s }));
  }

  private close(span: Span, error?: unknown): void {
    if (!this.open.delete(span.id)) return;
    span.duration = round(this.now() - span.start);
    if (error !== undefined) {
      span.ok = false;
      span.error = error instanceof Error ? error.message : String(error);
    }
  }
}

/** Per-name count, avg, min, max, p50, p95 and total of `spans`, sorted by total descending. */
export function aggregateSpans(spans: readonly Pick<Span, 'name' | 'duration'>[]): SpanAggregate[] {
  const byName = new Map<string, number[]>();
  for (const span of spans) {
    const list = byName.get(span.name) ?? [];
    list.push(span.duration);
    byName.set(span.name, list);
  }
  return [...byName].map(([name, durations]) => ({ name, ...summarize(durations) })).sort((a, b) => b.total - a.total);
}

/** count, avg, min, max, p50, p95 and total of a list of durations (all 0 for an empty list). */
export function summarize(values: readonly number[]): Omit<SpanAggregate, 'name'> {
  if (values.length === 0) return { count: 0, avg: 0, min: 0, max: 0, p50: 0, p95: 0, total: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const total = sorted.reduce((sum, v) => sum + v, 0);
  return {
    count: sorted.length,
    avg: round(total / sorted.length),
    min: sorted[0]!,
    max: sorted.at(-1)!,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    total: round(total),
  };
}

/** The p-th percentile of ascending `sorted`, by linear interpolation between closest ranks. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return round(sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low));
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
