import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { listWorktreesWithState, neverSetUp } from '../pipelines/list.js';

/** `git vtree list`. */
export default async function list(_args: Args, io: Io): Promise<number> {
  const rows = await listWorktreesWithState(process.cwd());
  if (io.json) {
    io.out(JSON.stringify({ worktrees: rows }));
    return ExitCode.ok;
  }
  const { default: Table } = await import('cli-table3');
  const table = new Table({ head: ['branch', 'path', 'deps', 'ports', 'services', 'created'], style: { head: [], border: [] } });
  for (const row of rows) {
    table.push([
      (row.branch ?? (row.detached ? '(detached)' : '(bare)')) + (row.main ? ' *' : ''),
      row.path + (row.prunable ? ' (missing)' : ''),
      row.deps ?? '-',
      row.ports ? Object.entries(row.ports).map(([k, v]) => `${k}=${v}`).join(' ') : '-',
      row.services ?? '-',
      row.createdAt ? `${row.createdAt.slice(0, 16).replace('T', ' ')} (${row.createdBy})` : row.setUp ? '-' : 'never set up',
    ]);
  }
  io.out(table.toString());
  const pending = neverSetUp(rows).length;
  if (pending > 0) io.log(`${pending} worktree(s) never set up (made with --no-checkout, or without the hook): git vtree setup --all`);
  return ExitCode.ok;
}
