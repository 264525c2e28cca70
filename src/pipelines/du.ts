import type { DiskUnit } from '../core/disk-units.js';
import { trashDir } from '../core/paths.js';
import { isSpare } from '../git/worktree.js';
import { findWorktree } from './remove.js';
import { resolveRepoStage } from './repo-stage.js';
import { UsageError } from '../core/errors.js';

/** What vtree keeps on disk, by kind. */
export type DiskKind = 'main' | 'worktree' | 'spare' | 'cache' | 'trash';

/** One tree's disk use: what it alone uses, and what it shares with whom. */
export interface DiskRow {
  kind: DiskKind;
  path: string;
  branch?: string;
  /** Bytes on disk its files use (each inode or cloned extent once). */
  bytes: number;
  /** Of those, used by no other tree. */
  own: number;
  /** Of those, also used by the cache, the main worktree, other worktrees (spares included). */
  shared: { cache: number; main: number; worktrees: number };
}

/** `git vtree du`: rows, and the bytes each kind uses with every shared byte counted once. */
export interface DiskReport {
  rows: DiskRow[];
  totals: Record<DiskKind, number> & { all: number };
}

/**
 * The true disk use of the repository's worktrees, spare worktrees, dependency cache and trash:
 * every inode once (hard links), every cloned extent once on XFS and btrfs. `worktree` (branch,
 * slug or path): only its row is reported, still judged against all the others.
 */
export async function diskReport(cwd: string, worktree?: string): Promise<DiskReport> {
  const where = await resolveRepoStage(cwd);
  const { repo, config } = where;
  const { cacheDirOf } = await import('../features/deps/cache.js');
  const trees: Array<{ kind: DiskKind; path: string; branch?: string; skip?: string[] }> = [
    { kind: 'main', path: repo.mainPath, skip: ['.git'] },
    ...repo.worktrees
      .filter((w) => !w.main && !w.bare && !w.prunable)
      .map((w) => ({ kind: (isSpare(w) ? 'spare' : 'worktree') as DiskKind, path: w.path, ...(w.branch && !isSpare(w) ? { branch: w.branch } : {}), skip: ['.git'] })),
    { kind: 'cache', path: cacheDirOf(repo, config) },
    { kind: 'trash', path: trashDir(repo.commonDir) },
  ];
  const only = worktree === undefined ? undefined : await findWorktree(repo.worktrees, worktree, cwd);
  if (worktree !== undefined && !only) throw new UsageError(`no worktree of this repository matches '${worktree}'`, 'git vtree list');
  const { diskUnits } = await import('../core/disk-units.js');
  const units = await diskUnits(trees);
  const ofKind = (kinds: readonly DiskKind[]) => new Set(trees.flatMap((t, i) => (kinds.includes(t.kind) ? [i] : [])));
  const cache = ofKind(['cache']);
  const main = ofKind(['main']);
  const worktrees = ofKind(['worktree', 'spare']);
  const sum = (match: (u: DiskUnit) => boolean) => units.reduce((total, u) => total + (match(u) ? u.bytes : 0), 0);
  const anyOf = (u: DiskUnit, set: ReadonlySet<number>, except?: number) => [...u.owners].some((o) => o !== except && set.has(o));
  const rows = trees
    .map((tree, i): DiskRow => ({
      kind: tree.kind,
      path: tree.path,
      ...(tree.branch ? { branch: tree.branch } : {}),
      bytes: sum((u) => u.owners.has(i)),
      own: sum((u) => u.owners.has(i) && u.owners.size === 1),
      shared: {
        cache: sum((u) => u.owners.has(i) && anyOf(u, cache, i)),
        main: sum((u) => u.owners.has(i) && anyOf(u, main, i)),
        worktrees: sum((u) => u.owners.has(i) && anyOf(u, worktrees, i)),
      },
    }))
    .filter((row) => !only || row.path === only.path);
  const total = (kind: DiskKind) => {
    const set = ofKind([kind]);
    return sum((u) => anyOf(u, set));
  };
  return {
    rows,
    totals: { main: total('main'), worktree: total('worktree'), spare: total('spare'), cache: total('cache'), trash: total('trash'), all: sum(() => true) },
  };
}
