import { appendFileSync } from 'node:fs';

// Failpoints: named places where the fault suite (test/fault/) makes vtree die as a crash
// would, so every crash window is tried on purpose rather than found by a random kill time.
// `VTREE_FAILPOINT` (names separated by commas or spaces) is read once, at start-up; unset, a
// failpoint costs one Set lookup. Background jobs inherit it, so the spare pool's points work
// through the job `add` starts. `VTREE_FAILPOINT_LOG` names a file each point reached is appended
// to: how the suite learns which points a scenario passes.

const ARMED = new Set((process.env.VTREE_FAILPOINT ?? '').split(/[\s,]+/).filter(Boolean));
const LOG = process.env.VTREE_FAILPOINT_LOG;

/** Every failpoint declared with {@link declareFailpoints}, by full name. */
const DECLARED = new Set<string>();

/**
 * At a failpoint named in `VTREE_FAILPOINT`, the process sends itself SIGKILL: no handler, no
 * undo, no `finally` runs, exactly as when the machine or the OOM killer ends it.
 */
export function failpoint(name: string): void {
  if (LOG) appendFileSync(LOG, `${name}\n`);
  if (ARMED.has(name)) process.kill(process.pid, 'SIGKILL');
}

/** Declares the points inside a multi-step operation, `<scope>:<point>`; returns their full names by point. */
export function declareFailpoints<const P extends string>(scope: string, points: readonly P[]): Record<P, string> {
  const names = Object.fromEntries(points.map((p) => [p, `${scope}:${p}`])) as Record<P, string>;
  for (const name of Object.values<string>(names)) DECLARED.add(name);
  return names;
}

/** The points declared so far (by the modules loaded), sorted. */
export function declaredFailpoints(): string[] {
  return [...DECLARED].sort();
}

/** The two boundaries of task `task` in graph `graph`: `<graph>:before:<task>` and `<graph>:after:<task>`. */
export function taskBoundaries(graph: string, task: string): { before: string; after: string } {
  return { before: `${graph}:before:${task}`, after: `${graph}:after:${task}` };
}
