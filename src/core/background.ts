import { spawn } from 'node:child_process';
import { mkdir, open, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { shellQuote } from './exec.js';
import { ENTRY_BIN } from './package-root.js';
import { backgroundLogPath, vibetreesDir } from './paths.js';
import { isProcessAlive, jobGone } from './pid.js';
import { escapeRegExp } from './regexp.js';

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
   * A command run first, in the job's process group (ending the job ends it too); the job starts
   * once it has ended, with its exit status as the job's last argument. For work someone waits on
   * (the stack's `up -d`): Node.js loading the job would only compete with it for the CPU.
   */
  first?: readonly string[];
  /**
   * Runs the job at this niceness (`nice -n`): work started beside what someone waits for, whose
   * Node.js start would otherwise take CPU from it. A job with `first` always runs at 10.
   */
  niceness?: number;
  /** Starts the job (and `first`) this many seconds later (`sleep`, in the job's process group). */
  delaySeconds?: number;
}

/**
 * Starts `git-vtree __job <job> ...args` detached from this process (own session, no stdin,
 * output appended to its log), so it outlives the command. Returns the log's path.
 */
export async function startBackgroundJob(job: BackgroundJob): Promise<string> {
  return (await spawnBackgroundJob(job)).log;
}

/**
 * {@link startBackgroundJob}, also returning the job's pid: the leader of its process group from
 * the start (the shell that runs `first` execs the job), so ending that group ends `first` too.
 */
export async function spawnBackgroundJob(job: BackgroundJob): Promise<{ log: string; pid?: number }> {
  const log = backgroundLogPath(job.commonDir, job.job, job.id);
  await mkdir(dirname(log), { recursive: true });
  const handle = await open(log, 'a');
  try {
    const argv = [process.execPath, ENTRY_BIN, '__job', job.job, ...job.args];
    // After `first` the job runs niced, as nobody waits for it.
    const niceness = job.first ? 10 : job.niceness;
    const jobArgv = niceness ? ['nice', '-n', String(niceness), ...argv] : argv;
    const steps = [...(job.delaySeconds ? [`sleep ${job.delaySeconds}`] : []), ...(job.first ? [job.first.map(shellQuote).join(' ')] : [])];
    // `sh` execs the job, so the job has the pid of the group the steps ran in.
    const script = steps.length > 0 && `${steps.join('; ')}; exec "$@"${job.first ? ' "$?"' : ''}`;
    const [command, ...args] = script ? ['/bin/sh', '-c', script, 'vtree-job', ...jobArgv] : jobArgv;
    const child = spawn(command!, args, {
      cwd: job.cwd,
      env: { ...(job.env ?? process.env), VTREE_BACKGROUND: '1' },
      detached: true,
      stdio: ['ignore', handle.fd, handle.fd],
    });
    child.unref();
    return { log, ...(child.pid !== undefined ? { pid: child.pid } : {}) };
  } finally {
    await handle.close();
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
