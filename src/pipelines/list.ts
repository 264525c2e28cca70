import { resolveRepo } from '../git/repo.js';
import { readServicesStatus } from '../features/services/stack.js';
import { readWorktreeState, worktreeGitDir } from '../git/worktree-state.js';

/** One row of `git vtree list`. */
export interface WorktreeRow {
  path: string;
  branch?: string;
  head?: string;
  main: boolean;
  detached: boolean;
  prunable: boolean;
  locked: boolean;
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
}

/** Linked worktrees that exist on disk and that vtree never set up: what `setup --all` sets up. */
export function neverSetUp(rows: readonly WorktreeRow[]): WorktreeRow[] {
  return rows.filter((row) => !row.setUp && !row.prunable);
}

/**
 * Every worktree of the repository, with what vtree recorded for it: one `git worktree list`
 * and one small file read per worktree, all concurrent, no network.
 */
export async function listWorktreesWithState(cwd: string): Promise<WorktreeRow[]> {
  const repo = await resolveRepo(cwd);
  return Promise.all(
    repo.worktrees.map(async (w) => {
      const gitDir = w.bare ? undefined : await worktreeGitDir(w.path);
      const [state, live] = gitDir ? await Promise.all([readWorktreeState(gitDir), readServicesStatus(gitDir)]) : [];
      const row: WorktreeRow = { path: w.path, main: w.main, detached: w.detached, prunable: w.prunable, locked: w.locked, setUp: w.main || w.bare || state !== undefined };
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
      return row;
    }),
  );
}
