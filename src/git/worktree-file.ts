import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../core/exec.js';
import { isErrno, writeFileAtomic } from '../core/files.js';
import { withLock } from '../core/lock.js';
import { lockPath } from '../core/paths.js';
import { escapeRegExp } from '../core/regexp.js';
import { listWorktrees } from './worktree.js';

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
  /**
   * A worktree (usually the main one) holding its own untracked file of this name, which an
   * `info/exclude` line would hide from its `git status`: so none was written.
   */
  notExcludedFor?: string;
}

/**
 * Writes `<worktree>/<file>` as `update` makes it from its current bytes, atomically, keeping the
 * file's mode (a `.env` holding secrets stays private; a new file gets `newMode`). When the file
 * is new and git does not ignore it, it is added to `<commonDir>/info/exclude` so that it never
 * shows up as an untracked change. That file is shared by every worktree, so when another one
 * (the main one, usually) holds its own untracked file of that name, which the line would hide,
 * no line is written and one an earlier run wrote is taken back (checked on every write, so a
 * file the user makes later is found by the next `add` or `setup`): `notExcludedFor` names it,
 * and vtree's file shows in this worktree's `git status` (`rm` knows it is vtree's).
 */
export async function writeWorktreeFile(worktree: string, commonDir: string, file: string, update: (before: string | null) => string, newMode?: number, checked?: IgnoreCheck): Promise<FileWrite> {
  const path = join(worktree, file);
  const [before, mode] = await Promise.all([readTextIfPresent(path), lstat(path).then((s) => s.mode & 0o777, () => newMode)]);
  const after = update(before);
  const write: FileWrite = { path, before, after, commonDir };
  const { rule } = checked ?? (await checkIgnored(worktree, file));
  const byOurLine = rule !== undefined && isOurExcludeLine(rule, file);
  if (rule === undefined || byOurLine) {
    // info/exclude is shared by every worktree: never let it hide a user's own untracked file.
    const owner = await untrackedElsewhere(worktree, file);
    if (owner) {
      write.notExcludedFor = owner;
      // A line an earlier run added hides it: take it back (docs/trust.md, "info/exclude").
      if (byOurLine) await removeExclude(commonDir, file);
    } else if (before === null && !byOurLine && (await addExclude(commonDir, file))) write.excluded = file;
  }
  if (after !== before) {
    await writeFileAtomic(path, after, mode === undefined ? {} : { mode });
  }
  return write;
}

/** The warning for a write that {@link writeWorktreeFile} could not hide from `git status`. */
export function notExcludedWarning(write: FileWrite, file: string): string | undefined {
  if (!write.notExcludedFor) return undefined;
  return `${file} is not hidden through .git/info/exclude: ${write.notExcludedFor} has its own untracked ${file}, which that would hide too; add ${file} to .gitignore to hide both`;
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

/**
 * The main worktree, when it holds an untracked, not ignored `file` of its own: the user's file an
 * `info/exclude` line for `file` would hide. `undefined` when it has none. Linked worktrees are
 * not asked: in those vtree set up, that file is vtree's own (copied and given its block), and
 * asking every worktree would cost two git calls each on every `add`.
 */
async function untrackedElsewhere(worktree: string, file: string): Promise<string | undefined> {
  for (const other of await listWorktrees(worktree)) {
    if (!other.main || other.bare || other.path === worktree) continue;
    if (!(await lstat(join(other.path, file)).then(() => true, () => false))) continue;
    const tracked = (await run('git', ['ls-files', '--', file], { cwd: other.path, okCodes: [0, 128] })).stdout !== '';
    if (tracked) continue;
    const rule = await ignoreRule(other.path, file);
    // Not ignored, or ignored only by the line vtree itself put in info/exclude: the user's own file.
    if (rule === undefined || isOurExcludeLine(rule, file)) return other.path;
  }
  return undefined;
}

/** True for the `/<file>` line of `info/exclude` that {@link addExclude} writes. */
function isOurExcludeLine(rule: { source: string; pattern: string }, file: string): boolean {
  return /(^|\/)info\/exclude$/.test(rule.source) && rule.pattern === `/${file}`;
}

/** Whether git ignores a file of a worktree, and by which rule: what {@link writeWorktreeFile} asks first. */
export interface IgnoreCheck {
  rule?: { source: string; pattern: string };
}

/**
 * Asks git ahead of {@link writeWorktreeFile} whether it ignores `file` in `worktree` (a process:
 * a caller on its way to something else asks before it has the file's content).
 */
export async function checkIgnored(worktree: string, file: string): Promise<IgnoreCheck> {
  const rule = await ignoreRule(worktree, file);
  return rule ? { rule } : {};
}

/** The rule that makes git ignore `file` in `worktree` (`git check-ignore -v`), or `undefined`. */
async function ignoreRule(worktree: string, file: string): Promise<{ source: string; pattern: string } | undefined> {
  const { code, stdout } = await run('git', ['check-ignore', '-v', '--no-index', '--', file], { cwd: worktree, okCodes: [0, 1] });
  const match = code === 0 ? /^(.*):\d+:(.*)\t/.exec(stdout) : null;
  return match ? { source: match[1]!, pattern: match[2]! } : undefined;
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
