import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Args } from './spec.js';
import { ExitCode, UsageError } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { PACKAGE_ROOT } from '../core/package-root.js';

/** The completion script of each shell, in the package's `completions/` directory. */
export const COMPLETION_FILES = {
  bash: 'git-vtree.bash',
  zsh: '_git-vtree',
  fish: 'git-vtree.fish',
} as const satisfies Record<string, string>;

/** A shell vtree has completion and shell integration for. */
export type Shell = keyof typeof COMPLETION_FILES;

/** Reads the completion script for `shell` from the package's `completions/` directory. */
export async function completionScript(shell: string): Promise<string> {
  if (!Object.hasOwn(COMPLETION_FILES, shell)) {
    throw new UsageError(`no completion for shell '${shell}'`, `git vtree completion ${Object.keys(COMPLETION_FILES).join('|')}`);
  }
  const dir = join(PACKAGE_ROOT, 'completions');
  return readFile(join(dir, COMPLETION_FILES[shell as Shell]), 'utf8');
}

/**
 * `git vtree completion <shell>`: prints the completion script, to save where the shell loads
 * completions from. Completing never starts Node.js: the scripts use static word lists and git.
 */
export default async function completion(args: Args, io: Io): Promise<number> {
  io.out(await completionScript(String(args.shell)));
  return ExitCode.ok;
}
