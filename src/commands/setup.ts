import type { Args } from './spec.js';
import { setupOptionsFrom } from './spec.js';
import { ExitCode } from '../core/errors.js';
import { withInterrupts } from '../core/interrupt.js';
import { formatError, formatMs, type Io } from '../core/output.js';
import { setupWorktree, type SetupResult } from '../pipelines/setup.js';
import { servicesFailure } from './add.js';

/**
 * `git vtree setup [<worktree>]`: sets up an existing worktree. With the hidden `--hook` flag
 * it is what the post-checkout hook runs: recorded as run `hook`, and it never fails the
 * user's git command: any error becomes one line on stderr and exit code 0.
 */
export default async function setup(args: Args, io: Io): Promise<number> {
  const hook = Boolean(args.hook);
  const request = {
    cwd: process.cwd(),
    ...(args.worktree !== undefined ? { target: String(args.worktree) } : {}),
    command: hook ? ('hook' as const) : ('setup' as const),
    options: setupOptionsFrom(args),
  };
  let result: SetupResult;
  try {
    result = await withInterrupts((signal) => setupWorktree(request, io, signal), io.warn);
  } catch (failure) {
    if (!hook) throw failure;
    // One line, whatever went wrong: the worktree itself is fine and git must not report failure.
    const [line] = formatError(failure, false).split('\n');
    process.stderr.write(`${line} (post-checkout hook; retry with: git vtree setup)\n`);
    return ExitCode.ok;
  }
  const services = result.facts.services as { notUp?: boolean; reason?: string } | undefined;
  const failure = services?.notUp && !hook ? servicesFailure(result.path, result.branch, services.reason) : undefined;
  if (io.json) {
    io.out(JSON.stringify({ ok: !failure, ...result, ...(failure ? { error: failure.message, hint: failure.hint } : {}) }));
    return failure ? ExitCode.failed : ExitCode.ok;
  }
  if (failure) throw failure;
  if (hook) {
    // Inside someone else's git command: one line, the step timings are in the metrics.
    io.log(`git vtree: set up worktree '${result.branch}' in ${formatMs(result.duration)} (steps: git vtree stats --run ${result.runId})`);
    return ExitCode.ok;
  }
  io.log(`Worktree '${result.branch}' set up in ${formatMs(result.duration)}`);
  io.log(`  ${result.steps.map((s) => `${s.name} ${formatMs(s.duration)}${s.ok ? '' : ' (failed)'}`).join(' · ')}`);
  io.out(result.path);
  return ExitCode.ok;
}
