import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
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
  const claudeFor = args.claude ? (args.user ? 'user' : 'project') : undefined;
  const { resolveRepo } = await import('../git/repo.js');
  const repo = await resolveRepo(process.cwd()).catch((error: unknown) => {
    // Only the user's Claude Code settings can be written outside a repository.
    if (claudeFor === 'user') return undefined;
    throw error;
  });
  const hooks: HooksChange | undefined = repo ? await installHooks(process.cwd()) : undefined;
  let claude: ClaudeHooksChange | undefined;
  if (claudeFor) {
    const { claudeSettingsPath, installClaudeHooks } = await import('../pipelines/claude-settings.js');
    claude = await installClaudeHooks(claudeSettingsPath(repo?.toplevel ?? repo?.mainPath ?? '', claudeFor === 'user'));
    if (!onPath(ENSURE_SETUP)) io.warn(`${ENSURE_SETUP} is not on PATH, so Claude Code's SessionStart hook will not find it: run install.sh (or npm install -g) from the git vtree package`);
  }
  if (io.json) {
    io.out(JSON.stringify({ ok: true, ...(hooks ? { hooks } : {}), ...(claude ? { claude } : {}) }));
    return ExitCode.ok;
  }
  if (hooks) reportHooks('install', hooks, io);
  if (claude) {
    io.log(claude.changed ? `Claude Code hooks (${claude.added.join(', ')}) added to ${claude.file}` : `Claude Code hooks are already in ${claude.file}`);
    io.log('  claude --worktree <name> now gets a worktree set up by vtree; an agent can run `git vtree wait` until it is ready (docs/agents.md).');
  }
  io.log('Ready: `git vtree add <branch>` (or plain `git worktree add`) makes worktrees that are set up to work in.');
  io.log('Shell completion and `vtree cd <branch>`: eval "$(git vtree shell-init bash)" in ~/.bashrc (or zsh, fish); see `git vtree shell-init -h`.');
  return ExitCode.ok;
}

/** The no-Node.js set-up check the SessionStart hook runs (hooks/ensure-setup, linked onto PATH). */
const ENSURE_SETUP = 'git-vtree-ensure-setup';

/** Whether an executable file `name` is in a directory of PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
