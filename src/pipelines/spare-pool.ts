import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { durationMs } from '../core/duration.js';
import { declareFailpoints, failpoint } from '../core/failpoint.js';
import { errorMessage, UsageError } from '../core/errors.js';
import { git, run } from '../core/exec.js';
import { diskUse } from '../core/files.js';
import { withLock } from '../core/lock.js';
import { lockPath, overridePath, servicesStatusPath } from '../core/paths.js';
import { depsFeature } from '../features/deps/index.js';
import { lockfileKey } from '../features/deps/cache-key.js';
import { cacheDirOf, openEntry } from '../features/deps/cache.js';
import { recordTree, treeDifferences } from '../features/deps/isolate.js';
import { fewOf } from '../features/deps/taint.js';
import { commitFiles, detectProject } from '../features/deps/package-manager.js';
import type { RepoStage } from '../features/feature.js';
import type { Config } from '../git/config.js';
import { createSpare, moveSpare, readySpares, recyclerGone, configuredSparePool, sparesWanted, switchSpareDetached } from '../git/spare-worktree.js';
import { claimOf } from '../git/worktree-path.js';
import { readWorktreeState, worktreeGitDir, writeWorktreeState, type WorktreeState } from '../git/worktree-state.js';
import { destroyWorktree, isSpare, type WorktreeEntry } from '../git/worktree.js';
import type { Reporter } from './add.js';
import { resolveRepoStage } from './repo-stage.js';
import { setupWorktree } from './setup.js';

// The pool of spare worktrees (docs/spares.md): made, brought forward, recycled and bounded here,
// by the background job `add` and `rm` start, by `cache warm` and by `cache prune`. `add` only
// claims (git/spare-worktree.ts).

/**
 * Where the fault suite may kill a pass (core/failpoint.ts): after each step of recycling,
 * refreshing, building and pruning a spare. The dependency set-up of a spare is a graph of its
 * own, whose task boundaries are the failpoints `spare-setup:before|after:<task>`.
 */
const FAIL = declareFailpoints('spares', [
  'recycle:cleaned',
  'recycle:refreshed',
  'recycle:moved',
  'refresh:moved-away',
  'refresh:switched',
  'refresh:moved-back',
  'build:checked-out',
  'build:deps',
  'build:marked',
  'build:moved',
  'prune:moved-away',
]);

/** The graph name of a spare's dependency set-up in failpoints. */
export const SPARE_SETUP_GRAPH = 'spare-setup';

/** Default of `vtree.spares.maxBehind`: a spare further behind the main worktree's HEAD is rebuilt, not switched. */
const DEFAULT_MAX_BEHIND = 200;

/** Default of `vtree.spares.maxAge`: an older spare is rebuilt. */
const DEFAULT_MAX_AGE = '7d';

/** What a spare's `vtree.json` says beyond the usual sections. */
interface SpareSection {
  /** ISO time it became a spare (built or recycled): its age. */
  since: string;
  origin: 'built' | 'recycled';
}

/** What one pass over the pool did. */
export interface PoolReport {
  wanted: number;
  ready: number;
  built: number;
  refreshed: number;
  recycled: number;
  removed: number;
}

/** A spare worktree with what `cache status` shows of it. */
export interface SpareStatus {
  path: string;
  head: string;
  state: 'ready' | 'building' | 'recycling' | 'other';
  since?: string;
  bytes: number;
}

/**
 * Brings the pool of spare worktrees to `vtree.spares.worktrees` spares at the main worktree's
 * HEAD: finishes recycled worktrees, switches spares that fell behind forward (rebuilding those
 * too far behind or too old), removes extra ones and builds what is missing. One pass at a time
 * per repository (a lock); a pass reads the worktree list afresh, so a queued pass sees what the
 * one before it did.
 */
export async function maintainSparePool(cwd: string, reporter: Reporter): Promise<PoolReport> {
  const first = await resolveRepoStage(cwd);
  return withLock(lockPath(first.repo.commonDir, 'spare-worktrees'), () => onePass(cwd, reporter), { timeoutMs: 15 * 60_000, staleMs: 30 * 60_000 });
}

async function onePass(cwd: string, reporter: Reporter): Promise<PoolReport> {
  const where = await resolveRepoStage(cwd);
  const { repo, config } = where;
  const wanted = sparesWanted(config);
  const pool = await configuredSparePool(repo, config, reporter.warn);
  const mainHead = repo.worktrees[0]?.head;
  const report: PoolReport = { wanted, ready: 0, built: 0, refreshed: 0, recycled: 0, removed: 0 };
  if (!mainHead) return report;
  const limits = freshnessLimits(config);
  const spares = repo.worktrees.filter(isSpare);

  // Left by a pass that died (we hold the lock, so no pass is building, refreshing or pruning
  // now): spares being built, and spares moved aside (`.refresh-<id>`, `.prune-<id>`): remove.
  const aside = (s: WorktreeEntry) => dirname(s.path) === join(pool, '.build') || (dirname(s.path) === pool && basename(s.path).startsWith('.'));
  for (const w of spares.filter(aside)) {
    await destroyWorktree(repo.mainPath, w.path);
    report.removed++;
  }
  // Moved aside before git was told (a pass or a prune killed right after the rename): git still
  // registers them where they were; their own `.git` file leads to the admin dir.
  for (const name of (await readdir(pool).catch(() => [] as string[])).filter((n) => /^\.(refresh|prune)-/.test(n))) {
    await destroyWorktree(repo.mainPath, join(pool, name));
    report.removed++;
  }
  // Locked for recycling by an `rm` that died before moving them into the pool: `rm` was removing
  // them anyway. (A spare an `add` is claiming sits outside the pool too, beside its claim marker.)
  const inPool = (s: WorktreeEntry) => [pool, join(pool, '.build'), join(pool, '.recycle')].includes(dirname(s.path));
  for (const w of spares.filter((s) => !inPool(s) && recyclerGone(s))) {
    if ((await claimOf(w.path)) !== undefined) continue;
    await destroyWorktree(repo.mainPath, w.path);
    report.removed++;
  }
  // Worktrees `rm` recycled: clean them, bring them forward, put them in the pool.
  for (const w of spares.filter((s) => dirname(s.path) === join(pool, '.recycle'))) {
    try {
      if (wanted === 0) throw new Error('spares are turned off');
      await finishRecycling(where, w, reporter);
      failpoint(FAIL['recycle:cleaned']);
      await refresh(where, w.path, mainHead, limits, reporter);
      failpoint(FAIL['recycle:refreshed']);
      await moveSpare(repo.mainPath, w.path, join(pool, basename(w.path)));
      failpoint(FAIL['recycle:moved']);
      report.recycled++;
    } catch (error) {
      reporter.log(`not recycled ${w.path}: ${errorMessage(error)}`);
      await destroyWorktree(repo.mainPath, w.path);
      report.removed++;
    }
  }

  const ready = readySpares((await resolveRepoStage(cwd)).repo.worktrees, pool);
  let count = 0;
  for (const w of ready) {
    const upToDate = await fresh(repo.mainPath, w, mainHead, limits).catch(() => false);
    if (upToDate && count < wanted && w.head === mainHead) {
      count++; // nothing to do: it stays claimable
      continue;
    }
    // Out of the pool while we work on it, so no `add` claims it half-switched.
    const away = join(pool, `.refresh-${basename(w.path)}`);
    try {
      await rename(w.path, away);
    } catch {
      continue; // claimed meanwhile
    }
    failpoint(FAIL['refresh:moved-away']);
    try {
      if (count >= wanted) throw new Error(`more than vtree.spares.worktrees (${wanted})`);
      if (!upToDate) throw new Error(`older than vtree.spares.maxAge or more than vtree.spares.maxBehind commits behind`);
      await git(repo.mainPath, ['worktree', 'repair', '--', away]);
      if (await refresh(where, away, mainHead, limits, reporter)) report.refreshed++;
      failpoint(FAIL['refresh:switched']);
      await moveSpare(repo.mainPath, away, w.path);
      failpoint(FAIL['refresh:moved-back']);
      count++;
    } catch (error) {
      reporter.log(`removing spare ${w.path}: ${errorMessage(error)}`);
      await destroyWorktree(repo.mainPath, away);
      report.removed++;
    }
  }
  for (; count < wanted; count++) {
    const path = await createSpare(repo.mainPath, pool, mainHead);
    failpoint(FAIL['build:checked-out']);
    try {
      await setUpDependencies(path, config, reporter);
      failpoint(FAIL['build:deps']);
      await markSpare(path, 'built');
      failpoint(FAIL['build:marked']);
      await moveSpare(repo.mainPath, path, join(pool, basename(path)));
      failpoint(FAIL['build:moved']);
      report.built++;
    } catch (error) {
      await destroyWorktree(repo.mainPath, path);
      throw error;
    }
  }
  report.ready = count;
  return report;
}

interface Limits {
  maxBehind: number;
  maxAgeMs: number;
}

function freshnessLimits(config: Config): Limits {
  const age = config.string('vtree.spares.maxAge', DEFAULT_MAX_AGE);
  const maxAgeMs = durationMs(age);
  if (maxAgeMs === undefined) throw new UsageError(`config vtree.spares.maxAge must be a duration like 7d or 12h, not '${age}'`, 'git config vtree.spares.maxAge 7d');
  return { maxBehind: config.integer('vtree.spares.maxBehind', DEFAULT_MAX_BEHIND), maxAgeMs };
}

/**
 * Brings the spare at `path` to `mainHead` with `git switch --detach` (writing only what
 * differs) and its dependencies to that commit's lockfile. Throws when it is too far behind to
 * be worth it (the caller removes it and a new one is built). Returns whether it moved.
 */
async function refresh(where: RepoStage, path: string, mainHead: string, limits: Limits, reporter: Reporter): Promise<boolean> {
  const gitDir = await worktreeGitDir(path);
  const state = await readWorktreeState(gitDir);
  const since = (state?.spare as SpareSection | undefined)?.since;
  const head = await git(path, ['rev-parse', 'HEAD']);
  if (head === mainHead) return false;
  const { code, stdout } = await run('git', ['rev-list', '--count', `${head}..${mainHead}`], { cwd: where.repo.mainPath, okCodes: [0, 128] });
  const behind = code === 0 ? Number(stdout.trim()) : Number.POSITIVE_INFINITY;
  if (behind > limits.maxBehind) throw new Error(`${behind} commits behind (vtree.spares.maxBehind is ${limits.maxBehind})`);
  await switchSpareDetached(path, mainHead);
  const project = await detectProject(commitFiles(where.repo.mainPath, mainHead));
  const deps = state?.deps as { key?: string | null; dirs?: string[] } | undefined;
  const key = lockfileKey(project) ?? null;
  if (key === null || deps?.key !== key) {
    // Another lockfile: these dependencies do not fit any more; restore the ones that do.
    for (const dir of deps?.dirs ?? ['node_modules']) await rm(join(path, dir), { recursive: true, force: true });
    await setUpDependencies(path, where.config, reporter);
    await markSpare(path, (state?.spare as SpareSection | undefined)?.origin ?? 'built', since);
  }
  reporter.log(`brought ${path} forward ${behind} commit(s) to ${mainHead.slice(0, 12)}`);
  return true;
}

/**
 * Restores the spare's dependencies through the dependency cache, as `git vtree setup
 * --no-services` would, as the spare's own files: with `vtree.linkMode` at its default (`auto`)
 * by `reflink`, which copies where the filesystem cannot clone. So a worktree made from a spare
 * shares no file with the cache or another worktree, and `add` has no edit through a link to
 * look for (docs/trust.md); the copy is made here, in the background. An explicit
 * `vtree.linkMode` (hardlink, symlink) is the user's choice of disk over isolation, and is kept.
 */
async function setUpDependencies(path: string, config: Config, reporter: Reporter): Promise<void> {
  const setting = config.string('vtree.linkMode') ?? 'auto';
  const linkMode = setting === 'auto' ? 'reflink' : setting;
  const request = { cwd: path, target: path, command: 'setup', failpoints: SPARE_SETUP_GRAPH, options: { deps: true, services: false, wait: false, linkMode } } as const;
  await setupWorktree(request, reporter, undefined, [depsFeature]);
}

/**
 * Records in the spare's `vtree.json` since when it is one, and the files of its dependency tree
 * as they are now (made or checked by this job), which `add` checks before handing it out.
 */
async function markSpare(path: string, origin: SpareSection['origin'], since = new Date().toISOString()): Promise<void> {
  const gitDir = await worktreeGitDir(path);
  const state = (await readWorktreeState(gitDir)) ?? ({ branch: 'HEAD', slug: basename(path), path, createdAt: since, createdBy: 'setup', runId: '' } satisfies WorktreeState);
  const spare: SpareSection = { since, origin };
  await recordTree(path, (state.deps as { dirs?: string[] } | undefined)?.dirs ?? [], gitDir);
  await writeWorktreeState(gitDir, { ...state, path, spare });
}

/**
 * Makes a worktree `rm` recycled look as `git worktree add` left it: nothing vtree or the user
 * set up stays (ignored files such as `.env` and `.mcp.json` go, dependency dirs stay: `refresh`
 * checks them against the lockfile), no state of the old worktree in its admin dir. A worktree
 * with any change to tracked files, or any untracked file, is never recycled.
 */
async function finishRecycling({ repo, config }: RepoStage, w: WorktreeEntry, reporter: Reporter): Promise<void> {
  const status = await git(w.path, ['status', '--porcelain', '--untracked-files=normal']);
  if (status.trim() !== '') throw new Error('it has local changes');
  const gitDir = await worktreeGitDir(w.path);
  const state = await readWorktreeState(gitDir);
  const dirs = (state?.deps as { dirs?: string[] } | undefined)?.dirs ?? ['node_modules'];
  // What `git clean -ffdX` would remove, but the dependency dirs: listed, then removed here.
  // (`git clean -X -e '!/node_modules'` keeps node_modules itself yet still empties the
  // directories inside it that an ignore rule names, `dist/` say: 2,220 files of the benchmark
  // fixture's tree, a spare handed out without them.)
  const keep = new Set(dirs.map((dir) => `${dir}/`));
  const ignored = (await git(w.path, ['ls-files', '-z', '--others', '--ignored', '--exclude-standard', '--directory'])).split('\0').filter(Boolean);
  await Promise.all(ignored.filter((path) => !keep.has(path)).map((path) => rm(join(w.path, path), { recursive: true, force: true })));
  await Promise.all([rm(servicesStatusPath(gitDir), { force: true }), rm(overridePath(gitDir), { force: true })]);
  // Checked like any hit before it is handed out: the worktree's user may have edited its
  // node_modules (debugging a dependency). Anything but the cache entry's tree is replaced.
  const key = (state?.deps as { key?: string | null } | undefined)?.key;
  const entry = key ? await openEntry(cacheDirOf(repo, config), key) : undefined;
  const differ = entry ? await treeDifferences(entry, w.path) : undefined;
  const nothingRestored = ((state?.deps as { dirs?: string[] } | undefined)?.dirs ?? ['node_modules']).length === 0;
  const intact = nothingRestored || (differ !== undefined && differ.length === 0);
  const kept = state?.deps && intact ? { deps: state.deps } : {};
  await writeWorktreeState(gitDir, { branch: 'HEAD', slug: basename(w.path), path: w.path, createdAt: new Date().toISOString(), createdBy: 'setup', runId: '', ...kept });
  if (!intact) {
    const why = differ ? `${fewOf(differ)} differ from the cache entry` : 'no cache entry to check it against';
    reporter.log(`${relative(repo.mainPath, w.path)}: its dependencies are not handed out as they are (${why}); restoring them afresh`);
    await Promise.all(dirs.map((dir) => rm(join(w.path, dir), { recursive: true, force: true })));
    await setUpDependencies(w.path, config, reporter);
  }
  await markSpare(w.path, 'recycled');
  reporter.log(`recycled ${relative(repo.mainPath, w.path)} as a spare`);
}

/** Every spare worktree of the repository with its disk use (files counted once per inode). */
export async function sparesStatus({ repo, config }: RepoStage): Promise<SpareStatus[]> {
  const pool = await configuredSparePool(repo, config, () => undefined);
  return Promise.all(
    repo.worktrees.filter(isSpare).map(async (w) => {
      const where = dirname(w.path);
      const kind = where === pool ? 'ready' : where === join(pool, '.build') ? 'building' : where === join(pool, '.recycle') ? 'recycling' : 'other';
      const state = await readWorktreeState(await worktreeGitDir(w.path));
      const since = (state?.spare as SpareSection | undefined)?.since;
      return { path: w.path, head: w.head ?? '', state: kind, ...(since ? { since } : {}), bytes: await diskUse(w.path) } satisfies SpareStatus;
    }),
  );
}

/**
 * Removes spare worktrees beyond `vtree.spares.worktrees` and those too old or too far behind
 * the main worktree's HEAD (`all`: every one). Returns how many it removed (with `dryRun`: would remove).
 */
export async function pruneSparePool(cwd: string, all: boolean, options: { dryRun?: boolean } = {}): Promise<number> {
  const first = await resolveRepoStage(cwd);
  return withLock(lockPath(first.repo.commonDir, 'spare-worktrees'), async () => {
    const { repo, config } = await resolveRepoStage(cwd);
    const wanted = all ? 0 : sparesWanted(config);
    const limits = freshnessLimits(config);
    const pool = await configuredSparePool(repo, config, () => undefined);
    const mainHead = repo.worktrees[0]?.head ?? '';
    let kept = 0;
    let removed = 0;
    for (const w of repo.worktrees.filter(isSpare)) {
      const inPool = dirname(w.path) === pool || dirname(dirname(w.path)) === pool;
      if (!inPool) continue; // a spare being claimed by `add` right now
      if (kept < wanted && dirname(w.path) === pool && (await fresh(repo.mainPath, w, mainHead, limits))) {
        kept++;
        continue;
      }
      if (options.dryRun) {
        removed++;
        continue;
      }
      const away = join(pool, `.prune-${randomBytes(4).toString('hex')}`);
      try {
        await rename(w.path, away);
      } catch {
        continue;
      }
      failpoint(FAIL['prune:moved-away']);
      await destroyWorktree(repo.mainPath, away);
      removed++;
    }
    return removed;
  });
}

async function fresh(mainPath: string, w: WorktreeEntry, mainHead: string, limits: Limits): Promise<boolean> {
  const state = await readWorktreeState(await worktreeGitDir(w.path));
  const since = (state?.spare as SpareSection | undefined)?.since;
  if (since && Date.now() - Date.parse(since) > limits.maxAgeMs) return false;
  if (!w.head || w.head === mainHead) return true;
  const count = await git(mainPath, ['rev-list', '--count', `${w.head}..${mainHead}`]).catch(() => 'Infinity');
  return Number(count) <= limits.maxBehind;
}
