import type { Args } from './spec.js';
import { TRUST_COMMAND } from '../core/consent.js';
import { ExitCode, VtreeError } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { canAsk, confirm } from '../core/prompt.js';
import { TEAM_CONFIG_FILE } from '../git/config.js';
import { composeCacheDir } from '../core/paths.js';
import { readProjectTasks } from '../features/tasks/definitions.js';
import { describeTask } from '../features/tasks/consent.js';
import { approveTasks, trustStates } from '../features/tasks/trust.js';
import { composeFileSettings, directorySource, discoverCompose } from '../features/services/compose.js';
import { approveStack, describeStack, stackTrust } from '../features/services/consent.js';
import { resolveRepoStage } from '../pipelines/repo-stage.js';
import { readSeedSpecs } from '../features/seed/definitions.js';
import { seedTasks } from '../pipelines/seed.js';
import { commitFiles, detectProject } from '../features/deps/package-manager.js';
import { approvePrograms, DEPS_TRUSTED_KEY, describePrograms, pendingPrograms } from '../features/deps/consent.js';

/**
 * `git vtree trust [--yes]`: shows what the repository asks vtree to run that the user has not
 * approved on this machine: the commands of the committed `.vtreeconfig` (set-up and teardown
 * tasks), the Compose stack (its services, images and host access) and the programs an install
 * of its dependencies runs of its own (lifecycle scripts, pnpmfile, yarn release, config settings naming programs), the last two
 * as the worktree this runs in has them, and approves them on `y` (or `--yes`). Without a
 * terminal and without `--yes` it approves nothing and exits 1, so a script never approves by
 * accident.
 */
export default async function trust(args: Args, io: Io): Promise<number> {
  const { repo, config } = await resolveRepoStage(process.cwd());
  const committed = [...readProjectTasks(config, 'task'), ...readProjectTasks(config, 'teardown'), ...readSeedSpecs(config).flatMap(seedTasks)].filter((t) => t.committed);
  const states = await trustStates(repo.mainPath, committed);
  const pending = committed.filter((t) => states.get(t) !== 'approved');
  const dir = repo.toplevel ?? repo.mainPath;
  const model = await discoverCompose(directorySource(dir), await composeFileSettings(config.list('vtree.compose.files'), repo.mainPath), composeCacheDir(repo.commonDir));
  const stack = model.files.length > 0 && !model.error ? await stackTrust(repo.mainPath, model, config, dir) : undefined;
  const stackPending = stack !== undefined && (stack.state === 'new' || stack.state === 'changed');
  // A worktree without a commit, or without a package.json, installs nothing.
  const programs = (await detectProject(commitFiles(dir, 'HEAD')).catch(() => undefined))?.programs ?? [];
  // The user's own git config trusts this repository's install scripts: nothing to approve.
  const installOwn = config.boolean(DEPS_TRUSTED_KEY, false);
  const installPending = installOwn ? [] : await pendingPrograms(repo.mainPath, programs);
  const anything = pending.length > 0 || stackPending || installPending.length > 0;
  let approved = false;
  let shown = false;
  if (anything) {
    if (args.yes) approved = true;
    else if (!io.json && canAsk()) {
      show();
      approved = await confirm(stackPending ? 'Approve these commands and this stack?' : 'Approve these commands?');
    }
    if (approved) {
      await approveTasks(repo.mainPath, pending);
      await approvePrograms(repo.mainPath, installPending.map((p) => p.program));
      if (stackPending) await approveStack(repo.mainPath, stack.hostAccess);
    }
  }
  const ok = !anything || approved;
  if (io.json) {
    const stackJson = stack ? { files: model.files, services: model.services.map((s) => ({ name: s.name, ...(s.image ? { image: s.image } : {}), build: s.build })), hostAccess: stack.hostAccess, state: stackPending && !approved ? stack.state : stack.state === 'own' ? 'own' : 'approved' } : null;
    const install = programs.map((program) => ({ name: program.name, run: program.text, state: installOwn ? 'own' : (!approved && installPending.find((p) => p.program === program)?.state) || 'approved' }));
    io.out(JSON.stringify({ ok, repo: repo.mainPath, approved, tasks: committed.map((t) => ({ kind: t.kind, name: t.name, run: t.run, state: pending.includes(t) && !approved ? states.get(t) : 'approved' })), stack: stackJson, install }));
    return ok ? ExitCode.ok : ExitCode.failed;
  }
  if (committed.length === 0 && !stack && programs.length === 0) {
    io.log(`${TEAM_CONFIG_FILE} in ${repo.mainPath} defines no tasks, there is no Compose stack and the install runs no script of the repository's: nothing to approve`);
    return ExitCode.ok;
  }
  if (!anything) {
    const parts = [
      committed.length > 0 ? `all ${committed.length} task(s) of ${TEAM_CONFIG_FILE}` : '',
      stack ? `the Compose stack${stack.state === 'own' ? ' (vtree.services.trusted in your git config)' : ''}` : '',
      programs.length > 0 ? `the install's ${programs.length} script(s)${installOwn ? ` (${DEPS_TRUSTED_KEY} in your git config)` : ''}` : '',
    ].filter(Boolean);
    io.log(`In ${repo.mainPath}, ${parts.join(' and ')}: approved on this machine`);
    return ExitCode.ok;
  }
  if (approved) {
    const parts = [...pending.map((t) => `${t.kind} ${t.name}`), ...installPending.map((p) => p.program.name), ...(stackPending ? ['the Compose stack'] : [])];
    io.log(`Approved ${parts.join(', ')}: they run when worktrees of ${repo.mainPath} are set up (or removed), until their text changes${stackPending ? ' (the stack: until it asks for more host access)' : ''}`);
    return ExitCode.ok;
  }
  if (!shown) show();
  const what = [
    pending.length > 0 ? `${pending.length} task(s) of ${TEAM_CONFIG_FILE}` : '',
    installPending.length > 0 ? `${installPending.length} script(s) or setting(s) the install runs` : '',
    stackPending ? 'the Compose stack' : '',
  ]
    .filter(Boolean)
    .join(' and ');
  throw new VtreeError(`not approved: ${what}`, `read them, then run: ${TRUST_COMMAND} --yes`);

  function show(): void {
    shown = true;
    if (pending.length > 0) {
      io.log(`${TEAM_CONFIG_FILE} in ${repo.mainPath} asks to run:`);
      for (const task of pending) for (const line of describeTask(task, states.get(task))) io.log(line);
    }
    if (installPending.length > 0) for (const line of describePrograms(dir, installPending)) io.log(line);
    if (stackPending) for (const line of describeStack(repo.mainPath, model, stack)) io.log(line);
  }
}
