import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { formatColumns } from '../core/columns.js';
import { commonDirOf, listWorktreesWithState, neverSetUp, type WorktreeRow } from '../pipelines/list.js';
import { describeOrphan, findOrphans } from '../pipelines/orphans.js';
import { describeRemoval, removals } from '../features/services/removals.js';
import { basename } from 'node:path';

/** `git vtree list`: a status board per worktree; `--fast`: only what vtree recorded (no git call per worktree). */
export default async function list(args: Args, io: Io): Promise<number> {
  const fast = Boolean(args.fast);
  const rows = await listWorktreesWithState(process.cwd(), Boolean(args.all), !fast);
  const commonDir = await commonDirOf(rows);
  const main = rows.find((row) => row.main)?.path ?? commonDir;
  // --fast asks the container engine only when a lease of a vanished worktree hints at an orphan.
  const orphansOf = { commonDir, name: basename(main).replace(/\.git$/, ''), worktrees: rows };
  const [orphans, removing] = await Promise.all([findOrphans(orphansOf, { engine: fast ? 'if-leased' : true }), removals(commonDir)]);
  if (io.json) {
    io.out(JSON.stringify({ worktrees: rows, orphans, removing }));
    return ExitCode.ok;
  }
  // Plain columns, not cli-table3: `list` is typed often and its start-up is measured (docs/performance.md).
  const name = (row: WorktreeRow) => (row.spare ? '(spare)' : (row.branch ?? (row.detached ? '(detached)' : '(bare)'))) + (row.main ? ' *' : '');
  const path = (row: WorktreeRow) => row.path + (row.prunable ? ' (missing)' : '');
  // A failure is marked where the eye looks: the stack's cell, with a `!`.
  const stack = (row: WorktreeRow) =>
    [row.services === 'failed' ? '! failed' : row.services, row.failedTasks ? `! task ${row.failedTasks.join(', ')} failed` : undefined].filter(Boolean).join('; ') || '-';
  if (fast) {
    const table = rows.map((row) => [
      name(row),
      path(row),
      row.deps ?? '-',
      row.ports ? Object.entries(row.ports).map(([k, v]) => `${k}=${v}`).join(' ') : '-',
      stack(row),
      row.createdAt ? `${row.createdAt.slice(0, 16).replace('T', ' ')} (${row.createdBy})` : row.setUp ? '-' : row.spare ? 'being built' : 'never set up',
    ]);
    io.out(formatColumns(['BRANCH', 'PATH', 'DEPS', 'PORTS', 'SERVICES', 'CREATED'], table));
  } else {
    const now = Date.now();
    const table = rows.map((row) => [
      name(row),
      path(row),
      row.changes === undefined ? '-' : row.changes === 0 ? 'clean' : String(row.changes),
      [row.upstream && `${arrows(row.upstream)} ${row.upstream.ref}`, row.base && `${arrows(row.base)} ${row.base.ref}`].filter(Boolean).join(', ') || '-',
      row.lastActivity ? ago(now - Date.parse(row.lastActivity)) : '-',
      [stack(row), ...Object.values(row.urls ?? {})].join(' '),
      row.setUp ? (row.readiness ?? '-') : row.spare ? 'being built' : 'never set up',
    ]);
    io.out(formatColumns(['BRANCH', 'PATH', 'CHANGES', 'AHEAD/BEHIND', 'ACTIVE', 'STACK', 'READY'], table));
  }
  for (const removal of removing) io.log(describeRemoval(removal));
  for (const orphan of orphans) io.log(`orphan: ${describeOrphan(orphan)}: git vtree rm ${orphan.slug} (or git vtree prune)`);
  const pending = neverSetUp(rows).length;
  if (pending > 0) io.log(`${pending} worktree(s) never set up (made with --no-checkout, or without the hook): git vtree setup --all`);
  return ExitCode.ok;
}

/** `↑2 ↓1`, `=` when even. */
function arrows({ ahead, behind }: { ahead: number; behind: number }): string {
  return ahead === 0 && behind === 0 ? '=' : [ahead > 0 ? `↑${ahead}` : '', behind > 0 ? `↓${behind}` : ''].filter(Boolean).join(' ');
}

/** `just now`, `5m ago`, `3h ago`, `2d ago`. */
function ago(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours}h ago` : `${Math.floor(hours / 24)}d ago`;
}
