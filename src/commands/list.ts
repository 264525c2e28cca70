import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { listWorktreesWithState } from '../pipelines/list.js';

/** `git vtree list`. */
export default async function list(args: Args, io: Io): Promise<number> {
  const rows = await listWorktreesWithState(process.cwd(), Boolean(args.all));
  if (io.json) {
    io.out(JSON.stringify({ worktrees: rows }));
    return ExitCode.ok;
  }
  const { default: Table } = await import('cli-table3');
  const table = new Table({ head: ['branch', 'path', 'deps', 'ports', 'services', 'created'], style: { head: [], border: [] } });
  for (const row of rows) {
    table.push([
      (row.spare ? '(spare)' : (row.branch ?? (row.detached ? '(detached)' : '(bare)'))) + (row.main ? ' *' : ''),
      row.path + (row.prunable ? ' (missing)' : ''),
      row.deps ?? '-',
      row.ports ? Object.entries(row.ports).map(([k, v]) => `${k}=${v}`).join(' ') : '-',
      row.services ?? '-',
      row.createdAt ? `${row.createdAt.slice(0, 16).replace('T', ' ')} (${row.createdBy})` : '-',
    ]);
  }
  io.out(table.toString());
  return ExitCode.ok;
}
