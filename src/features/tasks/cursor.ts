import { readFile } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { run } from '../../core/exec.js';
import { isErrno } from '../../core/files.js';
import { TEAM_CONFIG_FILE } from '../../git/config.js';
import type { ProjectTask } from './definitions.js';

/** Where Cursor keeps a project's worktree set-up commands, relative to the repository root. */
export const CURSOR_WORKTREES_FILE = join('.cursor', 'worktrees.json');

/** The task `git vtree init` adopts Cursor's set-up commands as. */
export const CURSOR_TASK = 'cursor-setup';

/**
 * The shell command line equivalent to Cursor's worktree set-up in `root`, if it has one:
 * `setup-worktree-unix` (over the generic `setup-worktree`) is either an array of commands,
 * run one after another in the worktree and stopping at the first failure, or the path of a
 * script relative to `.cursor/`. Cursor's commands read `$ROOT_WORKTREE_PATH`, which vtree sets
 * for every task. Undefined when there is no file or it sets nothing up.
 */
export async function cursorSetupCommand(root: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(join(root, CURSOR_WORKTREES_FILE), 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return undefined;
    throw error;
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const setup = parsed['setup-worktree-unix'] ?? parsed['setup-worktree'];
  if (Array.isArray(setup)) {
    const commands = setup.filter((c): c is string => typeof c === 'string' && c.trim() !== '');
    return commands.length > 0 ? ['set -e', ...commands].join('\n') : undefined;
  }
  if (typeof setup === 'string' && setup.trim() !== '') {
    const script = normalize(join('.cursor', setup.trim()));
    // A script outside the repository is not the project's own.
    if (script.startsWith(`..${sep}`) || script === '..' || script.startsWith(sep)) return undefined;
    return `sh './${script.replaceAll("'", `'\\''`)}'`;
  }
  return undefined;
}

/** Writes the adopted command into the repository's `.vtreeconfig` as task `cursor-setup`. */
export async function adoptCursorSetup(root: string, command: string): Promise<ProjectTask> {
  // As git config reads it back (and vtree hashes it for approval): without surrounding blanks.
  command = command.trim();
  await run('git', ['config', '-f', join(root, TEAM_CONFIG_FILE), `vtree.task.${CURSOR_TASK}.run`, command], { cwd: root });
  return { kind: 'task', name: CURSOR_TASK, run: command, after: [], background: false, optional: false, committed: true };
}
