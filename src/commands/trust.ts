import type { Args } from './spec.js';
import { ExitCode, VtreeError } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { canAsk, confirm } from '../core/prompt.js';
import { TEAM_CONFIG_FILE } from '../git/config.js';
import { readProjectTasks } from '../features/tasks/definitions.js';
import { describeTask, TRUST_COMMAND } from '../features/tasks/consent.js';
import { approveTasks, trustStates } from '../features/tasks/trust.js';
import { resolveRepoStage } from '../pipelines/repo-stage.js';
import { readSeedSpecs } from '../features/seed/definitions.js';
import { seedTasks } from '../pipelines/seed.js';

/**
 * `git vtree trust [--yes]`: shows the commands the committed `.vtreeconfig` asks vtree to run
 * (set-up and teardown tasks) that the user has not approved in this repository, and approves
 * them on `y` (or `--yes`). Without a terminal and without `--yes` it approves nothing and
 * exits 1, so a script never approves by accident.
 */
export default async function trust(args: Args, io: Io): Promise<number> {
  const { repo, config } = await resolveRepoStage(process.cwd());
  const committed = [...readProjectTasks(config, 'task'), ...readProjectTasks(config, 'teardown'), ...readSeedSpecs(config).flatMap(seedTasks)].filter((t) => t.committed);
  const states = await trustStates(repo.mainPath, committed);
  const pending = committed.filter((t) => states.get(t) !== 'approved');
  let approved = false;
  let shown = false;
  if (pending.length > 0) {
    if (args.yes) approved = true;
    else if (!io.json && canAsk()) {
      show();
      approved = await confirm('Approve these commands?');
    }
    if (approved) await approveTasks(repo.mainPath, pending);
  }
  if (io.json) {
    io.out(JSON.stringify({ ok: pending.length === 0 || approved, repo: repo.mainPath, approved, tasks: committed.map((t) => ({ kind: t.kind, name: t.name, run: t.run, state: pending.includes(t) && !approved ? states.get(t) : 'approved' })) }));
    return pending.length === 0 || approved ? ExitCode.ok : ExitCode.failed;
  }
  if (committed.length === 0) {
    io.log(`${TEAM_CONFIG_FILE} in ${repo.mainPath} defines no tasks: nothing to approve`);
    return ExitCode.ok;
  }
  if (pending.length === 0) {
    io.log(`All ${committed.length} task(s) of ${TEAM_CONFIG_FILE} in ${repo.mainPath} are approved on this machine`);
    return ExitCode.ok;
  }
  if (approved) {
    io.log(`Approved ${pending.map((t) => `${t.kind} ${t.name}`).join(', ')}: they run when worktrees of ${repo.mainPath} are set up (or removed), until their text changes`);
    return ExitCode.ok;
  }
  if (!shown) show();
  throw new VtreeError(`not approved: ${pending.length} task(s) of ${TEAM_CONFIG_FILE}`, `read them, then run: ${TRUST_COMMAND} --yes`);

  function show(): void {
    shown = true;
    io.log(`${TEAM_CONFIG_FILE} in ${repo.mainPath} asks to run:`);
    for (const task of pending) for (const line of describeTask(task, states.get(task))) io.log(line);
  }
}
