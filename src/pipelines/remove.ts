import { lstat, mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { realpathSync } from 'node:fs';
import { startBackgroundJob } from '../core/background.js';
import { errorMessage, UsageError } from '../core/errors.js';
import { git } from '../core/exec.js';
import { exists, isErrno } from '../core/files.js';
import { recycleWorktree, configuredSparePool, sparesWanted, startSpareJob } from '../git/spare-worktree.js';
import { claimOf } from '../git/worktree-path.js';
import { TaskFailedError, type Task } from '../core/graph.js';
import { newRunId } from '../observe/metrics.js';
import { trashDir, worktreeStatePath } from '../core/paths.js';
import { confinedPath } from '../core/confine.js';
import { tempName } from '../core/temp-name.js';
import { Profiler } from '../core/profiler.js';
import { slugify } from '../git/slug.js';
import { worktreeProject } from '../git/project-prefix.js';
import { readWorktreeState, worktreeGitDir, writeWorktreeState, type WorktreeState } from '../git/worktree-state.js';
import { isSpare, unfinishedAdd, type WorktreeEntry } from '../git/worktree.js';
import type { Reporter } from './add.js';
import type { KeptCopies } from '../features/env/kept-copies.js';
import type { RemoveShared, RemoveTarget, RepoStage } from '../features/feature.js';
import { FEATURES } from './features.js';
import { identifiedBy, runRecorded } from './record.js';
import { RESOLVE_REPO, resolveRepoTask } from './repo-stage.js';
import type { Reclaimed } from './orphans.js';
import type { StackDown } from '../features/services/teardown.js';
import type { SeedClones } from '../features/seed/index.js';
import type { Inside } from '../core/processes.js';

/** What `git vtree rm` was asked to do. */
export interface RemoveRequest {
  cwd: string;
  /** A branch name, a slug or a path; none: the worktree `cwd` is in. */
  target?: string;
  force: boolean;
  deleteBranch: boolean;
  volumes: boolean;
  /** `--keep-processes`: leave processes running inside the worktree alone. */
  keepProcesses?: boolean;
  /** One of several removals of one `prune` run, which shares this and starts the background jobs once for all. */
  batch?: RemoveBatch;
}

/**
 * What the removals of one `prune` run share, so that fifty of them cost one of each: the
 * repository resolved once, one pass over /proc, the pool's room. Their files stay in the trash
 * for the one deletion job `prune` starts, and `prune` refills the pool of spares once.
 */
export interface RemoveBatch {
  where: RepoStage;
  /** What runs inside each worktree (keyed by its path as git lists it); none with `--keep-processes`. */
  processes?: Map<string, Inside>;
  /** Spare worktrees the pool still has room for, taken one at a time by the removals that recycle. */
  spareRoom: { left: number };
}

/** What `git vtree rm` did. */
export interface RemoveResult {
  runId: string;
  path: string;
  /** The repository's main worktree: where to go from a removed one. */
  mainPath: string;
  branch?: string;
  branchDeleted: boolean;
  /** Log of the background job deleting the worktree's files, if one was started (the stack's job when there is a stack). */
  backgroundLog?: string;
  /** The dependency directories (relative) renamed aside first, so that rm did not wait for them. */
  movedAside: string[];
  /** Copies of ignored files the user had changed in the worktree (`.env` edits), and where. */
  kept?: { dir: string; files: string[] };
  /** The clean worktree became a spare worktree instead of being deleted. */
  recycled: boolean;
  duration: number;
  /** Log of the background job taking the worktree's stack down (and then freeing its ports). */
  stackLog?: string;
  /** Processes that ran inside the worktree and were stopped (`pid command`). */
  stopped?: string[];
  /** The worktree was removed outside vtree already: what was reclaimed of it (its stack, its leases). */
  orphan?: Reclaimed;
}

const LOCATE = 'locate-worktree';
const CHECK_CLEAN = 'check-clean';
const FIND_PROCESSES = 'find-processes';
const STOP_PROCESSES = 'stop-processes';

/** How long processes inside a removed worktree get to exit on SIGTERM before SIGKILL. */
const PROCESS_GRACE_MS = 3000;

/**
 * `git vtree rm`: refuses a dirty worktree unless forced, runs every feature's teardown
 * (Compose down, port release), then keeps a clean worktree as a spare worktree when the pool has
 * room, or else renames the worktree (and its large directories) into the trash for deletion in a
 * background process and drops git's record of it; optionally deletes its branch.
 */
export async function removeWorktree(request: RemoveRequest, reporter: Reporter, signal?: AbortSignal): Promise<RemoveResult> {
  try {
    return await removeLinked(request, reporter, signal);
  } catch (error) {
    // Removed by plain git (or rm -rf): what it left, its stack and its leases, is still vtree's to remove.
    if (!(error instanceof TaskFailedError && error.cause instanceof NoSuchWorktree)) throw error;
    const started = Date.now();
    const { describeReclaimed, reclaimNamed } = await import('./orphans.js');
    const orphan = await reclaimNamed(error.cause.where, error.cause.target, request.cwd, { volumes: request.volumes, background: true });
    if (!orphan) throw error;
    reporter.log(describeReclaimed(orphan));
    return { runId: newRunId(new Date(started)), path: orphan.path, mainPath: error.cause.where.repo.mainPath, branchDeleted: false, recycled: false, movedAside: [], duration: Date.now() - started, orphan };
  }
}

/**
 * No worktree of the repository matches what `rm` was given (an orphan may). A marker for
 * {@link removeWorktree} only: to the user it is bad input like any other, so its `--json` `kind`
 * stays `UsageError` (the kinds docs/trust.md promises), not this class's name.
 */
class NoSuchWorktree extends UsageError {
  constructor(readonly where: RepoStage, readonly target: string) {
    super(`no worktree of this repository matches '${target}'`, 'git vtree list');
    this.name = UsageError.name;
  }
}

async function removeLinked(request: RemoveRequest, reporter: Reporter, signal?: AbortSignal): Promise<RemoveResult> {
  const profiler = new Profiler();
  const shared: RemoveShared = { runId: newRunId(profiler.startedAt), force: request.force, volumes: request.volumes, facts: {}, ...reporter };
  const tasks = removeGraph(request, shared, reporter);
  const { results, record } = await runRecorded(tasks, { command: 'rm', profiler, shared, ...(signal ? { signal } : {}), identify: identifiedBy(LOCATE) });
  const target = results.get(LOCATE) as RemoveTarget;
  const { trashLog: backgroundLog, stackLog } = (results.get('background-job') as { trashLog?: string; stackLog?: string } | undefined) ?? {};
  const kept = shared.facts.kept as KeptCopies | undefined;
  // Said only now: a refused rm undoes the copies, and must not point at a folder it removed.
  if (kept) reporter.warn(`kept a copy of ${kept.files.join(', ')} (changed in this worktree) in ${kept.dir}`);
  const stopped = (results.get(STOP_PROCESSES) as string[] | undefined) ?? [];
  // Fill the pool of spare worktrees (or finish recycling this one) once this command has returned.
  if (!request.batch && sparesWanted(target.config) > 0) await startSpareJob(target.repo, shared.runId, reporter.warn);
  return {
    runId: shared.runId,
    path: target.path,
    mainPath: target.repo.mainPath,
    ...(target.branch ? { branch: target.branch } : {}),
    branchDeleted: results.get('delete-branch') === true,
    ...(backgroundLog ? { backgroundLog } : {}),
    ...(kept ? { kept } : {}),
    movedAside: ((results.get('move-aside') as Moved[] | undefined) ?? []).map((m) => relative(target.path, m.from)),
    recycled: results.get('recycle') === 'recycled',
    duration: record.duration,
    ...(stopped.length > 0 ? { stopped } : {}),
    ...(stackLog ? { stackLog } : {}),
  };
}

/** The task graph of `git vtree rm`. */
export function removeGraph(request: RemoveRequest, shared: RemoveShared, reporter: Reporter): Task<RemoveShared>[] {
  const teardown = FEATURES.flatMap((f) => f.teardownTasks?.({ located: LOCATE, cleared: CHECK_CLEAN }) ?? []);
  const batch = request.batch;
  return [
    batch ? { name: RESOLVE_REPO, run: async () => batch.where } : resolveRepoTask(request.cwd),
    { name: LOCATE, deps: [RESOLVE_REPO], run: (_ctx, deps) => locate(deps[RESOLVE_REPO] as RepoStage, request) },
    {
      name: CHECK_CLEAN,
      deps: [LOCATE],
      async run(_ctx, deps) {
        const located = await checkClean(deps[LOCATE] as RemoveTarget, request);
        // From here on the worktree is being torn down (its ports released, its stack stopped):
        // until it is gone, or this run is rolled back, nothing may call it ready.
        if (located.state) await writeWorktreeState(located.gitDir, { ...(located.state as WorktreeState), removing: { since: new Date().toISOString(), runId: shared.runId } });
        return located;
      },
      async undo(_ctx, located) {
        const { gitDir, state } = located as Located;
        if (state && (await exists(gitDir))) await writeWorktreeState(gitDir, state as WorktreeState);
      },
    },
    ...teardown,
    // Found while the status runs (only reads), stopped once rm is sure to go ahead.
    {
      name: FIND_PROCESSES,
      deps: [LOCATE],
      async run(_ctx, deps) {
        if (request.keepProcesses) return undefined;
        const { path } = deps[LOCATE] as RemoveTarget;
        return batch?.processes?.get(path) ?? (await import('../core/processes.js')).processesInside(path);
      },
    },
    {
      name: STOP_PROCESSES,
      deps: [CHECK_CLEAN, FIND_PROCESSES],
      run: async ({ span }, deps) => stopProcessesInside(deps[CHECK_CLEAN] as RemoveTarget, deps[FIND_PROCESSES] as Inside | undefined, span, reporter),
    },
    {
      name: 'recycle',
      deps: [CHECK_CLEAN],
      after: [...teardown.map((t) => t.name), STOP_PROCESSES],
      async run({ span }, deps) {
        const target = deps[CHECK_CLEAN] as Located;
        const outcome = await recycle(target, batch?.spareRoom);
        span.set('outcome', outcome);
        if (outcome === 'failed') reporter.warn(`could not keep ${target.path} as a spare worktree; removed it`);
        return outcome;
      },
    },
    {
      name: 'move-aside',
      deps: [LOCATE, 'recycle'],
      run: async (_ctx, deps) => (deps.recycle === 'no' ? moveAside(deps[LOCATE] as RemoveTarget, shared.runId, reporter.warn) : []),
      // The worktree stays if a later step fails: give it its node_modules back.
      undo: async (_ctx, moved) => {
        for (const { from, to } of moved as Moved[]) await rename(to, from);
      },
    },
    {
      name: 'git-worktree-remove',
      deps: [LOCATE, 'recycle', 'move-aside'],
      async run({ span }, deps) {
        const target = deps[LOCATE] as RemoveTarget;
        if (deps.recycle !== 'no') return false;
        const trashed = await removeTree(target, shared.runId);
        span.set('files', trashed ? 'renamed into the trash' : 'deleted by git');
        // The directory is gone; one the user had made before `add --path` is theirs: give it back, empty.
        if (target.state?.existedBefore === true) await mkdir(target.path).catch(() => undefined);
        return trashed;
      },
    },
    {
      name: 'delete-branch',
      deps: [LOCATE, 'git-worktree-remove'],
      async run({ span }, deps) {
        const target = deps[LOCATE] as RemoveTarget;
        if (!request.deleteBranch || !target.branch) return false;
        try {
          await git(target.repo.mainPath, ['branch', request.force ? '-D' : '-d', '--', target.branch]);
          return true;
        } catch (error) {
          span.set('kept', errorMessage(error));
          reporter.warn(`kept branch '${target.branch}': ${errorMessage(error)} (delete it with: git branch -D ${target.branch})`);
          return false;
        }
      },
    },
    {
      // One detached job for all that is left: the stack's (which then also empties the trash), or the trash's alone.
      name: 'background-job',
      deps: [LOCATE, 'move-aside', 'git-worktree-remove'],
      // After seed-remove too: the seeded clones its containers still use go to the same job, removed once they are gone.
      after: ['services-down', 'release-ports', 'seed-remove'],
      async run({ span }, deps): Promise<{ trashLog?: string; stackLog?: string }> {
        const target = deps[LOCATE] as RemoveTarget;
        // In a batch the files wait in the trash for the one job `prune` starts after the last removal.
        const trashed = !batch && ((deps['move-aside'] as Moved[]).length > 0 || deps['git-worktree-remove'] === true);
        const trash = trashed ? trashDir(target.repo.commonDir) : undefined;
        const down = deps['services-down'] as StackDown | undefined;
        if (down) {
          const { startStackDown } = await import('./stack-down.js');
          span.set('containers', down.containers.length);
          const clones = deps['seed-remove'] as SeedClones | undefined;
          const stackLog = await startStackDown(target, { ...down, ...(clones ? { seedClones: clones } : {}), ...(trash ? { trash } : {}) }, shared.runId);
          return { stackLog, ...(trash ? { trashLog: stackLog } : {}) };
        }
        if (!trash) return {};
        return { trashLog: await startBackgroundJob({ job: 'delete-trash', id: shared.runId, commonDir: target.repo.commonDir, args: [trash], cwd: target.repo.mainPath }) };
      },
    },
  ];
}

/**
 * Stops the processes running inside the worktree (a dev server, a watcher): SIGTERM, SIGKILL
 * after a grace period; interactive shells there are only named. Returns `pid command` of each stopped.
 */
async function stopProcessesInside(target: RemoveTarget, found: Inside | undefined, span: { set(key: string, value: unknown): void }, reporter: Reporter): Promise<string[]> {
  if (!found) return [];
  const { stop, shells } = found;
  for (const shell of shells) reporter.warn(`a shell (pid ${shell.pid}) is still in ${target.path}: cd out of it`);
  if (stop.length === 0) return [];
  const named = stop.map((p) => `${p.pid} ${p.command.slice(0, 80)}`);
  reporter.log(`stopping ${stop.length} process(es) running in ${target.path}: ${named.join('; ')} (--keep-processes leaves them)`);
  const { stopProcesses } = await import('../core/processes.js');
  const killed = await stopProcesses(stop, PROCESS_GRACE_MS);
  span.set('processes', stop.length);
  if (killed.length > 0) span.set('killed', killed.length);
  return named;
}

/** Finds the worktree named by branch, slug or path; refuses the main one, a spare or a locked one (but one a dead `git worktree add` left locked). */
async function locate(where: RepoStage, request: RemoveRequest): Promise<RemoveTarget> {
  const { repo } = where;
  const entry = request.target === undefined ? repo.worktrees.find((w) => w.path === repo.toplevel) : await findWorktree(repo.worktrees, request.target, request.cwd);
  if (!entry && request.target === undefined) throw new UsageError('you are in no worktree of this repository; name the one to remove', 'git vtree list');
  if (!entry) throw new NoSuchWorktree(where, request.target!);
  if (entry.main) throw new UsageError(`${entry.path} is the main worktree; vtree never removes it`, request.target === undefined ? 'name the worktree to remove: git vtree rm <branch> (git vtree list shows them)' : undefined);
  if (isSpare(entry)) throw new UsageError(`${entry.path} is a spare worktree vtree keeps ready for the next add`, 'git vtree cache prune --spares 0   # removes every spare worktree');
  const gitDir = await worktreeGitDir(entry.path);
  // Left by a `git worktree add` that died part way (not one running now): unlocked, then removed.
  const claim = entry.locked ? await claimOf(entry.path) : undefined;
  const unfinished = entry.locked && claim !== 'live' && (await unfinishedAdd(entry, claim === 'dead')) !== undefined;
  if (unfinished) await rm(join(gitDir, 'locked'), { force: true });
  else if (entry.locked) throw new UsageError(`worktree ${entry.path} is locked`, `git worktree unlock ${JSON.stringify(entry.path)}`);
  const state = await readWorktreeState(gitDir);
  const slug = typeof state?.slug === 'string' ? state.slug : slugify(basename(entry.path));
  return {
    ...where,
    path: entry.path,
    gitDir,
    ...(entry.branch ? { branch: entry.branch } : {}),
    slug,
    project: await worktreeProject(repo, slug, state),
    ...(state ? { state } : {}),
  };
}

/**
 * Refuses a worktree with local changes unless forced, and tells whether it has none at all
 * (only such a worktree may be recycled). A separate step from locating it, so that what only
 * reads (keep-user-files) overlaps the status, which on a freshly checked-out worktree re-hashes
 * every file git cannot trust by its timestamp.
 */
async function checkClean(target: RemoveTarget, request: RemoveRequest): Promise<Located> {
  if (!(await exists(target.path))) return { ...target, clean: false };
  // With --force only to know whether it may be recycled; a failure then just means "not clean".
  const status = await git(target.path, ['status', '--porcelain', '--untracked-files=normal']).catch((error: unknown) => {
    if (request.force) return '?';
    throw error;
  });
  // The .env / .mcp.json vtree wrote show as untracked where info/exclude could not hide them
  // (docs/trust.md); they are vtree's, and edits to them are kept by keep-user-files.
  const ours = new Set([(target.state?.env as { file?: string } | undefined)?.file, (target.state?.mcp as { file?: string } | undefined)?.file].map((f) => `?? ${f}`));
  // Never checked out (no index: a `git worktree add` killed before its checkout): git lists
  // every file of HEAD as a staged deletion, which is only the checkout that never happened.
  const neverCheckedOut = !(await exists(join(target.gitDir, 'index')));
  const changed = status.split('\n').filter((line) => line && !ours.has(line) && !(neverCheckedOut && line.startsWith('D  '))).length;
  if (changed > 0 && !request.force) {
    throw new UsageError(`worktree ${target.path} has ${changed} uncommitted or untracked change(s)`, `commit or stash them, or run: git vtree rm ${request.target ?? target.branch ?? target.path} --force`);
  }
  return { ...target, clean: changed === 0 && !neverCheckedOut };
}

/** The worktree being removed, and whether it has no local change at all. */
interface Located extends RemoveTarget {
  clean: boolean;
}

/**
 * Keeps a clean worktree as a spare worktree when the pool has room (`vtree.spares.worktrees`)
 * and sits on the same filesystem: detached, locked, moved into the pool; the spare job cleans
 * and refreshes it. A worktree with any local change is never recycled. `failed`: it could not
 * be kept and is removed already.
 */
async function recycle(target: Located, room?: { left: number }): Promise<'recycled' | 'no' | 'failed'> {
  const { repo, config } = target;
  const wanted = sparesWanted(config);
  // A batch's list of worktrees is as old as the batch: its removals count the room among themselves.
  if (!target.clean || wanted === 0 || (room ? room.left <= 0 : repo.worktrees.filter(isSpare).length >= wanted)) return 'no';
  if (room) room.left--;
  const outcome = await recycleInto(target);
  if (room && outcome !== 'recycled') room.left++;
  return outcome;
}

/** Moves the clean worktree into the pool of spares, when that is on the same filesystem. */
async function recycleInto(target: Located): Promise<'recycled' | 'no' | 'failed'> {
  const { repo, config } = target;
  const pool = await configuredSparePool(repo, config, () => undefined);
  const [here, there] = await Promise.all([stat(target.path).catch(() => undefined), stat(dirname(pool)).catch(() => undefined)]);
  if (!here || !there || here.dev !== there.dev) return 'no';
  try {
    await recycleWorktree(repo.mainPath, target.path, pool);
    return 'recycled';
  } catch {
    return (await exists(target.path)) ? 'no' : 'failed';
  }
}

/**
 * Removes the worktree as `git worktree remove` does, without making the user wait for its files
 * to be deleted: the directory is renamed into the trash (one rename, same filesystem) and git's
 * admin dir `.git/worktrees/<id>` is removed, which is all git keeps of it. On another filesystem,
 * or when the directory is gone already, git removes it. Cleanliness was checked by
 * locate-worktree (or waived by --force). Returns whether the files went to the trash.
 */
async function removeTree(target: RemoveTarget, runId: string): Promise<boolean> {
  // Only an admin dir of this repository's own is removed by hand.
  const [admin, ours] = await Promise.all([realpath(dirname(target.gitDir)).catch(() => ''), realpath(join(target.repo.commonDir, 'worktrees')).catch(() => undefined)]);
  if (admin === ours) {
    const trash = trashDir(target.repo.commonDir);
    try {
      await mkdir(trash, { recursive: true });
      await rename(target.path, join(trash, tempName(`${target.slug}-${runId}-tree`)));
      await rm(target.gitDir, { recursive: true, force: true });
      return true;
    } catch (error) {
      if (!isErrno(error, 'EXDEV', 'ENOENT', 'EACCES', 'EPERM', 'EBUSY')) throw error;
    }
  }
  // Ignored files such as .env copies must not make git refuse.
  await git(target.repo.mainPath, ['worktree', 'remove', '--force', '--', target.path]);
  return false;
}

/** The worktree `target` names: a path, a branch, or a slug (directory name), in that order. */
export async function findWorktree(worktrees: readonly WorktreeEntry[], target: string, cwd: string): Promise<WorktreeEntry | undefined> {
  const asPath = realpathOr(resolve(cwd, target));
  return (
    worktrees.find((w) => realpathOr(w.path) === asPath) ??
    worktrees.find((w) => w.branch === target) ??
    worktrees.find((w) => basename(w.path) === target || slugify(basename(w.path)) === target)
  );
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * Renames the worktree's dependency directories into the trash (same filesystem: one rename
 * each), so that removing the worktree does not wait for deleting them. Returns what it moved.
 */
async function moveAside(target: RemoveTarget, runId: string, warn: (line: string) => void): Promise<Moved[]> {
  const deps = target.state?.deps as { dirs?: unknown } | undefined;
  const dirs = Array.isArray(deps?.dirs) ? deps.dirs : ['node_modules'];
  const trash = join(trashDir(target.repo.commonDir), tempName(`${target.slug}-${runId}`));
  const moved: Moved[] = [];
  for (const [index, dir] of dirs.entries()) {
    // vtree.json is a file on disk: a `dirs` entry that leaves the worktree is not vtree's to move.
    const from = await confinedPath(target.path, String(dir));
    // yarn berry's install state, recorded beside its node_modules: a file, removed with the worktree.
    if (from && /(^|\/)\.yarn\/install-state\.gz$/.test(String(dir))) continue;
    if (!from || !String(dir).split('/').includes('node_modules')) {
      warn(`ignored dependency directory '${String(dir)}' recorded in ${worktreeStatePath(target.gitDir)}: not a node_modules inside the worktree`);
      continue;
    }
    const to = join(trash, String(index));
    try {
      if (!(await lstat(from)).isDirectory()) continue;
      await mkdir(trash, { recursive: true });
      await rename(from, to);
      moved.push({ from, to });
    } catch (error) {
      // Absent, or on another filesystem: git removes it with the worktree instead.
      if (!isErrno(error, 'ENOENT', 'EXDEV', 'ENOTDIR')) throw error;
    }
  }
  return moved;
}

interface Moved {
  from: string;
  to: string;
}
