import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { runGraph, TaskFailedError, validateGraph, type Task } from '../../src/core/graph.js';
import { Profiler } from '../../src/core/profiler.js';

type T = Task<null>;

function task(name: string, deps: string[] = [], ms = 20, extra: Partial<T> = {}): T {
  return { name, deps, run: async () => (await sleep(ms), name), ...extra };
}

function overlaps(a: { start: number; duration: number }, b: { start: number; duration: number }): boolean {
  return a.start < b.start + b.duration && b.start < a.start + a.duration;
}

describe('validateGraph', () => {
  it('names the task with an unknown dependency', () => {
    expect(() => validateGraph([task('a', ['missing'])])).toThrow("task 'a' depends on unknown task 'missing'");
  });

  it('reports a cycle with its path', () => {
    expect(() => validateGraph([task('a', ['c']), task('b', ['a']), task('c', ['b'])])).toThrow(/dependency cycle (a → c → b → a|b → a → c → b|c → b → a → c)/);
  });

  it('rejects duplicate names', () => {
    expect(() => validateGraph([task('a'), task('a')])).toThrow("two tasks are named 'a'");
  });

  it('counts soft dependencies in cycles only when present', () => {
    expect(() => validateGraph([task('a', [], 1, { after: ['b'] }), task('b', ['a'])])).toThrow(/cycle/);
    expect(() => validateGraph([task('a', [], 1, { after: ['absent'] })])).not.toThrow();
  });
});

describe('runGraph', () => {
  it('runs nothing when the graph is invalid', async () => {
    let ran = false;
    const tasks: T[] = [{ name: 'a', run: async () => (ran = true) }, task('b', ['nope'])];
    await expect(runGraph(tasks, { shared: null, profiler: new Profiler() })).rejects.toThrow(/unknown task 'nope'/);
    expect(ran).toBe(false);
  });

  it('runs independent tasks concurrently and passes dependency results', async () => {
    const profiler = new Profiler();
    let seen: unknown;
    const tasks: T[] = [
      task('root', [], 5),
      task('left', ['root'], 60),
      task('right', ['root'], 60),
      { name: 'join', deps: ['left', 'right'], run: async (_ctx, deps) => (seen = deps) },
    ];
    const results = await runGraph(tasks, { shared: null, profiler });
    expect(results.get('left')).toBe('left');
    expect(seen).toEqual({ left: 'left', right: 'right' });
    const spans = Object.fromEntries(profiler.list().map((s) => [s.name, s]));
    expect(overlaps(spans.left!, spans.right!)).toBe(true);
    // join starts only after both finished; root finished before either started.
    expect(spans.join!.start).toBeGreaterThanOrEqual(Math.max(spans.left!.start + spans.left!.duration, spans.right!.start + spans.right!.duration) - 0.01);
    expect(spans.left!.start).toBeGreaterThanOrEqual(spans.root!.start + spans.root!.duration - 0.01);
  });

  it('starts a task as soon as its own dependencies finish, not stage by stage', async () => {
    const profiler = new Profiler();
    // fast → after-fast must not wait for slow, which is on the same "level" as fast.
    const tasks: T[] = [task('slow', [], 150), task('fast', [], 5), task('after-fast', ['fast'], 5)];
    await runGraph(tasks, { shared: null, profiler });
    const spans = Object.fromEntries(profiler.list().map((s) => [s.name, s]));
    expect(spans['after-fast']!.start + spans['after-fast']!.duration).toBeLessThan(spans.slow!.start + spans.slow!.duration);
  });

  it('waits for soft dependencies that are present', async () => {
    const profiler = new Profiler();
    const tasks: T[] = [task('a', [], 40), task('b', [], 1, { after: ['a', 'absent'] })];
    await runGraph(tasks, { shared: null, profiler });
    const spans = Object.fromEntries(profiler.list().map((s) => [s.name, s]));
    expect(spans.b!.start).toBeGreaterThanOrEqual(spans.a!.start + spans.a!.duration - 0.01);
  });

  it('on failure: cancels unstarted tasks, aborts running ones, undoes completed ones in reverse order', async () => {
    const profiler = new Profiler();
    const undone: string[] = [];
    let sawAbort = false;
    let laterRan = false;
    const undo = (name: string) => async () => void undone.push(name);
    const tasks: T[] = [
      task('first', [], 1, { undo: undo('first') }),
      task('second', ['first'], 1, { undo: undo('second') }),
      {
        name: 'long',
        deps: ['first'],
        run: ({ signal }) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener('abort', () => {
              sawAbort = true;
              reject(new Error('aborted'));
            });
          }),
        undo: undo('long'),
      },
      { name: 'boom', deps: ['second'], run: async () => Promise.reject(new Error('kaput')) },
      { name: 'later', deps: ['boom'], run: async () => void (laterRan = true) },
    ];
    const error = await runGraph(tasks, { shared: null, profiler }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).task).toBe('boom');
    expect((error as TaskFailedError).message).toBe('kaput');
    expect(sawAbort).toBe(true);
    expect(laterRan).toBe(false);
    expect(undone).toEqual(['second', 'first']);
    const names = profiler.list().map((s) => `${s.name}:${s.ok}`);
    expect(names).toEqual(expect.arrayContaining(['boom:false', 'long:false', 'undo:second:true', 'undo:first:true']));
    expect(names).not.toContain('later:true');
  });

  it('an outside abort (Ctrl-C) cancels and undoes like a failure', async () => {
    const controller = new AbortController();
    const undone: string[] = [];
    const tasks: T[] = [
      task('made', [], 1, { undo: async () => void undone.push('made') }),
      { name: 'hang', deps: ['made'], run: ({ signal }) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason))) },
    ];
    setTimeout(() => controller.abort(new Error('interrupted by SIGINT')), 30);
    const error = await runGraph(tasks, { shared: null, profiler: new Profiler(), signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as Error).message).toBe('interrupted by SIGINT');
    expect(undone).toEqual(['made']);
  });

  it('reports undo steps that fail without hiding the original error', async () => {
    const tasks: T[] = [
      task('a', [], 1, { undo: async () => Promise.reject(new Error('cannot undo')) }),
      { name: 'b', deps: ['a'], run: async () => Promise.reject(new Error('real problem')) },
    ];
    const error = (await runGraph(tasks, { shared: null, profiler: new Profiler() }).catch((e: unknown) => e)) as TaskFailedError;
    expect(error.message).toBe('real problem');
    expect(error.undoFailures).toEqual(['a: cannot undo']);
  });

  it('adds the tasks a finished task expands into, which may depend on tasks before and after them', async () => {
    const profiler = new Profiler();
    const order: string[] = [];
    const note = (name: string, ms: number): T => ({ name, run: async () => (await sleep(ms), order.push(name), name) });
    const tasks: T[] = [
      note('base', 30),
      { ...note('plan', 1), expand: () => [{ ...note('x', 20), deps: ['plan'], after: ['base', 'absent'] }, { ...note('y', 20), deps: ['x'] }] },
    ];
    const results = await runGraph(tasks, { shared: null, profiler });
    expect(order).toEqual(['plan', 'base', 'x', 'y']);
    expect(results.get('y')).toBe('y');
  });

  it('fails the expanding task, and undoes what completed, when its new tasks do not fit the graph', async () => {
    let undone = false;
    const tasks: T[] = [
      { ...task('a', [], 1), undo: async () => void (undone = true) },
      { ...task('plan', ['a'], 1), expand: () => [task('a')] },
    ];
    await expect(runGraph(tasks, { shared: null, profiler: new Profiler() })).rejects.toMatchObject({ task: 'plan', message: expect.stringMatching(/two tasks are named 'a'/) });
    expect(undone).toBe(true);
  });
});
