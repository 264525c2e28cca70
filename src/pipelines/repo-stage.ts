import { loadConfig } from '../git/config.js';
import { UsageError } from '../core/errors.js';
import type { Task } from '../core/graph.js';
import { resolveRepo } from '../git/repo.js';
import type { RepoStage } from '../features/feature.js';

/** Name of the task that finds the repository and loads its config. */
export const RESOLVE_REPO = 'resolve-repo';

/**
 * Finds the repository around `cwd` and loads vtree's config; refuses a bare repository. Keys the
 * committed `.vtreeconfig` may not set are reported through `warn` (stderr by default), once.
 */
export async function resolveRepoStage(cwd: string, warn: (line: string) => void = warnOnStderr): Promise<RepoStage> {
  const found = resolveRepo(cwd);
  const loading = loadConfig(cwd, found.then((r) => r.toplevel ?? r.mainPath, () => null));
  // Outside a repository the config read fails too; the repository's error is the one to report.
  loading.catch(() => undefined);
  const repo = await found;
  if (repo.toplevel === null && repo.worktrees.every((w) => w.bare)) {
    throw new UsageError(`${repo.commonDir} is a bare repository without a worktree`, 'create one with `git worktree add <path> <branch>` and run vtree inside it');
  }
  const config = await loading;
  config.warnRefused(warn);
  return { repo, config };
}

function warnOnStderr(line: string): void {
  process.stderr.write(`warning: ${line}\n`);
}

/** The `resolve-repo` task, for pipelines whose repository is not known before they start. */
export function resolveRepoTask<C>(cwd: string): Task<C> {
  return { name: RESOLVE_REPO, run: ({ shared }) => resolveRepoStage(cwd, (shared as { warn?: (line: string) => void }).warn) };
}
