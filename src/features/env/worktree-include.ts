import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, readlink, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isPlainRelative, resolvesInside } from '../../core/confine.js';
import { git, run } from '../../core/exec.js';
import { exists, isErrno } from '../../core/files.js';

/** Name of the file listing, in gitignore syntax, the ignored files a new worktree needs. */
export const WORKTREE_INCLUDE = '.worktreeinclude';

/** What is copied when a repository has no `.worktreeinclude`. */
export const DEFAULT_INCLUDE: readonly string[] = ['.env', '.env.local', '.env.*.local'];

/**
 * Files of the worktree at `source` that `.worktreeinclude` (or {@link DEFAULT_INCLUDE}) names
 * and that git ignores: never a tracked or merely untracked file. Two git calls: the ignored
 * paths ({@link ignoredPaths}, given or listed here), then those of them the include patterns
 * match. Paths are relative to `source`.
 */
export async function includedFiles(source: string, ignoredList?: readonly string[]): Promise<string[]> {
  const includeFile = join(source, WORKTREE_INCLUDE);
  const patterns = (await exists(includeFile)) ? [`--exclude-from=${includeFile}`] : DEFAULT_INCLUDE.map((p) => `--exclude=${p}`);
  const ignored = (ignoredList ?? (await ignoredPaths(source))).filter((p) => !/(^|\/)node_modules\/$/.test(p));
  if (ignored.length === 0) return [];
  const pathspecs = ignored.map((p) => `:(literal)${p}`);
  const matched = await git(source, ['ls-files', '-z', '--others', '--ignored', ...patterns, '--', ...pathspecs]);
  // Of those, only what the repository's own ignore rules ignore (a pattern may match untracked
  // files inside an ignored directory that are themselves re-included).
  const candidates = matched.split('\0').filter(Boolean);
  if (candidates.length === 0) return [];
  const { stdout } = await run('git', ['check-ignore', '-z', '--stdin'], { cwd: source, input: candidates.join('\0'), okCodes: [0, 1] });
  return stdout.split('\0').filter(Boolean).sort();
}

/**
 * The ignored paths of the worktree at `source`, ignored directories collapsed (`dist/`, so
 * node_modules is not walked): one walk over the worktree.
 */
export async function ignoredPaths(source: string): Promise<string[]> {
  return (await git(source, ['ls-files', '-z', '--others', '--ignored', '--exclude-standard', '--directory', '--no-empty-directory'])).split('\0').filter(Boolean);
}

/**
 * Copies (never links: each worktree edits its own `.env`) `files` from `source` to `dest`,
 * keeping modes. A file already in `dest` is left alone. A symlink is recreated as the same
 * symlink: nothing is read through it, so a link to a file outside the repository (yours, say
 * `.env -> ~/secrets/app.env`) reaches the new worktree as a link, not as a copy of what it
 * points to. A path that leads out of either worktree (through `..` or a directory that is a
 * symlink, for example a tracked one in the new branch) is skipped with a warning: the list
 * comes from a committed file. Returns the files it copied.
 */
export async function copyIncluded(source: string, dest: string, files: readonly string[], warn: (line: string) => void = () => undefined): Promise<string[]> {
  const copied = await Promise.all(
    files.map(async (file) => {
      // The file itself may be a link (recreated below); the directories on the way may not leave.
      const from = join(source, file);
      const to = join(dest, file);
      const inside = isPlainRelative(file) && (await resolvesInside(source, dirname(from))) && (await resolvesInside(dest, dirname(to)));
      if (!inside) {
        warn(`not copying ${file}: it leads outside the worktree (${WORKTREE_INCLUDE})`);
        return undefined;
      }
      try {
        await mkdir(dirname(to), { recursive: true });
        const info = await lstat(from);
        if (info.isSymbolicLink()) await symlink(await readlink(from), to);
        else if (info.isFile()) await copyFile(from, to, constants.COPYFILE_EXCL);
        else return undefined;
        return file;
      } catch (error) {
        if (isErrno(error, 'EEXIST', 'ENOENT')) return undefined;
        throw error;
      }
    }),
  );
  return copied.filter((f): f is string => f !== undefined);
}
