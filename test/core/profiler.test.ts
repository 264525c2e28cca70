import { describe, expect, it } from 'vitest';
import { aggregateSpans, percentile, Profiler, summarize } from '../../src/core/profiler.js';

describe('Profiler', () => {
  it('records nested spans with parents, offsets and outcome', async () => {
    const profiler = new Profiler();
    await profiler.time('outer', null, async (outer) => {
      outer.set('k', 1);
      await profiler.time('inner', outer.id, async () => undefined);
    });
    await expect(profiler.time('bad', null, async () => Promise.reject(new Error('nope')))).rejects.toThrow('nope');
    const [outer, inner, bad] = profiler.list();
    expect(outer).toMatchObject({ name: 'outer', parent: null, ok: true, detail: { k: 1 } });
    expect(inner).toMatchObject({ name: 'inner', parent: outer!.id, ok: true });
    expect(inner!.start).toBeGreaterThanOrEqual(outer!.start);
    expect(inner!.start + inner!.duration).toBeLessThanOrEqual(outer!.start + outer!.duration + 0.01);
    expect(bad).toMatchObject({ name: 'bad', ok: false, error: 'nope' });
  });

  it('closes spans left open as failed', () => {
    const profiler = new Profiler();
    profiler.start('never-ended');
    const done = profiler.start('ended');
    done.end();
    profiler.closeOpen(new Error('run failed'));
    expect(profiler.list().map((s) => [s.name, s.ok, s.error])).toEqual([
      ['never-ended', false, 'run failed'],
      ['ended', true, undefined],
    ]);
  });
});

describe('aggregates', () => {
  it('computes count, avg, min, max, p50, p95 and total per name', () => {
    const spans = [10, 20, 30, 40, 100].map((duration) => ({ name: 'a', duration })).concat([{ name: 'b', duration: 7 }]);
    const [a, b] = aggregateSpans(spans);
    expect(a).toEqual({ name: 'a', count: 5, avg: 40, min: 10, max: 100, p50: 30, p95: 88, total: 200 });
    expect(b).toEqual({ name: 'b', count: 1, avg: 7, min: 7, max: 7, p50: 7, p95: 7, total: 7 });
  });

  it('interpolates percentiles and handles empty input', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(summarize([])).toEqual({ count: 0, avg: 0, min: 0, max: 0, p50: 0, p95: 0, total: 0 });
  });
});
