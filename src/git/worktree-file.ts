import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../core/exec.js';
import { isErrno, writeFileAtomic } from '../core/files.js';
import { withLock } from '../core/lock.js';
import { lockPath } from '../core/paths.js';
import { escapeRegExp } from '../core/regexp.js';

// Files vtree writes into a worktree (.env, .mcp.json): written atomically, undone exactly, and kept
// out of `git status` through the repository's info/exclude.

/** How vtree wrote a file of a worktree, so it can be put back exactly. */
export interface FileWrite {
  /** Absolute path of the file written. */
  path: string;
  /** Its bytes before, or null when it did not exist. */
  before: string | null;
  /** Its bytes after. */
  after: string;
  /** The repository's common git dir. */
  commonDir: string;
  /** Path (relative to the worktree) added to the repository's `info/exclude` by this write. */
  excluded?: string;
}

/**
 * Writes `<worktree>/<file>` as `update` makes it from its current bytes, atomically, keeping the
 * file's mode (a `.env` holding secrets stays private; a new file gets `newMode`). When the file
 * is new and git does not ignore it, it is added to `<commonDir>/info/exclude` so that it never
 * shows up as an untracked change (nor makes `rm` refuse).
 */
export async function writeWorktreeFile(worktree: string, commonDir: string, file: string, update: (before: string | null) => string, newMode?: number): Promise<FileWrite> {
  const path = join(worktree, file);
  const [before, mode] = await Promise.all([readTextIfPresent(path), lstat(path).then((s) => s.mode & 0o777, () => newMode)]);
  const after = update(before);
  const write: FileWrite = { path, before, after, commonDir };
  if (before === null && !(await isIgnored(worktree, file))) {
    if (await addExclude(commonDir, file)) write.excluded = file;
  }
  if (after !== before) {
    await writeFileAtomic(path, after, mode === undefined ? {} : { mode });
  }
  return write;
}

/**
 * Puts a file back as it was before {@link writeWorktreeFile}, unless someone changed it since
 * (their edit wins over a rollback), and takes back the exclude line it added.
 */
export async function undoFileWrite(write: FileWrite): Promise<void> {
  const now = await readTextIfPresent(write.path);
  if (now === write.after && write.after !== write.before) {
    if (write.before === null) await rm(write.path, { force: true });
    else await writeFileAtomic(write.path, write.before);
  }
  if (write.excluded) await removeExclude(write.commonDir, write.excluded);
}

/** The text of `path`, or null when it does not exist. */
export async function readTextIfPresent(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return null;
    throw error;
  }
}

/** Whether git ignores `file` in `worktree` (exit 1 means "not ignored"). */
export async function isIgnored(worktree: string, file: string): Promise<boolean> {
  const { code } = await run('git', ['check-ignore', '-q', '--no-index', '--', file], { cwd: worktree, okCodes: [0, 1] });
  return code === 0;
}

function excludePath(commonDir: string): string {
  return join(commonDir, 'info', 'exclude');
}

/**
 * Adds `/<file>` to the repository's `info/exclude` (local, untracked, shared by its worktrees).
 * Returns false when the line was there already.
 */
export async function addExclude(commonDir: string, file: string): Promise<boolean> {
  const line = `/${file}`;
  return withLock(lockPath(commonDir, 'info-exclude'), async () => {
    const text = (await readTextIfPresent(excludePath(commonDir))) ?? '';
    if (text.split(/\r?\n/).includes(line)) return false;
    await writeFileAtomic(excludePath(commonDir), `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${line}\n`);
    return true;
  });
}

/** Removes the `/<file>` line {@link addExclude} added; other lines stay byte for byte. */
export async function removeExclude(commonDir: string, file: string): Promise<void> {
  await withLock(lockPath(commonDir, 'info-exclude'), async () => {
    const text = await readTextIfPresent(excludePath(commonDir));
    if (text === null) return;
    const kept = text.replace(new RegExp(`^/${escapeRegExp(file)}\\r?\\n`, 'm'), '');
    if (kept !== text) await writeFileAtomic(excludePath(commonDir), kept);
  });
}
