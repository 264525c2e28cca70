import { spawn } from 'node:child_process';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ENTRY_BIN } from './package-root.js';
import { backgroundLogPath } from './paths.js';
import { isProcessAlive, jobGone } from './pid.js';
import { escapeRegExp } from './regexp.js';

/** The executable entry, so background jobs run the same build of vtree as their parent. */

/** A background job the user need not wait for. */
export interface BackgroundJob {
  /** Job kind, for example `delete-trash` or `services-up`; names the log file. */
  job: string;
  /** Unique id for this job's log file. */
  id: string;
  /** The repository's common git dir (the log lives under it). */
  commonDir: string;
  /** Arguments of the hidden `git vtree __job <job>` command that does the work. */
  args: readonly string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts `git-vtree __job <job> ...args` detached from this process (own session, no stdin,
 * output appended to its log), so it outlives the command. Returns the log's path.
 */
export async function startBackgroundJob(job: BackgroundJob): Promise<string> {
  const log = backgroundLogPath(job.commonDir, job.job, job.id);
  await mkdir(dirname(log), { recursive: true });
  const handle = await open(log, 'a');
  try {
    const child = spawn(process.execPath, [ENTRY_BIN, '__job', job.job, ...job.args], {
      cwd: job.cwd,
      env: { ...(job.env ?? process.env), VTREE_BACKGROUND: '1' },
      detached: true,
      stdio: ['ignore', handle.fd, handle.fd],
    });
    child.unref();
  } finally {
    await handle.close();
  }
  return log;
}

/** Where a background job is, read from its log: `running`, `done`, or `failed` with its last lines. */
export interface JobProgress {
  state: 'starting' | 'running' | 'done' | 'failed';
  /** The log's last lines, when the job failed. */
  lastLines?: string[];
}

/**
 * The progress of the background job whose log is `log`, from the lines `git vtree __job` writes:
 * `<job> started (pid N)` first and `<job> finished in` last. A job whose process is gone without
 * the last line failed; so did one whose log never got its first line within a minute.
 */
export async function jobProgress(log: string, job: string): Promise<JobProgress> {
  const text = await readFile(log, 'utf8').catch(() => undefined);
  const lines = (text ?? '').split('\n').filter((line) => line.trim() !== '');
  if (lines.some((line) => line.includes(`] ${job} finished in `))) return { state: 'done' };
  const startLine = new RegExp(`\\] ${escapeRegExp(job)} started \\(pid (\\d+)\\)`);
  const started = lines.map((line) => startLine.exec(line)).find(Boolean);
  if (started) return isProcessAlive(Number(started[1])) ? { state: 'running' } : { state: 'failed', lastLines: lines.slice(-5) };
  const since = await stat(log).then((s) => s.mtimeMs, () => -Infinity);
  return jobGone(undefined, since) ? { state: 'failed', lastLines: lines.slice(-5) } : { state: 'starting' };
}
