import { spawn } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ENTRY_BIN } from './package-root.js';
import { backgroundLogPath } from './paths.js';

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
