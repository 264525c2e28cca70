import { spawn } from 'node:child_process';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { shellQuote } from './exec.js';
import { ENTRY_BIN } from './package-root.js';
import { backgroundLogPath, vibetreesDir } from './paths.js';
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
  /**
   * A command started at once beside the job, in its process group (ending the job ends it too),
   * its exit status written to `exitFile`: work that should not wait for Node.js to load the job.
   */
  alongside?: { argv: readonly string[]; exitFile: string };
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
    const argv = [process.execPath, ENTRY_BIN, '__job', job.job, ...job.args];
    // `sh` execs the job, so the job keeps its pid and leads the group the command runs in.
    // The job itself runs niced: the command beside it is what someone waits for, not Node.js loading.
    const script = job.alongside && `(${job.alongside.argv.map(shellQuote).join(' ')}; echo $? > ${shellQuote(job.alongside.exitFile)}) & exec nice -n 10 "$@"`;
    const [command, ...args] = script ? ['/bin/sh', '-c', script, 'vtree-job', ...argv] : argv;
    const child = spawn(command!, args, {
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

/**
 * The exit status the job's `alongside` command wrote, polled for until `timeoutMs` has passed
 * (then undefined); the file is removed once read.
 */
export async function alongsideExit(exitFile: string, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // `echo` writes the status and its newline at once: without the newline it is not there yet.
    const text = await readFile(exitFile, 'utf8').catch(() => '');
    if (/^\d+\n/.test(text)) {
      await rm(exitFile, { force: true });
      return Number(text.trim());
    }
    if (Date.now() > deadline) return undefined;
    await sleep(50);
  }
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

/**
 * Waits until no background job of the repository at `commonDir` runs (each log with a start line
 * whose job has not finished or died), or `timeoutMs` has passed: before its directory is
 * deleted, so that no job writes into it meanwhile.
 */
export async function backgroundJobsSettled(commonDir: string, timeoutMs: number): Promise<void> {
  const dir = join(vibetreesDir(commonDir), 'logs');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const logs = (await readdir(dir).catch(() => [] as string[])).filter((name) => name.endsWith('.log'));
    const states = await Promise.all(
      logs.map(async (name) => {
        const log = join(dir, name);
        const job = /\] (\S+) started \(pid \d+\)/.exec(await readFile(log, 'utf8').catch(() => ''))?.[1];
        return job ? (await jobProgress(log, job)).state : 'done';
      }),
    );
    if (!states.some((state) => state === 'running' || state === 'starting')) return;
    await sleep(100);
  }
}
