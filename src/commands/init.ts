import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import { installHooks } from '../git/hooks.js';
import type { Io } from '../core/output.js';
import { canAsk, confirm } from '../core/prompt.js';
import { reportHooks } from './hooks.js';

/**
 * `git vtree init`: the one step that sets a repository up for vtree. It installs the
 * post-checkout hook, so that worktrees made by plain `git worktree add`, an IDE or an agent
 * runner are set up too, and offers to adopt Cursor's worktree set-up commands
 * (`.cursor/worktrees.json`) as a project task (`--adopt-cursor` for scripts).
 */
export default async function init(args: Args, io: Io): Promise<number> {
  const result = await installHooks(process.cwd());
  const cursor = await offerCursorSetup(args, io);
  if (io.json) {
    io.out(JSON.stringify({ ok: true, hooks: result, ...(cursor ? { cursor } : {}) }));
    return ExitCode.ok;
  }
  reportHooks('install', result, io);
  io.log('Ready: `git vtree add <branch>` (or plain `git worktree add`) makes worktrees that are set up to work in.');
  io.log('Shell completion and `vtree cd <branch>`: eval "$(git vtree shell-init bash)" in ~/.bashrc (or zsh, fish); see `git vtree shell-init -h`.');
  return ExitCode.ok;
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
