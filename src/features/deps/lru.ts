import { uniqueBytes, type CacheEntry } from './cache.js';
import type { Repo } from '../../git/repo.js';
import { readWorktreeState, worktreeGitDir } from '../../git/worktree-state.js';

/** The limits an LRU pass of the cache keeps it within. */
export interface LruLimits {
  /** Drop least recently used entries until the cache is this small (each inode once). */
  maxBytes?: number;
  /** Drop entries unused this long. */
  olderThanMs?: number;
}

/**
 * The entries to drop, least recently used first, so that the rest stay within `limits`; an
 * entry some worktree was restored from (`inUse`) is never chosen. `entries` as
 * {@link listEntries} gives them (most recently used first). Changes nothing.
 */
export function entriesPastLimits(entries: readonly CacheEntry[], inUse: ReadonlySet<string>, limits: LruLimits, now = Date.now()): CacheEntry[] {
  const kept = [...entries].reverse();
  const dropped: CacheEntry[] = [];
  const drop = (e: CacheEntry) => {
    dropped.push(e);
    kept.splice(kept.indexOf(e), 1);
  };
  if (limits.olderThanMs !== undefined) {
    for (const e of [...kept]) if (!inUse.has(e.key) && now - Date.parse(e.meta.lastUsedAt) > limits.olderThanMs) drop(e);
  }
  if (limits.maxBytes !== undefined) {
    for (const e of [...kept]) {
      if (uniqueBytes(kept.map((k) => k.manifest)) <= limits.maxBytes) break;
      if (!inUse.has(e.key)) drop(e);
    }
  }
  return dropped;
}

/** Keys of the entries some worktree's dependencies were restored from, with those worktrees. */
export async function entriesInUse(repo: Repo): Promise<Map<string, string[]>> {
  const used = new Map<string, string[]>();
  await Promise.all(
    repo.worktrees
      .filter((w) => !w.bare)
      .map(async (w) => {
        const state = await readWorktreeState(await worktreeGitDir(w.path));
        const key = (state?.deps as { key?: string } | undefined)?.key;
        if (key) used.set(key, [...(used.get(key) ?? []), w.path]);
      }),
  );
  return used;
}
