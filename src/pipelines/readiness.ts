import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jobProgress } from '../core/background.js';
import { UsageError } from '../core/errors.js';
import { isProcessAlive } from '../core/pid.js';
import { readTasksStatus, type TaskStatus } from '../features/tasks/status.js';
import type { SeedVolumeStatus } from '../features/seed/status.js';
import { isSetUpRecord, readWorktreeState, worktreeGitDir, type WorktreeState } from '../git/worktree-state.js';
import type { RepoStage } from '../features/feature.js';
import type { ServiceStatus } from '../features/services/stack.js';
import { findWorktree } from './remove.js';
import { resolveRepoStage } from './repo-stage.js';

/** Where one phase of a worktree's set-up is. */
export type PhaseState = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

/** One thing the set-up started: the set-up itself, background dependency work, the stack, a project task. */
export interface Phase {
  /** `setup`, `deps`, `services`, or `task <name>`. */
  name: string;
  state: PhaseState;
  /** One line: why it failed or was skipped, or what it is doing. */
  detail?: string;
  /** Its log file, when it has one. */
  log?: string;
  /** The last lines of its log, when it failed. */
  lastLines?: string[];
  /** False for work whose failure leaves the worktree usable (a cache snapshot): reported, not fatal. */
  blocking: boolean;
}

/** Whether a worktree is ready: every phase done or skipped, one failed, or some still pending. */
export interface Readiness {
  path: string;
  gitDir: string;
  branch?: string;
  slug?: string;
  state: 'ready' | 'pending' | 'failed';
  phases: Phase[];
  /** The first blocking phase that failed. */
  failed?: Phase;
  /** What set-up recorded, when it finished. */
  record?: WorktreeState;
}

/** A set-up younger than this whose state file is not written yet may still be running. */
const SETUP_GRACE_MS = 120_000;

/** Finds the worktree `worktree` names (branch, slug or path), or the one `cwd` is in. */
export async function locateWorktree(cwd: string, worktree?: string): Promise<{ where: RepoStage; path: string; gitDir: string; main: boolean; branch?: string }> {
  const where = await resolveRepoStage(cwd);
  const { repo } = where;
  const entry = worktree !== undefined ? await findWorktree(repo.worktrees, worktree, cwd) : repo.worktrees.find((w) => w.path === repo.toplevel);
  if (!entry) throw new UsageError(worktree !== undefined ? `no worktree of this repository matches '${worktree}'` : `not inside a worktree of ${repo.mainPath}`, 'git vtree list');
  return { where, path: entry.path, gitDir: await worktreeGitDir(entry.path), main: entry.main, ...(entry.branch ? { branch: entry.branch } : {}) };
}

/**
 * What the set-up of the worktree at `path` started and where each part is, from the files its
 * jobs keep current (`vtree.json`, the cache job's log, `vtree-services.json`, `vtree-tasks.json`);
 * no engine call, so it is cheap to poll.
 */
export async function readReadiness(path: string, gitDir: string, main: boolean): Promise<Readiness> {
  const { readServicesStatus } = await import('../features/services/status.js');
  const [recorded, live, tasks] = await Promise.all([readWorktreeState(gitDir), readServicesStatus(gitDir), readTasksStatus(gitDir)]);
  const record = isSetUpRecord(recorded) ? recorded : undefined;
  const phases: Phase[] = [await setupPhase(gitDir, record, main, recorded?.removing !== undefined)];
  const deps = record?.deps as { snapshotLog?: string; isolation?: { state: string; log?: string }; reason?: string } | undefined;
  // The consent module loads only for a worktree whose dependencies were skipped for a reason.
  if (deps?.reason && deps.reason === (await import('../features/deps/consent.js')).INSTALL_NOT_APPROVED) {
    phases.push({ name: 'deps', state: 'skipped', detail: "not installed: the install runs scripts of the repository's own not approved on this machine; approve them with git vtree trust, then run git vtree setup", blocking: false });
  }
  if (deps?.snapshotLog) phases.push(await backgroundPhase('deps', deps.snapshotLog, 'cache-snapshot', 'caching the new install', "caching the new install failed (the worktree's node_modules is complete)"));
  // A hardlinked restore being replaced by copies of the worktree's own (docs/trust.md, isolation).
  if (deps?.isolation?.log && deps.isolation.state === 'pending') {
    const failed = 'copying the hardlinked dependencies failed: they are still shared with the cache (git vtree cache verify)';
    phases.push(await backgroundPhase('deps-isolation', deps.isolation.log, 'isolate-deps', "replacing hardlinked dependencies with copies of the worktree's own", failed));
  }
  const services = live ?? (record?.services as { state?: string; reason?: string; log?: string } | undefined);
  if (services?.state) phases.push(await servicesPhase(services.state, services.reason, services.log));
  for (const [name, task] of Object.entries(tasks?.tasks ?? {})) phases.push(await taskPhase(name, task));
  const { readSeedStatus } = await import('../features/seed/status.js');
  for (const volume of Object.values((await readSeedStatus(gitDir))?.volumes ?? {})) phases.push(await seedPhase(volume));

  return judge({ path, gitDir, ...(record?.branch ? { branch: record.branch } : {}), ...(record?.slug ? { slug: record.slug } : {}), ...(record ? { record } : {}) }, phases);
}

/** The worktree's state from its phases: the first blocking one that failed, else pending while any runs, else ready. */
function judge(where: Omit<Readiness, 'state' | 'phases' | 'failed'>, phases: Phase[]): Readiness {
  const failed = phases.find((p) => p.state === 'failed' && p.blocking);
  const pending = phases.some((p) => p.state === 'pending' || p.state === 'running');
  return { ...where, state: failed ? 'failed' : pending ? 'pending' : 'ready', phases, ...(failed ? { failed } : {}) };
}

/**
 * The readiness with a starting stack counted done when the engine shows its services healthy
 * already: the job starting it says so only at its next poll, and a seeded database's first
 * query waits on `wait`.
 */
async function withHealthyStack(readiness: Readiness): Promise<Readiness> {
  if (!readiness.phases.some((p) => p.name === 'services' && p.state === 'running')) return readiness;
  const { healthyOnEngine, readServicesStatus } = await import('../features/services/stack.js');
  const status = await readServicesStatus(readiness.gitDir);
  if (!status || !(await healthyOnEngine(status))) return readiness;
  const { state: _state, phases, failed: _failed, ...where } = readiness;
  return judge(where, phases.map((p) => (p.name === 'services' ? { ...p, state: 'done', detail: 'healthy' } : p)));
}

/** The phase of a background job the set-up started (not blocking: the worktree is usable meanwhile), read from its log. */
async function backgroundPhase(name: string, log: string, job: string, detail: string, failedDetail: string): Promise<Phase> {
  const progress = await jobProgress(log, job);
  return {
    name,
    state: progress.state === 'starting' ? 'pending' : progress.state,
    detail: progress.state === 'failed' ? failedDetail : detail,
    log,
    ...(progress.lastLines ? { lastLines: progress.lastLines } : {}),
    blocking: false,
  };
}

async function setupPhase(gitDir: string, record: WorktreeState | undefined, main: boolean, removing: boolean): Promise<Phase> {
  if (main) return { name: 'setup', state: 'skipped', detail: 'the main worktree is not set up by vtree', blocking: true };
  if (removing) return { name: 'setup', state: 'failed', detail: 'git vtree rm began removing this worktree and did not finish; run: git vtree rm', blocking: true };
  if (record) return { name: 'setup', state: 'done', detail: `by ${record.createdBy} at ${record.createdAt}`, blocking: true };
  // `add` writes vtree.json last: a worktree made moments ago may be being set up right now.
  // Git writes the worktree's HEAD when it makes it (and on checkouts): its age bounds the set-up's.
  const age = await stat(join(gitDir, 'HEAD')).then((s) => Date.now() - s.mtimeMs, () => Infinity);
  if (age < SETUP_GRACE_MS) return { name: 'setup', state: 'pending', detail: 'no set-up has finished yet', blocking: true };
  return { name: 'setup', state: 'failed', detail: 'vtree never set this worktree up; run: git vtree setup', blocking: true };
}

async function servicesPhase(state: string, reason: string | undefined, log: string | undefined): Promise<Phase> {
  const base = { name: 'services', blocking: true, ...(log ? { log } : {}) };
  switch (state) {
    case 'starting':
      return { ...base, state: 'running', detail: 'starting the Compose stack' };
    case 'running':
    case 'healthy':
      return { ...base, state: 'done', detail: state };
    case 'failed':
      return { ...base, state: 'failed', detail: reason ?? 'the stack did not come up', ...(log ? { lastLines: await lastLines(log) } : {}) };
    case 'stopped':
      // `git vtree down`: nothing to wait for, and nothing was skipped.
      return { ...base, state: 'skipped', detail: 'stopped (git vtree up starts it)' };
    default:
      // `none` (no compose file, no engine, --no-services): nothing to wait for.
      return { ...base, state: 'skipped', detail: reason ?? state };
  }
}

async function taskPhase(name: string, task: TaskStatus): Promise<Phase> {
  const state: PhaseState = task.state === 'done' || task.state === 'failed' || task.state === 'skipped' || task.state === 'running' ? task.state : 'pending';
  const phase: Phase = { name: `task ${name}`, state, blocking: true, ...(task.log ? { log: task.log } : {}) };
  if (state === 'failed') {
    phase.detail = task.error ?? (task.exitCode !== undefined ? `exited with code ${task.exitCode}` : 'failed');
    if (task.log) phase.lastLines = await lastLines(task.log);
  } else if (state === 'skipped' && task.error) {
    phase.detail = task.error;
  }
  return phase;
}

/** What became of the golden a worktree missed. */
const SEED_LATER: Record<string, string> = {
  ready: 'one is ready for the next worktree',
  missing: 'git vtree seed builds one',
};

/**
 * A seeded volume: done once cloned (or kept). After a miss the volume started empty and a golden
 * builds for the next worktree: running until that build ends (so a failed seed command fails the
 * data step, naming the command and its log), then skipped.
 */
async function seedPhase(volume: SeedVolumeStatus): Promise<Phase> {
  const base = { name: `seed ${volume.volume}`, blocking: true, ...(volume.log ? { log: volume.log } : {}) };
  // Written with the job's pid once it runs: a job that died never finishes.
  if ((volume.state === 'building' || volume.state === 'updating') && volume.pid !== undefined && !isProcessAlive(volume.pid)) {
    return { ...base, state: 'failed', detail: `the seed job (pid ${volume.pid}) ended without finishing; run: git vtree seed` };
  }
  switch (volume.state) {
    case 'cloned':
      return { ...base, state: 'done', detail: `${volume.mode} clone of golden ${(volume.base ?? volume.key).slice(0, 12)} built ${volume.golden}${volume.base ? `, brought up to date by '${volume.command}'` : ''}` };
    case 'failed':
      return { ...base, state: 'failed', detail: (volume.error ?? `'${volume.command}' failed`).replace(/^seed \S+: /, ''), ...(volume.log ? { lastLines: await lastLines(volume.log) } : {}) };
    case 'kept':
      return { ...base, state: 'done', detail: 'its volume existed already and was kept' };
    case 'updating':
      return { ...base, state: 'running', detail: `${volume.mode} clone of the older golden ${volume.base?.slice(0, 12)}; running '${volume.command}' on it` };
    case 'building':
      return { ...base, state: 'running', detail: `no golden copy for key ${volume.key.slice(0, 12)} when it was set up, so its volume started empty; building one for the next worktree` };
    default:
      return { ...base, state: 'skipped', detail: `no golden copy for key ${volume.key.slice(0, 12)} when it was set up, so its volume started empty; ${SEED_LATER[volume.state]}` };
  }
}

/** The last `count` non-empty lines of a log file (none when it cannot be read). */
async function lastLines(log: string, count = 5): Promise<string[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter(Boolean)
    .slice(-count);
}

/** Options for {@link waitUntilReady}. */
export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called with each phase whose state changed, for a progress line. */
  onChange?: (phase: Phase) => void;
}

/**
 * Polls {@link readReadiness} until the worktree is ready or failed, or `timeoutMs` has passed
 * (then the result is still `pending`). Each poll reads a few small files.
 */
export async function waitUntilReady(path: string, gitDir: string, main: boolean, options: WaitOptions): Promise<Readiness> {
  const deadline = Date.now() + options.timeoutMs;
  const seen = new Map<string, PhaseState>();
  for (;;) {
    let readiness = await readReadiness(path, gitDir, main);
    if (readiness.state === 'pending') readiness = await withHealthyStack(readiness);
    for (const phase of readiness.phases) {
      if (seen.get(phase.name) !== phase.state) options.onChange?.(phase);
      seen.set(phase.name, phase.state);
    }
    if (readiness.state !== 'pending' || Date.now() >= deadline) return readiness;
    // A poll reads a few small files (and asks Docker's socket while a stack starts): cheap enough
    // to notice a healthy database within 50 ms, which its first query waits on.
    await sleep(Math.min(50, Math.max(0, deadline - Date.now())), undefined, options.signal ? { signal: options.signal } : {});
  }
}

/** A service port published on the host. */
export interface ServiceUrl {
  service: string;
  /** The port inside the container. */
  containerPort: number;
  /** `127.0.0.1:<port>`. */
  address: string;
  url: string;
}

/**
 * What an agent needs once the worktree is ready: each published port of its stack on 127.0.0.1
 * (from the engine; none when it cannot be asked) and the variables vtree set in its `.env` block.
 */
export async function readyFacts(readiness: Readiness): Promise<{ services: ServiceUrl[]; env: Record<string, string> }> {
  const [services, env] = await Promise.all([publishedPorts(readiness), envBlock(readiness)]);
  return { services, env };
}

async function publishedPorts(readiness: Readiness): Promise<ServiceUrl[]> {
  return (await stackContainers(readiness)).flatMap(containerUrls);
}

/** The containers of the worktree's stack, from the engine (none when it has no stack or the engine cannot be asked). */
export async function stackContainers(readiness: Readiness): Promise<ServiceStatus[]> {
  const { readServicesStatus, serviceStatuses } = await import('../features/services/stack.js');
  const status = await readServicesStatus(readiness.gitDir);
  const recorded = readiness.record?.services as { project?: string; runtime?: string[] } | undefined;
  const project = status?.project ?? recorded?.project;
  if (!project) return [];
  const { detectComposeRuntime, recordedRuntime } = await import('../features/services/runtime.js');
  // The recorded Compose is the stack's: detecting one costs a `compose version` process on `wait`'s way out.
  const command = status?.runtime ?? recorded?.runtime;
  const detection = command ? { runtime: recordedRuntime(command) } : await detectComposeRuntime(undefined);
  if (!('runtime' in detection)) return [];
  return serviceStatuses(detection.runtime, { dir: readiness.path, name: project, files: [], env: {} }).catch(() => []);
}

/** A container's ports published on the host, once each. */
export function containerUrls(container: ServiceStatus): ServiceUrl[] {
  const urls: ServiceUrl[] = [];
  const seen = new Set<number>();
  // `127.0.0.1:20001->8080/tcp, [::]:20001->8080/tcp`
  for (const match of container.ports.matchAll(/:(\d+)->(\d+)\/tcp/g)) {
    const hostPort = Number(match[1]);
    if (seen.has(hostPort)) continue;
    seen.add(hostPort);
    urls.push({ service: container.service, containerPort: Number(match[2]), address: `127.0.0.1:${hostPort}`, url: `http://127.0.0.1:${hostPort}` });
  }
  return urls;
}

async function envBlock(readiness: Readiness): Promise<Record<string, string>> {
  const env = readiness.record?.env as { file?: string } | undefined;
  if (!env?.file) return {};
  const { readEnvBlock } = await import('../features/env/block.js');
  return readEnvBlock(await readFile(join(readiness.path, env.file), 'utf8').catch(() => ''));
}
