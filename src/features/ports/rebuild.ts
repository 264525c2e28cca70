import { readdir, realpath, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readWorktreeState } from '../../git/worktree-state.js';
import type { PortLease } from './lease.js';

/** What {@link rebuildLeases} recovered from a corrupt registry. */
export interface RebuiltRegistry {
  leases: Record<string, PortLease>;
  /** Where the corrupt file was moved (kept for the user, never deleted). */
  corruptCopy: string;
  /** The repositories whose worktrees were read. */
  repos: string[];
}

/**
 * Recovers the port registry from the worktrees that exist, when `ports.json` at `path` cannot be
 * parsed: every worktree vtree set up records its ports in its `vtree.json`. The repositories to
 * read are `knownRepos` (the caller's) plus every `"repo"` path still legible in the corrupt text.
 * The corrupt file is moved aside to `<path>.corrupt-<time>`, not deleted. Call under the
 * registry's lock.
 */
export async function rebuildLeases(path: string, corruptText: string, knownRepos: readonly string[]): Promise<RebuiltRegistry> {
  const legible = [...corruptText.matchAll(/"repo"\s*:\s*("(?:[^"\\]|\\.)*")/g)].map((m) => {
    try {
      return JSON.parse(m[1]!) as string;
    } catch {
      return undefined;
    }
  });
  const repos = [...new Set([...knownRepos, ...legible].filter((r): r is string => typeof r === 'string'))];
  const leases: Record<string, PortLease> = {};
  for (const repo of repos) {
    for (const lease of await leasesOfRepo(repo)) leases[String(lease.port)] ??= lease;
  }
  const corruptCopy = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await rename(path, corruptCopy);
  return { leases, corruptCopy, repos };
}

/** The leases the `vtree.json` of each worktree of the repository with common dir `repo` records. */
async function leasesOfRepo(repo: string): Promise<PortLease[]> {
  const adminDirs = await readdir(join(repo, 'worktrees')).then(
    (names) => names.map((n) => join(repo, 'worktrees', n)),
    () => [] as string[],
  );
  const leases: PortLease[] = [];
  // The main worktree's git dir is the common dir itself.
  for (const gitDir of [repo, ...adminDirs]) {
    const state = await readWorktreeState(gitDir);
    const ports = state?.ports;
    if (!state || typeof state.path !== 'string' || typeof ports !== 'object' || ports === null) continue;
    const worktree = await realpath(state.path).catch(() => undefined);
    if (worktree === undefined || !(await stat(worktree)).isDirectory()) continue;
    for (const [variable, port] of Object.entries(ports as Record<string, unknown>)) {
      if (!Number.isInteger(port)) continue;
      leases.push({ port: port as number, variable, worktree, repo, leasedAt: typeof state.createdAt === 'string' ? state.createdAt : new Date().toISOString() });
    }
  }
  return leases;
}
