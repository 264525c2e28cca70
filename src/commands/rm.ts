import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import { withInterrupts } from '../core/interrupt.js';
import { formatMs, type Io } from '../core/output.js';
import { removeWorktree } from '../pipelines/remove.js';

/** `git vtree rm <worktree>`. */
export default async function rm(args: Args, io: Io): Promise<number> {
  const request = {
    cwd: process.cwd(),
    target: String(args.worktree),
    force: Boolean(args.force),
    deleteBranch: Boolean(args.deleteBranch),
    volumes: Boolean(args.volumes),
    keepProcesses: Boolean(args.keepProcesses),
  };
  const result = await withInterrupts((signal) => removeWorktree(request, io, signal), io.warn);
  if (io.json) {
    io.out(JSON.stringify({ ok: true, ...result }));
    return ExitCode.ok;
  }
  io.log(`Removed worktree ${result.path} in ${formatMs(result.duration)}${result.branchDeleted ? ` and branch '${result.branch}'` : ''}`);
  if (result.recycled) io.log('  kept as a spare worktree: the next `git vtree add` switches it to its branch (docs/spares.md)');
  if (result.backgroundLog) io.log(`  large directories are being deleted in the background (log: ${result.backgroundLog})`);
  if (result.stackLog) io.log(`  its stack stops in the background, then its ports are freed (log: ${result.stackLog})`);
  return ExitCode.ok;
}
