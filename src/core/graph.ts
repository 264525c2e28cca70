import { UsageError, VtreeError } from './errors.js';
import { failpoint, taskBoundaries } from './failpoint.js';
import type { OpenSpan, Profiler } from './profiler.js';

/** What a running task gets besides its dependencies' results. */
export interface TaskContext<C> {
  /** The pipeline's shared, read-mostly context (repository, options, config). */
  readonly shared: C;
  /** Aborted when another task fails or the user interrupts: stop early and throw. */
  readonly signal: AbortSignal;
  /** This task's profiler span: attach facts with `span.set`, nest sub-spans under `span.id`. */
  readonly span: OpenSpan;
  readonly profiler: Profiler;
}

/** One step of a pipeline. */
export interface Task<C> {
  name: string;
  /** Names of the tasks whose results this one needs; it starts the moment they all finish. */
  deps?: readonly string[];
  /**
   * Soft dependencies: names of tasks this one runs after when they are part of the graph
   * (a feature turned off by a flag simply is not); their results are passed like `deps`.
   */
  after?: readonly string[];
  run(ctx: TaskContext<C>, deps: DepResults): Promise<unknown>;
  /** Reverts what `run` did; called in reverse completion order when a later task fails. */
  undo?(ctx: TaskContext<C>, result: unknown): Promise<void>;
  /**
   * Tasks to add to the graph once this one has finished, from its result: nodes known only at
   * run time (the project's own tasks, read from its config). They may depend on any task.
   */
  expand?(result: unknown): readonly Task<C>[];
}

/** Results of a task's dependencies, by task name. */
export type DepResults = Readonly<Record<string, unknown>>;

/** Thrown by {@link runGraph} when a task failed; what ran before it has been undone. */
export class TaskFailedError extends VtreeError {
  /** The failing task's own exit code: bad input stays a usage error (2). */
  override readonly exitCode: number;
  constructor(
    readonly task: string,
    cause: unknown,
    /** Undo steps that themselves failed, so the user can clean up by hand. */
    readonly undoFailures: readonly string[],
    /** Results of the tasks that had completed (before being undone), by name. */
    readonly results: ReadonlyMap<string, unknown> = new Map(),
  ) {
    super(
      cause instanceof Error ? cause.message : String(cause),
      cause instanceof VtreeError ? cause.hint : undefined,
      { cause },
    );
    this.exitCode = cause instanceof VtreeError ? cause.exitCode : 1;
  }
}

/** Options for {@link runGraph}. */
export interface RunGraphOptions<C> {
  shared: C;
  profiler: Profiler;
  /** Span id under which every task span is nested. */
  parentSpan?: number | null;
  /** Aborting it (Ctrl-C) cancels the run like a failing task does. */
  signal?: AbortSignal;
  /** The graph's name in its failpoints (`add:before:<task>`, core/failpoint.ts); none without it. */
  failpoints?: string;
}

/** Every task boundary of a graph of `tasks` named `graph` where a failpoint sits, in task order. */
export function graphFailpoints<C>(graph: string, tasks: readonly Task<C>[]): string[] {
  return tasks.flatMap((t) => Object.values(taskBoundaries(graph, t.name)));
}

/**
 * Checks that every dependency names a known task, that names are unique and that there is no
 * cycle, before anything runs. Throws naming the offending task.
 */
export function validateGraph<C>(tasks: readonly Task<C>[]): void {
  const byName = new Map<string, Task<C>>();
  for (const task of tasks) {
    if (byName.has(task.name)) throw new UsageError(`task graph: two tasks are named '${task.name}'`);
    byName.set(task.name, task);
  }
  for (const task of tasks) {
    for (const dep of task.deps ?? []) {
      if (!byName.has(dep)) throw new UsageError(`task graph: task '${task.name}' depends on unknown task '${dep}'`);
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name].join(' → ');
      throw new UsageError(`task graph: dependency cycle ${cycle}`);
    }
    state.set(name, 'visiting');
    const task = byName.get(name)!;
    for (const dep of [...(task.deps ?? []), ...(task.after ?? []).filter((a) => byName.has(a))]) visit(dep, [...path, name]);
    state.set(name, 'done');
  };
  for (const task of tasks) visit(task.name, []);
}

/**
 * Runs `tasks` as a dependency graph: each task starts as soon as its own dependencies have
 * finished, so independent tasks overlap. The first failure (or an abort of `signal`) stops
 * new tasks from starting, aborts the signal running tasks see, waits for them, then undoes
 * every completed task in reverse completion order and throws {@link TaskFailedError}.
 * Every task, and every undo, is a profiler span. Returns results by task name.
 */
export async function runGraph<C>(initial: readonly Task<C>[], options: RunGraphOptions<C>): Promise<Map<string, unknown>> {
  validateGraph(initial);
  const tasks = [...initial];
  const { profiler, shared } = options;
  const parent = options.parentSpan ?? null;
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onOuterAbort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const results = new Map<string, unknown>();
  const completed: Task<C>[] = [];
  const started = new Set<string>();
  const running = new Set<Promise<void>>();
  let failure: { task: string; error: unknown } | undefined;

  const present = new Set(tasks.map((t) => t.name));
  const needsOf = (t: Task<C>) => [...(t.deps ?? []), ...(t.after ?? []).filter((a) => present.has(a))];
  const needs = new Map(tasks.map((t) => [t.name, needsOf(t)]));
  /** Adds the tasks a finished task expands into; tasks already waiting keep their own dependencies. */
  const expand = (added: readonly Task<C>[]): void => {
    if (added.length === 0) return;
    validateGraph([...tasks, ...added]);
    tasks.push(...added);
    for (const t of added) present.add(t.name);
    for (const t of added) needs.set(t.name, needsOf(t));
  };
  const ready = (task: Task<C>) => !started.has(task.name) && needs.get(task.name)!.every((d) => results.has(d));

  const startTask = (task: Task<C>): void => {
    started.add(task.name);
    const span = profiler.start(task.name, parent);
    const deps = Object.fromEntries(needs.get(task.name)!.map((d) => [d, results.get(d)]));
    const points = options.failpoints === undefined ? undefined : taskBoundaries(options.failpoints, task.name);
    const promise: Promise<void> = (async () => {
      try {
        if (controller.signal.aborted) throw abortReason(controller.signal);
        if (points) failpoint(points.before);
        const result = await task.run({ shared, signal: controller.signal, span, profiler }, deps);
        if (points) failpoint(points.after);
        if (task.expand) expand(task.expand(result));
        span.end();
        results.set(task.name, result);
        completed.push(task);
      } catch (error) {
        span.end(error);
        if (!failure) {
          failure = { task: task.name, error };
          controller.abort(error);
        }
      }
    })().finally(() => running.delete(promise));
    running.add(promise);
  };

  try {
    for (;;) {
      if (!failure && !controller.signal.aborted) for (const task of tasks) if (ready(task)) startTask(task);
      if (running.size === 0) break;
      await Promise.race(running);
    }
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
  }

  if (!failure && controller.signal.aborted) failure = { task: '(interrupted)', error: abortReason(controller.signal) };
  if (!failure) {
    const missing = tasks.filter((t) => !results.has(t.name));
    if (missing.length > 0) throw new VtreeError(`task graph: ${missing.map((t) => t.name).join(', ')} never ran`);
    return results;
  }

  const undoFailures: string[] = [];
  const undoSignal = new AbortController().signal;
  for (const task of [...completed].reverse()) {
    if (!task.undo) continue;
    const span = profiler.start(`undo:${task.name}`, parent);
    try {
      await task.undo({ shared, signal: undoSignal, span, profiler }, results.get(task.name));
      span.end();
    } catch (error) {
      span.end(error);
      undoFailures.push(`${task.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new TaskFailedError(failure.task, failure.error, undoFailures, results);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('cancelled');
}
