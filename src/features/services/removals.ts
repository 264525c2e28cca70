import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readJsonFile } from '../../core/files.js';
import { removingDir } from '../../core/paths.js';
import { jobGone } from '../../core/pid.js';

// The records of worktrees `rm` removed whose stacks its background `stack-down` job still takes
// down (`.git/vibetrees/removing/`): what `list` shows as removing, and what a new worktree of the
// same branch (the same Compose project name) waits for before it makes volumes or starts a stack.

/** A removed worktree whose stack a background job is still taking down: what `list` shows as removing. */
export interface Removal {
  path: string;
  branch?: string;
  slug: string;
  project: string;
  /** Who holds its port leases until the stack is down. */
  leaseHolder: string;
  log: string;
  startedAt: string;
  /** The job, once it runs. */
  pid?: number;
  /** Its containers, networks and seeded volumes are gone (its ports and files may still be freed). */
  down?: boolean;
  /** `stalled`: the job ended (or never started) before the stack was down; its log says why. */
  state: 'removing' | 'stalled';
}

/** Forgets a stalled removal once what it left was reclaimed (`prune`). */
export async function forgetRemoval(commonDir: string, removal: Removal): Promise<void> {
  const dir = removingDir(commonDir);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const found = await readJsonFile<Omit<Removal, 'state'>>(join(dir, name)).catch(() => undefined);
    if (found?.leaseHolder === removal.leaseHolder) await rm(join(dir, name), { force: true });
  }
}

/** The removals still under way in the repository (and those whose job stalled). */
export async function removals(commonDir: string): Promise<Removal[]> {
  const dir = removingDir(commonDir);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => name.endsWith('.json') && !name.startsWith('.'));
  const found = await Promise.all(names.map((name) => readJsonFile<Omit<Removal, 'state'>>(join(dir, name)).catch(() => undefined)));
  return found
    .filter((r) => r !== undefined)
    .map((r) => ({ ...r, state: jobGone(r.pid, r.startedAt) ? 'stalled' : 'removing' }) satisfies Removal);
}

/** The removal `name` (branch, slug or path) means, if one is under way. */
export async function removalNamed(commonDir: string, name: string, cwd: string): Promise<Removal | undefined> {
  const { resolve } = await import('node:path');
  const all = await removals(commonDir);
  return all.find((r) => r.path === resolve(cwd, name)) ?? all.find((r) => r.branch === name || r.slug === name);
}

/** One line for `list` and `status`. */
export function describeRemoval(removal: Removal): string {
  if (removal.state === 'removing') {
    return removal.down
      ? `${removal.path}: removing (stack ${removal.project} is down; its ports are freed once nothing listens on them, log: ${removal.log})`
      : `${removal.path}: removing (stack ${removal.project} stopping in the background, log: ${removal.log})`;
  }
  return `${removal.path}: removal stalled ${removal.down ? 'after' : 'before'} stack ${removal.project} was down (log: ${removal.log}); git vtree prune finishes it`;
}

/**
 * Waits while a removed worktree's stack of Compose project `project` is being taken down: its job
 * would take a new stack's network and volumes of the same names with it, and a new worktree
 * would adopt the seeded clone the job is deleting. Resolves at once when none is (one small
 * readdir); returns the removal waited for, or, after `timeoutMs`, the one still going on, or one
 * whose job died before the stack was down.
 */
export async function awaitStackDown(commonDir: string, project: string, options: { timeoutMs: number; signal?: AbortSignal; onWait?: (removal: Removal) => void }): Promise<{ waitedFor?: Removal; stillGoing?: Removal; stalled?: Removal }> {
  // This project's removal in `state` whose stack is not down yet.
  const notDown = (all: Removal[], state: Removal['state']) => all.find((r) => r.project === project && r.state === state && !r.down);
  const now = await removals(commonDir);
  const first = notDown(now, 'removing');
  if (!first) {
    const stalled = notDown(now, 'stalled');
    return stalled ? { stalled } : {};
  }
  options.onWait?.(first);
  for (const deadline = Date.now() + options.timeoutMs; ; ) {
    await sleep(100, undefined, options.signal ? { signal: options.signal } : {});
    const still = notDown(await removals(commonDir), 'removing');
    if (!still) return { waitedFor: first };
    if (Date.now() > deadline) return { stillGoing: still };
  }
}
