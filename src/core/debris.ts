import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive } from './pid.js';
import { TEMP_NAME, tempNamePid } from './temp-name.js';

/**
 * What vtree's own temp files look like ({@link tempName}: atomic writes, lock files being
 * written). The pid in the name says whose they are, so a crash's leftovers can be told apart
 * from another run's work in progress, and from anything vtree did not create.
 */
export const TEMP_FILE = TEMP_NAME;

/** Deletes what `rm` renamed into vtree's trash directory (`trash`): only entries named as vtree names them. */
export async function emptyTrash(trash: string): Promise<void> {
  const entries = (await readdir(trash).catch(() => [] as string[])).filter((name) => tempNamePid(name) !== undefined);
  await Promise.all(entries.map((entry) => rm(join(trash, entry), { recursive: true, force: true, maxRetries: 3 })));
}

/**
 * Removes the entries of `dir` whose name matches `pattern` (its first group is the pid of the
 * run that made them) and whose run is dead: what a SIGKILL or a power cut left. `remove`
 * decides how (default: delete, recursively). Returns the names it handled. Cheap: one readdir.
 */
export async function reclaimDead(dir: string, pattern: RegExp, remove: (path: string) => Promise<void> = (path) => rm(path, { recursive: true, force: true })): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const dead = names.filter((name) => {
    const pid = Number(pattern.exec(name)?.[1]);
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isProcessAlive(pid);
  });
  await Promise.all(dead.map((name) => remove(join(dir, name))));
  return dead;
}
