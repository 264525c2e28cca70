import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { git, run } from './exec.js';
import { isErrno, writeFileAtomic } from './files.js';
import { escapeRegExp } from './regexp.js';
import { withLock } from './lock.js';
import { lockPath } from './paths.js';
import { shortHash } from './slug.js';

/** First line of the block vtree owns in a worktree's `.env`. */
export const BLOCK_START = '# >>> git vtree: managed block, rewritten by `git vtree setup`; edit outside it >>>';
/** Last line of the block. */
export const BLOCK_END = '# <<< git vtree <<<';

/** The file Compose reads variables from. */
export const DOTENV = '.env';
/** Where the block goes when `.env` is tracked by git (or a symlink): never dirty a tracked file. */
export const FALLBACK_ENV_FILE = '.env.vtree';

/**
 * The Compose project name of a worktree, `<repo>-<slug>`, made valid for Compose (lowercase
 * letters, digits, `-` and `_`, starting with a letter or digit). When that changes anything (case,
 * dots, other scripts), a short hash of the original is appended, so distinct worktrees keep
 * distinct names: `Feat` and `feat`, or `feat/É` and `feat/È`, must not share containers.
 */
export function composeProjectName(repoName: string, slug: string): string {
  const raw = `${repoName}-${slug}`;
  const lower = raw.toLowerCase();
  const valid = lower
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  if (valid === raw) return valid;
  return `${valid.replace(/-$/, '') || 'vtree'}-${shortHash(raw)}`;
}

/** A line `NAME=value` of the block, quoted for dotenv parsers (Compose's and Node's) when needed. */
function assignment(name: string, value: string | number): string {
  const text = String(value);
  return /^[A-Za-z0-9_./:,@+=-]*$/.test(text) ? `${name}=${text}` : `${name}="${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * `text` (a dotenv file, possibly empty) with vtree's block set to `values`: an existing block is
 * replaced where it stands, otherwise the block is appended, after the user's lines so its values
 * win over copies from the main worktree. Every byte outside the block is kept; the same input
 * always gives the same output.
 */
export function withEnvBlock(text: string, values: Readonly<Record<string, string | number>>): string {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const block = [BLOCK_START, ...Object.entries(values).map(([k, v]) => assignment(k, v)), BLOCK_END].join(eol) + eol;
  const span = findBlock(text);
  if (span) return text.slice(0, span.start) + block + text.slice(span.end);
  if (text === '') return block;
  const separator = text.endsWith('\n') ? '' : eol;
  return text + separator + block;
}

/** Where the block is: from the start line to just past the end line's newline. */
function findBlock(text: string): { start: number; end: number } | undefined {
  const startMatch = new RegExp(`^${escapeRegExp(BLOCK_START)}\\r?$`, 'm').exec(text);
  if (!startMatch) return undefined;
  const endPattern = new RegExp(`^${escapeRegExp(BLOCK_END)}\\r?(\\n|$)`, 'm');
  const rest = text.slice(startMatch.index);
  const endMatch = endPattern.exec(rest);
  // A start marker without its end (someone cut the file): the block runs to the end of the file.
  const end = endMatch ? startMatch.index + endMatch.index + endMatch[0].length : text.length;
  return { start: startMatch.index, end };
}

/**
 * Variables the user sets *after* the block, which therefore override vtree's values (Compose
 * and dotenv take the last assignment). Reported, never changed.
 */
export function shadowedVariables(text: string, names: readonly string[]): string[] {
  const span = findBlock(text);
  if (!span) return [];
  const after = text.slice(span.end);
  return names.filter((name) => new RegExp(`^\\s*(export\\s+)?${escapeRegExp(name)}\\s*=`, 'm').test(after));
}

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

/** Which file of the worktree takes the block, and why. */
export interface EnvTarget {
  /** Relative to the worktree: `.env`, or {@link FALLBACK_ENV_FILE}. */
  file: string;
  /** Why not `.env`, if not. */
  reason?: 'tracked' | 'symlink';
}

/**
 * `.env`, unless git tracks it (writing would dirty the checkout) or it is a symlink (writing
 * through it would change the file it points to, often the main worktree's).
 */
export async function chooseEnvTarget(worktree: string): Promise<EnvTarget> {
  const [tracked, link] = await Promise.all([
    git(worktree, ['ls-files', '--', DOTENV]).then((out) => out !== ''),
    lstat(join(worktree, DOTENV)).then(
      (s) => s.isSymbolicLink(),
      () => false,
    ),
  ]);
  if (tracked) return { file: FALLBACK_ENV_FILE, reason: 'tracked' };
  if (link) return { file: FALLBACK_ENV_FILE, reason: 'symlink' };
  return { file: DOTENV };
}

/** Sets vtree's block in `<worktree>/<file>` to `values` (see {@link writeWorktreeFile}). */
export async function writeEnvBlock(worktree: string, commonDir: string, file: string, values: Readonly<Record<string, string | number>>): Promise<FileWrite> {
  return writeWorktreeFile(worktree, commonDir, file, (before) => withEnvBlock(before ?? '', values));
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
