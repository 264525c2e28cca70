import { failpoint } from '../../core/failpoint.js';
import type { Task } from '../../core/graph.js';
import type { CheckoutStage, Feature, RemoveShared, RemoveTarget, RepoStage, SetupShared, TargetStage } from '../feature.js';
import { SEED_FAILPOINTS } from './failpoints.js';
import type { SeedSpec } from './definitions.js';
import type { SeedVolumeStatus } from './status.js';
import type { Engine } from './volume.js';

/** How long after an `add` its `seed-spare` job starts. */
const SPARE_DELAY_S = 3;

/** The step that gives each seeded volume its clone; the services feature starts the stack after it. */
export const SEED_VOLUMES = 'seed-volumes';

/** What this feature reads of the services feature's results (by shape: features stand alone). */
interface ComposeFacts {
  projectName: string;
  model: { services: Array<{ name: string; image?: string }>; error?: string };
}
type Detection = { runtime: { engine: Engine; version: string } } | { missing: string };

/** What `seed-volumes` made, for its undo and the worktree's state. */
interface Seeded {
  volumes: SeedVolumeStatus[];
  engine?: Engine;
  /** Goldens this run cloned or copied (or took a spare of): the next worktree's is made ahead of time. */
  copied?: Array<{ volume: string; key: string }>;
  /** Volumes without a golden for this commit: one builds in the background. */
  misses?: string[];
}

/**
 * Seeded data per worktree (`[vtree "seed.<volume>"]`): before the stack starts, each declared
 * Compose volume becomes the worktree's own copy-on-write clone of the golden copy for its key
 * (image, seed command, committed inputs), a bind-backed Docker volume labelled so Compose adopts
 * it. A miss starts building the golden in the background for the next worktree; `rm` removes
 * the clone.
 */
export const seedFeature: Feature = {
  name: 'seed',
  setupTasks: (stages) => [
    {
      name: SEED_VOLUMES,
      // Not after compose-override: the clone needs the stack's model, not its ports, and is made while they are leased.
      deps: [stages.repo, stages.target, stages.checkout, 'compose-model', 'compose-runtime'],
      // After previous-stack: a removed worktree's stack of the same name still going down would
      // delete the volume and clone made here, or leave its own for this worktree to keep.
      after: ['previous-stack'],
      async run({ shared, span, signal }, deps): Promise<Seeded> {
        const { repo, config } = deps[stages.repo] as RepoStage;
        const { readSeedSpecs } = await import('./definitions.js');
        const specs = readSeedSpecs(config);
        if (specs.length === 0) return { volumes: [] };
        const target = deps[stages.target] as TargetStage;
        const checkout = deps[stages.checkout] as CheckoutStage;
        const compose = deps['compose-model'] as ComposeFacts;
        const detection = deps['compose-runtime'] as Detection;
        if (!('runtime' in detection) || compose.model.error) {
          span.set('skipped', 'missing' in detection ? detection.missing : compose.model.error);
          return { volumes: [] };
        }
        const seeded = await seedVolumes({ repo, config, specs, commit: target.commit, gitDir: checkout.gitDir, projectName: compose.projectName, model: compose.model, runtime: detection.runtime, signal, log: shared.log, warn: shared.warn });
        span.set('volumes', seeded.volumes.map((v) => `${v.volume}:${v.state}${v.mode ? `:${v.mode}` : ''}`));
        shared.facts.seed = seeded.volumes.map(({ volume: v, key, state, mode, bytes, cloneMs }) => ({ volume: v, key, state, ...(mode ? { mode, bytes, cloneMs } : {}) }));
        shared.state.seed = { engine: seeded.engine, volumes: seeded.volumes };
        return seeded;
      },
      async undo(_ctx, result) {
        await removeClones(result as Seeded);
      },
    } satisfies Task<SetupShared>,
    {
      name: 'seed-jobs',
      deps: [stages.repo, stages.checkout, SEED_VOLUMES],
      // After the stack's start: spawning a process costs this one ~10 ms, and neither job is waited for before the stack is up.
      after: ['services-start'],
      async run({ shared, span }, deps): Promise<void> {
        const { repo, config } = deps[stages.repo] as RepoStage;
        const checkout = deps[stages.checkout] as CheckoutStage;
        const logs = await startSeedJobs(deps[SEED_VOLUMES] as Seeded, { repo, config, gitDir: checkout.gitDir, path: checkout.path, runId: shared.runId, log: shared.log });
        if (logs.spareLog) span.set('spareLog', logs.spareLog);
        if (logs.buildLog) span.set('buildLog', logs.buildLog);
      },
    } satisfies Task<SetupShared>,
  ],
  teardownTasks: ({ cleared }) => [
    {
      name: 'seed-remove',
      deps: [cleared],
      // The stack's containers must be gone before their volume can be.
      after: ['services-down'],
      async run({ shared, span }, deps): Promise<SeedClones | undefined> {
        const target = deps[cleared] as RemoveTarget;
        // An add killed inside seed-volumes recorded nothing: its clone is found by where it is on disk.
        const recorded = (target.state?.seed as Seeded | undefined) ?? (await unrecordedClones(target));
        if (!recorded?.volumes?.length) return;
        // Handed to the background job that stops the stack (by shape: a list of containers still
        // there): its containers hold the volume until then, so that job removes the clones after them.
        const down = deps['services-down'] as { containers?: unknown } | undefined;
        if (Array.isArray(down?.containers) && down.containers.length > 0) {
          const later: SeedClones = { ...(recorded.engine ? { engine: recorded.engine } : {}), volumes: recorded.volumes.filter((v) => v.dir) };
          if (later.volumes.length === 0) return;
          span.set('background', later.volumes.map((v) => v.dockerVolume));
          return later;
        }
        try {
          await removeClones(recorded);
        } catch (error) {
          shared.warn(`seed: ${(error as Error).message}; remove it with: docker volume rm`);
        }
        span.set('removed', recorded.volumes.filter((v) => v.dir).map((v) => v.dockerVolume));
      },
    } satisfies Task<RemoveShared>,
  ],
};

/** What {@link seedVolumes} needs of the worktree and its stack. */
export interface SeedVolumesInput {
  repo: RepoStage['repo'];
  config: RepoStage['config'];
  /** The declared volumes (`readSeedSpecs`). */
  specs: readonly SeedSpec[];
  /** The worktree's commit: its inputs key the golden. */
  commit: string;
  gitDir: string;
  projectName: string;
  model: ComposeFacts['model'];
  runtime: { engine: Engine; version: string };
  signal?: AbortSignal;
  log(line: string): void;
  warn(line: string): void;
}

/**
 * Gives each declared volume of the worktree whose Docker volume does not exist yet its clone of
 * the golden for its key (or of an older one, to bring up to date with `update`), a bind-backed
 * volume Compose adopts; records each in the worktree's seed status. A volume that exists is kept.
 * Where no golden is ready the volume is left to start empty (`building`). What set-up runs before
 * the stack starts, and `git vtree up` before it starts a stack set up without one.
 */
export async function seedVolumes(t: SeedVolumesInput): Promise<Seeded> {
  const { repo, config, specs, signal } = t;
  const { engine, version } = t.runtime;
  const [{ cacheDirOf }, store, volume, { readSeedStatus, writeSeedStatus }, { tempName }, { rm }] = await Promise.all([
    import('../../git/cache-dir.js'),
    import('./store.js'),
    import('./volume.js'),
    import('./status.js'),
    import('../../core/temp-name.js'),
    import('node:fs/promises'),
  ]);
  const cacheDir = cacheDirOf(repo, config);
  const misses: string[] = [];
  const copied: Array<{ volume: string; key: string }> = [];
  const seeded: Seeded = { volumes: [], engine, copied, misses };
  // A failure part way takes back the clones made so far (a failed task gets no undo).
  try {
    for (const spec of specs) {
      const image = t.model.services.find((s) => s.name === spec.service)?.image;
      if (!image || image.includes('$')) {
        t.warn(`seed ${spec.volume}: service ${spec.service} ${image ? 'names no fixed image' : 'is not in the stack or names no image'}; its volume starts empty`);
        continue;
      }
      const dockerVolume = `${t.projectName}_${spec.volume}`;
      // Three questions at once (the engine twice, git once): this step is on the way to the stack's start.
      const imageId = volume.imageId(engine, image, signal);
      const [id, { key }, device] = await Promise.all([imageId, store.seedKey(repo.cwd, t.commit, spec, imageId), volume.volumeDevice(engine, dockerVolume)]);
      const record = (status: Omit<SeedVolumeStatus, 'volume' | 'key' | 'dockerVolume'>): SeedVolumeStatus => ({ volume: spec.volume, key, dockerVolume, ...status });
      const dir = store.cloneDir(cacheDir, dockerVolume);
      let entry: SeedVolumeStatus;
      if (device !== undefined) {
        // Set up again, or a volume of an earlier stack of this name: its data is kept as it is.
        // Still vtree's own clone when it binds the clone directory: rm removes it then.
        const before = (await readSeedStatus(t.gitDir))?.volumes[spec.volume];
        entry = device === dir && before?.dir === dir ? before : record({ state: 'kept', ...(device === dir ? { dir } : {}) });
      } else {
        const exact = await store.readGolden(cacheDir, spec.volume, key);
        // No golden for this key: with an `update` command, an older golden brought up to date.
        const golden = exact ?? (spec.update ? await store.nearestOlderGolden(cacheDir, repo.cwd, spec, id, t.commit) : undefined);
        if (!exact) misses.push(spec.volume);
        if (golden) {
          const started = Date.now();
          const parent = store.cloneDir(cacheDir, '');
          const unhinted = await volume.setCowExtentHint(parent);
          if (unhinted) t.log(`seed ${spec.volume}: could not give ${parent} XFS's 8 KiB copy-on-write extent hint (${unhinted}); clones grow faster as the database writes (install xfsprogs for xfs_io)`);
          await store.reclaimTemps(parent);
          // A clone whose Docker volume does not exist is debris of a run killed before it made the volume.
          await rm(dir, { recursive: true, force: true });
          // A spare made ahead of time (a reflink clone, or a full copy where the filesystem cannot clone) is one rename.
          const spare = await store.takeSpare(cacheDir, golden.volume, golden.key, dir);
          const mode = spare === 'reflink' ? 'reflink' : spare === 'copy' ? 'spare' : await volume.cloneTree(golden.data, dir, store.cloneDir(cacheDir, tempName(dockerVolume)));
          await store.touchGolden(golden);
          failpoint(SEED_FAILPOINTS['clone:copied']);
          // A btrfs snapshot is one metadata operation: only a clone or copy is worth making ahead.
          if (mode !== 'snapshot') copied.push(golden);
          entry = record({ state: exact ? 'cloned' : 'updating', golden: golden.createdAt, mode, bytes: golden.bytes, dir, ...(exact ? {} : { base: golden.key, command: spec.update }) });
          // Pushed before the volume exists, so a failure creating it still undoes the clone.
          seeded.volumes.push(entry);
          await volume.createBoundVolume(engine, dockerVolume, dir, volume.composeVolumeLabels(t.projectName, spec.volume, version));
          failpoint(SEED_FAILPOINTS['clone:volume-created']);
          entry.cloneMs = Date.now() - started;
          t.log(`seed ${spec.volume}: ${mode} clone${spare ? ' made ahead' : ''} of golden ${golden.key.slice(0, 12)} in ${entry.cloneMs} ms${exact ? '' : `; its update command runs once the stack is up (git vtree wait)`}`);
          await writeSeedStatus(t.gitDir, entry);
          continue;
        }
        entry = record({ state: 'building', command: spec.run });
      }
      seeded.volumes.push(entry);
      await writeSeedStatus(t.gitDir, entry);
    }
  } catch (error) {
    await removeClones(seeded).catch(() => undefined);
    throw error;
  }
  return seeded;
}

/**
 * Starts what a seed step leaves to the background: a spare of each golden it cloned or copied
 * (the next worktree's, made ahead), and the build of each missing golden (which first brings
 * clones of older goldens up to date). Returns their logs.
 */
export async function startSeedJobs(seeded: Seeded, at: { repo: RepoStage['repo']; config: RepoStage['config']; gitDir: string; path: string; runId: string; log(line: string): void }): Promise<{ spareLog?: string; buildLog?: string }> {
  const { copied = [], misses = [], volumes } = seeded;
  if (copied.length === 0 && misses.length === 0) return {};
  const [{ startBackgroundJob }, { cacheDirOf }] = await Promise.all([import('../../core/background.js'), import('../../git/cache-dir.js')]);
  const logs: { spareLog?: string; buildLog?: string } = {};
  if (copied.length > 0) {
    const args = [cacheDirOf(at.repo, at.config), at.gitDir, ...copied.map((g) => `${g.volume}/${g.key}`)];
    // Not in the worktree: its work is the cache's, and rm of the worktree ends what runs there.
    // Seconds later: Node.js starting, and then a clone or copy of the golden, must not take CPU
    // or disk from this worktree's stack starting and its first queries (a reflink of 2 GB beside
    // them made the first `count(*)` ~0.1 s slower here; a full copy, seconds).
    logs.spareLog = await startBackgroundJob({ job: 'seed-spare', id: at.runId, commonDir: at.repo.commonDir, args, cwd: at.repo.mainPath, niceness: 10, delaySeconds: SPARE_DELAY_S });
  }
  if (misses.length > 0) {
    // The golden of this commit builds for the next worktree; this one's volume started empty, or from an older golden that the job updates first.
    // Not niced: an update here is what `wait` waits for (the job lowers itself for the golden build after it).
    logs.buildLog = await startBackgroundJob({ job: 'seed-build', id: at.runId, commonDir: at.repo.commonDir, args: [at.runId, ...misses], cwd: at.path });
    // The entries the worktree's state records (set-up's write-state comes after every task).
    for (const entry of volumes) if (entry.state === 'building') entry.log = logs.buildLog;
    at.log(`seed ${misses.join(', ')}: no golden copy for this commit yet; building one in the background (git vtree seed status)`);
  }
  return logs;
}

/** The clones of a removed worktree that `rm` leaves to the job stopping its stack (their containers must go first). */
export type SeedClones = Seeded;

/**
 * The clones of a worktree whose set-up was killed before it recorded them: for each declared
 * volume, the clone directory named after the worktree's Compose volume, and that volume when it
 * binds exactly that directory (a volume of that name bound elsewhere is not vtree's, and is kept).
 */
async function unrecordedClones(target: RemoveTarget): Promise<Seeded | undefined> {
  const { readSeedSpecs } = await import('./definitions.js');
  let specs;
  try {
    specs = readSeedSpecs(target.config);
  } catch {
    return undefined;
  }
  // Most projects seed nothing: rm loads no more than this for them.
  if (specs.length === 0) return undefined;
  const [{ cacheDirOf }, store, { volumeDevice }, { existsSync }] = await Promise.all([
    import('../../git/cache-dir.js'),
    import('./store.js'),
    import('./volume.js'),
    import('node:fs'),
  ]);
  const engine: Engine = /podman/.test(target.config.string('vtree.compose.command') ?? '') ? 'podman' : 'docker';
  const { project } = target;
  const volumes: SeedVolumeStatus[] = [];
  for (const spec of specs) {
    const dockerVolume = `${project}_${spec.volume}`;
    const dir = store.cloneDir(cacheDirOf(target.repo, target.config), dockerVolume);
    if (!existsSync(dir)) continue;
    const bound = (await volumeDevice(engine, dockerVolume).catch(() => undefined)) === dir;
    volumes.push({ volume: spec.volume, key: '', state: 'cloned', dir, ...(bound ? { dockerVolume } : {}) });
  }
  return { volumes, engine };
}

/** Removes the Docker volumes and directories of the clones made for a worktree (only those: a volume it kept is the user's). */
export async function removeClones(seeded: Seeded): Promise<void> {
  const { removeVolume } = await import('./volume.js');
  const { rm } = await import('node:fs/promises');
  for (const entry of seeded.volumes) {
    if (!entry.dir) continue;
    if (entry.dockerVolume && seeded.engine) await removeVolume(seeded.engine, entry.dockerVolume);
    await rm(entry.dir, { recursive: true, force: true });
  }
}
