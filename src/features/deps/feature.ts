import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { startBackgroundJob } from '../../core/background.js';
import { cacheDirOf, listEntries, openEntry, recordHit, sparesDir } from './cache.js';
import { cacheKey } from './cache-key.js';
import { errorMessage, VtreeError } from '../../core/errors.js';
import { run } from '../../core/exec.js';
import { exists, isErrno } from '../../core/files.js';
import { trashDir } from '../../core/paths.js';
import type { TaskContext } from '../../core/graph.js';
import { moveIntoPlace, parseLinkMode, resolveLinkMode, restoreTree, type LinkMode, type LinkModeSetting } from './link-modes.js';
import { scanTree, type Manifest } from './manifest.js';
import {
  commitFiles,
  detectProject,
  diskFiles,
  installCommand,
  installComplete,
  nodeModulesDirs,
  reconcileCommand,
  type Project,
} from './package-manager.js';
import type { CheckoutStage, Feature, RepoStage, SetupShared, TargetStage } from '../feature.js';
import type { Repo } from '../../git/repo.js';
import { readWorktreeState } from '../../git/worktree-state.js';
import { takeSpare } from './spares.js';

/** Where a worktree's dependencies came from, recorded in metrics and in its state. */
export type DepsSource = 'hit' | 'seed' | 'partial' | 'miss' | 'none' | 'skipped';

/** The plan made before checkout, and what it already restored into the staging directory. */
interface DepsPlan {
  source: DepsSource;
  reason?: string;
  project?: Project;
  key?: string;
  cacheDir: string;
  setting: LinkModeSetting;
  /** Sibling of the worktree holding the restored roots until checkout is done. */
  staging?: string;
  roots: string[];
  mode?: LinkMode;
  files?: number;
  /** Restored with one rename of a spare. */
  spare?: boolean;
  /** The worktree a seed was taken from, or the entry a partial restore started from. */
  from?: string;
  /** A lockfile exists: the result may be cached. */
  cacheable: boolean;
  /** The spare worktree's own dependencies fit: nothing to restore. */
  inPlace?: boolean;
  /** Dependency dirs of the spare worktree that do not fit and go before restoring. */
  replace?: string[];
}

/** What the spare job recorded of a spare worktree's dependencies (its `vtree.json` `deps`). */
interface RecordedDeps {
  key?: string | null;
  dirs?: string[];
  linkMode?: LinkMode | null;
}

const PLAN = 'deps-plan';
const NODE_MODULES_EXISTS = 'node_modules exists';
const RESTORE = 'deps-restore';

/**
 * Dependencies restored from the lockfile-keyed cache. `deps-plan` runs while `git worktree
 * add` checks out: it reads the target commit's lockfiles from the object store, computes the
 * key and restores the entry (or a spare, or a seed from another worktree) into a staging
 * directory next to the worktree. `deps-restore` renames it into place once checkout is done,
 * runs the package manager when the cache could not answer, and leaves what the user need not
 * wait for (snapshotting a new entry, making the next spare) to a background job.
 */
export const depsFeature: Feature = {
  name: 'deps',
  enabled: (options) => options.deps,
  setupTasks: (stages) => [
    {
      name: PLAN,
      deps: [stages.repo, stages.target],
      async run(ctx, deps) {
        const plan = await planDeps(ctx, deps[stages.repo] as RepoStage, deps[stages.target] as TargetStage);
        ctx.span.set('source', plan.source);
        if (plan.mode) ctx.span.set('linkMode', plan.mode);
        return plan;
      },
      async undo(_ctx, result) {
        const { staging } = result as DepsPlan;
        if (staging) await rm(staging, { recursive: true, force: true });
      },
    },
    {
      name: RESTORE,
      deps: [stages.repo, stages.target, stages.checkout, PLAN],
      async run(ctx, deps) {
        const where = deps[stages.repo] as RepoStage;
        const target = deps[stages.target] as TargetStage;
        const checkout = deps[stages.checkout] as CheckoutStage;
        let plan = deps[PLAN] as DepsPlan;
        // Planned for the spare worktree, but checkout fell back to `git worktree add`: plan again, for an empty worktree.
        if (plan.inPlace && !checkout.fromSpare) plan = await planDeps(ctx, where, { ...target, spare: undefined });
        if (checkout.fromSpare && plan.replace?.length) await discardDirs(where.repo, checkout.path, plan.replace, ctx.shared.runId);
        return finishDeps(ctx, where.repo, where.config.integer('vtree.cache.spares', 1), checkout, plan);
      },
      async undo(_ctx, result) {
        // Only what this task placed; in `add` the worktree itself is removed by its own undo.
        const { path, dirs } = result as { path: string; dirs: string[] };
        await Promise.all(dirs.map((dir) => rm(join(path, dir), { recursive: true, force: true })));
      },
    },
  ],
};

/** The plan for `target`; for a spare worktree, whether its dependencies fit or which of its dirs must go. */
async function planDeps(ctx: TaskContext<SetupShared>, where: RepoStage, target: TargetStage): Promise<DepsPlan> {
  const plan = await planFor(ctx, where, target);
  if (!target.spare || plan.inPlace) return plan;
  const theirs = target.spare.state?.deps as RecordedDeps | undefined;
  return { ...plan, replace: theirs?.dirs ?? ['node_modules'] };
}

async function planFor({ shared, span }: TaskContext<SetupShared>, { repo, config }: RepoStage, target: TargetStage): Promise<DepsPlan> {
  const setting = parseLinkMode(shared.options.linkMode ?? config.string('vtree.linkMode'));
  const cacheDir = cacheDirOf(repo, config);
  const base = { cacheDir, setting, roots: [] as string[], cacheable: false };
  const project = await detectProject(commitFiles(repo.cwd, target.commit));
  if (!project) return { ...base, source: 'none', reason: 'no package.json' };
  if (project.pnp) {
    shared.log("deps: yarn Plug'n'Play keeps no node_modules: nothing to restore (run `yarn install` if .pnp.cjs is missing)");
    return { ...base, source: 'skipped', reason: "yarn Plug'n'Play", project };
  }
  // A spare worktree's node_modules is its own, judged by key below, not a user's install.
  if (!target.spare && (await exists(join(target.path, 'node_modules')))) return { ...base, source: 'skipped', reason: NODE_MODULES_EXISTS, project };
  if (Object.keys(project.lockfiles).length === 0) {
    shared.warn(`no lockfile at ${target.commit.slice(0, 12)}: installing with ${project.manager} without the cache (commit a lockfile to make this instant)`);
    return { ...base, source: 'miss', reason: 'no lockfile', project };
  }
  const key = cacheKey(project);
  span.set('key', key);
  const plan = { ...base, project, key, cacheable: true };
  const theirs = target.spare?.state?.deps as RecordedDeps | undefined;
  if (theirs?.key === key && theirs.dirs?.length) {
    span.set('spareWorktree', 'dependencies fit');
    return { ...plan, source: 'hit', roots: theirs.dirs, inPlace: true, ...(theirs.linkMode ? { mode: theirs.linkMode } : {}) };
  }
  const staging = join(dirname(target.path), `${stagingPrefix(target.path)}${process.pid}`);
  await removeStaleStaging(target.path);
  try {
    const spare = await takeSpare(cacheDir, key, setting, staging);
    const entry = spare ? undefined : await openEntry(cacheDir, key);
    if (spare || entry) {
      // The hit count and starting the job that makes the next spare overlap restore and checkout.
      const sideWork = Promise.all([
        recordHit(cacheDir, key).catch((error) => shared.warn(`could not update cache stats: ${errorMessage(error)}`)),
        topUpSpares(repo, cacheDir, key, config.integer('vtree.cache.spares', 1), setting, shared.warn),
      ]);
      try {
        const restored = spare ? { roots: spare.roots, mode: spare.mode, files: spare.files, spare: true } : await restore(entry!.manifest, entry!.tree, staging, setting, shared.warn);
        return { ...plan, source: 'hit', staging, ...restored };
      } finally {
        await sideWork;
      }
    }
    // Seeds and partial starts are linked, never symlinked: a worktree's node_modules changes
    // with that worktree, and a partial start is reconciled in place by the package manager.
    const mode = setting === 'symlink' ? 'hardlink' : setting;
    const seed = await findWorktreeInstall(repo, target.path, async (theirs, path) => cacheKey(theirs) === key && (await installComplete(path, theirs)));
    if (seed) return { ...plan, source: 'seed', staging, from: seed.path, ...(await restore(seed.manifest, seed.path, staging, mode, shared.warn)) };
    // Partial: the closest start the package manager can reconcile, an entry or else a worktree.
    const closest = (await listEntries(cacheDir)).find((e) => e.meta.packageManager === project.manager);
    if (closest) return { ...plan, source: 'partial', staging, from: closest.key, ...(await restore(closest.manifest, closest.tree, staging, mode, shared.warn)) };
    const similar = await findWorktreeInstall(repo, target.path, (theirs) => theirs.manager === project.manager);
    if (similar) return { ...plan, source: 'partial', staging, from: similar.path, ...(await restore(similar.manifest, similar.path, staging, mode, shared.warn)) };
    return { ...plan, source: 'miss' };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

async function restore(manifest: Manifest, from: string, staging: string, setting: LinkModeSetting, warn: (line: string) => void) {
  const mode = await resolveLinkMode(setting, manifest, from, staging, warn);
  const ctx = { from, to: staging, mode, warn };
  await restoreTree(manifest, ctx);
  // ctx.mode: `copy` if the restore fell back part way.
  return { roots: manifest.roots, mode: ctx.mode, files: manifest.files.length };
}

async function finishDeps({ shared, signal, span }: TaskContext<SetupShared>, repo: Repo, spares: number, { path, gitDir }: CheckoutStage, plan: DepsPlan) {
  const { project } = plan;
  if (plan.staging) {
    try {
      await moveIntoPlace(plan.staging, plan.roots, path);
    } catch (error) {
      await rm(plan.staging, { recursive: true, force: true });
      await Promise.all(plan.roots.map((root) => rm(join(path, root), { recursive: true, force: true })));
      throw error;
    }
  }
  let dirs = plan.roots;
  let files = plan.files;
  if (project && (plan.source === 'miss' || plan.source === 'partial')) {
    const command = plan.source === 'partial' ? reconcileCommand(project.manager) : await installCommand(project.manager, plan.cacheable);
    const started = performance.now();
    await install(command, path, plan, shared, signal);
    span.set('installMs', Math.round(performance.now() - started));
    // What the install produced (a readdir walk, cheap next to the install itself).
    const installed = await scanTree(path, nodeModulesDirs(project), { stats: false });
    dirs = installed.roots;
    files = installed.files.length;
  }
  shared.facts.deps = {
    source: plan.source,
    packageManager: project?.manager ?? null,
    linkMode: plan.mode ?? null,
    files: files ?? null,
    key: plan.key ?? null,
    spare: plan.spare ?? false,
    ...(plan.inPlace ? { inSpareWorktree: true } : {}),
    ...(plan.from ? { from: plan.from } : {}),
    ...(plan.reason ? { reason: plan.reason } : {}),
  };
  const placed = plan.source === 'none' || plan.source === 'skipped' ? [] : dirs;
  shared.state.deps = { source: plan.source, key: plan.key ?? null, packageManager: project?.manager ?? null, linkMode: plan.mode ?? null, dirs };
  if (plan.reason === NODE_MODULES_EXISTS) {
    // `setup` run again: keep what the first set-up recorded (where they came from, every dir rm must clear).
    const before = (await readWorktreeState(gitDir))?.deps;
    shared.state.deps = before ?? { ...(shared.state.deps as object), dirs: project ? await existingDirs(path, nodeModulesDirs(project)) : [] };
  }
  if (placed.length > 0) shared.log(describe(plan));
  if (plan.cacheable && plan.key && placed.length > 0 && plan.source !== 'hit') {
    // Snapshot the new install as an entry (and make its spares) after this command has returned.
    const base = plan.source === 'seed' ? plan.from! : path;
    const args = [plan.cacheDir, base, plan.key, plan.source, String(spares), plan.setting, String(process.pid)];
    await startBackgroundJob({ job: 'cache-snapshot', id: jobId(plan.key), commonDir: repo.commonDir, args, cwd: repo.mainPath }).catch((error) =>
      shared.warn(`could not start caching in the background: ${errorMessage(error)}`),
    );
  }
  return { path, dirs: placed };
}

/**
 * Moves a spare worktree's dependency dirs that do not fit the target commit into the trash
 * (one rename each) and leaves deleting them to a background job.
 */
async function discardDirs(repo: Repo, path: string, dirs: readonly string[], runId: string): Promise<void> {
  const trash = join(trashDir(repo.commonDir), `${basename(path)}-${runId}-spare`);
  let moved = 0;
  for (const [index, dir] of dirs.entries()) {
    try {
      await mkdir(trash, { recursive: true });
      await rename(join(path, dir), join(trash, String(index)));
      moved++;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) continue;
      // Another filesystem: delete it here and now.
      if (isErrno(error, 'EXDEV')) await rm(join(path, dir), { recursive: true, force: true });
      else throw error;
    }
  }
  if (moved > 0) await startBackgroundJob({ job: 'delete-trash', id: runId, commonDir: repo.commonDir, args: [trashDir(repo.commonDir)], cwd: repo.mainPath });
}

/** Starts the job that tops the pool of spares of `key` up, if it is short; it waits for this process to exit. */
async function topUpSpares(repo: Repo, cacheDir: string, key: string, spares: number, setting: LinkModeSetting, warn: (line: string) => void): Promise<void> {
  if (spares <= 0) return;
  const ready = await readdir(sparesDir(cacheDir, key)).then((names) => names.length, () => 0);
  if (ready >= spares) return;
  const args = [cacheDir, key, String(spares), setting, String(process.pid)];
  await startBackgroundJob({ job: 'make-spare', id: jobId(key), commonDir: repo.commonDir, args, cwd: repo.mainPath }).catch((error) =>
    warn(`could not start making a spare in the background: ${errorMessage(error)}`),
  );
}

/** Staging directories of a worktree are its siblings named `.<name>.vtree-deps.<pid>`. */
function stagingPrefix(worktree: string): string {
  return `.${basename(worktree)}.vtree-deps.`;
}

/** Removes staging directories a killed run of this worktree left behind (their pid is gone), and our own. */
async function removeStaleStaging(worktree: string): Promise<void> {
  const parent = dirname(worktree);
  const prefix = stagingPrefix(worktree);
  const names = await readdir(parent).catch(() => [] as string[]);
  const stale = names.filter((name) => {
    if (!name.startsWith(prefix)) return false;
    const pid = Number(name.slice(prefix.length));
    if (pid === process.pid) return true;
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  });
  await Promise.all(stale.map((name) => rm(join(parent, name), { recursive: true, force: true })));
}

function jobId(key: string): string {
  return `${key.slice(0, 12)}-${process.pid}`;
}

function describe(plan: DepsPlan): string {
  const what = `${plan.files ?? 'all'} files`;
  switch (plan.source) {
    case 'hit':
      if (plan.inPlace) return `deps: already in place in the spare worktree (${plan.mode ?? 'restored'} from the cache)`;
      return plan.spare ? `deps: restored a ready spare (${what}, one rename)` : `deps: restored from the cache (${what}, ${plan.mode})`;
    case 'seed':
      return `deps: restored from the worktree at ${plan.from} (${what}, ${plan.mode}); caching it in the background`;
    case 'partial':
      return `deps: started from a similar cache entry and reconciled with ${plan.project?.manager}; caching the result in the background`;
    default:
      return `deps: installed with ${plan.project?.manager}${plan.cacheable ? '; caching the result in the background' : ''}`;
  }
}

/** Runs the package manager in the worktree, showing one progress line that rewrites itself on a terminal. */
async function install(command: { command: string; args: string[] }, cwd: string, plan: DepsPlan, shared: SetupShared, signal: AbortSignal): Promise<void> {
  const why = plan.source === 'partial' ? 'no exact cache entry' : plan.cacheable ? 'cache miss' : 'no lockfile';
  shared.log(`deps: ${command.command} ${command.args.join(' ')} (${why}: the user waits for this install; the next add of this lockfile restores from the cache)`);
  const tty = process.stderr.isTTY === true && !process.env.VTREE_BACKGROUND;
  const width = Math.max(20, (process.stderr.columns || 80) - 1);
  const onStderr = tty
    ? (chunk: string) => {
        const line = chunk.split(/[\r\n]/).filter((l) => l.trim()).at(-1);
        if (line) process.stderr.write(`\r\x1b[K${line.slice(0, width)}`);
      }
    : undefined;
  try {
    await run(command.command, command.args, { cwd, signal, ...(onStderr ? { onStderr } : {}) });
  } catch (error) {
    throw new VtreeError(`${command.command} ${command.args[0] ?? ''} failed in ${cwd}: ${errorMessage(error)}`, 'fix the install, or run `git vtree add <branch> --no-deps` and install by hand', {
      cause: error,
    });
  } finally {
    if (tty) process.stderr.write('\r\x1b[K');
  }
}

/**
 * The first worktree (the main one first) with a node_modules whose project passes `accept`:
 * for a seed, the same key and a complete install; for a partial restore, the same manager.
 * One at a time, stopping at the first match: the main worktree usually is one, and checking
 * completeness parses lockfiles, which for thirty worktrees at once would cost memory, not time.
 */
async function findWorktreeInstall(
  repo: Repo,
  targetPath: string,
  accept: (theirs: Project, path: string) => boolean | Promise<boolean>,
): Promise<{ path: string; manifest: Manifest } | undefined> {
  for (const worktree of repo.worktrees) {
    if (worktree.bare || worktree.prunable || worktree.path === targetPath) continue;
    let theirs: Project | undefined;
    try {
      if (!(await exists(join(worktree.path, 'node_modules')))) continue;
      theirs = await detectProject(diskFiles(worktree.path));
      if (!theirs || !(await accept(theirs, worktree.path))) continue;
    } catch {
      continue; // a worktree being removed, unreadable files: not a source
    }
    const manifest = await scanTree(worktree.path, nodeModulesDirs(theirs), { stats: false });
    // Packages linked from elsewhere (a worktree restored with --link-mode symlink): not a plain install.
    if (manifest.links.some(([, target]) => isAbsolute(target))) continue;
    return { path: worktree.path, manifest };
  }
  return undefined;
}

async function existingDirs(base: string, dirs: readonly string[]): Promise<string[]> {
  const found = await Promise.all(dirs.map((dir) => lstat(join(base, dir)).then((info) => info.isDirectory(), () => false)));
  return dirs.filter((_, i) => found[i]);
}
