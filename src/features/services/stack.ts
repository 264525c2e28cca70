import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ComposeModel } from './compose.js';
import type { Config } from '../../git/config.js';
import { runCompose, type ComposeProject, type ComposeRuntime } from './runtime.js';
import { errorMessage, UsageError, VtreeError } from '../../core/errors.js';
import { run } from '../../core/exec.js';
import { writeFileAtomic } from '../../core/files.js';
import { servicesStatusPath } from '../../core/paths.js';
import { isProcessAlive } from '../../core/pid.js';

export { readServicesStatus, type ServicesRecord, type ServicesStatus, type StackState } from './status.js';
import { readServicesStatus, type ServicesRecord, type ServicesStatus, type StackState } from './status.js';

/** Replaces the live status file atomically. */
export async function writeServicesStatus(worktreeGitDir: string, status: Omit<ServicesStatus, 'updatedAt'>): Promise<void> {
  await writeFileAtomic(servicesStatusPath(worktreeGitDir), JSON.stringify({ ...status, updatedAt: new Date().toISOString() }, null, 2) + '\n');
}

/** Services Compose starts by default: those without `profiles`. */
export function defaultServices(model: ComposeModel): string[] {
  return model.services.filter((s) => s.profiles.length === 0).map((s) => s.name);
}

/**
 * Splits the stack into critical services, started first (and waited for by `--wait`), and
 * deferred ones: `configured` (`vtree.services.critical`) when set, else the services others
 * depend on, else all of them.
 */
export function planStart(model: ComposeModel, configured: readonly string[]): { critical: string[]; deferred: string[] } {
  const all = defaultServices(model);
  const known = new Set(model.services.map((s) => s.name));
  const dependedOn = new Set(model.services.flatMap((s) => s.dependsOn));
  let critical = configured.length > 0 ? configured.filter((name) => known.has(name)) : all.filter((name) => dependedOn.has(name));
  if (critical.length === 0) critical = all;
  return { critical, deferred: all.filter((name) => !critical.includes(name)) };
}

/** One container of the stack, as the engine reports it. */
export interface ServiceStatus {
  service: string;
  container: string;
  /** `running`, `exited`, `created`, `restarting`, `dead`, ... */
  state: string;
  /** `healthy`, `unhealthy`, `starting`, or undefined without a healthcheck. */
  health?: string;
  exitCode?: number;
  ports: string;
}

/** The stack's containers (one-off `run` containers excluded), from the engine by project label. */
export async function serviceStatuses(runtime: ComposeRuntime, project: ComposeProject, signal?: AbortSignal): Promise<ServiceStatus[]> {
  // Fields: service, container, state, status ("Up 3 seconds (healthy)"), ports, one-off.
  const rows = (runtime.engine === 'docker' ? await rowsFromSocket(project.name) : undefined) ?? (await rowsFromCli(runtime, project.name, signal));
  return rows
    .filter((fields) => fields[5] !== 'True')
    .map(([service = '', container = '', state = '', status = '', ports = '']) => {
      const health = /\((healthy|unhealthy|health: starting)\)/.exec(status)?.[1]?.replace('health: ', '');
      const exit = /^Exited \((\d+)\)/.exec(status)?.[1];
      return { service, container, state, ports, ...(health ? { health } : {}), ...(exit !== undefined ? { exitCode: Number(exit) } : {}) };
    })
    .sort((a, b) => a.service.localeCompare(b.service));
}

async function rowsFromCli(runtime: ComposeRuntime, project: string, signal?: AbortSignal): Promise<string[][]> {
  const format = ['{{.Label "com.docker.compose.service"}}', '{{.Names}}', '{{.State}}', '{{.Status}}', '{{.Ports}}', '{{.Label "com.docker.compose.oneoff"}}'].join('\t');
  const { stdout } = await run(runtime.engine, ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', format], { ...(signal ? { signal } : {}) });
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'));
}

interface ApiContainer {
  Names?: string[];
  State?: string;
  Status?: string;
  Labels?: Record<string, string>;
  Ports?: Array<{ IP?: string; PrivatePort?: number; PublicPort?: number; Type?: string }>;
}

/**
 * The same rows from Docker's socket, when the CLI would talk to it: one request of a few ms
 * where `docker ps` costs a process (about 100 ms). Starting a stack polls this until its
 * services are up, and a seeded service's first query waits on that loop. Undefined when the
 * socket is not plain to see or does not answer: then the CLI is asked.
 */
async function rowsFromSocket(project: string): Promise<string[][] | undefined> {
  const [{ dockerSocket }, { projectContainers }] = await Promise.all([import('../../core/docker-socket.js'), import('./engine-socket.js')]);
  const socket = dockerSocket();
  const containers = socket ? ((await projectContainers(socket, project)) as ApiContainer[] | undefined) : undefined;
  return containers?.map((c) => [
    c.Labels?.['com.docker.compose.service'] ?? '',
    (c.Names?.[0] ?? '').replace(/^\//, ''),
    c.State ?? '',
    c.Status ?? '',
    // As the CLI prints them: `127.0.0.1:20001->8080/tcp, [::]:20001->8080/tcp`.
    (c.Ports ?? []).map((p) => (p.PublicPort ? `${p.IP?.includes(':') ? `[${p.IP}]` : (p.IP ?? '')}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`)).join(', '),
    c.Labels?.['com.docker.compose.oneoff'] ?? '',
  ]);
}

/** Whether a service is up, coming up, or failed, judged from its containers. */
export function serviceVerdict(containers: readonly ServiceStatus[]): 'up' | 'healthy' | 'pending' | 'failed' {
  if (containers.length === 0) return 'pending';
  if (containers.some((c) => c.health === 'unhealthy' || c.state === 'dead' || (c.state === 'exited' && c.exitCode !== 0))) return 'failed';
  if (containers.some((c) => c.state !== 'running' && c.state !== 'exited')) return 'pending';
  if (containers.some((c) => c.health === 'starting')) return 'pending';
  return containers.some((c) => c.health === 'healthy') ? 'healthy' : 'up';
}

/** The stack's overall state over `expected` services. */
export function stackState(statuses: readonly ServiceStatus[], expected: readonly string[]): StackState {
  if (statuses.length === 0) return 'stopped';
  const verdicts = expected.map((name) => serviceVerdict(statuses.filter((s) => s.service === name)));
  if (verdicts.includes('failed')) return 'failed';
  if (verdicts.includes('pending')) return 'starting';
  return verdicts.includes('healthy') ? 'healthy' : 'running';
}

/** How long a service without a healthcheck must keep running before `--wait` counts it as up. */
const STEADY_MS = 1000;

/** A service that did not come up; its message carries the service's own last words. */
export class ServiceStartError extends VtreeError {}

/** Options for {@link startServices}. */
export interface StartOptions {
  /** Wait until the services run (and are healthy, where they have a healthcheck). */
  wait: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
  /** `up -d` has run already (before the job that waits here): only wait. */
  upDone?: boolean;
}

/**
 * `up -d <services>` and, with `wait`, polls until each of them is up: running, healthy where it
 * has a healthcheck, or exited 0 (a one-shot task). Throws {@link ServiceStartError} with the
 * failing service's own error (Compose's message and its last log lines).
 */
export async function startServices(runtime: ComposeRuntime, project: ComposeProject, services: readonly string[], options: StartOptions): Promise<ServiceStatus[]> {
  const signalOption = options.signal ? { signal: options.signal } : {};
  try {
    if (!options.upDone) await runCompose(runtime, project, ['up', '-d', ...services], signalOption);
  } catch (error) {
    const statuses = await serviceStatuses(runtime, project).catch(() => []);
    throw await startError(runtime, project, services, statuses, errorMessage(error).replace(/^\S+ \S+ failed: /, ''));
  }
  const deadline = Date.now() + options.timeoutMs;
  const upSince = new Map<string, number>();
  for (;;) {
    const statuses = await serviceStatuses(runtime, project, options.signal);
    const verdicts = new Map(services.map((name) => [name, serviceVerdict(statuses.filter((s) => s.service === name))]));
    const failed = [...verdicts].filter(([, v]) => v === 'failed').map(([name]) => name);
    if (failed.length > 0) throw await startError(runtime, project, failed, statuses);
    // Without a healthcheck, "running" is only believed once it has lasted: a process that dies
    // on start-up is running for a moment too.
    const now = Date.now();
    for (const [name, verdict] of verdicts) if (verdict === 'up') upSince.set(name, upSince.get(name) ?? now);
    const steady = (name: string, verdict: string) => verdict === 'healthy' || (verdict === 'up' && now - upSince.get(name)! >= STEADY_MS);
    if (!options.wait || [...verdicts].every(([name, verdict]) => steady(name, verdict))) return statuses;
    if (Date.now() > deadline) {
      const pending = [...verdicts].filter(([, v]) => v === 'pending').map(([name]) => name);
      throw await startError(runtime, project, pending, statuses, `not up after ${Math.round(options.timeoutMs / 1000)} s`);
    }
    // Each poll is one request to the engine (a `docker ps` where its socket is not plain); a short interval matters: `wait` and a seeded service's first
    // query wait on this loop noticing the healthcheck.
    await sleep(100, undefined, signalOption);
  }
}

async function startError(runtime: ComposeRuntime, project: ComposeProject, services: readonly string[], statuses: readonly ServiceStatus[], composeSaid?: string): Promise<ServiceStartError> {
  const broken = services.filter((name) => serviceVerdict(statuses.filter((s) => s.service === name)) === 'failed');
  const named = broken.length > 0 ? broken : services;
  const states = named.map((name) => {
    const c = statuses.find((s) => s.service === name);
    return c ? `${name} ${c.health === 'unhealthy' ? 'unhealthy' : c.exitCode !== undefined ? `exited (${c.exitCode})` : c.state}` : `${name} not created`;
  });
  let lastWords = '';
  if (broken.length > 0) {
    const logs = await runCompose(runtime, project, ['logs', '--no-color', '--no-log-prefix', '--tail', '3', ...broken]).catch(() => undefined);
    lastWords = (logs?.stdout + (logs?.stderr ?? ''))
      // Compose decorates even --no-color output with terminal control sequences.
      .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-3)
      .join(' | ');
  }
  const parts = [states.join(', '), composeSaid, lastWords && `last log lines: ${lastWords}`].filter(Boolean);
  // Logs exist only for containers that were made: an image that could not be pulled made none.
  const created = named.filter((name) => statuses.some((s) => s.service === name));
  const hint = created.length > 0 ? `git vtree logs ${created.join(' ')}` : 'no container was created: fix what Compose said, then run: git vtree up --wait';
  return new ServiceStartError(`services did not come up: ${parts.join('; ')}`, hint);
}

/**
 * Which of `images` the engine does not have yet: one question to Docker's socket (on the way to
 * the stack's start), else one `images` call; digest references are left to Compose.
 */
export async function missingImages(engine: ComposeRuntime['engine'], images: readonly string[], signal?: AbortSignal): Promise<string[]> {
  const wanted = images.filter((image) => !image.includes('@'));
  if (wanted.length === 0) return [];
  const local = new Set((await localImageTags(engine, signal)).map(normalImage));
  return wanted.filter((image) => !local.has(normalImage(image)));
}

/** Every `repository:tag` the engine has. */
async function localImageTags(engine: ComposeRuntime['engine'], signal?: AbortSignal): Promise<string[]> {
  if (engine === 'docker') {
    const { askDocker } = await import('../../core/docker-socket.js');
    const answer = await askDocker('GET', '/images/json');
    if (answer?.status === 200) return (JSON.parse(answer.body) as Array<{ RepoTags?: string[] | null }>).flatMap((image) => image.RepoTags ?? []);
  }
  const { stdout } = await run(engine, ['images', '--format', '{{.Repository}}:{{.Tag}}'], signal ? { signal } : {});
  return stdout.split('\n').filter(Boolean);
}

/** `postgres` → `postgres:latest`, `docker.io/library/redis:7` → `redis:7`: how the engine lists them. */
function normalImage(image: string): string {
  const bare = image.replace(/^(docker\.io|index\.docker\.io)\//, '').replace(/^library\//, '');
  return /:[^/]+$/.test(bare) ? bare : `${bare}:latest`;
}

/**
 * Pulls `images` concurrently. Returns the pulls that failed, each with the engine's reason; a
 * set-up run leaves them to Compose to report when it starts the service, the background pull
 * job reports them as its failure.
 */
export async function pullImages(engine: ComposeRuntime['engine'], images: readonly string[], signal?: AbortSignal): Promise<Array<{ image: string; error: string }>> {
  const results = await Promise.all(
    images.map((image) =>
      run(engine, ['pull', image], signal ? { signal } : {}).then(
        () => undefined,
        (error: unknown) => ({ image, error: errorMessage(error) }),
      ),
    ),
  );
  return results.filter((r) => r !== undefined);
}

/** `down`: removes the stack's containers and networks; its volumes only with `volumes`. */
export async function stopServices(runtime: ComposeRuntime, project: ComposeProject, options: { volumes: boolean; timeoutSeconds?: number; signal?: AbortSignal }): Promise<void> {
  const args = ['down', '--remove-orphans', ...(options.volumes ? ['--volumes'] : []), ...(options.timeoutSeconds !== undefined ? ['--timeout', String(options.timeoutSeconds)] : [])];
  await runCompose(runtime, project, args, options.signal ? { signal: options.signal } : {});
}

/**
 * Whether anything of the Compose project is on the engine: a container, a network or (when
 * `volumes`) a volume with its label. Three listings cost tens of ms; `compose down` on a stack
 * that never started costs seconds.
 */
export async function stackLeftovers(engine: ComposeRuntime['engine'], project: string, volumes: boolean, signal?: AbortSignal): Promise<boolean> {
  const filter = ['--filter', `label=com.docker.compose.project=${project}`, '--quiet'];
  const kinds = [['ps', '-a'], ['network', 'ls'], ...(volumes ? [['volume', 'ls']] : [])];
  const found = await Promise.all(kinds.map((kind) => run(engine, [...kind, ...filter], signal ? { signal } : {}).then((r) => r.stdout.trim() !== '')));
  return found.includes(true);
}

/**
 * Ends the background job that is starting the stack, if one still runs (its whole process
 * group, so its Compose child goes too): a stack being torn down must not come back up.
 */
export async function stopStartJob(status: ServicesStatus | undefined): Promise<boolean> {
  const pid = status?.state === 'starting' ? status.pid : undefined;
  if (pid === undefined || !isProcessAlive(pid)) return false;
  // The pid may have been reused since: only a vtree services job is ours to end.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (cmdline && !cmdline.includes('services-up')) return false;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return false;
  }
  for (let i = 0; i < 40 && isProcessAlive(pid); i++) await sleep(50);
  return true;
}

/** Default for `vtree.services.waitTimeout` (seconds). */
export const DEFAULT_WAIT_TIMEOUT_S = 120;

/** How long `--wait` (and the background job) waits for services to come up, in ms. */
export function waitTimeoutMs(config: Config): number {
  return config.integer('vtree.services.waitTimeout', DEFAULT_WAIT_TIMEOUT_S) * 1000;
}

/** What set-up starts: every default service, only the critical ones, or nothing (`vtree.services.start`). */
export type StartMode = 'auto' | 'critical' | 'none';

/** `vtree.services.start`: `auto` (default), `critical` or `none`; anything else is a usage error naming the key. */
export function servicesStartMode(config: Config): StartMode {
  const value = config.string('vtree.services.start', 'auto').toLowerCase();
  if (value === 'auto' || value === 'critical' || value === 'none') return value;
  throw new UsageError(`config vtree.services.start must be auto, critical or none, not '${value}'`, 'git config vtree.services.start critical');
}

/** `vtree.services.stopTimeout`: seconds Compose gives containers to stop (its own default when unset). */
export function stopTimeoutSeconds(config: Config): number | undefined {
  return config.string('vtree.services.stopTimeout') === undefined ? undefined : config.integer('vtree.services.stopTimeout', 10);
}

/** What the background job `services-up` is asked to do: one JSON argument. */
export interface ServicesJobPlan {
  commonDir: string;
  gitDir: string;
  /** The run that started the job; the job's own run links to it. */
  linkedTo: string;
  branch?: string;
  slug?: string;
  log: string;
  runtime: ComposeRuntime;
  project: ComposeProject;
  /** Started in order, each waited for before the next: critical, then deferred. */
  phases: Array<{ name: 'critical' | 'deferred'; services: string[] }>;
  /** Every service the stack should end up running. */
  expected: string[];
  record: ServicesRecord;
  timeoutMs: number;
}

/**
 * Whether the engine shows every service a start job brings up healthy already: `wait` believes a
 * passed healthcheck at once, rather than wait for the job to notice and say so. Services without
 * a healthcheck are the job's to judge (it wants them running a while first), and only Docker's
 * socket is asked: a CLI process per poll would cost more than it saves.
 */
export async function healthyOnEngine(status: ServicesStatus): Promise<boolean> {
  const expected = status.expected ?? [...(status.critical ?? []), ...(status.deferred ?? [])];
  if (status.state !== 'starting' || !status.project || !status.runtime || expected.length === 0) return false;
  const [{ dockerSocket }, { recordedRuntime }] = await Promise.all([import('../../core/docker-socket.js'), import('./runtime.js')]);
  const runtime = recordedRuntime(status.runtime);
  if (runtime.engine !== 'docker' || !dockerSocket()) return false;
  const statuses = await serviceStatuses(runtime, { dir: '', name: status.project, files: [], env: {} }).catch(() => []);
  return expected.every((name) => serviceVerdict(statuses.filter((s) => s.service === name)) === 'healthy');
}

/** `{ service: 'healthy' | 'running' | 'exited (1)' ... }` for the status file. */
export function servicesMap(statuses: readonly ServiceStatus[]): Record<string, string> {
  return Object.fromEntries(statuses.map((s) => [s.service, s.health === 'healthy' || s.health === 'unhealthy' ? s.health : s.exitCode !== undefined ? `exited (${s.exitCode})` : s.state]));
}

/**
 * Waits until the worktree's critical services are up, as its live status file tells: the stack
 * `running` or `healthy`, or the start job reporting each critical service running (or healthy)
 * once its first phase is done. A stack with nothing to start (`none`) is ready at once; a
 * `failed` or `stopped` one throws its reason, as does one still starting after `timeoutMs`.
 */
export async function waitForCritical(worktreeGitDir: string, timeoutMs: number, signal?: AbortSignal): Promise<ServicesStatus | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const status = await readServicesStatus(worktreeGitDir);
    if (!status || status.state === 'none' || status.state === 'running' || status.state === 'healthy') return status;
    if (status.state === 'failed' || status.state === 'stopped') {
      throw new VtreeError(`services ${status.state}${status.reason ? `: ${status.reason}` : ''}`, 'git vtree logs --job; then git vtree up --wait');
    }
    const critical = status.critical ?? [];
    if (critical.length > 0 && critical.every((name) => ['running', 'healthy'].includes(status.services?.[name] ?? ''))) return status;
    if (Date.now() > deadline) throw new VtreeError(`services still starting after ${Math.round(timeoutMs / 1000)} s`, 'git vtree status');
    await sleep(100, undefined, signal ? { signal } : {});
  }
}
