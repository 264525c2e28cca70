import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import { installHooks, type HooksChange } from '../git/hooks.js';
import type { Io } from '../core/output.js';
import { canAsk, confirm } from '../core/prompt.js';
import { reportHooks } from './hooks.js';
import type { ClaudeHooksChange } from '../pipelines/claude-settings.js';

/**
 * `git vtree init`: the one step that sets a repository up for vtree. It installs the
 * post-checkout hook, so that worktrees made by plain `git worktree add`, an IDE or an agent
 * runner are set up too; offers to adopt Cursor's worktree set-up commands (`.cursor/worktrees.json`)
 * as a project task (`--adopt-cursor` for scripts); with `--claude`, it also makes vtree Claude Code's
 * WorktreeCreate, WorktreeRemove and SessionStart hooks, in the project's settings or (`--user`) the user's.
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
  const cursor = repo ? await offerCursorSetup(args, io) : undefined;
  let claude: ClaudeHooksChange | undefined;
  if (claudeFor) {
    const { claudeSettingsPath, installClaudeHooks } = await import('../pipelines/claude-settings.js');
    claude = await installClaudeHooks(claudeSettingsPath(repo?.toplevel ?? repo?.mainPath ?? '', claudeFor === 'user'));
    if (!onPath(ENSURE_SETUP)) io.warn(`${ENSURE_SETUP} is not on PATH, so Claude Code's SessionStart hook will not find it: run install.sh (or npm install -g) from the git vtree package`);
  }
  if (io.json) {
    io.out(JSON.stringify({ ok: true, ...(hooks ? { hooks } : {}), ...(cursor ? { cursor } : {}), ...(claude ? { claude } : {}) }));
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

/**
 * Finds Cursor's set-up commands in the main worktree and, when the user agrees (or passed
 * `--adopt-cursor`), writes them into `.vtreeconfig` as task `cursor-setup` and approves it:
 * the user just read it. Nothing when there is none or the task exists already.
 */
async function offerCursorSetup(args: Args, io: Io): Promise<{ command: string; adopted: boolean } | undefined> {
  const [{ resolveRepoStage }, { adoptCursorSetup, cursorSetupCommand, CURSOR_TASK, CURSOR_WORKTREES_FILE }] = await Promise.all([
    import('../pipelines/repo-stage.js'),
    import('../features/tasks/cursor.js'),
  ]);
  const { repo, config } = await resolveRepoStage(process.cwd());
  if (repo.bare || config.string(`vtree.task.${CURSOR_TASK}.run`) !== undefined) return undefined;
  const command = await cursorSetupCommand(repo.mainPath);
  if (command === undefined) return undefined;
  let adopt = Boolean(args.adoptCursor);
  if (!adopt && !io.json && canAsk()) {
    io.log(`${CURSOR_WORKTREES_FILE} sets worktrees up with:`);
    for (const line of command.split('\n')) io.log(`    ${line}`);
    adopt = await confirm(`Run this for every worktree too (as task ${CURSOR_TASK} in .vtreeconfig)?`);
  }
  if (!adopt) {
    if (!io.json) io.log(`${CURSOR_WORKTREES_FILE} has set-up commands; to run them in every worktree: git vtree init --adopt-cursor`);
    return { command, adopted: false };
  }
  const { approveTasks } = await import('../features/tasks/trust.js');
  await approveTasks(repo.mainPath, [await adoptCursorSetup(repo.mainPath, command)]);
  if (!io.json) io.log(`Added task ${CURSOR_TASK} to .vtreeconfig (commit it to share it); see docs/tasks.md`);
  return { command, adopted: true };
}
