import { existsSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { UsageError } from './errors.js';
import { isErrno } from './files.js';

/**
 * Makes the process's working directory one that exists where the shell thinks it is. A shell
 * left in a directory that was removed since (`git vtree rm` of the worktree it is in) starts every
 * command there: Node's `process.cwd()` then throws, or, while rm's background job has not deleted
 * it yet, answers with the directory's new place in the trash. The nearest existing ancestor of the
 * shell's `$PWD` is used instead, and the returned line says so; without one, a usage error says
 * what to do.
 */
export function ensureCwd(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const gone = env.PWD && isAbsolute(env.PWD) && !existsSync(env.PWD) ? env.PWD : undefined;
  try {
    process.cwd();
    if (!gone) return undefined;
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
  let dir = gone ? dirname(gone) : undefined;
  while (dir && !existsSync(dir)) dir = dir === dirname(dir) ? undefined : dirname(dir);
  if (!dir) throw new UsageError('the directory you are in no longer exists', 'cd to one that does, then run the command again');
  process.chdir(dir);
  return `note: ${gone} no longer exists; running in ${dir}`;
}
