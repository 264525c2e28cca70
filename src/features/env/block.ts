import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from '../../core/exec.js';
import { escapeRegExp } from '../../core/regexp.js';
import { writeWorktreeFile, type FileWrite, type IgnoreCheck } from '../../git/worktree-file.js';

/** First line of the block vtree owns in a worktree's `.env`. */
export const BLOCK_START = '# >>> git vtree: managed block, rewritten by `git vtree setup`; edit outside it >>>';
/** Last line of the block. */
export const BLOCK_END = '# <<< git vtree <<<';

/** The file Compose reads variables from. */
export const DOTENV = '.env';
/** Where the block goes when `.env` is tracked by git (or a symlink): never dirty a tracked file. */
export const FALLBACK_ENV_FILE = '.env.vtree';

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

/** `text` without vtree's block: the user's own lines. */
export function withoutEnvBlock(text: string): string {
  const span = findBlock(text);
  return span ? text.slice(0, span.start) + text.slice(span.end) : text;
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
 * The variables vtree's block in `text` sets, as written (quotes removed): what `git vtree wait`
 * tells an agent. Empty when there is no block.
 */
export function readEnvBlock(text: string): Record<string, string> {
  const span = findBlock(text);
  if (!span) return {};
  const values: Record<string, string> = {};
  for (const line of text.slice(span.start, span.end).split(/\r?\n/)) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    const raw = match[2]!;
    values[match[1]!] = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1).replace(/\\(["\\])/g, '$1') : raw;
  }
  return values;
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

/** Sets vtree's block in `<worktree>/<file>` to `values` (see {@link writeWorktreeFile}; `checked`: git asked ahead). */
export async function writeEnvBlock(worktree: string, commonDir: string, file: string, values: Readonly<Record<string, string | number>>, checked?: IgnoreCheck): Promise<FileWrite> {
  return writeWorktreeFile(worktree, commonDir, file, (before) => withEnvBlock(before ?? '', values), undefined, checked);
}
