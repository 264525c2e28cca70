import type { Args } from './spec.js';
import { ExitCode, VtreeError } from '../core/errors.js';
import { withInterrupts } from '../core/interrupt.js';
import { formatError, formatMs, jsonError, type Io } from '../core/output.js';
import { removeWorktree, type RemoveResult } from '../pipelines/remove.js';

/**
 * `git vtree rm [<worktree>...]`: the worktrees named, one after the other, or the one you are in.
 * With several, one refused or failed does not stop the others; the exit code is the worst one.
 */
export default async function rm(args: Args, io: Io): Promise<number> {
  const named = ((args.worktrees as unknown[] | undefined) ?? []).map(String);
  const options = { cwd: process.cwd(), force: Boolean(args.force), deleteBranch: Boolean(args.deleteBranch), volumes: Boolean(args.volumes), keepProcesses: Boolean(args.keepProcesses) };
  if (named.length <= 1) {
    report(await removeOne({ ...options, ...(named[0] !== undefined ? { target: named[0] } : {}) }, io), io, options.cwd);
    return ExitCode.ok;
  }
  let worst: number = ExitCode.ok;
  for (const target of named) {
    try {
      report(await removeOne({ ...options, target }, io), io, options.cwd);
    } catch (error) {
      const code = error instanceof VtreeError ? error.exitCode : ExitCode.failed;
      // An interrupt stops them all; anything else is this worktree's alone.
      if (code === ExitCode.interrupted) throw error;
      worst = Math.max(worst, code);
      if (io.json) io.out(JSON.stringify({ ...jsonError(error, code), target }));
      else process.stderr.write(`${formatError(error, false)}\n`);
    }
  }
  return worst;
}

function removeOne(request: Parameters<typeof removeWorktree>[0], io: Io): Promise<RemoveResult> {
  return withInterrupts((signal) => removeWorktree(request, io, signal), io.warn);
}

function report(result: RemoveResult, io: Io, cwd: string): void {
  if (io.json) {
    io.out(JSON.stringify({ ok: true, ...result }));
    return;
  }
  io.log(`Removed worktree ${result.path} in ${formatMs(result.duration)}${result.branchDeleted ? ` and branch '${result.branch}'` : ''}`);
  if (result.recycled) io.log('  kept as a spare worktree: the next `git vtree add` switches it to its branch (docs/spares.md)');
  // With a stack, one job does both: its log is named once, below.
  if (result.backgroundLog) {
    const what = result.movedAside.length > 0 ? `its files (${result.movedAside.join(', ')} included)` : 'its files';
    io.log(`  ${what} are being deleted in the background${result.backgroundLog === result.stackLog ? '' : ` (log: ${result.backgroundLog})`}`);
  }
  if (cwd === result.path || cwd.startsWith(`${result.path}/`)) io.log(`  you were in it; the main worktree: cd ${result.mainPath}`);
  if (result.stackLog) io.log(`  its stack stops in the background, then its ports are freed (log: ${result.stackLog})`);
}
