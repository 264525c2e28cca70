import { spawn } from 'node:child_process';
import { appendFile, mkdir, open, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { run } from '../../core/exec.js';
import { errorMessage, VtreeError } from '../../core/errors.js';
import { failpoint } from '../../core/failpoint.js';
import { isProcessAlive } from '../../core/pid.js';
import { SEED_FAILPOINTS } from './failpoints.js';
import type { SeedSpec } from './definitions.js';
import { goldenTempDir, publishGolden, type Golden, type SeedKey } from './store.js';
import { composeVolumeLabels, createBoundVolume, directoryBytes, removeVolume, type Engine } from './volume.js';

/** The Compose command and version that run the scratch project (structurally, the services feature's runtime). */
export interface SeedRuntime {
  command: string[];
  engine: Engine;
  version: string;
}

/** A scratch Compose project that runs only a seeded service, its volume bound to a directory. */
export interface ScratchPlan {
  spec: SeedSpec;
  runtime: SeedRuntime;
  /** The worktree `run` runs in (Compose's project directory too). */
  worktree: string;
  /** Its Compose files (`-f`), as its own stack uses them. */
  files: string[];
  /** The scratch project's name: its containers, network and volume carry it. */
  project: string;
  /** The environment of the scratch stack and of `run`: the scratch project's ports, and vtree's facts. */
  env: Record<string, string>;
  /** Where `run`'s output goes. */
  log: string;
  /** Seconds the service gets to come up (healthy, where it has a healthcheck). */
  waitSeconds: number;
  signal?: AbortSignal;
}

/** What building one golden copy needs. */
export interface GoldenBuild extends ScratchPlan {
  key: SeedKey;
  image: string;
  imageId: string;
  commit: string;
  cacheDir: string;
}

/** A failed seed: names the command and its log. */
export class SeedError extends VtreeError {}

/**
 * Builds the golden copy of `build.spec.volume` for its key: a scratch Compose project starts only
 * the seeded service (and what it depends on) with the volume bound to a fresh directory under the
 * cache, `run` seeds it from the host in the worktree, then the service is stopped cleanly (its
 * stop signal, so the data on disk is consistent) and the directory is published in one rename.
 * Whatever fails, the scratch stack and its volume are removed and nothing is published.
 */
export async function buildGolden(build: GoldenBuild, temp?: string): Promise<Golden> {
  const started = Date.now();
  const { spec } = build;
  const dir = temp ?? (await goldenTempDir(build.cacheDir, spec.volume));
  const data = join(dir, 'data');
  const scratch = scratchStack(build);
  try {
    await scratch.start(data);
    failpoint(SEED_FAILPOINTS['build:started']);
    await scratch.seed(spec.run);
    failpoint(SEED_FAILPOINTS['build:seeded']);
    // Stopped, not copied live: the service's stop signal makes the database flush and close cleanly.
    await scratch.stop();
    failpoint(SEED_FAILPOINTS['build:stopped']);
  } catch (error) {
    await scratch.say(`seed ${spec.volume}: failed: ${errorMessage(error)}`);
    await scratch.teardown();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  await scratch.teardown();
  const golden = await publishGolden(dir, build.cacheDir, {
    volume: spec.volume,
    service: spec.service,
    key: build.key.key,
    image: build.image,
    imageId: build.imageId,
    run: spec.run,
    commit: build.commit,
    createdAt: new Date().toISOString(),
    bytes: await directoryBytes(data),
    buildMs: Date.now() - started,
  });
  await scratch.say(`seed ${spec.volume}: golden ${golden.key} published (${basename(golden.dir)})`);
  return golden;
}

/** The steps of a scratch stack's life: each a Compose or host command, logged to the plan's log. */
export interface ScratchStack {
  /** Binds `dir` as the service's volume and starts the service, waiting until it answers. */
  start(dir: string): Promise<void>;
  /** Runs `command` on the host against it; a non-zero exit is a {@link SeedError} naming the command and the log. */
  seed(command: string): Promise<void>;
  /** Stops the service cleanly (its stop signal). */
  stop(): Promise<void>;
  /** Removes its containers, network and Docker volume (the bound directory stays). */
  teardown(): Promise<void>;
  say(line: string): Promise<void>;
}

/** A scratch Compose project for `plan`: only its seeded service, on the plan's ports, in the worktree's directory. */
export function scratchStack(plan: ScratchPlan): ScratchStack {
  const { spec, runtime, project } = plan;
  const dockerVolume = `${project}_${spec.volume}`;
  const env = { ...process.env, ...plan.env, COMPOSE_PROJECT_NAME: project };
  const compose = (args: string[], okCodes: number[] = [0]) =>
    run(runtime.command[0]!, [...runtime.command.slice(1), '-p', project, ...plan.files.flatMap((f) => ['-f', f]), ...args], { cwd: plan.worktree, env, okCodes, ...(plan.signal ? { signal: plan.signal } : {}) });
  const say = async (line: string) => {
    await mkdir(dirname(plan.log), { recursive: true });
    await appendFile(plan.log, `${line}\n`);
  };
  return {
    say,
    async start(dir) {
      await createBoundVolume(runtime.engine, dockerVolume, dir, composeVolumeLabels(project, spec.volume, runtime.version));
      await say(`seed ${spec.volume}: starting ${spec.service} in scratch project ${project}`);
      await compose(['up', '-d', '--wait', '--wait-timeout', String(plan.waitSeconds), spec.service]).catch((error: unknown) => {
        throw new SeedError(`seed ${spec.volume}: ${spec.service} did not come up: ${errorMessage(error).replace(/^\S+ \S+ failed: /, '').split('\n').slice(-2).join(' ')}`, `see ${plan.log}`);
      });
    },
    async seed(command) {
      await say(`seed ${spec.volume}: running: ${command}`);
      const code = await runLogged(command, plan.worktree, env, plan.log, plan.signal);
      if (code !== 0) throw new SeedError(`seed ${spec.volume}: '${command}' exited with ${code}`, `see its output: ${plan.log}`);
    },
    async stop() {
      await compose(['stop', '--timeout', '120', spec.service]);
      await say(`seed ${spec.volume}: ${spec.service} stopped`);
    },
    async teardown() {
      await compose(['down', '--remove-orphans', '--timeout', '30'], [0, 1]).catch(() => undefined);
      await removeVolume(runtime.engine, dockerVolume).catch(() => undefined);
    },
  };
}

/** Runs the project's command line with `sh -c` in `cwd`, its output appended to the file `log`; resolves with its exit code. */
export async function runLogged(command: string, cwd: string, env: NodeJS.ProcessEnv, log: string, signal?: AbortSignal): Promise<number> {
  await mkdir(dirname(log), { recursive: true });
  const handle = await open(log, 'a');
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', handle.fd, handle.fd], ...(signal ? { signal } : {}) });
      child.on('error', reject);
      child.on('close', (code, killedBy) => resolve(code ?? (killedBy ? 128 : 1)));
    });
  } finally {
    await handle.close();
  }
}

/**
 * Removes the scratch stacks of builds that were killed: Compose projects named `<prefix><pid>`
 * whose pid is dead (containers, network and their Docker volume; the bound directory is a temp
 * directory the store reclaims).
 */
export async function reclaimScratch(runtime: SeedRuntime, prefix: string, cwd: string): Promise<string[]> {
  const listed = await Promise.all(
    [['ps', '-a'], ['volume', 'ls']].map((kind) =>
      run(runtime.engine, [...kind, '--filter', 'label=com.docker.compose.project', '--format', '{{.Label "com.docker.compose.project"}}']).then((r) => r.stdout.split('\n'), () => [] as string[]),
    ),
  );
  const dead = [...new Set(listed.flat())].filter((name) => {
    const pid = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : NaN;
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isProcessAlive(pid);
  });
  await Promise.all(dead.map((project) => run(runtime.command[0]!, [...runtime.command.slice(1), '-p', project, 'down', '--volumes', '--remove-orphans', '--timeout', '1'], { cwd, okCodes: [0, 1] })));
  return dead;
}
