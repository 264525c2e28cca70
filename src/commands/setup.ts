import type { Args } from './spec.js';
import { setupOptionsFrom } from './spec.js';
import { errorMessage, ExitCode, UsageError } from '../core/errors.js';
import { withInterrupts } from '../core/interrupt.js';
import { formatError, formatMs, type Io } from '../core/output.js';
import { setupWorktree, type SetupResult } from '../pipelines/setup.js';

/**
 * `git vtree setup [<worktree>]`: sets up an existing worktree. With the hidden `--hook` flag
 * it is what the post-checkout hook runs: recorded as run `hook`, and it never fails the
 * user's git command: any error becomes one line on stderr and exit code 0.
 */
export default async function setup(args: Args, io: Io): Promise<number> {
  if (args.all) return setupAll(args, io);
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
  if (io.json) {
    io.out(JSON.stringify({ ok: true, ...result }));
    return ExitCode.ok;
  }
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

/**
 * `git vtree setup --all`: sets up, one after the other, every linked worktree vtree never set
 * up (made with `git worktree add --no-checkout`, before the hook, or by a tool that skips it).
 * One failure does not stop the others; the exit code says whether any failed.
 */
async function setupAll(args: Args, io: Io): Promise<number> {
  if (args.worktree !== undefined) throw new UsageError('--all sets up every worktree never set up; name no worktree with it', 'git vtree setup --all');
  const { listWorktreesWithState, neverSetUp } = await import('../pipelines/list.js');
  const pending = neverSetUp(await listWorktreesWithState(process.cwd()));
  const results: Array<{ path: string; ok: boolean; runId?: string; error?: string }> = [];
  for (const row of pending) {
    io.log(`Setting up ${row.path}...`);
    try {
      const result = await withInterrupts((signal) => setupWorktree({ cwd: process.cwd(), target: row.path, command: 'setup', options: setupOptionsFrom(args) }, io, signal), io.warn);
      results.push({ path: row.path, ok: true, runId: result.runId });
      io.log(`  set up in ${formatMs(result.duration)}`);
    } catch (failure) {
      const [line] = formatError(failure, io.verbose).split('\n');
      results.push({ path: row.path, ok: false, error: errorMessage(failure) });
      io.warn(`${row.path}: ${line!.replace(/^git vtree: /, '')} (retry with: git vtree setup ${JSON.stringify(row.path)})`);
    }
  }
  const failed = results.filter((r) => !r.ok).length;
  if (io.json) io.out(JSON.stringify({ ok: failed === 0, worktrees: results }));
  else if (pending.length === 0) io.log('Every worktree is set up already.');
  else io.log(`Set up ${results.length - failed} of ${pending.length} worktree(s)${failed > 0 ? `; ${failed} failed` : ''}`);
  return failed === 0 ? ExitCode.ok : ExitCode.failed;
}
