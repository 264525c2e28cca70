import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { errorMessage } from '../../core/errors.js';
import { readJsonFile, writeFileAtomic } from '../../core/files.js';
import { run, type RunOptions, type RunResult } from '../../core/exec.js';

/** A Compose implementation found on this machine, with an engine that answers. */
export interface ComposeRuntime {
  /** `docker compose`, `docker-compose`, `podman compose`, `podman-compose`, or the configured command. */
  name: string;
  /** Argument vector prefix: `['docker', 'compose']`. */
  command: string[];
  /** The engine CLI that owns images and containers (`docker` or `podman`). */
  engine: 'docker' | 'podman';
  version: string;
}

/** The outcome of detection: a runtime, or one line saying why there is none. */
export type RuntimeDetection = { runtime: ComposeRuntime } | { missing: string };

interface Candidate {
  name: string;
  command: readonly string[];
  engine: ComposeRuntime['engine'];
}

/** Compose implementations in the order vtree prefers them. */
export const COMPOSE_CANDIDATES = [
  { name: 'docker compose', command: ['docker', 'compose'], engine: 'docker' },
  { name: 'docker-compose', command: ['docker-compose'], engine: 'docker' },
  { name: 'podman compose', command: ['podman', 'compose'], engine: 'podman' },
  { name: 'podman-compose', command: ['podman-compose'], engine: 'podman' },
] as const satisfies readonly Candidate[];

/** How long an engine may take to answer before vtree treats it as absent. */
const ENGINE_TIMEOUT_MS = 10_000;

/**
 * Finds the Compose to use: `configured` (`vtree.compose.command`, trusted git config only) or the
 * first of {@link COMPOSE_CANDIDATES} that answers `version` (all probed at once), then checks
 * that its engine answers. `DOCKER_HOST` and the current Docker context apply as they do for
 * the docker CLI itself. Never throws: no runtime or no engine is a `missing` line.
 */
export async function detectComposeRuntime(configured: string | undefined, env: NodeJS.ProcessEnv = process.env, cacheFile?: string): Promise<RuntimeDetection> {
  const candidates: readonly Candidate[] = configured?.trim()
    ? [{ name: configured.trim(), command: configured.trim().split(/\s+/), engine: engineOf(configured) }]
    : COMPOSE_CANDIDATES;
  // The engine check of the likely winner runs alongside the version probes, not after them.
  const engines = new Map<ComposeRuntime['engine'], Promise<string | undefined>>();
  const engineCheck = (engine: ComposeRuntime['engine']) => engines.get(engine) ?? engines.set(engine, probeEngine(engine, env)).get(engine)!;
  void engineCheck(candidates[0]!.engine);
  // Keyed by the executables too, and only where there is a cache: the stats are not free.
  const key = cacheFile ? JSON.stringify([candidates.map((c) => c.command), env.PATH, await installedCompose(candidates, env)]) : '';
  let found = cacheFile ? await readCachedRuntime(cacheFile, key) : undefined;
  if (!found) {
    const probes = candidates.map((c) => probeVersion(c, env));
    for (const probe of probes) {
      found = await probe;
      if (found) break;
    }
    // `docker-compose` is most often the Compose plugin itself (Docker's and Debian's packages link
    // it there): run directly, it skips the docker CLI's plugin hop, about 0.1 s of every call.
    const standalone = found?.name === 'docker compose' ? await probes[1] : undefined;
    if (standalone && found && standalone.version === found.version && Number.parseInt(standalone.version, 10) >= 2) found = standalone;
    if (found && cacheFile) await writeFileAtomic(cacheFile, JSON.stringify({ key, at: Date.now(), runtime: found }), { durable: false }).catch(() => undefined);
  }
  if (!found) {
    return { missing: configured ? `vtree.compose.command '${configured}' does not run` : 'no Compose found (docker compose, docker-compose, podman compose, podman-compose)' };
  }
  const engineError = await engineCheck(found.engine);
  return engineError ? { missing: `no container engine answers (${engineError})` } : { runtime: found };
}

/**
 * The Compose a worktree's stack was started with, as its records name it, without asking it
 * again: for reading the stack's state, which needs the engine, not Compose's version.
 */
export function recordedRuntime(command: readonly string[]): ComposeRuntime {
  return { name: command.join(' '), command: [...command], engine: engineOf(command.join(' ')), version: '' };
}

/** The engine a Compose command drives (`vtree.compose.command`, or a recorded one): podman's when it names podman, else docker. */
export function engineOf(command: string | undefined): ComposeRuntime['engine'] {
  return /podman/.test(command ?? '') ? 'podman' : 'docker';
}

/**
 * How long a detected Compose is trusted without asking it for its version again, its executables
 * unchanged: a safety net for what {@link installedCompose} does not see.
 */
const RUNTIME_CACHE_MS = 7 * 24 * 60 * 60 * 1000;

/** Where the docker CLI looks for its plugins on Linux, besides `$DOCKER_CONFIG/cli-plugins`. */
const DOCKER_PLUGIN_DIRS = ['/usr/local/lib/docker/cli-plugins', '/usr/local/libexec/docker/cli-plugins', '/usr/lib/docker/cli-plugins', '/usr/libexec/docker/cli-plugins'];

/**
 * The Compose executables installed, as files: each candidate's program in every PATH directory,
 * and the docker CLI's compose plugin, by path, size, inode and modification time. Installing,
 * upgrading or removing any of them changes it, and the detection runs again; a few dozen stats
 * cost ~1 ms, where asking each candidate its version costs processes (~0.3 s on the way to a
 * stack's start).
 */
async function installedCompose(candidates: readonly Candidate[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const programs = [...new Set(candidates.map((c) => c.command[0]!))].flatMap((name) => (isAbsolute(name) ? [name] : dirs.map((dir) => join(dir, name))));
  const plugins = [join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'cli-plugins'), ...DOCKER_PLUGIN_DIRS].map((dir) => join(dir, 'docker-compose'));
  const seen = await Promise.all([...programs, ...plugins].map((path) => stat(path).then((s) => `${path}:${s.size}:${s.ino}:${s.mtimeMs}`, () => undefined)));
  return seen.filter((s): s is string => s !== undefined);
}

/**
 * The Compose found by an earlier run with the same candidates, PATH and installed executables
 * ({@link installedCompose}): its `version` probe (a docker CLI plugin scan, the slowest part of
 * detection) is skipped. The engine is always asked, since it comes and goes.
 */
async function readCachedRuntime(cacheFile: string, key: string): Promise<ComposeRuntime | undefined> {
  const cached = await readJsonFile<{ key: string; at: number; runtime: ComposeRuntime }>(cacheFile).catch(() => undefined);
  return cached?.key === key && Date.now() - cached.at < RUNTIME_CACHE_MS ? cached.runtime : undefined;
}

async function probeVersion(candidate: Candidate, env: NodeJS.ProcessEnv): Promise<ComposeRuntime | undefined> {
  const [command, ...prefix] = candidate.command;
  try {
    const { stdout } = await run(command!, [...prefix, 'version'], { env, signal: AbortSignal.timeout(ENGINE_TIMEOUT_MS) });
    const version = /(\d+\.\d+(?:\.\d+)?)/.exec(stdout)?.[1] ?? 'unknown';
    return { name: candidate.name, command: [...candidate.command], engine: candidate.engine, version };
  } catch {
    return undefined;
  }
}

/** One line when the engine does not answer, else undefined. */
async function probeEngine(engine: ComposeRuntime['engine'], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  // Docker's socket answers a ping in a few ms, where `docker version` is a process on the way to
  // every stack's start; anything but "OK" leaves it to the CLI, which explains what is wrong.
  if (engine === 'docker' && (await (await import('../../core/docker-socket.js')).askDocker('GET', '/_ping', undefined, env))?.status === 200) return undefined;
  const args = engine === 'docker' ? ['version', '--format', '{{.Server.Version}}'] : ['info', '--format', '{{.Host.Arch}}'];
  try {
    await run(engine, args, { env, signal: AbortSignal.timeout(ENGINE_TIMEOUT_MS) });
    return undefined;
  } catch (error) {
    const message = errorMessage(error);
    if (/aborted|AbortError/i.test(message)) return `${engine} did not answer within ${ENGINE_TIMEOUT_MS / 1000} s`;
    // The engine runs, but its socket is not this user's to use: say what to do, not the raw error.
    if (engine === 'docker' && /permission denied/i.test(message) && /socket/i.test(message)) {
      return 'this user may not use the Docker socket (permission denied): join the docker group (sudo usermod -aG docker "$USER", then log in again) or set DOCKER_HOST to an engine you may use';
    }
    return message.replace(/^\S+ \S+ failed: /, '');
  }
}

/** A worktree's Compose project, as vtree runs it. */
export interface ComposeProject {
  /** The worktree root: Compose's working and project directory. */
  dir: string;
  /** `COMPOSE_PROJECT_NAME`: labels every container, network and volume of the stack. */
  name: string;
  /** `-f` files (relative to `dir` or absolute), the generated override last; empty leaves them to Compose. */
  files: string[];
  /** Variables Compose interpolates (the worktree's ports), over the process environment. */
  env: Record<string, string>;
}

/** The worktree's leased ports as Compose variables. */
export function portEnv(ports: Readonly<Record<string, number>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(ports ?? {}).map(([name, port]) => [name, String(port)]));
}

/**
 * The project a worktree's records describe, for `rm`, `up`, `down`: its name, those of its files
 * still on disk (Compose refuses a missing `-f`; `-p` alone still finds the containers) and its ports.
 */
export async function recordedProject(dir: string, name: string, files: readonly string[], ports: Readonly<Record<string, number>> | undefined): Promise<ComposeProject> {
  const { exists } = await import('../../core/files.js');
  const present = await Promise.all(files.map(async (file) => ((await exists(isAbsolute(file) ? file : join(dir, file))) ? file : undefined)));
  return { dir, name, files: present.filter((f): f is string => f !== undefined), env: portEnv(ports) };
}

/** Environment of every Compose call: BuildKit for builds, then the project's own variables. */
export function composeEnv(project: ComposeProject, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    DOCKER_BUILDKIT: '1',
    COMPOSE_DOCKER_CLI_BUILD: '1',
    COMPOSE_PROJECT_NAME: project.name,
    ...project.env,
  };
}

/** The full argument vector (after the executable) of a Compose command for `project`. */
export function composeArgs(runtime: ComposeRuntime, project: ComposeProject, args: readonly string[]): string[] {
  return [
    ...runtime.command.slice(1),
    '-p',
    project.name,
    ...project.files.flatMap((file) => ['-f', file]),
    ...args,
  ];
}

/**
 * The same command as one argument vector for another process to run (`env` sets the project's
 * variables): the `up -d` a start job runs before itself.
 */
export function composeArgv(runtime: ComposeRuntime, project: ComposeProject, args: readonly string[]): string[] {
  const variables = Object.entries(composeEnv(project, {})).map(([name, value]) => `${name}=${value}`);
  return ['env', ...variables, runtime.command[0]!, ...composeArgs(runtime, project, args)];
}

/** Runs `<compose> -p <project> -f ... <args>` in the worktree: the one way vtree calls Compose. */
export function runCompose(runtime: ComposeRuntime, project: ComposeProject, args: readonly string[], options: Omit<RunOptions, 'cwd'> = {}): Promise<RunResult> {
  return run(runtime.command[0]!, composeArgs(runtime, project, args), { ...options, env: composeEnv(project, options.env), cwd: project.dir });
}
