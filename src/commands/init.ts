import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import { installHooks } from '../git/hooks.js';
import type { Io } from '../core/output.js';
import { reportHooks } from './hooks.js';

/**
 * `git vtree init`: the one step that sets a repository up for vtree. Today that is installing
 * the post-checkout hook, so that worktrees made by plain `git worktree add`, an IDE or an agent
 * runner are set up too.
 */
export default async function init(_args: Args, io: Io): Promise<number> {
  const result = await installHooks(process.cwd());
  if (io.json) {
    io.out(JSON.stringify({ ok: true, hooks: result }));
    return ExitCode.ok;
  }
  reportHooks('install', result, io);
  io.log('Ready: `git vtree add <branch>` (or plain `git worktree add`) makes worktrees that are set up to work in.');
  io.log('Shell completion and `vtree cd <branch>`: eval "$(git vtree shell-init bash)" in ~/.bashrc (or zsh, fish); see `git vtree shell-init -h`.');
  return ExitCode.ok;
}
