import { existsSync } from 'node:fs';
import { UsageError } from '../core/errors.js';
import { isSpare, listWorktrees } from '../git/worktree.js';
import { readServicesStatus } from '../features/services/status.js';
import type { SeedVolumeStatus } from '../features/seed/status.js';
import { readTasksStatus } from '../features/tasks/status.js';
import { isSetUpRecord, readWorktreeState, worktreeGitDir } from '../git/worktree-state.js';
import type { BoardColumns } from './list-board.js';

/** One row of `git vtree list`; the {@link BoardColumns} only when asked for (not `--fast`). */
export interface WorktreeRow extends BoardColumns {
  path: string;
  branch?: string;
  head?: string;
  main: boolean;
  detached: boolean;
  prunable: boolean;
  locked: boolean;
  /** A spare worktree of vtree's pool (shown with `--all` only). */
  spare?: boolean;
  slug?: string;
  createdAt?: string;
  createdBy?: string;
  /** Where its dependencies came from (`hit`, `seed`, `partial`, `miss`). */
  deps?: string;
  ports?: Record<string, number>;
  /** Last known state of its Compose stack. */
  services?: string;
  /**
   * A linked worktree vtree never set up (no `vtree.json` in its git dir): made with
   * `git worktree add --no-checkout`, before the hook was installed, or by a tool that skips
   * post-checkout. `git vtree setup --all` sets these up.
   */
  setUp: boolean;
  /** Its project tasks that failed (background ones included), by name. */
  failedTasks?: string[];
  /** Its seeded volumes: which golden each cloned (key, when built, mode, bytes), or why none (docs/data.md). */
  seed?: Array<{ volume: string; state: string; key: string; golden?: string; mode?: string; bytes?: number }>;
}

/** Linked worktrees that exist on disk and that vtree never set up: what `setup --all` sets up (never a spare: the spare job sets those up). */
export function neverSetUp(rows: readonly WorktreeRow[]): WorktreeRow[] {
  return rows.filter((row) => !row.setUp && !row.prunable && !row.spare);
}

/**
 * Every worktree of the repository, with what vtree recorded for it: one `git worktree list`
 * and one small file read per worktree, all concurrent, no network. Spare worktrees are left
 * out unless `all`. `board`: also each one's changes, divergence, last activity, URLs and
 * readiness (a `git status` per worktree; see list-board.ts).
 */
export async function listWorktreesWithState(cwd: string, all = false, board = false): Promise<WorktreeRow[]> {
  const listed = () =>
    listWorktrees(cwd).catch((error: unknown) => {
      throw new UsageError(`not inside a git repository: ${cwd}`, 'cd into a repository first', { cause: error });
    });
  let worktrees = await listed();
  // What a killed `git worktree add` left (locked, not a spare) is debris, not a worktree to show
  // or set up. Loaded only then: the module costs `list` a few ms at start.
  if (worktrees.some((w) => w.locked && !isSpare(w))) {
    const { reclaimUnfinishedAdds } = await import('../git/worktree-path.js');
    if (await reclaimUnfinishedAdds(worktrees[0]!.path, worktrees)) worktrees = await listed();
  }
  const rows = await recordedRows(worktrees, all);
  const main = worktrees.find((w) => w.main);
  if (board && main) await (await import('./list-board.js')).addBoardColumns(rows, main.path);
  return rows;
}

/**
 * The repository's common git dir, from what `list` read already: the main worktree's git dir, or
 * the bare repository itself, so `list` needs no `git rev-parse` of its own.
 */
export async function commonDirOf(rows: readonly WorktreeRow[]): Promise<string> {
  const main = rows.find((row) => row.main) ?? rows[0]!;
  const gitDir = await worktreeGitDir(main.path);
  return existsSync(gitDir) ? gitDir : main.path;
}

function recordedRows(worktrees: Awaited<ReturnType<typeof listWorktrees>>, all: boolean): Promise<WorktreeRow[]> {
  return Promise.all(
    worktrees.filter((w) => all || !isSpare(w)).map(async (w) => {
      const gitDir = w.bare ? undefined : await worktreeGitDir(w.path);
      const [recorded, live, tasks] = gitDir ? await Promise.all([readWorktreeState(gitDir), readServicesStatus(gitDir), readTasksStatus(gitDir)]) : [];
      // A spare's record describes the spare (shown with --all), a claimed one's nothing at all.
      const state = isSpare(w) || isSetUpRecord(recorded) ? recorded : undefined;
      const row: WorktreeRow = { path: w.path, main: w.main, detached: w.detached, prunable: w.prunable, locked: w.locked, setUp: w.main || w.bare || state !== undefined };
      if (isSpare(w)) row.spare = true;
      if (w.branch) row.branch = w.branch;
      if (w.head) row.head = w.head;
      if (state) {
        row.slug = state.slug;
        row.createdAt = state.createdAt;
        row.createdBy = state.createdBy;
        const deps = state.deps as { source?: string } | undefined;
        if (deps?.source) row.deps = deps.source;
        const ports = state.ports as Record<string, number> | undefined;
        if (ports && Object.keys(ports).length > 0) row.ports = ports;
      }
      // The live status file (kept current by the start job, `up`, `down`) over what set-up recorded.
      const services = live ?? (state?.services as { state?: string } | undefined);
      if (services?.state) row.services = services.state;
      const seeded = state?.seed as { volumes?: SeedVolumeStatus[] } | undefined;
      if (seeded?.volumes?.length) row.seed = seeded.volumes.map(({ volume, state: got, key, golden, mode, bytes }) => ({ volume, state: got, key, ...(golden ? { golden, mode, bytes } : {}) }));
      const failed = Object.entries(tasks?.tasks ?? {}).filter(([, t]) => t.state === 'failed').map(([name]) => name);
      if (failed.length > 0) row.failedTasks = failed;
      return row;
    }),
  );
}
