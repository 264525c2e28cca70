import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VtreeError } from '../../core/errors.js';
import type { ProjectTask } from './definitions.js';

/** Where and how a project task runs. */
export interface TaskRun {
  /** The worktree: the command's working directory. */
  cwd: string;
  /** Added to vtree's own environment: ports, `COMPOSE_PROJECT_NAME`, `VTREE_*`. */
  env: Record<string, string>;
  /** Its log file; stdout and stderr both go there. */
  log: string;
  signal?: AbortSignal;
  /** Each line of output as it comes, for a progress line. */
  onLine?: (line: string) => void;
}

/** How many of a failed task's last lines its error quotes. */
const TAIL_LINES = 5;

/** A project task that exited non-zero (or was killed); its message quotes its last lines. */
export class TaskCommandError extends VtreeError {
  constructor(
    /** The project task's name, as the user gave it in `[vtree "task.<name>"]`. */
    readonly task: string,
    /** The command's exit status (not vtree's own exit code). */
    readonly status: number,
    readonly tail: readonly string[],
    log: string,
  ) {
    super(`task ${task} exited with code ${status}${tail.length > 0 ? `: ${tail.join(' | ')}` : ''}`, `its log: ${log}`);
  }
}

/**
 * Runs the task's command line with `sh -c`, in the worktree, its output appended to its log.
 * The command line is the user's own configuration, run as written, as git runs an alias; no
 * value vtree computed is spliced into it (they are in the environment). The command gets its
 * own process group, so an abort (Ctrl-C, another task failing) stops whatever it started.
 * Resolves when it exits 0; rejects with {@link TaskCommandError} otherwise.
 */
export async function runTaskCommand(task: ProjectTask, how: TaskRun): Promise<void> {
  await mkdir(dirname(how.log), { recursive: true });
  const log = createWriteStream(how.log, { flags: 'a' });
  await new Promise<void>((resolve, reject) => {
    log.once('open', () => resolve());
    log.once('error', reject);
  });
  log.write(`$ ${task.run}\n`);
  const tail: string[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    const lines = (partial + chunk.toString('utf8')).split(/\r?\n|\r/);
    partial = lines.pop() ?? '';
    for (const line of lines.filter((l) => l.trim())) {
      tail.push(line.trim());
      if (tail.length > TAIL_LINES) tail.shift();
      how.onLine?.(line.trim());
    }
  };
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn('sh', ['-c', task.run], {
        cwd: how.cwd,
        env: { ...process.env, ...how.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const stop = () => {
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGTERM');
          } catch {
            // Already gone.
          }
        }
      };
      if (how.signal?.aborted) stop();
      how.signal?.addEventListener('abort', stop, { once: true });
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', (error) => {
        how.signal?.removeEventListener('abort', stop);
        reject(error);
      });
      child.on('close', (exit, killedBy) => {
        how.signal?.removeEventListener('abort', stop);
        resolve(exit ?? (killedBy ? 128 : 1));
      });
    });
    if (partial.trim()) {
      tail.push(partial.trim());
      if (tail.length > TAIL_LINES) tail.shift();
    }
    log.write(`[exit code ${code}]\n`);
    if (how.signal?.aborted) throw how.signal.reason ?? new Error('cancelled');
    if (code !== 0) throw new TaskCommandError(task.name, code, tail, how.log);
  } finally {
    await new Promise<void>((resolve) => log.end(resolve));
  }
}

/** How one task of {@link runOrdered} ended. */
export type Outcome = { state: 'done' } | { state: 'failed' | 'skipped'; error: unknown };

/**
 * Runs `items` concurrently, each once every item its `after` names (among `items`; other names
 * are ignored) is done. An item whose predecessor failed or was skipped is skipped, and the
 * others go on: in a background job or a teardown one failure must not hide the rest. The
 * caller checked that `after` has no cycle.
 */
export async function runOrdered<T extends { name: string; after: readonly string[] }>(items: readonly T[], run: (item: T) => Promise<void>): Promise<Map<string, Outcome>> {
  const byName = new Map(items.map((item) => [item.name, item]));
  const outcomes = new Map<string, Promise<Outcome>>();
  const outcome = (item: T): Promise<Outcome> => {
    let promise = outcomes.get(item.name);
    if (!promise) {
      promise = (async (): Promise<Outcome> => {
        const before = item.after.filter((name) => byName.has(name) && name !== item.name);
        const results = await Promise.all(before.map((name) => outcome(byName.get(name)!)));
        const blocker = before.find((_, i) => results[i]!.state !== 'done');
        if (blocker !== undefined) return { state: 'skipped', error: new VtreeError(`not run: ${blocker}, which it runs after, did not finish`) };
        try {
          await run(item);
          return { state: 'done' };
        } catch (error) {
          return { state: 'failed', error };
        }
      })();
      outcomes.set(item.name, promise);
    }
    return promise;
  };
  const settled = await Promise.all(items.map(outcome));
  return new Map(items.map((item, i) => [item.name, settled[i]!]));
}
