import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { formatColumns } from '../core/columns.js';
import { listWorktreesWithState, neverSetUp } from '../pipelines/list.js';
import { describeOrphan, findOrphans } from '../pipelines/orphans.js';
import { describeRemoval, removals } from '../pipelines/stack-down.js';
import { basename } from 'node:path';
import { git } from '../core/exec.js';

/** The common git dir, for the orphans of the repository (outside one, listWorktreesWithState explains). */
async function commonDirOf(cwd: string): Promise<string> {
  return git(cwd, ['rev-parse', '--path-format=absolute', '--git-common-dir']).catch(() => '');
}

/** `git vtree list`. */
export default async function list(args: Args, io: Io): Promise<number> {
  const [rows, commonDir] = await Promise.all([listWorktreesWithState(process.cwd(), Boolean(args.all)), commonDirOf(process.cwd())]);
  const main = rows.find((row) => row.main)?.path ?? commonDir;
  const [orphans, removing] = commonDir ? await Promise.all([findOrphans({ commonDir, name: basename(main).replace(/\.git$/, ''), worktrees: rows }), removals(commonDir)]) : [[], []];
  if (io.json) {
    io.out(JSON.stringify({ worktrees: rows, orphans, removing }));
    return ExitCode.ok;
  }
  // Plain columns, not cli-table3: `list` is typed often and its start-up is measured (docs/performance.md).
  const table = rows.map((row) => [
    (row.spare ? '(spare)' : (row.branch ?? (row.detached ? '(detached)' : '(bare)'))) + (row.main ? ' *' : ''),
    row.path + (row.prunable ? ' (missing)' : ''),
    row.deps ?? '-',
    row.ports ? Object.entries(row.ports).map(([k, v]) => `${k}=${v}`).join(' ') : '-',
    // A failure is marked where the eye looks: the stack's cell, with a `!`.
    [row.services === 'failed' ? '! failed' : row.services, row.failedTasks ? `! task ${row.failedTasks.join(', ')} failed` : undefined].filter(Boolean).join('; ') || '-',
    row.createdAt ? `${row.createdAt.slice(0, 16).replace('T', ' ')} (${row.createdBy})` : row.setUp ? '-' : 'never set up',
  ]);
  io.out(formatColumns(['BRANCH', 'PATH', 'DEPS', 'PORTS', 'SERVICES', 'CREATED'], table));
  for (const removal of removing) io.log(describeRemoval(removal));
  for (const orphan of orphans) io.log(`orphan: ${describeOrphan(orphan)}: git vtree rm ${orphan.slug} (or git vtree prune)`);
  const pending = neverSetUp(rows).length;
  if (pending > 0) io.log(`${pending} worktree(s) never set up (made with --no-checkout, or without the hook): git vtree setup --all`);
  return ExitCode.ok;
}
