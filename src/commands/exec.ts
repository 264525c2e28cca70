import type { Args } from './spec.js';
import { UsageError } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { execInWorktree } from '../pipelines/exec.js';

/**
 * `git vtree exec <worktree> [--timeout s] -- <command...>`: the command's own exit code is this
 * one's; `--json` captures its output into one document instead of passing the terminal through.
 */
export default async function exec(args: Args, io: Io): Promise<number> {
  const command = ((args.command as unknown[] | undefined) ?? []).map(String);
  const timeout = args.timeout === undefined ? undefined : Number(args.timeout);
  if (timeout !== undefined && !(timeout > 0)) throw new UsageError(`--timeout must be a number of seconds above 0, not '${String(args.timeout)}'`, 'git vtree exec <worktree> --timeout 60 -- npm test');
  const result = await execInWorktree(
    { cwd: process.cwd(), worktree: String(args.worktree), command, capture: io.json, ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}) },
    io.warn,
  );
  if (io.json) io.out(JSON.stringify({ ok: result.exitCode === 0, ...result }));
  else if (result.timedOut) io.warn(`stopped ${command[0]} after ${timeout} s (--timeout)`);
  return result.exitCode;
}
