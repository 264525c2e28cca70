import type { Args } from './spec.js';
import { UsageError } from '../core/errors.js';
import type { Io } from '../core/output.js';

/** How long the next spare copy of a golden waits for the stack of the worktree that took one. */
const SPARE_AFTER_STACK_MS = 2 * 60_000;

/** A background push gives up after this long (a registry that accepts and never answers). */
const PUSH_TIMEOUT_MS = 10 * 60_000;

/** Background jobs, by name: each gets the `args` its starter passed. */
const JOBS: Record<string, (args: string[], io: Io) => Promise<void>> = {
  /** Deletes what `rm` moved into vtree's trash directory (node_modules of removed worktrees): only names vtree made. */
  'delete-trash': async ([trash]) => {
    if (!trash) throw new UsageError('delete-trash needs the trash directory');
    await (await import('../core/debris.js')).emptyTrash(trash);
  },
  /** Snapshots a worktree's fresh node_modules as a cache entry, then tops up its spares (after `add`). */
  'cache-snapshot': async ([cacheDir, base, key, source, spares, linkMode, waitPid, pushTo], io) => {
    if (!cacheDir || !base || !key) throw new UsageError('cache-snapshot needs the cache dir, worktree and key');
    await waitForExit(waitPid);
    const [{ cacheWorktree }, { parseLinkMode }] = await Promise.all([import('../features/deps/cache.js'), import('../features/deps/link-modes.js')]);
    let why = 'it did not qualify';
    const entry = await cacheWorktree(cacheDir, base, key, (source ?? 'miss') as 'miss', io.warn, parseLinkMode(linkMode ?? 'auto'), (reason) => (why = reason), io.log);
    io.log(entry ? `cached ${base} as ${key} (${entry.meta.files} files)` : `${base} not cached: ${why}`);
    if (entry) await makeSpareJob([cacheDir, key, spares ?? '0', linkMode ?? 'auto'], io);
    if (entry && pushTo) {
      // vtree.cache.push: share what this install made with every other clone of the lockfile.
      const { openRemote, pushEntry } = await import('../features/deps/remote/remote-cache.js');
      const started = Date.now();
      const result = await pushEntry(openRemote(pushTo, { timeoutMs: PUSH_TIMEOUT_MS, push: true }), cacheDir, key, AbortSignal.timeout(PUSH_TIMEOUT_MS));
      io.log(result.pushed ? `pushed ${key} to ${pushTo} (${result.bytes} bytes in ${Date.now() - started} ms)` : `${pushTo} has ${key} already`);
    }
  },
  /** Tops up the pool of spare node_modules of one cache entry (after `add`, `cache warm`). */
  'make-spare': async ([cacheDir, key, count, linkMode, waitPid], io) => {
    await waitForExit(waitPid);
    await makeSpareJob([cacheDir ?? '', key ?? '', count ?? '1', linkMode ?? 'auto'], io);
  },
  /** Gives a worktree restored by hardlink (ext4, nothing ready) a copy of its own of every file (after `add`). */
  'isolate-deps': async ([cacheDir, key, worktree, runId, waitPid], io) => {
    if (!cacheDir || !key || !worktree) throw new UsageError('isolate-deps needs the cache dir, key and worktree');
    await waitForExit(waitPid);
    const { isolateWorktree } = await import('../pipelines/isolate.js');
    await isolateWorktree(cacheDir, key, worktree, runId ?? '', io);
  },
  /** Keeps the pool of spare worktrees full and at the main worktree's HEAD (after `add` and `rm`). */
  'spare-worktrees': async ([waitPid], io) => {
    await waitForExit(waitPid);
    const { maintainSparePool } = await import('../pipelines/spare-pool.js');
    const report = await maintainSparePool(process.cwd(), { log: io.log, warn: io.warn });
    io.log(`spare worktrees: ${report.ready}/${report.wanted} ready (${report.built} built, ${report.refreshed} brought forward, ${report.recycled} recycled, ${report.removed} removed)`);
  },
  /** Pulls the images a new worktree's stack lacks, while `add` goes on (`add`, `setup`). */
  'image-pull': async ([linkedTo, engine, ...images], io) => {
    if (!linkedTo || (engine !== 'docker' && engine !== 'podman')) throw new UsageError('image-pull needs the run id, the engine (docker or podman) and images');
    const { runImagePullJob } = await import('../pipelines/services.js');
    await runImagePullJob(linkedTo, engine, images, io.log);
  },
  /** Starts a worktree's Compose stack, critical services first (after `add`, `setup`). */
  'services-up': async ([plan, firstUpExit], io) => {
    if (!plan) throw new UsageError('services-up needs its plan');
    const { runServicesJob } = await import('../pipelines/services.js');
    await runServicesJob(JSON.parse(plan), io.log, firstUpExit === undefined ? undefined : Number(firstUpExit));
  },
  /** Takes the stack of a worktree `rm` removed down, then frees its ports (after `rm`). */
  'stack-down': async ([plan], io) => {
    if (!plan) throw new UsageError('stack-down needs its plan');
    const { runStackDownJob } = await import('../pipelines/stack-down.js');
    await runStackDownJob(JSON.parse(plan), io.log);
  },
  /** Brings a worktree's clones of older goldens up to date, then builds the golden copies its set-up found missing (after `add`, `setup`). */
  'seed-build': async ([runId, ...volumes], io) => {
    if (!runId || volumes.length === 0) throw new UsageError('seed-build needs the run id and volumes');
    const { seedGoldens, updateClones } = await import('../pipelines/seed.js');
    const request = { cwd: process.cwd(), volumes, interactive: false, runId, log: io.log, warn: io.warn };
    // Someone waits for the update (git vtree wait); nobody waits for the golden build after it.
    await updateClones(request);
    (await import('node:os')).setPriority(10);
    await seedGoldens({ ...request, rebuild: false });
  },
  /** Makes a spare (a reflink clone, or a full copy where the filesystem cannot clone) of each golden (`<volume>/<key>`) an `add` had to clone or copy, so the next one renames it. */
  'seed-spare': async ([cacheDir, gitDir, ...goldens], io) => {
    if (!cacheDir || !gitDir || goldens.length === 0) throw new UsageError('seed-spare needs the cache dir, the worktree\'s git dir and goldens');
    const [{ makeSpares, readGolden }, { waitForCritical }] = await Promise.all([import('../features/seed/store.js'), import('../features/services/stack.js')]);
    // The worktree that took the spare is starting its database on it, and someone waits for its
    // first query: the next spare (where it is a copy, a whole golden: seconds of disk) comes after that, niced.
    await waitForCritical(gitDir, SPARE_AFTER_STACK_MS).catch(() => undefined);
    for (const name of goldens) {
      const [volume = '', key = ''] = name.split('/');
      const golden = await readGolden(cacheDir, volume, key);
      if (golden) io.log(`seed ${volume}: ${await makeSpares(cacheDir, golden, 1)} spare made of golden ${key}`);
    }
  },
  /** Runs a worktree's background project tasks once what they need is up (after `add`, `setup`). */
  'project-tasks': async ([plan], io) => {
    if (!plan) throw new UsageError('project-tasks needs its plan');
    const { runTasksJob } = await import('../pipelines/tasks.js');
    await runTasksJob(JSON.parse(plan), io.log);
  },
};

/**
 * Waits (up to a minute) until the process `pid` has exited: the `add` that started a cache job
 * should not share the machine with it while the user waits.
 */
async function waitForExit(pid: string | undefined): Promise<void> {
  const id = Number(pid);
  if (!Number.isInteger(id) || id <= 0) return;
  const { setTimeout: sleep } = await import('node:timers/promises');
  for (let waited = 0; waited < 60_000; waited += 20) {
    try {
      process.kill(id, 0);
    } catch {
      return;
    }
    await sleep(20);
  }
}

async function makeSpareJob([cacheDir, key, count, linkMode]: string[], io: Io): Promise<void> {
  if (!cacheDir || !key) throw new UsageError('make-spare needs the cache dir and key');
  const [{ makeSpares }, { parseLinkMode }] = await Promise.all([import('../features/deps/spares.js'), import('../features/deps/link-modes.js')]);
  const made = await makeSpares(cacheDir, key, Number(count ?? 1), parseLinkMode(linkMode), io.warn);
  io.log(`made ${made} spare(s) of ${key}`);
}

/** `git vtree __job <job> [args..]`: the hidden entry of detached background work. */
export default async function job(args: Args, io: Io): Promise<void> {
  const name = String(args.job);
  const run = JOBS[name];
  if (!run) throw new UsageError(`unknown background job '${name}'`);
  const started = Date.now();
  io.log(`[${new Date().toISOString()}] ${name} started (pid ${process.pid})`);
  await run(((args.args as string[] | undefined) ?? []).map(String), io);
  io.log(`[${new Date().toISOString()}] ${name} finished in ${Date.now() - started} ms`);
}
