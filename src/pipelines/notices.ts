import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { readJsonFile, writeFileAtomic } from '../core/files.js';
import { noticedPath, servicesStatusPath, tasksStatusPath } from '../core/paths.js';
import { exists } from '../core/files.js';

/**
 * One line naming what failed in the background since the set-up of the worktree `cwd` is in
 * (its stack's start job, its background tasks), the first time any vtree command runs there
 * after the failure; undefined when nothing failed or the user was told already. Costs a few
 * file reads: the worktree's git dir is found from its `.git` file, without running git.
 */
export async function backgroundFailureNotice(cwd: string): Promise<string | undefined> {
  const gitDir = await linkedGitDir(cwd);
  if (!gitDir || !((await exists(servicesStatusPath(gitDir))) || (await exists(tasksStatusPath(gitDir))))) return undefined;
  // The status readers alone: the Compose code (stack.js) stays unloaded on this path of every command.
  const [{ readServicesStatus }, { readTasksStatus }] = await Promise.all([import('../features/services/status.js'), import('../features/tasks/status.js')]);
  const [services, tasks] = await Promise.all([readServicesStatus(gitDir), readTasksStatus(gitDir)]);
  const failures: string[] = [];
  if (services?.state === 'failed') failures.push(`services: ${services.reason ?? 'failed'}`);
  const failedTasks = Object.entries(tasks?.tasks ?? {}).filter(([, t]) => t.state === 'failed' && t.background);
  if (failedTasks.length > 0) failures.push(`task ${failedTasks.map(([name, t]) => `${name} (${t.error ?? 'failed'})`).join(', ')}`);
  if (failures.length === 0) return undefined;
  // Told once per failure: the key changes when the stack or a task fails again.
  const key = JSON.stringify([services?.state === 'failed' ? services.updatedAt : '', failedTasks.map(([name, t]) => [name, t.endedAt])]);
  const noticed = await readJsonFile<{ key?: string }>(noticedPath(gitDir)).catch(() => undefined);
  if (noticed?.key === key) return undefined;
  await writeFileAtomic(noticedPath(gitDir), JSON.stringify({ key }) + '\n', { durable: false }).catch(() => undefined);
  return `git vtree: the set-up of this worktree failed: ${failures.join('; ')} (details: git vtree status, git vtree logs --job)`;
}

/** The git dir of the linked worktree `cwd` is in (from its `.git` file), or undefined. */
async function linkedGitDir(cwd: string): Promise<string | undefined> {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const text = await readFile(join(dir, '.git'), 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'EISDIR' ? '' : undefined));
    if (text !== undefined) {
      const match = /^gitdir: (.+)$/m.exec(text);
      return match ? resolve(dir, match[1]!.trim()) : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}
