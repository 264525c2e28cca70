import { join } from 'node:path';
import { errorMessage, UsageError, VtreeError } from '../core/errors.js';
import { formatBytes } from '../core/output.js';
import { git } from '../core/exec.js';
import { withLock } from '../core/lock.js';
import { backgroundLogPath, composeCacheDir, composeRuntimeCachePath } from '../core/paths.js';
import { cacheDirOf } from '../git/cache-dir.js';
import { composeProjectName } from '../git/slug.js';
import { projectPrefix } from '../git/project-prefix.js';
import { buildGolden, reclaimScratch, type ScratchPlan, type SeedRuntime } from '../features/seed/build.js';
import type { ComposeModel } from '../features/services/compose.js';
import { readSeedSpecs, type SeedSpec } from '../features/seed/definitions.js';
import { readSeedStatus, writeSeedStatus, type SeedVolumeStatus } from '../features/seed/status.js';
import { goldenTempDir, readGolden, seedKey, seedsDir, type Golden, type GoldenLimits } from '../features/seed/store.js';
import { imageId, type CloneMode } from '../features/seed/volume.js';
import { consent } from '../features/tasks/consent.js';
import type { ProjectTask } from '../features/tasks/definitions.js';
import { locateStack, type Stack } from './services.js';
import { isSetUpRecord, worktreeGitDir } from '../git/worktree-state.js';
import type { ComposeRuntime } from '../features/services/runtime.js';
import { newRunId } from '../observe/metrics.js';

/** What `git vtree seed` (and the background job after a miss) is asked to do. */
export interface SeedRequest {
  /** A directory inside the worktree whose commit and environment seed the golden. */
  cwd: string;
  /** Only these volumes (default: every declared one). */
  volumes?: readonly string[];
  /** Build again even when a golden for the key exists. */
  rebuild: boolean;
  /** May ask the user to approve committed seed commands (a terminal, not a background job). */
  interactive: boolean;
  /** The run id naming the log. */
  runId: string;
  log(line: string): void;
  warn(line: string): void;
  signal?: AbortSignal;
}

/** What happened to one declared volume. */
export interface SeedOutcome {
  volume: string;
  key?: string;
  golden?: Golden;
  /** Built by this call (not found ready). */
  built: boolean;
  /** Why nothing was built: not approved, no such service, ... */
  skipped?: string;
}

/** A seed section as a project task, so approving it goes through the one consent path (`git vtree trust`). */
export function seedTask(spec: SeedSpec): ProjectTask {
  return { kind: 'seed', name: spec.volume, run: spec.run, after: [], background: true, optional: false, committed: spec.committed };
}

/** Its `update` command as a project task of its own (approved apart: a different command). */
function updateTask(spec: SeedSpec & { update: string }): ProjectTask {
  return { ...seedTask(spec), name: `${spec.volume}.update`, run: spec.update };
}

/** Every command a seed section asks to run, for `git vtree trust`. */
export function seedTasks(spec: SeedSpec): ProjectTask[] {
  return spec.update ? [seedTask(spec), updateTask({ ...spec, update: spec.update })] : [seedTask(spec)];
}

/**
 * Brings the worktree's clones of older goldens up to date (state `updating`, set by `add` when its
 * own key had no golden): waits until the seeded service of its own stack answers, then runs the
 * section's `update` in the worktree with the stack's environment, and records `cloned` or
 * `failed` with the command and its log. Runs before the new golden builds, so the worktree is
 * ready first.
 */
export async function updateClones(request: Omit<SeedRequest, 'rebuild'>): Promise<void> {
  const stack = await locateStack(request.cwd);
  const { repo, config } = stack.where;
  const { readSeedStatus } = await import('../features/seed/status.js');
  const updating = Object.values((await readSeedStatus(stack.gitDir))?.volumes ?? {}).filter((v) => v.state === 'updating' && (!request.volumes || request.volumes.includes(v.volume)));
  if (updating.length === 0) return;
  const specs = readSeedSpecs(config);
  const log = backgroundLogPath(repo.commonDir, 'seed', request.runId);
  const { runnable } = await consent(repo.mainPath, specs.filter((s) => s.update).map((s) => updateTask({ ...s, update: s.update! })), request.interactive, request);
  const [{ stackRuntime }, { serviceStatuses, serviceVerdict }, { runLogged }, { recordedRuntime }] = await Promise.all([
    import('./services.js'),
    import('../features/services/stack.js'),
    import('../features/seed/build.js'),
    import('../features/services/runtime.js'),
  ]);
  for (const entry of updating) {
    const spec = specs.find((s) => s.volume === entry.volume);
    const settle = (status: Partial<SeedVolumeStatus>) => writeSeedStatus(stack.gitDir, { ...entry, log, ...status });
    if (!spec?.update || !runnable.some((t) => t.name === `${spec.volume}.update`)) {
      await settle({ state: 'failed', error: `'${spec?.update ?? 'update'}' is not approved on this machine (git vtree trust)` });
      continue;
    }
    await settle({ state: 'updating', command: spec.update, pid: process.pid });
    // The stack's own Compose, as recorded: probing for one again costs a process before the update can start.
    const recorded = stack.status?.runtime ?? stack.record?.runtime;
    const runtime = recorded ? recordedRuntime(recorded) : await stackRuntime(stack);
    const deadline = Date.now() + config.integer('vtree.services.waitTimeout', 120) * 1000;
    let verdict = 'pending';
    while (verdict !== 'healthy' && verdict !== 'up' && verdict !== 'failed' && Date.now() < deadline) {
      verdict = serviceVerdict((await serviceStatuses(runtime, stack.project)).filter((s) => s.service === spec.service));
      // One request to Docker's socket a poll: the update, and `wait` behind it, start as soon as the service answers.
      if (verdict !== 'healthy' && verdict !== 'up') await new Promise((r) => setTimeout(r, 100));
    }
    if (verdict !== 'healthy' && verdict !== 'up') {
      await settle({ state: 'failed', error: `${spec.service} of the worktree's stack did not come up to run '${spec.update}'` });
      continue;
    }
    request.log(`seed ${spec.volume}: running ${spec.update} on the clone of golden ${entry.base?.slice(0, 12)}`);
    const env = { ...process.env, ...stack.project.env, COMPOSE_PROJECT_NAME: stack.project.name, ...seedEnv({}, stack.path, stack.slug, repo.mainPath) };
    const code = await runLogged(spec.update, stack.path, env, log, request.signal);
    await settle(code === 0 ? { state: 'cloned', command: spec.update } : { state: 'failed', error: `'${spec.update}' exited with ${code}` });
  }
}

/**
 * Before `git vtree up` starts a stack: the worktree's seeded volumes (`specs`) that do not exist yet (set up
 * with `--no-services`, `vtree.services.start = none`, or no engine then) get their clones as
 * set-up gives them, and the same background jobs; else Compose would create the volumes itself and
 * the database would start empty. Volumes that exist are kept. Only in a worktree vtree set up: the
 * main worktree, or one made by plain git, runs as plain Compose runs it (its volumes are the
 * user's, and `rm` would not know a clone there by its project name).
 */
export async function seedBeforeUp(stack: Stack, runtime: ComposeRuntime, specs: readonly SeedSpec[], io: { log(line: string): void; warn(line: string): void }): Promise<void> {
  const { repo, config } = stack.where;
  if (specs.length === 0 || !isSetUpRecord(stack.state)) return;
  const [{ seedVolumes, startSeedJobs }, { model }, commit] = await Promise.all([import('../features/seed/index.js'), composeContext(stack), git(stack.path, ['rev-parse', 'HEAD'])]);
  const seeded = await seedVolumes({ repo, config, specs, commit, gitDir: stack.gitDir, projectName: stack.project.name, model, runtime, log: io.log, warn: io.warn });
  await startSeedJobs(seeded, { repo, config, gitDir: stack.gitDir, path: stack.path, runId: newRunId(new Date()), log: io.log });
}

/**
 * Builds the golden copy of each declared volume for the worktree's commit, unless one exists for
 * its key (`rebuild` builds anyway). One build per key at a time, machine-wide through a lock in
 * the cache: a second caller waits and then finds it built. Records each volume's progress in the
 * worktree's seed status, so `wait` and `status` see a build under way or failed.
 */
export async function seedGoldens(request: SeedRequest): Promise<SeedOutcome[]> {
  const stack = await locateStack(request.cwd);
  const { repo, config } = stack.where;
  const all = readSeedSpecs(config);
  const unknown = (request.volumes ?? []).filter((v) => !all.some((s) => s.volume === v));
  if (unknown.length > 0) throw new UsageError(`no [vtree "seed.${unknown[0]}"] section in the config`, 'git config --get-regexp ^vtree\\.seed\\.');
  const specs = request.volumes ? all.filter((s) => request.volumes!.includes(s.volume)) : all;
  if (specs.length === 0) return [];
  const { runnable } = await consent(repo.mainPath, specs.map(seedTask), request.interactive, request);
  const { runtime, model } = await composeContext(stack);
  // The scratch stack runs the repository's Compose files like the worktree's own stack: the same trust gate.
  const { stackConsent } = await import('../features/services/consent.js');
  const stackAllowed = await stackConsent(repo.mainPath, model, config, { dir: stack.path, interactive: request.interactive });
  const commit = await git(stack.path, ['rev-parse', 'HEAD']);
  const cacheDir = cacheDirOf(repo, config);
  const log = backgroundLogPath(repo.commonDir, 'seed', request.runId);
  const outcomes: SeedOutcome[] = [];
  for (const spec of specs) {
    const service = model.services.find((s) => s.name === spec.service);
    const skip = !runnable.some((t) => t.name === spec.volume)
      ? 'its run command is not approved on this machine (git vtree trust)'
      : !stackAllowed.allowed
        ? `${stackAllowed.refused} (git vtree trust)`
        : !service
        ? `the stack has no service ${spec.service}`
        : !service.image || service.image.includes('$')
          ? `service ${spec.service} names no fixed image (a seeded service runs a pulled image)`
          : undefined;
    if (skip) {
      request.warn(`seed ${spec.volume}: skipped: ${skip}`);
      // A set-up that found no golden recorded a build as under way: say why none is.
      const recorded = (await readSeedStatus(stack.gitDir))?.volumes[spec.volume];
      if (recorded?.state === 'building') await writeSeedStatus(stack.gitDir, { ...recorded, state: 'missing', error: skip }, { build: true });
      outcomes.push({ volume: spec.volume, built: false, skipped: skip });
      continue;
    }
    const image = service!.image!;
    const id = await imageId(runtime.engine, image, request.signal);
    const key = await seedKey(stack.path, commit, spec, id);
    const progress = (status: Omit<SeedVolumeStatus, 'volume' | 'key'>) => writeSeedStatus(stack.gitDir, { volume: spec.volume, key: key.key, ...status }, { build: true });
    const lock = join(seedsDir(cacheDir), 'locks', `${spec.volume}-${key.key}.lock`);
    const outcome = await withLock(
      lock,
      async (): Promise<SeedOutcome> => {
        const ready = await readGolden(cacheDir, spec.volume, key.key);
        if (ready && !request.rebuild) return { volume: spec.volume, key: key.key, golden: ready, built: false };
        await progress({ state: 'building', command: spec.run, log, pid: process.pid });
        request.log(`seed ${spec.volume}: building the golden copy for ${key.key.slice(0, 12)} (log: ${log})`);
        const temp = await goldenTempDir(cacheDir, spec.volume);
        const golden = await withScratch({ stack, runtime, model, spec, dir: temp, log, ...(request.signal ? { signal: request.signal } : {}) }, (plan) =>
          buildGolden({ ...plan, key, image, imageId: id, commit, cacheDir }, temp),
        );
        return { volume: spec.volume, key: key.key, golden, built: true };
      },
      // A build holds the lock for as long as the seed command runs; a second caller waits for it.
      { timeoutMs: 60 * 60_000 },
    ).catch(async (error: unknown) => {
      await progress({ state: 'failed', command: spec.run, log, error: errorMessage(error) });
      throw error;
    });
    await progress({ state: 'ready', golden: outcome.golden!.createdAt });
    if (outcome.built) request.log(`seed ${spec.volume}: golden ${key.key.slice(0, 12)} ready (${formatBytes(outcome.golden!.bytes)} in ${Math.round(outcome.golden!.buildMs / 100) / 10} s)`);
    outcomes.push(outcome);
  }
  return outcomes;
}

/**
 * The environment of the scratch stack and of `run`: the scratch project's own ports in every port
 * variable of the stack (so nothing it publishes meets the worktree's running stack), and the
 * facts project tasks get.
 */
function seedEnv(ports: Readonly<Record<string, number>>, path: string, slug: string, mainPath: string): Record<string, string> {
  return {
    ...Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, String(port)])),
    VTREE_PATH: path,
    VTREE_SLUG: slug,
    VTREE_MAIN_WORKTREE: mainPath,
  };
}

/** A golden copy, with the worktrees whose volumes are clones of it. */
export interface GoldenRow extends Golden {
  users: string[];
}

/** Every golden copy of the repository's cache, newest first, with the worktrees that cloned each. */
export async function seedReport(cwd: string): Promise<{ cacheDir: string; goldens: GoldenRow[] }> {
  const { cacheDir, goldens, statuses } = await goldensAndStatuses(cwd);
  return {
    cacheDir,
    goldens: goldens.map((g) => ({
      ...g,
      users: statuses.filter(({ status }) => Object.values(status?.volumes ?? {}).some((v) => v.state === 'cloned' && v.volume === g.volume && v.key === g.key)).map((s) => s.path),
    })),
  };
}

/** The repository's goldens (newest first) and every worktree's seed status. */
async function goldensAndStatuses(cwd: string) {
  const { resolveRepoStage } = await import('./repo-stage.js');
  const { repo, config } = await resolveRepoStage(cwd);
  const { listGoldens } = await import('../features/seed/store.js');
  const cacheDir = cacheDirOf(repo, config);
  const [goldens, statuses] = await Promise.all([
    listGoldens(cacheDir),
    Promise.all(repo.worktrees.map(async (w) => ({ path: w.path, status: await worktreeGitDir(w.path).then(readSeedStatus, () => undefined) }))),
  ]);
  return { cacheDir, goldens, statuses };
}

/**
 * Deletes golden copies: every one but the newest of each volume, or (`all`) every one. A
 * worktree's clone is its own copy (shared extents stay until both are gone), so no worktree
 * loses data; the next `add` of a pruned key builds it again.
 */
export async function pruneGoldens(cwd: string, all: boolean): Promise<Golden[]> {
  const { cacheDir, goldens } = await goldensAndStatuses(cwd);
  const newest = new Set<string>();
  const doomed = goldens.filter((g) => {
    if (!all && !newest.has(g.volume)) {
      newest.add(g.volume);
      return false;
    }
    return true;
  });
  await removeGoldens(cacheDir, doomed);
  return doomed;
}

/**
 * `git vtree cache prune`'s pass over the goldens, least recently used first (like dependency
 * entries, their own total against `maxBytes`): those unused longer than `olderThanMs`, then
 * until their bytes fit `maxBytes`. A golden of a key some worktree's volume has (its commit's
 * key, or the older golden an update started from: the next `add` of that branch clones it) is
 * kept unless `includeUsed`.
 */
export async function pruneGoldensPastLimits(cwd: string, limits: GoldenLimits, includeUsed: boolean): Promise<Golden[]> {
  const { cacheDir, goldens, statuses } = await goldensAndStatuses(cwd);
  const { goldensPastLimits } = await import('../features/seed/store.js');
  const inUse = new Set(includeUsed ? [] : statuses.flatMap(({ status }) => Object.values(status?.volumes ?? {}).flatMap((v) => [v.key, ...(v.base ? [v.base] : [])])));
  const doomed = goldensPastLimits(goldens, inUse, limits);
  await removeGoldens(cacheDir, doomed);
  return doomed;
}

/** Deletes `goldens`, each under its key's lock, so no build of it runs meanwhile (an add cloning it then fails its copy and rolls back). */
async function removeGoldens(cacheDir: string, goldens: readonly Golden[]): Promise<void> {
  const { removeGolden } = await import('../features/seed/store.js');
  for (const golden of goldens) {
    await withLock(join(seedsDir(cacheDir), 'locks', `${golden.volume}-${golden.key}.lock`), () => removeGolden(cacheDir, golden));
  }
}

/** The Compose runtime and the parsed project of a located stack; no Compose, or a broken file, is one line. */
async function composeContext(stack: Stack): Promise<{ runtime: SeedRuntime; model: ComposeModel }> {
  const { repo, config } = stack.where;
  const [{ detectComposeRuntime }, { composeFileSettings, directorySource, discoverCompose }] = await Promise.all([import('../features/services/runtime.js'), import('../features/services/compose.js')]);
  const detection = await detectComposeRuntime(config.string('vtree.compose.command'), process.env, composeRuntimeCachePath(repo.commonDir));
  if (!('runtime' in detection)) throw new VtreeError(`seed: no Compose to run the seeded service with: ${detection.missing}`, 'install Docker with Compose v2');
  const model = stack.model ?? (await discoverCompose(directorySource(stack.path), await composeFileSettings(config.list('vtree.compose.files'), stack.path), composeCacheDir(repo.commonDir)));
  if (model.error) throw new VtreeError(`seed: ${model.error}`, 'fix the compose file, then run: git vtree seed');
  return { runtime: { command: detection.runtime.command, engine: detection.runtime.engine, version: detection.runtime.version }, model };
}

/**
 * Runs `use` with the plan of a scratch stack for `spec`: every port variable of the stack leased
 * to `dir` (released after), a project named after this process (the stacks of killed builds,
 * named after dead pids, are removed first).
 */
async function withScratch<T>(
  where: { stack: Stack; runtime: SeedRuntime; model: ComposeModel; spec: SeedSpec; dir: string; log: string; signal?: AbortSignal },
  use: (plan: ScratchPlan) => Promise<T>,
): Promise<T> {
  const { stack, runtime, model, spec } = where;
  const { repo, config } = stack.where;
  const { leasePorts, parsePortRange, releasePorts, DEFAULT_PORT_RANGE } = await import('../features/ports/registry.js');
  const holder = { worktree: where.dir, repo: repo.commonDir };
  const { ports } = await leasePorts(holder, model.portVars.map((v) => v.name), parsePortRange(config.string('vtree.ports.range', DEFAULT_PORT_RANGE)));
  const scratch = composeProjectName(await projectPrefix(repo), `seed-${spec.volume}-`);
  try {
    await reclaimScratch(runtime, scratch, stack.path);
    return await use({
      spec,
      runtime,
      worktree: stack.path,
      files: stack.project.files,
      project: `${scratch}${process.pid}`,
      env: seedEnv(ports, stack.path, stack.slug, repo.mainPath),
      log: where.log,
      waitSeconds: config.integer('vtree.services.waitTimeout', 120),
      ...(where.signal ? { signal: where.signal } : {}),
    });
  } finally {
    await releasePorts(holder).catch(() => undefined);
  }
}

/** One way of giving a new worktree its data, timed over the rounds of `git vtree bench --data`. */
export interface DataBenchRow {
  id: 'seed' | 'clone';
  label: string;
  median: number;
  min: number;
  max: number;
  durations: number[];
}

/** What `git vtree bench --data` measured. */
export interface DataBenchResult {
  volume: string;
  service: string;
  key: string;
  runs: number;
  /** How the clone rows copied the golden: reflink where the cache's filesystem clones, else copy. */
  mode: CloneMode;
  goldenBytes: number;
  rows: DataBenchRow[];
  /** Median of the seed row / median of the clone row. */
  speedup: number;
}

/**
 * `git vtree bench --data`: on the first seeded volume (its golden built first if missing), times in
 * alternating rounds, each in a scratch stack of its own, (a) migrate + seed: an empty volume, the
 * service started until it answers, then `run`; against (b) the seeded clone: the golden cloned
 * as `add` clones it, then the service started until it answers. Both end when the data is there
 * to query; neither includes `git worktree add`.
 */
export async function benchSeedData(request: { cwd: string; runs: number; interactive: boolean; log(line: string): void; warn(line: string): void; signal?: AbortSignal }): Promise<DataBenchResult> {
  const runId = newRunId();
  // Through seedGoldens' consent: a seed command or stack not approved leaves no golden, and no scratch stack runs.
  const [outcome] = (await seedGoldens({ ...request, rebuild: false, runId })).filter((o) => o.golden);
  if (!outcome?.golden) throw new UsageError('bench --data: no seeded volume with a golden copy', 'declare [vtree "seed.<volume>"] (docs/data.md), approve it (git vtree trust), then run: git vtree seed');
  const golden = outcome.golden;
  const stack = await locateStack(request.cwd);
  const { repo, config } = stack.where;
  const { runtime, model } = await composeContext(stack);
  const spec = readSeedSpecs(config).find((s) => s.volume === outcome.volume)!;
  const cacheDir = cacheDirOf(repo, config);
  const log = backgroundLogPath(repo.commonDir, 'seed-bench', runId);
  const [{ scratchStack }, { cloneTree }, { tempName }, { rm }, { timings }] = await Promise.all([
    import('../features/seed/build.js'),
    import('../features/seed/volume.js'),
    import('../core/temp-name.js'),
    import('node:fs/promises'),
    import('./bench.js'),
  ]);
  const durations: Record<DataBenchRow['id'], number[]> = { seed: [], clone: [] };
  let mode: CloneMode = 'copy';
  for (let round = 0; round < request.runs; round++) {
    const order: Array<DataBenchRow['id']> = round % 2 === 0 ? ['seed', 'clone'] : ['clone', 'seed'];
    for (const side of order) {
      request.signal?.throwIfAborted();
      const dir = await goldenTempDir(cacheDir, spec.volume);
      try {
        await withScratch({ stack, runtime, model, spec, dir, log, ...(request.signal ? { signal: request.signal } : {}) }, async (plan) => {
          const scratch = scratchStack(plan);
          try {
            const started = performance.now();
            if (side === 'clone') {
              mode = await cloneTree(golden.data, join(dir, 'clone'), join(dir, tempName('clone')));
              await scratch.start(join(dir, 'clone'));
            } else {
              await scratch.start(join(dir, 'data'));
              await scratch.seed(spec.run);
            }
            durations[side].push(performance.now() - started);
          } finally {
            await scratch.teardown();
          }
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      request.log(`bench --data: round ${round + 1}/${request.runs}: ${side} ${Math.round(durations[side].at(-1)!)} ms`);
    }
  }
  const rows: DataBenchRow[] = [
    { id: 'seed', label: `migrate + seed (${spec.service} started on an empty volume, then: ${spec.run})`, ...timings(durations.seed) },
    { id: 'clone', label: `seeded clone (${mode} of the golden, then ${spec.service} started)`, ...timings(durations.clone) },
  ];
  const speedup = Math.round((rows[0]!.median / rows[1]!.median) * 10) / 10;
  return { volume: spec.volume, service: spec.service, key: golden.key, runs: request.runs, mode, goldenBytes: golden.bytes, rows, speedup };
}
