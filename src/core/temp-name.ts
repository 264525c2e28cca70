/**
 * Names of vtree's own temporary files and directories: `.vtree-tmp-<pid>-<8 hex>-<label>`.
 * Every cleanup deletes only names of this form, inside vtree's own directories, so "vtree never
 * deletes what it did not create" can be checked by reading a name; the pid tells a crashed
 * run's leftovers (dead pid) from work in progress.
 */
export const TEMP_PREFIX = '.vtree-tmp-';

/** Matches a name made by {@link tempName}; its first group is the pid of the run that made it. */
export const TEMP_NAME = /^\.vtree-tmp-(\d+)-[0-9a-f]{8}-/;

/** A fresh temp name for `label` (one path segment: `/` becomes `-`), carrying this process's pid. */
export function tempName(label: string): string {
  // Math.random, not node:crypto: the names only need to differ between runs and within one (the
  // pid does the first), they sit in vtree's own directories, and loading node:crypto costs 6 ms
  // of start-up on commands that never hash anything (`list`).
  const random = Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return `${TEMP_PREFIX}${process.pid}-${random}-${label.replaceAll('/', '-')}`;
}

/** The pid of the process that made `name` with {@link tempName}; `undefined` when vtree did not make it. */
export function tempNamePid(name: string): number | undefined {
  const match = TEMP_NAME.exec(name);
  return match ? Number(match[1]) : undefined;
}
