import { readJsonFile } from '../../core/files.js';
import { servicesStatusPath } from '../../core/paths.js';
import { jobGone } from '../../core/pid.js';

// What vtree records of a worktree's stack, and reading its live status file: apart from
// stack.ts so that `git vtree list` reads every worktree's status without loading Compose code.

/** State of a worktree's stack as a whole. */
export type StackState = 'none' | 'starting' | 'running' | 'healthy' | 'failed' | 'stopped';

/** What vtree records of a worktree's stack: `services` in `vtree.json`, and the live status file. */
export interface ServicesRecord {
  state: StackState;
  /** Why the stack is `none` or `failed`, in one line. */
  reason?: string;
  /** Compose project name. */
  project?: string;
  /** The `-f` files, the generated override last. */
  files?: string[];
  /** The Compose command used (`['docker', 'compose']`). */
  runtime?: string[];
  critical?: string[];
  deferred?: string[];
  /** What this start brings up: the critical and deferred services less those left for `git vtree up`. */
  expected?: string[];
  /** Log of the background job that starts the stack. */
  log?: string;
}

/** The live status file: the record plus who is working on it and per-service states. */
export interface ServicesStatus extends ServicesRecord {
  /** The background job starting the stack, while it runs. */
  pid?: number;
  services?: Record<string, string>;
  updatedAt: string;
}

/**
 * The stack's last known status; a `starting` whose job died without saying so reads as `failed`.
 * Undefined when vtree never managed this worktree's stack.
 */
export async function readServicesStatus(worktreeGitDir: string): Promise<ServicesStatus | undefined> {
  const status = await readJsonFile<ServicesStatus>(servicesStatusPath(worktreeGitDir)).catch(() => undefined);
  if (status?.state !== 'starting') return status;
  const see = status.log ? `; see ${status.log}` : '';
  // The starter writes the job's pid once it is spawned (the job again, as its first act); a status without one never got a job.
  const gone = jobGone(status.pid, status.updatedAt);
  if (gone === 'ended') return { ...status, state: 'failed', reason: `the process starting the stack (pid ${status.pid}) ended before it was up${see}` };
  if (gone === 'never started') return { ...status, state: 'failed', reason: `the background job did not start${see}` };
  return status;
}

