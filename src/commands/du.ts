import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import { formatBytes, type Io } from '../core/output.js';
import { formatColumns } from '../core/columns.js';
import { diskReport } from '../pipelines/du.js';

/** `git vtree du [worktree] [--json]`: the true disk use of worktrees, spares, cache and trash. */
export default async function du(args: Args, io: Io): Promise<number> {
  const report = await diskReport(process.cwd(), args.worktree as string | undefined);
  if (io.json) {
    io.out(JSON.stringify(report));
    return ExitCode.ok;
  }
  const rows = report.rows.map((r) => [
    r.kind === 'worktree' ? (r.branch ?? '(detached)') : `(${r.kind})`,
    r.path,
    formatBytes(r.bytes),
    formatBytes(r.own),
    formatBytes(r.shared.cache),
    formatBytes(r.shared.main),
    formatBytes(r.shared.worktrees),
  ]);
  io.out(formatColumns(['TREE', 'PATH', 'ON DISK', 'OWN', 'SHARED: CACHE', 'MAIN', 'WORKTREES'], rows));
  const t = report.totals;
  io.out(`total ${formatBytes(t.all)} (each shared byte once): worktrees ${formatBytes(t.worktree)}, spares ${formatBytes(t.spare)}, cache ${formatBytes(t.cache)}, trash ${formatBytes(t.trash)}, main worktree ${formatBytes(t.main)}`);
  return ExitCode.ok;
}
