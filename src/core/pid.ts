import { isErrno } from './files.js';

/** True while a process with this pid exists (EPERM: it exists but belongs to another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrno(error, 'EPERM');
  }
}

/** How long a detached job may take to show it runs (its log's first line, its pid in a status file) before it counts as never started. */
const JOB_START_GRACE_MS = 60_000;

/**
 * Whether work handed to a detached job can still finish, judged from the `pid` the job recorded
 * (`undefined` until it has started) and when the work was handed over (`since`, ms or an ISO
 * time): `ended` when that process is gone, `never started` when no pid came within the grace,
 * `undefined` while it runs or may still start.
 */
export function jobGone(pid: number | undefined, since: number | string): 'ended' | 'never started' | undefined {
  if (pid !== undefined) return isProcessAlive(pid) ? undefined : 'ended';
  const at = typeof since === 'number' ? since : Date.parse(since);
  return Date.now() - at > JOB_START_GRACE_MS ? 'never started' : undefined;
}
