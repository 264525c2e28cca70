import { appendFile, copyFile, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { startBackgroundJob } from '../../core/background.js';
import { cacheDirOf, changedFiles, linkedTreeChanges, listEntries, openEntry, recordHit, sparesDir, type CacheEntry } from './cache.js';
import { describeEdits, fewOf, quarantine, sharedTaint, whoShares } from './taint.js';
import { recordedTreeChanges, type IsolationState } from './isolate.js';
import { cacheKey } from './cache-key.js';
import { errorMessage, VtreeError } from '../../core/errors.js';
import { git, run } from '../../core/exec.js';
import { reclaimDead } from '../../core/debris.js';
import { exists, isErrno } from '../../core/files.js';
import { trashDir } from '../../core/paths.js';
import { tempName } from '../../core/temp-name.js';
import type { TaskContext } from '../../core/graph.js';
import { depsLogPath, installLogPath } from '../../core/paths.js';
import { linkNowCopyLater, moveIntoPlace, parseLinkMode, resolveLinkMode, restoreTree, type LinkMode, type LinkModeSetting } from './link-modes.js';
import { findEmbeddedPaths, manifestProblem, pathPattern, scanTree, withoutStateFiles, type Manifest } from './manifest.js';
import { installProblem } from './completeness.js';
import { judgeWithReference } from './scratch-install.js';
import {
  commitFiles,
  detectProject,
  diskFiles,
  installCommand,
  nodeModulesDirs,
  reconcileCommand,
  REWRITTEN_IN_PLACE,
  type Project,
} from './package-manager.js';
import type { CheckoutStage, RepoStage, SetupShared, TargetStage } from '../feature.js';
import type { Repo } from '../../git/repo.js';
import { readWorktreeState, worktreeGitDir } from '../../git/worktree-state.js';
import { takeSpare } from './spares.js';
import type { PullResult, Remote } from './remote/remote-cache.js';

/** Where a worktree's dependencies came from, recorded in metrics and in its state. */
export type DepsSource = 'hit' | 'remote' | 'seed' | 'partial' | 'miss' | 'none' | 'skipped';

/** The plan made before checkout, and what it already restored into the staging directory. */
export interface DepsPlan {
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
  /** The worktree a seed was taken from, or the entry (or worktree) a partial restore started from. */
  from?: string;
  /** A partial restore started from a worktree, not from a cache entry. */
  fromWorktree?: boolean;
  /** A worktree with this very lockfile installed that was not taken as a seed, and why. */
  notSeed?: { path: string; problem: string };
  /** Restoring failed unexpectedly and this is a clean install instead: the log with the details. */
  fellBack?: string;
  /** A lockfile exists: the result may be cached. */
  cacheable: boolean;
  /** Bytes downloaded from the remote cache. */
  remoteBytes?: number;
  /** `vtree.cache.remote`, when the new entry is to be pushed there (`vtree.cache.push`). */
  pushTo?: string;
  /** The spare worktree's own dependencies fit: nothing to restore. */
  inPlace?: boolean;
  /** Dependency dirs of the spare worktree that do not fit and go before restoring. */
  replace?: string[];
  /**
   * Restored by hardlink under `auto` on a filesystem that cannot clone: the `isolate-deps` job
   * gives the worktree copies of its own after `add` returns; the ISO time files became shared.
   */
  sharedSince?: string;
  /** Files of the restored tree written with the worktree's path (see `Manifest.rewrite`). */
  rewritten?: string[];
  /** In a spare worktree: the path its dependencies were written for, before it was moved here. */
  writtenFor?: string;
}

/** What the spare job recorded of a spare worktree's dependencies (its `vtree.json` `deps`). */
interface RecordedDeps {
  key?: string | null;
  dirs?: string[];
  linkMode?: LinkMode | null;
  /** The worktree path its files name, and which files name it besides the managers' state files. */
  at?: string;
  rewritten?: string[];
}

const NODE_MODULES_EXISTS = 'node_modules exists';

/** The plan for `target`; for a spare worktree, whether its dependencies fit or which of its dirs must go. */
export async function planDeps(ctx: TaskContext<SetupShared>, where: RepoStage, target: TargetStage): Promise<DepsPlan> {
  const plan = await planFor(ctx, where, target);
  if (!target.spare || plan.inPlace) return plan;
  const theirs = target.spare.state?.deps as RecordedDeps | undefined;
  return { ...plan, replace: theirs?.dirs ?? ['node_modules'] };
}

async function planFor({ shared, span, signal }: TaskContext<SetupShared>, { repo, config }: RepoStage, target: TargetStage): Promise<DepsPlan> {
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
  const worktreePaths = repo.worktrees.filter((w) => !w.bare && !w.prunable && w.path !== target.path).map((w) => w.path);
  /** Takes a tainted entry out of use and says where the edit is; the caller goes on as if it were not there. */
  const reject = async (entry: CacheEntry, changed: string[]) => {
    const edited = await whoShares(entry, changed, worktreePaths);
    shared.warn(`deps: ${describeEdits(edited)}: edited in place through a hardlink since it was cached; not handing it out (the cache entry is dropped, \`git vtree cache verify --repair\` re-installs it)`);
    await quarantine(cacheDir, entry, changed);
  };
  // Staging directories killed runs left beside the worktrees go, whichever way this one restores
  // (a spare whose dependencies fit returns before any staging of its own).
  const reclaimed = reclaimDead(dirname(target.path), STAGING_DIR);
  const theirs = target.spare?.state?.deps as RecordedDeps | undefined;
  if (theirs?.key === key && theirs.dirs?.length) {
    const intact = await spareDepsIntact(cacheDir, key, theirs, target.path, target.spare!.gitDir, reject, shared.warn);
    span.set('spareWorktree', intact ? 'dependencies fit' : 'dependencies edited or unverifiable');
    const moved = { writtenFor: theirs.at ?? target.spare!.from, rewritten: theirs.rewritten ?? [] };
    if (intact) {
      await reclaimed;
      return { ...plan, source: 'hit', roots: theirs.dirs, inPlace: true, ...moved, ...(theirs.linkMode ? { mode: theirs.linkMode } : {}) };
    }
  }
  const staging = join(dirname(target.path), `${stagingPrefix(target.path)}${process.pid}`);
  await Promise.all([reclaimed, rm(staging, { recursive: true, force: true })]);
  try {
    const hot = await openEntry(cacheDir, key);
    if (hot) {
      const spare = await takeSpare(cacheDir, key, setting, staging, target.path);
      // The hit count and the job that makes the next spare (the pool is one short now) overlap
      // restore and checkout; a spare job checks the entry itself, so one started for a
      // tainted entry makes nothing.
      const sideWork = Promise.all([
        recordHit(cacheDir, key).catch((error) => shared.warn(`could not update cache stats: ${errorMessage(error)}`)),
        topUpSpares(repo, cacheDir, key, config.integer('vtree.cache.spares', 1), setting, shared.warn),
      ]);
      // The entry's files against its manifest (size, mtime), beside the restore: a spare's or a
      // restored file is the entry's inode, so an edit through any link shows here.
      // The restore first: its link() calls run in libuv's threads while this thread checks.
      const [restored, changed] = await Promise.all([
        spare ? { roots: spare.roots, mode: spare.mode, files: spare.files, spare: true, rewritten: spare.origin ? (spare.rewrite ?? []) : [] } : restore(hot.manifest, hot.tree, staging, setting, target.path, shared.warn, true),
        changedFiles(hot),
      ]);
      await sideWork;
      if (changed.length === 0) return { ...plan, source: 'hit', staging, ...restored };
      await rm(staging, { recursive: true, force: true });
      await reject(hot, changed);
    }
    // Seeds and partial starts are never symlinked: a worktree's node_modules changes with that
    // worktree, and a partial start is reconciled in place by the package manager. Under `auto`
    // they are cloned or copied, never linked: the main worktree's files stay its own.
    // Never a worktree that holds a file edited through a link: it would hand the edit on.
    const mode = setting === 'symlink' ? 'hardlink' : setting;
    // Nor one whose background copy found a file edited through the link (its state's `deps.edited`).
    const untainted = async (path: string) =>
      (await sharedTaint(cacheDir, path)) === undefined && !((await readWorktreeState(await worktreeGitDir(path)))?.deps as { edited?: string[] } | undefined)?.edited?.length;
    let notSeed: DepsPlan['notSeed'];
    let decideLater: string | undefined;
    const seed = await findWorktreeInstall(repo, target.path, async (theirs, path) => {
      if (cacheKey(theirs) !== key) return false;
      // Where the check cannot tell, a reference a scratch install made earlier decides (sizes
      // only, on this path); without one, the background snapshot of that worktree makes it.
      const verdict = await judgeWithReference(cacheDir, path, theirs, key, { install: false, hashes: false });
      if (verdict.complete) return untainted(path);
      const later = verdict.cannotTell === true && decideLater === undefined && (await untainted(path));
      if (later) decideLater = path;
      notSeed ??= { path, problem: later ? `${verdict.problem}; a frozen install in a scratch copy decides in the background` : verdict.problem };
      return false;
    });
    if (seed) return { ...plan, source: 'seed', staging, from: seed.path, ...(await restore(seed.manifest, seed.path, staging, mode, target.path, shared.warn)) };
    if (notSeed) span.set('notSeed', notSeed.problem);
    if (decideLater) await startSnapshot(repo, { cacheDir, base: decideLater, key, source: 'seed', spares: config.integer('vtree.cache.spares', 1), setting, id: `${jobId(key)}-decide` }, shared.warn);
    // Partial: the closest start the package manager can reconcile, an entry or else a worktree.
    const pushTo = config.boolean('vtree.cache.push', false) ? config.string('vtree.cache.remote') : undefined;
    for (const closest of (await listEntries(cacheDir)).filter((e) => e.meta.packageManager === project.manager)) {
      const changed = await changedFiles(closest);
      if (changed.length > 0) {
        await reject(closest, changed);
        continue;
      }
      return { ...plan, source: 'partial', staging, from: closest.key, notSeed, pushTo, ...(await restore(closest.manifest, closest.tree, staging, mode, target.path, shared.warn)) };
    }
    let complete = false;
    const similar = await findWorktreeInstall(repo, target.path, async (theirs, path) => {
      if (theirs.manager !== project.manager || !(await untainted(path))) return false;
      complete = (await installProblem(path, theirs)) === undefined;
      return true;
    });
    if (similar) {
      // The manager's state files of a tree that does not match them (`npm install
      // --package-lock-only`, a pull without an install) would make it skip what is really on
      // disk: left out, so the reconcile reads the tree itself.
      const manifest = complete ? similar.manifest : withoutStateFiles(similar.manifest);
      return { ...plan, source: 'partial', staging, from: similar.path, fromWorktree: true, notSeed, pushTo, ...(await restore(manifest, similar.path, staging, mode, target.path, shared.warn)) };
    }
    // The registry client (and node:stream with it) loads only where a remote cache is set.
    const remote = config.string('vtree.cache.remote') ? (await import('./remote/remote-cache.js')).remoteFromConfig(config) : undefined;
    const pulled = remote ? await pullForAdd(remote, cacheDir, key, signal, shared.warn) : undefined;
    if (pulled) {
      const restored = await restore(pulled.entry.manifest, pulled.entry.tree, staging, setting, target.path, shared.warn, true);
      await topUpSpares(repo, cacheDir, key, config.integer('vtree.cache.spares', 1), setting, shared.warn);
      return { ...plan, source: 'remote', staging, from: `${remote!.ref.registry}/${remote!.ref.repository}`, remoteBytes: pulled.bytes, ...restored };
    }
    return { ...plan, source: 'miss', notSeed, pushTo };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    // Never a failed `add` for want of a shortcut: a clean install is always right.
    if (signal.aborted) throw error;
    const pushTo = config.boolean('vtree.cache.push', false) ? config.string('vtree.cache.remote') : undefined;
    return { ...plan, source: 'miss', pushTo, fellBack: await fallBack(repo, shared, 'restoring dependencies', error, project.manager) };
  }
}

/**
 * Records an unexpected failure of a dependency step in the run's deps log and says, once, that a
 * clean install replaces it; returns the log's path.
 */
async function fallBack(repo: Repo, shared: SetupShared, step: string, error: unknown, manager: string): Promise<string> {
  const details = error instanceof Error ? (error.stack ?? error.message) : String(error);
  const log = await fallBackLog(repo, shared, `${step} failed\n${details}\n`);
  shared.warn(`deps: ${step} failed (${errorMessage(error)}); installing with ${manager} from scratch instead (details in ${log})`);
  return log;
}

/** Appends `text` to this run's deps log (`.git/vibetrees/logs/deps-<run>.log`); its path. */
async function fallBackLog(repo: Repo, shared: SetupShared, text: string): Promise<string> {
  const log = depsLogPath(repo.commonDir, shared.runId);
  try {
    await mkdir(dirname(log), { recursive: true });
    await appendFile(log, `# ${new Date().toISOString()}\n${text}\n`);
  } catch {
    // The warning that names this log still says what failed.
  }
  return log;
}

/** `plan` turned into a clean install after its restore failed, with the log saying why. */
function asCleanInstall(plan: DepsPlan, log: string): DepsPlan {
  const { staging: _staging, mode: _mode, files: _files, spare: _spare, inPlace: _inPlace, from: _from, fromWorktree: _fromWorktree, rewritten: _rewritten, writtenFor: _writtenFor, ...rest } = plan;
  return { ...rest, source: 'miss', roots: [], fellBack: log };
}

/** Why the user waits for an install, and what it buys: said before it runs. */
function installReason(plan: DepsPlan): string {
  const next = plan.cacheable ? '; the next add of this lockfile restores from the cache' : '';
  if (plan.source === 'partial') return `reconciling the restored start with the lockfile${next}`;
  if (!plan.cacheable) return 'no lockfile: nothing to cache';
  if (plan.fellBack) return `restoring failed${next}`;
  const notSeed = plan.notSeed ? `; ${plan.notSeed.path} has this lockfile but is not a complete install of it (${plan.notSeed.problem})` : '';
  return `cache miss${notSeed}: the user waits for this install${next}`;
}

/**
 * Whether the node_modules a spare worktree holds (now at `path`) may be handed out as it is. A
 * tree restored by copy or reflink is the spare's own: checked against the record of its files
 * the spare job made (none: not handed out). One that shares files (hardlinks, or
 * links into the entry) is checked against the entry's manifest like any hit: an edit made
 * through a link anywhere shows there, and is reported through `reject`. A tree that is not the
 * entry's (the entry was dropped, or made again from another install since) has nothing to be
 * judged by, and is not handed out either: the spare's dirs are replaced as for another key.
 * A tree the package manager installed in the worktree itself (no link mode: a recycled
 * worktree whose `add` missed) is judged as linked while its files are the entry's inodes (the
 * user's `hardlink` made the entry from them), else, under `auto` and `copy` (the entry copied
 * it), as its own files by the record: the pool compared it with the entry, file by file, before
 * recording it.
 */
async function spareDepsIntact(
  cacheDir: string,
  key: string,
  theirs: RecordedDeps,
  path: string,
  gitDir: string,
  reject: (entry: CacheEntry, changed: string[]) => Promise<void>,
  warn: (line: string) => void,
): Promise<boolean> {
  const ownFiles = async () => {
    // Its own files, checked against what the spare job recorded when it made (or checked) them.
    const changed = await recordedTreeChanges(path, gitDir);
    if (changed?.length) warn(`deps: ${fewOf(changed)} of the spare worktree changed since it was made: not handing them out; restoring from the cache`);
    return changed !== undefined && changed.length === 0;
  };
  if (theirs.linkMode === 'copy' || theirs.linkMode === 'reflink') return ownFiles();
  const entry = await openEntry(cacheDir, key);
  if (!entry) return false;
  const changed = theirs.linkMode === 'symlink' ? await changedFiles(entry) : await linkedTreeChanges(entry, path);
  if (changed === 'foreign') return theirs.linkMode ? false : ownFiles();
  if (changed.length === 0) return true;
  await reject(entry, changed);
  return false;
}

/**
 * Restores `manifest` from `from` into `staging`. With `linkFirst` (a cache entry, on `add`'s
 * path), `auto` on a filesystem that cannot clone links now: the caller starts the job that
 * replaces the links with copies (`sharedSince` says since when files are shared).
 */
async function restore(manifest: Manifest, from: string, staging: string, setting: LinkModeSetting, target: string, warn: (line: string) => void, linkFirst = false) {
  const sharedSince = new Date().toISOString();
  const linkNow = linkFirst && (await linkNowCopyLater(setting, manifest, from, staging, warn));
  const mode = linkNow ? 'hardlink' : await resolveLinkMode(setting, manifest, from, staging, warn);
  const ctx = { from, to: staging, mode, warn, target };
  await restoreTree(manifest, ctx);
  // ctx.mode: `copy` if the restore fell back part way.
  return { roots: manifest.roots, mode: ctx.mode, files: manifest.files.length, rewritten: manifest.origin ? (manifest.rewrite ?? []) : [], ...(linkNow && ctx.mode === 'hardlink' ? { sharedSince } : {}) };
}

/**
 * A spare worktree's dependencies name the path they were written for (its place in the pool, or
 * the worktree it was recycled from): the files that can (the managers' state files, `.bin`
 * shims, and those the restore wrote with that path) get this worktree's path instead. Each is
 * replaced by a new file, never edited in place, so a file it shares with the cache stays as it is.
 */
async function writeForHere(path: string, roots: readonly string[], rewritten: readonly string[], writtenFor: string): Promise<void> {
  const candidates = new Set(rewritten);
  for (const root of roots) {
    if (!root.endsWith('node_modules')) continue;
    for (const name of REWRITTEN_IN_PLACE) candidates.add(`${root}/${name}`);
    for (const shim of await readdir(join(path, root, '.bin')).catch(() => [] as string[])) candidates.add(`${root}/.bin/${shim}`);
  }
  const names = pathPattern(writtenFor, 'g');
  await Promise.all(
    [...candidates].map(async (file) => {
      const full = join(path, file);
      // A link (npm's `.bin` entries) leads to a package's own file: not one written per install.
      if (!(await lstat(full).then((info) => info.isFile(), () => false))) return;
      const text = await readFile(full, 'utf8').catch(() => undefined);
      if (text === undefined || !pathPattern(writtenFor).test(text)) return;
      const temp = `${full}.vtree-${process.pid}`;
      await copyFile(full, temp); // keeps the mode
      await writeFile(temp, text.replace(names, () => path));
      await rename(temp, full);
    }),
  );
}

export async function finishDeps({ shared, signal, span }: TaskContext<SetupShared>, { repo, config }: RepoStage, { path, gitDir }: CheckoutStage, plan: DepsPlan) {
  const spares = config.integer('vtree.cache.spares', 1);
  const { project } = plan;
  if (plan.staging) {
    try {
      await moveIntoPlace(plan.staging, plan.roots, path);
    } catch (error) {
      await rm(plan.staging, { recursive: true, force: true });
      await Promise.all(plan.roots.map((root) => rm(join(path, root), { recursive: true, force: true })));
      if (!project || signal.aborted) throw error;
      plan = asCleanInstall(plan, await fallBack(repo, shared, 'placing the restored dependencies', error, project.manager));
    }
  }
  if (project && (plan.source === 'miss' || plan.source === 'partial')) {
    // The install runs the repository's own scripts: only once the user approved them.
    const { INSTALL_NOT_APPROVED, installConsent } = await import('./consent.js');
    const { refused } = await installConsent(repo.mainPath, project, config, { interactive: shared.command !== 'hook' });
    if (refused) {
      // A partial start placed already is no install of the lockfile: it goes too.
      await Promise.all(plan.roots.map((root) => rm(join(path, root), { recursive: true, force: true })));
      shared.warn(`deps: not installed — ${refused}; review and approve them: cd ${path} && git vtree trust, then: git vtree setup`);
      plan = { ...plan, source: 'skipped', reason: INSTALL_NOT_APPROVED, roots: [] };
    }
  }
  let dirs = plan.roots;
  let files = plan.files;
  if (project && (plan.source === 'miss' || plan.source === 'partial')) {
    const started = performance.now();
    const dirtyBefore = new Set(await modifiedTrackedFiles(path));
    if (plan.source === 'partial') {
      const failed = await install(reconcileCommand(project.manager), path, plan, repo, shared, signal, { quiet: true });
      if (failed) {
        // What the reconcile could not fix, a clean install does: it starts from nothing.
        await Promise.all(nodeModulesDirs(project).map((dir) => rm(join(path, dir), { recursive: true, force: true })));
        plan = asCleanInstall(plan, failed);
        shared.warn(`deps: ${reconcileCommand(project.manager).command} could not reconcile the restored start; installing from scratch instead (details in ${failed})`);
      }
    }
    const command = await installCommand(project.manager, plan.cacheable);
    if (plan.source === 'miss') await install(command, path, plan, repo, shared, signal);
    await restoreTrackedFiles(path, dirtyBefore, command.command, shared.warn);
    span.set('installMs', Math.round(performance.now() - started));
    // What the install produced (a readdir walk, cheap next to the install itself), and which of
    // its files name this worktree (recorded: should it become a spare, they are rewritten).
    const installed = await findEmbeddedPaths(path, await scanTree(path, nodeModulesDirs(project), { stats: false }));
    dirs = installed.roots;
    files = installed.files.length;
    plan = { ...plan, rewritten: installed.rewrite ?? [] };
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
    ...(plan.remoteBytes !== undefined ? { remoteBytes: plan.remoteBytes } : {}),
    ...(plan.sharedSince ? { isolation: 'background' } : {}),
    ...(plan.notSeed ? { notSeed: plan.notSeed } : {}),
    ...(plan.fellBack ? { fellBack: plan.fellBack } : {}),
  };
  const placed = plan.source === 'none' || plan.source === 'skipped' ? [] : dirs;
  if (plan.inPlace && plan.writtenFor && plan.writtenFor !== path) await writeForHere(path, plan.roots, plan.rewritten ?? [], plan.writtenFor);
  const rewritten = plan.rewritten?.length ? { rewritten: plan.rewritten } : {};
  const why = plan.source === 'skipped' && plan.reason ? { reason: plan.reason } : {};
  shared.state.deps = { source: plan.source, key: plan.key ?? null, packageManager: project?.manager ?? null, linkMode: plan.mode ?? null, dirs, at: path, ...rewritten, ...why };
  if (plan.reason === NODE_MODULES_EXISTS) {
    // `setup` run again: keep what the first set-up recorded (where they came from, every dir rm must clear).
    const before = (await readWorktreeState(gitDir))?.deps;
    shared.state.deps = before ?? { ...(shared.state.deps as object), dirs: project ? await existingDirs(path, nodeModulesDirs(project)) : [] };
  }
  if (plan.sharedSince && plan.key && placed.length > 0) {
    // Copies of its own for every linked file, after this command has returned (docs/trust.md).
    const args = [plan.cacheDir, plan.key, path, shared.runId, String(process.pid)];
    const log = await startBackgroundJob({ job: 'isolate-deps', id: jobId(plan.key), commonDir: repo.commonDir, args, cwd: repo.mainPath }).catch((error) =>
      shared.warn(`could not start copying the linked dependencies in the background: ${errorMessage(error)}; \`git vtree cache verify\` checks them`),
    );
    const isolation: IsolationState = { state: log ? 'pending' : 'failed', since: plan.sharedSince, ...(log ? { log } : {}) };
    shared.state.deps = { ...(shared.state.deps as object), isolation };
  }
  if (placed.length > 0) shared.log(describe(plan));
  if (plan.cacheable && plan.key && placed.length > 0 && plan.source !== 'hit' && plan.source !== 'remote') {
    // Snapshot the new install as an entry (and make its spares) after this command has returned.
    const base = plan.source === 'seed' ? plan.from! : path;
    const log = await startSnapshot(repo, { cacheDir: plan.cacheDir, base, key: plan.key, source: plan.source, spares, setting: plan.setting, id: jobId(plan.key), pushTo: plan.pushTo }, shared.warn);
    // `git vtree wait` waits for it: an install in the worktree while it is read would race the snapshot.
    if (log) shared.state.deps = { ...(shared.state.deps as object), snapshotLog: log };
  }
  return { path, dirs: placed };
}

/**
 * Moves a spare worktree's dependency dirs that do not fit the target commit into the trash
 * (one rename each) and leaves deleting them to a background job.
 */
export async function discardDirs(repo: Repo, path: string, dirs: readonly string[], runId: string): Promise<void> {
  const trash = join(trashDir(repo.commonDir), tempName(`${basename(path)}-${runId}-spare`));
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

/** Starts the `cache-snapshot` job that caches the install at `base` as `key` once this process has exited; its log, or undefined (said) when it could not start. */
async function startSnapshot(
  repo: Repo,
  job: { cacheDir: string; base: string; key: string; source: DepsSource; spares: number; setting: LinkModeSetting; id: string; pushTo?: string | undefined },
  warn: (line: string) => void,
): Promise<string | undefined> {
  const args = [job.cacheDir, job.base, job.key, job.source, String(job.spares), job.setting, String(process.pid), job.pushTo ?? ''];
  return startBackgroundJob({ job: 'cache-snapshot', id: job.id, commonDir: repo.commonDir, args, cwd: repo.mainPath }).catch((error) => {
    warn(`could not start caching in the background: ${errorMessage(error)}`);
    return undefined;
  });
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

/** `.<worktree name>.vtree-deps.<pid>` (see {@link stagingPrefix}): reclaimed once its pid is dead (a copy of node_modules each). */
const STAGING_DIR = /^\..+\.vtree-deps\.(\d+)$/;

function jobId(key: string): string {
  return `${key.slice(0, 12)}-${process.pid}`;
}

function describe(plan: DepsPlan): string {
  const what = `${plan.files ?? 'all'} files`;
  switch (plan.source) {
    case 'hit':
      if (plan.inPlace) return `deps: already in place in the spare worktree (${plan.mode ?? 'restored'} from the cache)`;
      if (plan.spare) return `deps: restored a ready spare (${what}, ${plan.mode === 'reflink' ? 'cloned' : plan.mode === 'copy' ? 'its own copies' : plan.mode}, one rename)`;
      if (plan.sharedSince) return `deps: restored from the cache (${what}, hardlinked now; each becomes the worktree's own copy in the background within seconds)`;
      return `deps: restored from the cache (${what}, ${plan.mode})`;
    case 'remote':
      return `deps: pulled from the remote cache ${plan.from} (${formatBytes(plan.remoteBytes ?? 0)}) and restored (${what}, ${plan.mode})`;
    case 'seed':
      return `deps: restored from the worktree at ${plan.from} (${what}, ${plan.mode}); caching it in the background`;
    case 'partial': {
      const start = plan.fromWorktree ? `the node_modules of the worktree at ${plan.from}` : `the cache entry ${plan.from?.slice(0, 12)} of another lockfile or config`;
      const notSeed = plan.notSeed ? ` (${plan.notSeed.path} has this lockfile but is not a complete install of it: ${plan.notSeed.problem})` : '';
      return `deps: started from ${start} and reconciled with ${plan.project?.manager}${notSeed}; caching the result in the background`;
    }
    default:
      return `deps: installed with ${plan.project?.manager}${plan.cacheable ? '; caching the result in the background' : ''}`;
  }
}

/**
 * Looks `key` up in the remote cache and pulls it, within the remote's bound. Never fails `add`:
 * a registry that is down, slow, refuses us or holds an unusable entry is said in one line, and
 * the caller installs instead. Ctrl-C still interrupts.
 */
async function pullForAdd(remote: Remote, cacheDir: string, key: string, signal: AbortSignal, warn: (line: string) => void): Promise<PullResult | undefined> {
  try {
    const { pullEntry } = await import('./remote/remote-cache.js');
    return await pullEntry(remote, cacheDir, key, signal);
  } catch (error) {
    if (signal.aborted) throw error;
    warn(`remote cache ${remote.ref.registry}/${remote.ref.repository}: ${errorMessage(error)}; installing instead`);
    return undefined;
  }
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/** Every exit status, so that a failed install still hands back its output for the log. */
const ANY_EXIT = Array.from({ length: 256 }, (_, i) => i);

/** How many lines of a failed install's output are shown; the rest is in its log. */
const TAIL_LINES = 15;

/**
 * Runs the package manager in the worktree, showing one progress line that rewrites itself on a
 * terminal. When it fails, its whole output is saved to `.git/vibetrees/logs/install-<run>.log`,
 * its last lines are shown and the error names the log.
 */
async function install(
  command: { command: string; args: string[] },
  cwd: string,
  plan: DepsPlan,
  repo: Repo,
  shared: SetupShared,
  signal: AbortSignal,
  { quiet = false }: { quiet?: boolean } = {},
): Promise<string | undefined> {
  shared.log(`deps: ${command.command} ${command.args.join(' ')} (${installReason(plan)})`);
  const tty = process.stderr.isTTY === true && !process.env.VTREE_BACKGROUND;
  const width = Math.max(20, (process.stderr.columns || 80) - 1);
  const onStderr = tty
    ? (chunk: string) => {
        const line = chunk.split(/[\r\n]/).filter((l) => l.trim()).at(-1);
        if (line) process.stderr.write(`\r\x1b[K${line.slice(0, width)}`);
      }
    : undefined;
  const what = `${command.command} ${command.args[0] ?? ''}`.trim();
  let result: Awaited<ReturnType<typeof run>>;
  try {
    result = await run(command.command, command.args, { cwd, signal, okCodes: ANY_EXIT, ...(onStderr ? { onStderr } : {}) });
  } catch (error) {
    if (quiet && !signal.aborted) return fallBackLog(repo, shared, `$ ${command.command} ${command.args.join(' ')}\n# in ${cwd}\n${errorMessage(error)}\n`);
    throw new VtreeError(`${what} failed in ${cwd}: ${errorMessage(error)}`, 'fix the install, or run `git vtree add <branch> --no-deps` and install by hand', { cause: error });
  } finally {
    if (tty) process.stderr.write('\r\x1b[K');
  }
  if (result.code === 0) return undefined;
  const text = `$ ${command.command} ${command.args.join(' ')}\n# in ${cwd}, exit code ${result.code}\n# stdout\n${result.stdout}\n# stderr\n${result.stderr}`;
  if (quiet) return fallBackLog(repo, shared, text);
  const log = installLogPath(repo.commonDir, shared.runId);
  await mkdir(dirname(log), { recursive: true });
  await writeFile(log, text);
  const tail = `${result.stdout}\n${result.stderr}`.split(/\r?\n/).filter((l) => l.trim()).slice(-TAIL_LINES);
  shared.warn(`${what} output (last ${tail.length} lines; all of it in ${log}):\n${tail.map((l) => `  | ${l}`).join('\n')}`);
  throw new VtreeError(
    `${what} failed in ${cwd} (exit code ${result.code}); full output in ${log}`,
    'fix the install; to skip lifecycle scripts run `npm_config_ignore_scripts=true git vtree add <branch>` (yarn 2+: YARN_ENABLE_SCRIPTS=false), or `git vtree add <branch> --no-deps` and install by hand',
  );
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
    const manifest = await findEmbeddedPaths(worktree.path, await scanTree(worktree.path, nodeModulesDirs(theirs), { stats: false }));
    // Packages linked from elsewhere (a worktree restored with --link-mode symlink, `npm link`): not a plain install.
    if (manifestProblem(manifest) !== undefined) continue;
    return { path: worktree.path, manifest };
  }
  return undefined;
}

/** Tracked files of the worktree at `path` that differ from its index. */
async function modifiedTrackedFiles(path: string): Promise<string[]> {
  return (await git(path, ['diff', '--name-only', '-z'])).split('\0').filter(Boolean);
}

/**
 * Puts back the committed version of every tracked file the install modified (a lockfile the
 * package manager writes differently from the committed one: a *drifting* lockfile), so vtree
 * never dirties a checkout; files the user had modified before are left alone. Said once.
 */
async function restoreTrackedFiles(path: string, before: ReadonlySet<string>, manager: string, warn: (line: string) => void): Promise<void> {
  const changed = (await modifiedTrackedFiles(path)).filter((file) => !before.has(file));
  if (changed.length === 0) return;
  await git(path, ['checkout', '--', ...changed]);
  warn(`deps: ${manager} rewrote ${changed.join(', ')}; restored the committed version (commit what ${manager} writes to stop this)`);
}

async function existingDirs(base: string, dirs: readonly string[]): Promise<string[]> {
  const found = await Promise.all(dirs.map((dir) => lstat(join(base, dir)).then((info) => info.isDirectory(), () => false)));
  return dirs.filter((_, i) => found[i]);
}
