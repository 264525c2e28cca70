import { basename, dirname } from 'node:path';
import { git } from '../core/exec.js';
import { CommandError, UsageError } from '../core/errors.js';
import { listWorktrees, type WorktreeEntry } from './worktree.js';

/** The repository a command runs in. */
export interface Repo {
  /** Directory the command was started in. */
  cwd: string;
  /** Absolute common git dir (`<main>/.git`), shared by every worktree; vtree's files live here. */
  commonDir: string;
  /** Absolute git dir of the worktree `cwd` is in. */
  gitDir: string;
  /** Root of the worktree `cwd` is in; null inside a bare repository. */
  toplevel: string | null;
  /** The main worktree's path (the repository directory itself when bare). */
  mainPath: string;
  /** The main worktree is a bare repository. */
  bare: boolean;
  /** Repository name: the main worktree's directory name, without `.git`. */
  name: string;
  /** Every worktree, main first. */
  worktrees: WorktreeEntry[];
}

/**
 * Finds the repository around `cwd` with two concurrent git calls. Throws a {@link UsageError}
 * outside a repository.
 */
export async function resolveRepo(cwd: string): Promise<Repo> {
  const revParse = git(cwd, ['rev-parse', '--path-format=absolute', '--git-common-dir', '--git-dir', '--is-bare-repository', '--show-toplevel'], {
    okCodes: [0, 128],
  });
  const worktrees = listWorktrees(cwd);
  // Outside a repository both fail; rev-parse's error is the one to report.
  worktrees.catch(() => undefined);
  let out: string;
  try {
    out = await revParse;
  } catch (error) {
    throw notARepo(cwd, error);
  }
  const [commonDir, gitDir, isBare, toplevel] = out.split('\n');
  if (!commonDir || !gitDir) throw notARepo(cwd);
  const list = await worktrees;
  const main = list[0];
  const mainPath = main?.path ?? (isBare === 'true' ? commonDir : dirname(commonDir));
  return {
    cwd,
    commonDir,
    gitDir,
    toplevel: isBare === 'true' ? null : (toplevel ?? null),
    mainPath,
    bare: main?.bare ?? isBare === 'true',
    name: basename(mainPath).replace(/\.git$/, '') || 'repo',
    worktrees: list,
  };
}

function notARepo(cwd: string, cause?: unknown): UsageError {
  const detail = cause instanceof CommandError && !/not a git repository/i.test(cause.stderr) ? `: ${cause.message}` : '';
  return new UsageError(`not inside a git repository: ${cwd}${detail}`, 'cd into a repository, or run `git init` first', { cause });
}
