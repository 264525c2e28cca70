import { spawn } from 'node:child_process';
import { mkdir, open, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { run } from '../../core/exec.js';
import { errorMessage, VtreeError } from '../../core/errors.js';
import { isProcessAlive } from '../../core/pid.js';
import type { SeedSpec } from './definitions.js';
import { goldenTempDir, publishGolden, type Golden, type SeedKey } from './store.js';
import { composeVolumeLabels, createBoundVolume, directoryBytes, removeVolume, type Engine } from './volume.js';

/** The Compose command and version that run the scratch project (structurally, the services feature's runtime). */
export interface SeedRuntime {
  command: string[];
  engine: Engine;
  version: string;
}

/** What building one golden copy needs. */
export interface GoldenBuild {
  spec: SeedSpec;
  key: SeedKey;
  image: string;
  imageId: string;
  commit: string;
  cacheDir: string;
  runtime: SeedRuntime;
  /** The worktree `run` runs in (Compose's project directory too). */
  worktree: string;
  /** Its Compose files (`-f`), as its own stack uses them. */
  files: string[];
  /** The scratch project's name: its containers, network and volume carry it. */
  project: string;
  /** The environment of the scratch stack and of `run`: the worktree's `.env`, with the scratch project's name and ports. */
  env: Record<string, string>;
  /** Where `run`'s output goes. */
  log: string;
  /** Seconds the service gets to come up (healthy, where it has a healthcheck). */
  waitSeconds: number;
  signal?: AbortSignal;
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
  const { spec, runtime, project } = build;
  const dir = temp ?? (await goldenTempDir(build.cacheDir, spec.volume));
  const data = join(dir, 'data');
  const dockerVolume = `${project}_${spec.volume}`;
  const compose = (args: string[], options: { okCodes?: number[] } = {}) =>
    run(runtime.command[0]!, [...runtime.command.slice(1), '-p', project, ...build.files.flatMap((f) => ['-f', f]), ...args], {
      cwd: build.worktree,
      env: { ...process.env, ...build.env, COMPOSE_PROJECT_NAME: project },
      ...(build.signal ? { signal: build.signal } : {}),
      ...options,
    });
  await mkdir(dirname(build.log), { recursive: true });
  const log = await open(build.log, 'a');
  const say = (line: string) => log.write(`${line}\n`);
  try {
    await createBoundVolume(runtime.engine, dockerVolume, data, composeVolumeLabels(project, spec.volume, runtime.version));
    await say(`seed ${spec.volume}: starting ${spec.service} in scratch project ${project}`);
    await compose(['up', '-d', '--wait', '--wait-timeout', String(build.waitSeconds), spec.service]).catch((error: unknown) => {
      throw new SeedError(`seed ${spec.volume}: ${spec.service} did not come up: ${errorMessage(error).replace(/^\S+ \S+ failed: /, '').split('\n').slice(-2).join(' ')}`, `see ${build.log}`);
    });
    await say(`seed ${spec.volume}: running: ${spec.run}`);
    const code = await runLogged(spec.run, build.worktree, { ...process.env, ...build.env, COMPOSE_PROJECT_NAME: project }, build.log, build.signal);
    if (code !== 0) throw new SeedError(`seed ${spec.volume}: '${spec.run}' exited with ${code}`, `see its output: ${build.log}`);
    // Stopped, not copied live: the service's stop signal makes the database flush and close cleanly.
    await compose(['stop', '--timeout', '120', spec.service]);
    await say(`seed ${spec.volume}: ${spec.service} stopped`);
  } catch (error) {
    await say(`seed ${spec.volume}: failed: ${errorMessage(error)}`);
    await teardown(compose, runtime.engine, dockerVolume);
    await log.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  await teardown(compose, runtime.engine, dockerVolume);
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
  await say(`seed ${spec.volume}: golden ${golden.key} published (${basename(golden.dir)})`);
  await log.close();
  return golden;
}

/** Removes the scratch stack and its Docker volume (the bound directory stays: it is the golden or about to be deleted). */
async function teardown(compose: (args: string[], options?: { okCodes?: number[] }) => Promise<unknown>, engine: Engine, dockerVolume: string): Promise<void> {
  await compose(['down', '--remove-orphans', '--timeout', '30'], { okCodes: [0, 1] }).catch(() => undefined);
  await removeVolume(engine, dockerVolume).catch(() => undefined);
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
