import { spawn } from 'node:child_process';
import { changesHowProgramsRun } from '../core/env-names.js';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { UsageError, VtreeError } from '../core/errors.js';
import { DOTENV } from '../features/env/block.js';
import { readWorktreeState, worktreeGitDir } from '../git/worktree-state.js';
import { isSpare } from '../git/worktree.js';
import { findWorktree } from './remove.js';
import { resolveRepoStage } from './repo-stage.js';

/** What `git vtree exec` was asked to run. */
export interface ExecRequest {
  cwd: string;
  worktree: string;
  command: readonly string[];
  /** Stop the command after this long (SIGTERM, then SIGKILL); none: let it run. */
  timeoutMs?: number;
  /** Capture its output (for --json and the MCP tool) instead of passing the terminal through. */
  capture: boolean;
}

/** How the command ended. */
export interface ExecResult {
  path: string;
  command: string[];
  /** The command's exit code; 128 + the signal's number when a signal ended it; 124 on timeout (as timeout(1)). */
  exitCode: number;
  signal?: string;
  timedOut: boolean;
  duration: number;
  /** The variables set from the worktree (its `.env`, its leased ports), by name; values are the file's. */
  env: string[];
  stdout?: string;
  stderr?: string;
}

/** What the command's captured output keeps of each stream: its end, where the answer usually is. */
const CAPTURE_LIMIT = 64 * 1024;
const KILL_GRACE_MS = 2_000;

/** A variable vtree's own block of the `.env` sets for the worktree's stack: passed on. */
const passedOn = (name: string) => name === 'COMPOSE_PROJECT_NAME' || !changesHowProgramsRun(name);

/**
 * `git vtree exec <worktree> -- <command...>`: runs the command (an argument vector, no shell) in
 * the worktree with the variables of its `.env` (vtree's block of ports included) and its leased
 * ports over this process's environment. Its exit code is the result's.
 */
export async function execInWorktree(request: ExecRequest, warn: (line: string) => void): Promise<ExecResult> {
  const [program, ...args] = request.command;
  if (!program) throw new UsageError('name the command to run after --', `git vtree exec ${request.worktree} -- npm test`);
  // A worktree named by its path is found from there, wherever the command runs.
  const named = resolve(request.cwd, request.worktree);
  const { repo } = await resolveRepoStage(existsSync(named) ? named : request.cwd, warn);
  const entry = await findWorktree(repo.worktrees, request.worktree, request.cwd);
  if (!entry || isSpare(entry)) throw new UsageError(`no worktree of this repository matches '${request.worktree}'`, 'git vtree list');
  const state = await readWorktreeState(await worktreeGitDir(entry.path));
  const envFile = (state?.env as { file?: string } | undefined)?.file ?? DOTENV;
  const fromFile = parseEnv(await readFile(join(entry.path, envFile), 'utf8').catch(() => '')) as Record<string, string>;
  const refused = Object.keys(fromFile).filter((name) => !passedOn(name)).sort();
  if (refused.length > 0) warn(`not set from ${envFile}: ${refused.join(', ')} (they change how programs run)`);
  const ports = Object.fromEntries(Object.entries((state?.ports as Record<string, number> | undefined) ?? {}).map(([name, port]) => [name, String(port)]));
  const worktreeEnv: Record<string, string> = { ...Object.fromEntries(Object.entries(fromFile).filter(([name]) => passedOn(name))), ...ports };

  const started = performance.now();
  const child = spawn(program, args, { cwd: entry.path, env: { ...process.env, ...worktreeEnv }, stdio: request.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
  const output = { stdout: '', stderr: '' };
  const keep = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    output[stream] = (output[stream] + chunk.toString('utf8')).slice(-CAPTURE_LIMIT);
  };
  child.stdout?.on('data', keep('stdout'));
  child.stderr?.on('data', keep('stderr'));
  let timedOut = false;
  const timer =
    request.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
        }, request.timeoutMs);
  // A Ctrl-C reaches the child through the terminal (its process group); a SIGTERM or SIGHUP sent
  // to vtree alone is passed on. Either way vtree waits for the child and passes its code on.
  const ignore = () => undefined;
  const forward = (name: NodeJS.Signals) => child.kill(name);
  for (const name of ['SIGINT', 'SIGQUIT'] as const) process.on(name, ignore);
  for (const name of ['SIGTERM', 'SIGHUP'] as const) process.on(name, forward);
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'ENOENT' ? new UsageError(`command not found: ${program}`, `git vtree exec ${request.worktree} -- <command on PATH> [args...]`) : new VtreeError(`could not run ${program}: ${error.message}`)),
      );
      child.once('close', (exit, by) => resolve({ code: exit, signal: by }));
    });
    const exitCode = timedOut ? 124 : signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1);
    return {
      path: entry.path,
      command: [...request.command],
      exitCode,
      ...(signal ? { signal } : {}),
      timedOut,
      duration: Math.round(performance.now() - started),
      env: Object.keys(worktreeEnv).sort(),
      ...(request.capture ? output : {}),
    };
  } finally {
    if (timer) clearTimeout(timer);
    for (const name of ['SIGINT', 'SIGQUIT'] as const) process.off(name, ignore);
    for (const name of ['SIGTERM', 'SIGHUP'] as const) process.off(name, forward);
  }
}
