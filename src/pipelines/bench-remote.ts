import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { backgroundJobsSettled } from '../core/background.js';
import { errorMessage, UsageError } from '../core/errors.js';
import { git, run } from '../core/exec.js';
import { diskUse, exists } from '../core/files.js';
import { formatBytes, formatMs } from '../core/output.js';
import { cacheDirOf, openEntry } from '../features/deps/cache.js';
import { lockfileKey } from '../features/deps/cache-key.js';
import { commitFiles, detectProject, installCommand, type PackageManagerName } from '../features/deps/package-manager.js';
import { releasePorts } from '../features/ports/registry.js';
import { readWorktreeState, worktreeGitDir } from '../git/worktree-state.js';
import { REMOTE_BENCH_ROWS, type RemoteBenchFacts, type RemoteBenchRow } from '../observe/bench-facts.js';
import { commandLine, PLAIN_GIT_ENV, requireRunnable, round as roundMs, runVtree, startBench, timings } from './bench.js';
import { recordRun, toRunRecord } from './record.js';

/** A `bench --remote` request. */
export interface RemoteBenchRequest {
  cwd: string;
  runs: number;
  log(line: string): void;
  warn(line: string): void;
  signal?: AbortSignal;
}

/** Result of {@link runRemoteBench}: the facts plus where they were recorded. */
export interface RemoteBenchResult extends RemoteBenchFacts {
  runId: string;
  repository: string;
}

type RowId = RemoteBenchRow['id'];

/** The command line hints suggest. */
const COMMAND = 'git vtree bench --remote';

/** The target of issue 11, as a ratio of the remote hit's median to the warm-cache install's. */
const TARGET_RATIO = 0.5;

/** How long a clone's background jobs may take to finish before the clone is deleted anyway. */
const SETTLE_MS = 120_000;

/** What the cold-cache row gives the install: an empty download cache in `dir`, and where the downloads land in it. */
interface EmptyCache {
  env?: NodeJS.ProcessEnv;
  args?: string[];
  downloads: string;
}

/**
 * How each package manager is pointed at an empty cache: each by the setting its documentation
 * names. npm's `_cacache` holds the tarballs as downloaded (the bytes moved); pnpm, yarn and bun
 * keep packages unpacked, so for them the size is an upper bound.
 */
const EMPTY_CACHE: Record<PackageManagerName, (dir: string) => EmptyCache> = {
  npm: (dir) => ({ env: { npm_config_cache: dir }, downloads: join(dir, '_cacache') }),
  pnpm: (dir) => ({ args: ['--store-dir', join(dir, 'store'), '--cache-dir', join(dir, 'metadata')], downloads: dir }),
  yarn: (dir) => ({ env: { YARN_CACHE_FOLDER: dir }, downloads: dir }),
  'yarn@berry': (dir) => ({ env: { YARN_GLOBAL_FOLDER: dir, YARN_CACHE_FOLDER: join(dir, 'cache') }, downloads: dir }),
  bun: (dir) => ({ env: { BUN_INSTALL_CACHE_DIR: dir }, downloads: dir }),
};

/** What the rows share: where to clone from, what to make, how to install. */
interface Plan {
  root: string;
  base: string;
  manager: PackageManagerName;
  install: { command: string; args: string[] };
  /** The clone's git config for the remote-hit row, besides its empty cache. */
  remoteConfig: Array<[string, string]>;
}

/** One timed round of a row. */
interface Sample {
  ms: number;
  bytes: number;
  deps?: Record<string, unknown>;
}

/** The directories of one row's round, all inside it: removing `dir` removes everything the round made. */
interface RoundDirs {
  dir: string;
  clone: string;
  worktree: string;
  cache: string;
}

/**
 * `git vtree bench --remote`: on the user's repository, whose `vtree.cache.remote` must be set,
 * times a fresh clone's first `git vtree add` with an empty local cache pulling from the registry
 * ("remote-hit") against `git worktree add` + the frozen install with the package manager's cache
 * warm ("warm-cache") and empty ("cold-cache"), with the bytes each moved. The registry is given
 * the entry of HEAD's lockfile first (pushed from the local cache when only that has it). One
 * untimed warm-up round, then `runs` timed ones, the rows' order rotating each round; every round
 * of a row is a fresh `git clone --no-hardlinks` in the bench directory beside the main worktree,
 * deleted right after. Records one `bench` run in metrics.json, its facts under `bench.remote`.
 */
export async function runRemoteBench(request: RemoteBenchRequest): Promise<RemoteBenchResult> {
  const { where, root, base, profiler, runId, benchDir } = await startBench(request.cwd, request.runs, COMMAND);
  const { requireRemote, pushEntry } = await import('../features/deps/remote/remote-cache.js');
  const remote = requireRemote(where.config);
  const remoteName = `${remote.ref.registry}/${remote.ref.repository}`;
  const project = await detectProject(commitFiles(root, base));
  const key = lockfileKey(project);
  if (!project || !key) throw new UsageError(`${root} has no lockfile at HEAD, so the remote cache has nothing to hold for it`, 'commit a lockfile (npm install writes package-lock.json), then run `git vtree cache warm`');
  const install = await installCommand(project.manager, true);
  await requireRunnable(install.command, COMMAND, request.signal);

  // The registry must hold HEAD's entry: pushed here (as `cache push` does) when only the local cache has it.
  const cacheDir = cacheDirOf(where.repo, where.config);
  const pushed = await profiler.time('bench:remote:registry', null, async () => {
    if (await openEntry(cacheDir, key)) return (await pushEntry(remote, cacheDir, key, request.signal)).pushed;
    if (await remote.client.manifest(key, request.signal)) return false;
    throw new UsageError(`neither the local cache nor ${remoteName} has the dependencies of ${root}'s lockfile (entry ${key.slice(0, 12)})`, 'git vtree cache warm, then git vtree cache push');
  });
  request.log(`${remoteName} ${pushed ? 'now has' : 'has'} entry ${key.slice(0, 12)}${pushed ? ' (pushed from the local cache)' : ''}`);

  const remoteConfig: Array<[string, string]> = [['vtree.cache.remote', where.config.string('vtree.cache.remote')!]];
  const timeout = where.config.string('vtree.cache.remoteTimeout');
  if (timeout) remoteConfig.push(['vtree.cache.remoteTimeout', timeout]);
  const plan: Plan = { root, base, manager: project.manager, install, remoteConfig };
  const samples = new Map<RowId, { ms: number[]; bytes: number[]; errors: string[] }>(REMOTE_BENCH_ROWS.map((id) => [id, { ms: [], bytes: [], errors: [] }]));
  let hit: Record<string, unknown> | null = null;
  let failure: unknown;
  let facts: RemoteBenchFacts | undefined;

  request.log(`Benchmarking a fresh clone of ${root}: git vtree add pulling from ${remoteName} against ${commandLine(install)} with a warm and an empty cache; 1 warm-up round, then ${request.runs} timed`);
  try {
    for (let round = 0; round <= request.runs; round++) {
      // Rotate the order, so a cache warming up or a noisy neighbour favours no row.
      const order = REMOTE_BENCH_ROWS.map((_, i) => REMOTE_BENCH_ROWS[(i + round) % REMOTE_BENCH_ROWS.length]!);
      for (const row of order) {
        request.signal?.throwIfAborted();
        const dirs = roundDirs(benchDir, row, round);
        let sample: Sample | undefined;
        let error: string | undefined;
        try {
          await freshClone(plan, dirs, row);
          sample = await profiler.time(`bench:remote:${row}`, null, async (span) => {
            span.set('round', round);
            return timeRow(row, plan, dirs);
          });
        } catch (thrown) {
          if (request.signal?.aborted) throw thrown;
          error = errorMessage(thrown);
        } finally {
          await removeRound(row, dirs);
        }
        request.log(`  round ${round}/${request.runs}${round === 0 ? ' (warm-up)' : ''} ${row.padEnd(10)} ${sample ? `${formatMs(sample.ms)}${sample.bytes ? `, ${formatBytes(sample.bytes)}` : ''}` : `FAILED: ${error}`}`);
        // Round 0 warms the page cache, the package manager's cache and the registry's disk: not counted.
        if (round === 0) continue;
        const counted = samples.get(row)!;
        if (sample) {
          counted.ms.push(roundMs(sample.ms));
          counted.bytes.push(sample.bytes);
          if (sample.deps) hit = sample.deps;
        } else counted.errors.push(error!);
      }
    }
    const rows = summarize(samples, commandLine(install));
    facts = { runs: request.runs, base, key, remote: remoteName, pushed, packageManager: project.manager, install: commandLine(install), rows, hit, target: target(rows) };
  } catch (error) {
    // After Ctrl-C, the interruption is what happened, not how the aborted subprocess ended.
    failure = request.signal?.aborted ? request.signal.reason : error;
  } finally {
    await rm(benchDir, { recursive: true, force: true }).catch(() => undefined);
  }

  await recordRun(where, toRunRecord({ id: runId, command: 'bench', profiler, error: failure, facts: facts ? { bench: { remote: facts } } : {} }), request.warn);
  if (failure !== undefined) throw failure;
  return { runId, repository: root, ...facts! };
}

function roundDirs(benchDir: string, row: RowId, round: number): RoundDirs {
  const dir = join(benchDir, `${row}-${round}`);
  return { dir, clone: join(dir, 'app'), worktree: join(dir, 'worktree'), cache: join(dir, 'cache') };
}

/**
 * A fresh clone of the repository (no node_modules, no vtree state; untimed). The remote-hit
 * row's clone gets an empty local cache of its own (whatever `vtree.cacheDir` the user's global
 * config names), no spares, and the repository's remote cache.
 */
async function freshClone(plan: Plan, dirs: RoundDirs, row: RowId): Promise<void> {
  await mkdir(dirs.dir, { recursive: true });
  // A vtree post-checkout hook in the user's global hooks stands aside: the clone is git's alone.
  await git(dirs.dir, ['clone', '-q', '--no-hardlinks', '--', plan.root, dirs.clone], { env: PLAIN_GIT_ENV });
  if (row !== 'remote-hit') return;
  const config: Array<[string, string]> = [['vtree.cacheDir', dirs.cache], ['vtree.cache.spares', '0'], ['vtree.spares.worktrees', '0'], ...plan.remoteConfig];
  for (const [name, value] of config) await git(dirs.clone, ['config', name, value]);
}

/**
 * Times one row in its clone, from the first command's start to the last one's exit. Subprocesses
 * get no abort signal: Ctrl-C in a terminal reaches them too and they stop (and `add` rolls back)
 * by themselves; killing them from here would leave them writing while the clean-up deletes.
 */
async function timeRow(row: RowId, plan: Plan, dirs: RoundDirs): Promise<Sample> {
  const branch = `vtree-bench/${row}`;
  const started = performance.now();
  if (row === 'remote-hit') {
    const stdout = await runVtree(['add', branch, '--from', plan.base, '--path', dirs.worktree, '--json', '--no-services'], dirs.clone);
    const ms = performance.now() - started;
    const deps = (JSON.parse(stdout) as { facts?: { deps?: Record<string, unknown> } }).facts?.deps ?? {};
    if (deps.source !== 'remote') throw new Error(`git vtree add took its dependencies from ${String(deps.source ?? 'nowhere')}, not the registry${deps.reason ? ` (${String(deps.reason)})` : ''}`);
    return { ms, bytes: Number(deps.remoteBytes ?? 0), deps };
  }
  const empty = row === 'cold-cache' ? EMPTY_CACHE[plan.manager](dirs.cache) : undefined;
  await git(dirs.clone, ['worktree', 'add', '-b', branch, '--', dirs.worktree, plan.base], { env: PLAIN_GIT_ENV });
  await run(plan.install.command, [...plan.install.args, ...(empty?.args ?? [])], { cwd: dirs.worktree, env: { ...process.env, ...empty?.env } });
  const ms = performance.now() - started;
  return { ms, bytes: empty ? await diskUse(empty.downloads) : 0 };
}

/**
 * Removes what one round made. What `git vtree add` left running in the clone's background
 * (project tasks) finishes first, so that nothing writes into a deleted directory; the port leases
 * it took, which live machine-wide, are given back.
 */
async function removeRound(row: RowId, dirs: RoundDirs): Promise<void> {
  if (row === 'remote-hit' && (await exists(dirs.worktree))) {
    const gitDir = await worktreeGitDir(dirs.worktree);
    const { waitUntilReady } = await import('./readiness.js');
    await waitUntilReady(dirs.worktree, gitDir, false, { timeoutMs: SETTLE_MS }).catch(() => undefined);
    if ((await readWorktreeState(gitDir))?.ports) await releasePorts({ worktree: dirs.worktree, repo: join(dirs.clone, '.git') });
    // And every other job the add started (the spare pool, a snapshot): one writing into the
    // clone while it is deleted fails the delete (ENOTEMPTY).
    await backgroundJobsSettled(join(dirs.clone, '.git'), SETTLE_MS);
  }
  await rm(dirs.dir, { recursive: true, force: true });
}

/** Each row's timings, bytes and failures, with its ratio to the warm-cache row. */
function summarize(samples: ReadonlyMap<RowId, { ms: number[]; bytes: number[]; errors: string[] }>, install: string): RemoteBenchRow[] {
  const labels: Record<RowId, string> = {
    'remote-hit': 'git vtree add: fresh clone, empty local cache, warm registry',
    'warm-cache': `git worktree add + ${install}, cache warm`,
    'cold-cache': `git worktree add + ${install}, cache empty`,
  };
  const rows = REMOTE_BENCH_ROWS.map((id) => {
    const { ms, bytes, errors } = samples.get(id)!;
    return { id, label: labels[id], ...timings(ms), ratio: null as number | null, bytes, medianBytes: bytes.length ? timings(bytes).median : null, errors };
  });
  const warm = rows.find((r) => r.id === 'warm-cache')!;
  for (const row of rows) if (row.durations.length && warm.durations.length && warm.median > 0) row.ratio = Math.round((row.median / warm.median) * 100) / 100;
  return rows;
}

function target(rows: readonly RemoteBenchRow[]): RemoteBenchFacts['target'] {
  const value = rows.find((r) => r.id === 'remote-hit')!.ratio;
  return { target: `remote hit at most ${TARGET_RATIO}x a frozen install with a warm cache`, value, status: value === null ? 'not measured' : value <= TARGET_RATIO ? 'met' : 'NOT MET' };
}
