import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import { installHooks, type HooksChange } from '../git/hooks.js';
import type { Io } from '../core/output.js';
import { reportHooks } from './hooks.js';
import type { ClaudeHooksChange } from '../pipelines/claude-settings.js';

/**
 * `git vtree init`: the one step that sets a repository up for vtree. It installs the
 * post-checkout hook, so that worktrees made by plain `git worktree add`, an IDE or an agent
 * runner are set up too; with `--claude`, it also makes vtree Claude Code's WorktreeCreate,
 * WorktreeRemove and SessionStart hooks, in the project's settings or (`--user`) the user's.
 */
export default async function init(args: Args, io: Io): Promise<number> {
  // `--claude --user` outside a repository only writes the user's settings.
  const inRepository = !(args.claude && args.user) || (await import('../git/repo.js').then(({ resolveRepo }) => resolveRepo(process.cwd()).then(() => true, () => false)));
  const result: HooksChange | undefined = inRepository ? await installHooks(process.cwd()) : undefined;
  let claude: ClaudeHooksChange | undefined;
  if (args.claude) {
    const [{ claudeSettingsPath, installClaudeHooks }, { resolveRepo }] = await Promise.all([import('../pipelines/claude-settings.js'), import('../git/repo.js')]);
    const project = args.user ? '' : await resolveRepo(process.cwd()).then((r) => r.toplevel ?? r.mainPath);
    claude = await installClaudeHooks(claudeSettingsPath(project, Boolean(args.user)));
  }
  if (io.json) {
    io.out(JSON.stringify({ ok: true, ...(result ? { hooks: result } : {}), ...(claude ? { claude } : {}) }));
    return ExitCode.ok;
  }
  if (result) reportHooks('install', result, io);
  if (claude) {
    io.log(claude.changed ? `Claude Code hooks (${claude.added.join(', ')}) added to ${claude.file}` : `Claude Code hooks are already in ${claude.file}`);
    io.log('  claude --worktree <name> now gets a worktree set up by vtree; an agent can run `git vtree wait` until it is ready (docs/agents.md).');
  }
  io.log('Ready: `git vtree add <branch>` (or plain `git worktree add`) makes worktrees that are set up to work in.');
  io.log('Shell completion and `vtree cd <branch>`: eval "$(git vtree shell-init bash)" in ~/.bashrc (or zsh, fish); see `git vtree shell-init -h`.');
  return ExitCode.ok;
}
