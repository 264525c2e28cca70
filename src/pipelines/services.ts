import { basename } from 'node:path';
import type { ComposeModel } from '../features/services/compose.js';
import { detectComposeRuntime, portEnv, recordedProject, type ComposeProject, type ComposeRuntime } from '../features/services/runtime.js';
import { errorMessage, UsageError, VtreeError } from '../core/errors.js';
import { TRUST_COMMAND } from '../core/consent.js';
import { exists } from '../core/files.js';
import { OVERRIDE_FILE_NAME } from '../core/paths.js';
import { newRunId, type RunRecord } from '../observe/metrics.js';
import { Profiler } from '../core/profiler.js';
import { pullImages, readServicesStatus, servicesMap, serviceStatuses, stackState, startServices, stopServices, writeServicesStatus, type ServicesJobPlan, type ServicesRecord, type ServicesStatus, type StackState } from '../features/services/stack.js';
import { readWorktreeState, worktreeGitDir, type WorktreeState } from '../git/worktree-state.js';
import type { RepoStage } from '../features/feature.js';
import { recordRun, toRunRecord } from './record.js';
import { findWorktree } from './remove.js';
import { resolveRepoStage } from './repo-stage.js';

/** A worktree's stack, located for `up`, `down`, `status` and `logs`. */
export interface Stack {
  where: RepoStage;
  path: string;
  gitDir: string;
  branch?: string;
  slug: string;
  state?: WorktreeState;
  /** What set-up recorded (`vtree.json`), when vtree set this worktree up. */
  record?: ServicesRecord;
  status?: ServicesStatus;
  project: ComposeProject;
  /** The stack's default services, when its files were parsed here. */
  model?: ComposeModel;
}

/**
 * The stack of the worktree named by `worktree` (branch, slug or path), or of the one `cwd` is
 * in. A worktree vtree set up uses its recorded project, files and ports; any other is run as
 * plain Compose would run it there.
 */
export async function locateStack(cwd: string, worktree?: string): Promise<Stack> {
  const where = await resolveRepoStage(cwd);
  const { repo } = where;
  const entry = worktree !== undefined ? await findWorktree(repo.worktrees, worktree, cwd) : repo.worktrees.find((w) => w.path === repo.toplevel);
  if (!entry) throw new UsageError(worktree !== undefined ? `no worktree of this repository matches '${worktree}'` : `not inside a worktree of ${repo.mainPath}`, 'git vtree list');
  const gitDir = await worktreeGitDir(entry.path);
  const [state, status] = await Promise.all([readWorktreeState(gitDir), readServicesStatus(gitDir)]);
  const record = state?.services as ServicesRecord | undefined;
  const ports = state?.ports as Record<string, number> | undefined;
  const stack: Stack = { where, path: entry.path, gitDir, slug: state?.slug ?? basename(entry.path), project: { dir: entry.path, name: '', files: [], env: portEnv(ports) } };
  if (entry.branch) stack.branch = entry.branch;
  if (state) stack.state = state;
  if (record) stack.record = record;
  if (status) stack.status = status;
  const project = status?.project ?? record?.project;
  if (project) {
    stack.project = await recordedProject(entry.path, project, status?.files ?? record?.files ?? [], ports);
    if (stack.project.files.length > 0) return stack;
  }
  // Not set up by vtree, or no compose file then: the files (and project name) Compose itself would use there now.
  const { composeFileSettings, directorySource, discoverCompose, projectNameIn } = await import('../features/services/compose.js');
  const model = await discoverCompose(directorySource(entry.path), await composeFileSettings(where.config.list('vtree.compose.files'), entry.path));
  if (model.error) throw new VtreeError(model.error, `fix it, then run: git vtree up`);
  stack.model = model;
  stack.project = { ...stack.project, name: project ?? (await projectNameIn(entry.path)) ?? defaultProjectName(entry.path), files: model.files };
  return stack;
}

/** Throws one line when the worktree has no compose file to run. */
export function requireComposeFiles(stack: Stack): void {
  if (stack.project.files.length === 0) throw new VtreeError(`no compose file in ${stack.path}`, 'add compose.yaml (or set vtree.compose.files), then run: git vtree up');
}

/**
 * Throws one line naming `git vtree trust` unless the user trusts the repository's stack (asked
 * on a terminal): `up` is an explicit command, yet the files it runs came with the clone. The
 * files judged are those the stack runs with, without vtree's own override.
 */
export async function requireStackConsent(stack: Stack): Promise<void> {
  const [{ directorySource, discoverCompose }, { stackConsent }] = await Promise.all([import('../features/services/compose.js'), import('../features/services/consent.js')]);
  const { repo, config } = stack.where;
  const files = stack.project.files.filter((f) => !f.endsWith(OVERRIDE_FILE_NAME));
  const model = stack.model ?? (await discoverCompose(directorySource(stack.path), { configured: files }));
  const consent = await stackConsent(repo.mainPath, model, config, { dir: stack.path, interactive: true });
  if (!consent.allowed) throw new VtreeError(`services: not started — ${consent.refused}`, `review and approve it with: ${TRUST_COMMAND}`);
}

/** Compose's own project name for a directory: its name, lowercased, without invalid characters. */
function defaultProjectName(dir: string): string {
  return basename(dir).toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[^a-z0-9]+/, '') || 'default';
}

/** The runtime a stack was set up with (or the configured or detected one); throws one line when there is none. */
export async function stackRuntime(stack: Stack): Promise<ComposeRuntime> {
  const configured = stack.where.config.string('vtree.compose.command') ?? (stack.status?.runtime ?? stack.record?.runtime)?.join(' ');
  const detection = await detectComposeRuntime(configured);
  if ('missing' in detection) throw new VtreeError(`services: ${detection.missing}`, 'start Docker (or set DOCKER_HOST), then run: git vtree up');
  return detection.runtime;
}

/**
 * The body of the detached `services-up` job: starts each phase's services, keeps the live status
 * file current (`starting` → `running`/`healthy`, or `failed` with the reason) and records its
 * own run in metrics.json, linked to the run that started it. `firstUpExit`: the exit status of
 * the critical services' `up -d`, when the starter ran it before this job.
 */
export async function runServicesJob(plan: ServicesJobPlan, log: (line: string) => void, firstUpExit?: number): Promise<void> {
  const profiler = new Profiler();
  // What the starter already brought up (critical services under --wait) stays in the status.
  const known = (await readServicesStatus(plan.gitDir))?.services;
  const status = (state: StackState, extra: Partial<ServicesStatus> = {}) =>
    writeServicesStatus(plan.gitDir, { ...plan.record, state, log: plan.log, ...(known ? { services: known } : {}), ...extra });
  await status('starting', { pid: process.pid });
  const facts: Record<string, unknown> = {};
  let failure: unknown;
  try {
    for (const [index, phase] of plan.phases.entries()) {
      if (phase.services.length === 0) continue;
      // The first phase's `up -d` ran before this job (`firstUpExit` is its status): the job waits
      // only, or runs `up` again to fail with Compose's own words.
      const ranFirst = index === 0 && firstUpExit !== undefined;
      const upDone = ranFirst && firstUpExit === 0;
      // `rm` may have removed the worktree meanwhile: starting its stack now would orphan it, and
      // what the `up` before the job started has nobody else to take it down.
      if (!(await exists(plan.project.dir))) {
        // Its files went with it: `-p` alone finds the containers, from a directory that still exists.
        if (ranFirst) await stopServices(plan.runtime, { ...plan.project, dir: plan.commonDir, files: [] }, { volumes: false, timeoutSeconds: 0 }).catch((error: unknown) => log(`could not take the stack down: ${errorMessage(error)}`));
        throw new VtreeError('the worktree was removed before its stack was up');
      }
      log(`starting ${phase.name} services: ${phase.services.join(' ')}`);
      const statuses = await profiler.time(`services-${phase.name}`, null, async (span) => {
        span.set('services', phase.services);
        span.set('upDone', upDone);
        return startServices(plan.runtime, plan.project, phase.services, { wait: true, timeoutMs: plan.timeoutMs, upDone });
      });
      facts[phase.name] = Object.fromEntries(statuses.filter((s) => phase.services.includes(s.service)).map((s) => [s.service, s.health ?? s.state]));
      await status('starting', { pid: process.pid, services: servicesMap(statuses) });
    }
    const statuses = await profiler.time('services-status', null, () => serviceStatuses(plan.runtime, plan.project));
    const state = stackState(statuses, plan.expected);
    facts.state = state;
    await status(state, { services: servicesMap(statuses) });
    log(`stack ${plan.project.name} is ${state}`);
  } catch (error) {
    failure = error;
    facts.state = 'failed';
    log(`failed: ${errorMessage(error)}`);
    await status('failed', { reason: errorMessage(error) });
  }
  const record: RunRecord = toRunRecord({
    id: newRunId(profiler.startedAt),
    command: 'services',
    profiler,
    error: failure,
    linkedTo: plan.linkedTo,
    ...(plan.branch !== undefined ? { branch: plan.branch } : {}),
    ...(plan.slug !== undefined ? { slug: plan.slug } : {}),
    path: plan.project.dir,
    facts: { services: facts },
  });
  const where = await resolveRepoStage(plan.project.dir).catch(() => undefined);
  if (where) await recordRun(where, record, log);
  if (failure !== undefined) throw failure;
}

/**
 * The body of the detached `image-pull` job: pulls what a new worktree's stack lacks and records
 * the pull as a `services` run linked to the run that started it.
 */
export async function runImagePullJob(linkedTo: string, engine: ComposeRuntime['engine'], images: readonly string[], log: (line: string) => void): Promise<void> {
  const profiler = new Profiler();
  log(`pulling ${images.join(' ')}`);
  const failed = await profiler.time('image-pull', null, async (span) => {
    span.set('images', images);
    return pullImages(engine, images);
  });
  for (const { image, error } of failed) log(`failed to pull ${image}: ${error}`);
  const error = failed.length > 0 ? new VtreeError(`could not pull ${failed.map((f) => f.image).join(', ')}: ${failed[0]!.error}`) : undefined;
  const pulled = images.filter((image) => !failed.some((f) => f.image === image));
  const where = await resolveRepoStage(process.cwd()).catch(() => undefined);
  const record = toRunRecord({ id: newRunId(profiler.startedAt), command: 'services', profiler, error, linkedTo, facts: { services: { pulled, ...(failed.length > 0 ? { failedPulls: failed.map((f) => f.image) } : {}) } } });
  if (where) await recordRun(where, record, log);
  if (error) throw error;
}

/** Records a foreground stack command (`up`, `down`) as a `services` run in metrics.json. */
export async function recordStackRun(stack: Stack, profiler: Profiler, facts: Record<string, unknown>, error: unknown, warn: (line: string) => void): Promise<void> {
  const record = toRunRecord({
    id: newRunId(profiler.startedAt),
    command: 'services',
    profiler,
    error,
    ...(stack.branch !== undefined ? { branch: stack.branch } : {}),
    slug: stack.slug,
    path: stack.path,
    facts: { services: facts },
  });
  await recordRun(stack.where, record, warn);
}
