import { mkdir, readdir, realpath, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { resolvesInside } from '../core/confine.js';
import { reclaimDead } from '../core/debris.js';
import { UsageError } from '../core/errors.js';
import { exists, isErrno } from '../core/files.js';
import { isProcessAlive } from '../core/pid.js';
import type { Config } from './config.js';
import type { Repo } from './repo.js';
import { disambiguate, slugify, uniqueSlug } from './slug.js';
import { worktreeGitDir } from './worktree-state.js';
import { destroyWorktree, finishUnfinishedAdd, isInterruptedClaim, isSpare, listWorktrees, removeAdminDirs, unfinishedAdd, type WorktreeEntry } from './worktree.js';

/** Default `vtree.path`: beside the main worktree, `<parent>/<repo>.worktrees/<slug>`. */
export const DEFAULT_PATH_TEMPLATE = '{repo}.worktrees/{slug}';

/** A worktree directory this run has claimed. */
export interface ClaimedPath {
  path: string;
  slug: string;
  /** This run created the directory (so rolling back removes it). */
  created: boolean;
  /** The topmost parent directory this run created, if any (rolling back removes it when empty). */
  createdParent?: string;
  /** The marker file saying this run's pid claimed the directory (see {@link claimMarker}). */
  marker?: string;
}

/**
 * The marker next to a directory vtree claimed: `.<name>.vtree-claim.<pid>`. It exists from
 * before the directory is created until `git worktree add` has filled it, so an empty directory
 * a killed run left is known to be vtree's (and dead), and only such a one is ever removed.
 */
function claimMarker(path: string): string {
  return join(dirname(path), `.${basename(path)}.vtree-claim.${process.pid}`);
}

const CLAIM_MARKER = /^\..+\.vtree-claim\.(\d+)$/;

/** Removes the claim marker once the directory holds a checkout (or was released). */
export async function dropClaimMarker(claim: ClaimedPath): Promise<void> {
  if (claim.marker) await rm(claim.marker, { force: true });
}

/**
 * Reclaims what killed runs left in the worktrees directory `parent`: directories they claimed
 * and left empty or holding a spare they had not finished switching (named by a marker whose pid
 * is dead; the marker goes too), and the git admin
 * dirs of worktrees there whose directory is gone (a checkout killed part way, a directory
 * deleted by hand), the same as `git worktree prune` restricted to vtree's own directory
 * (`adminDirs`: `parent` is the `vtree.path` template's directory).
 * Cheap: one readdir, and git's list of worktrees the caller already has.
 */
export async function reclaimClaims(repo: Repo, parent: string, options: { adminDirs: boolean }): Promise<void> {
  // Before the dead markers go: they say which unfinished `git worktree add`s were a dead run's.
  await reclaimUnfinishedAdds(repo.mainPath, repo.worktrees.filter((w) => dirname(w.path) === parent));
  await reclaimDead(parent, CLAIM_MARKER, async (marker) => {
    const dir = join(parent, basename(marker).slice(1, basename(marker).lastIndexOf('.vtree-claim.')));
    try {
      await rmdir(dir);
    } catch {
      // Not empty: a worktree, kept; unless it is a spare the dead run had renamed there and not
      // yet switched (still locked as a spare), which is vtree's alone and goes with its admin dir.
      if (await isInterruptedClaim(repo.commonDir, dir)) await destroyWorktree(repo.mainPath, dir);
    }
    await rm(marker, { force: true });
  });
  // Only in vtree's own worktrees directory: elsewhere (`--path`) a missing worktree may be the user's, on a drive not mounted now.
  if (!options.adminDirs) return;
  // A worktree another run is creating right now looks prunable until git has written its `.git`
  // file: its claim marker (a live pid: the dead ones are gone by now) says to leave it alone.
  const claimed = new Set((await readdir(parent).catch(() => [] as string[])).filter((n) => CLAIM_MARKER.test(n)).map((n) => n.slice(1, n.lastIndexOf('.vtree-claim.'))));
  const gone = repo.worktrees.filter((w) => w.prunable && !w.locked && dirname(w.path) === parent && !claimed.has(basename(w.path)));
  await Promise.all(gone.map((w) => removeAdminDirs(repo.commonDir, w.path)));
}

/**
 * How long a `git worktree add` that no vtree run claimed may hold its lock before it counts as
 * dead: its checkout of a very large repository may take minutes, and nothing else tells.
 */
const UNFINISHED_ADD_GRACE_MS = 15 * 60_000;

/** Whose claim marker sits beside the worktree directory `path`: a live vtree run's, only dead ones', or none. */
export async function claimOf(path: string): Promise<'live' | 'dead' | undefined> {
  const prefix = `.${basename(path)}.vtree-claim.`;
  const pids = (await readdir(dirname(path)).catch(() => [] as string[])).filter((n) => n.startsWith(prefix)).map((n) => Number(CLAIM_MARKER.exec(n)?.[1]));
  if (pids.length === 0) return undefined;
  return pids.some((pid) => Number.isInteger(pid) && pid > 0 && (pid === process.pid || isProcessAlive(pid))) ? 'live' : 'dead';
}

/**
 * Reclaims what `git worktree add` runs killed part way left among `worktrees` (git/worktree.ts
 * `unfinishedAdd`): at once when the vtree run that claimed the directory is dead; when no vtree
 * run claimed it, once its lock is older than {@link UNFINISHED_ADD_GRACE_MS}; never while the
 * run lives. An empty shell goes, one holding files is unlocked (never set up). Returns whether
 * it changed anything, so the caller lists the worktrees again. Costs nothing while no worktree
 * is locked.
 */
export async function reclaimUnfinishedAdds(mainPath: string, worktrees: readonly WorktreeEntry[]): Promise<boolean> {
  let changed = false;
  for (const worktree of worktrees.filter((w) => w.locked && !isSpare(w))) {
    const claim = await claimOf(worktree.path);
    if (claim === 'live' || !(await unfinishedAdd(worktree, claim === 'dead'))) continue;
    if (claim === undefined) {
      const age = await stat(join(await worktreeGitDir(worktree.path), 'locked')).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age < UNFINISHED_ADD_GRACE_MS) continue;
    }
    await finishUnfinishedAdd(mainPath, worktree);
    changed = true;
  }
  return changed;
}

/**
 * Picks and claims the directory for `branch`'s worktree. With `explicitPath` (`--path`) that
 * directory is used, and must be absent or empty. Otherwise the `vtree.path` template is filled
 * in; when its directory is taken by another worktree (two branches whose slugs collide, such as
 * `feat/x` and `feat-x`, or a concurrent `add`), a hash of the branch makes it distinct. The
 * claim is an exclusive `mkdir`, so concurrent runs never share a directory.
 */
export async function claimWorktreePath(repo: Repo, branch: string, template: string, explicitPath?: string): Promise<ClaimedPath> {
  if (explicitPath !== undefined) {
    const path = resolve(repo.cwd, expandHome(explicitPath));
    await refuseInsideRepository(repo, path, '--path', true);
    await reclaimClaims(repo, dirname(path), { adminDirs: false });
    const { created, createdParent, marker } = await claimDirectory(path);
    if (!created && !(await isEmptyDir(path))) throw pathTaken(path);
    return { path, slug: uniqueSlug(path, worktreePaths(repo)), created, createdParent, ...(marker ? { marker } : {}) };
  }
  if (!template.includes('{slug}') && !template.includes('{branch}')) {
    throw new UsageError(`vtree.path '${template}' names no {slug} or {branch}, so every worktree would share one directory`, `git config vtree.path '${DEFAULT_PATH_TEMPLATE}'`);
  }
  const base = slugify(branch);
  const candidates = [base, disambiguate(base, branch)];
  await reclaimClaims(repo, dirname(fillTemplate(repo, template, branch, base)), { adminDirs: true });
  for (const [index, slug] of candidates.entries()) {
    const path = fillTemplate(repo, template, branch, slug);
    await refuseInsideRepository(repo, path, 'vtree.path', false);
    const { created, createdParent, marker } = await claimDirectory(path);
    if (created) return { path, slug: uniqueSlug(path, worktreePaths(repo), slug), created, createdParent, ...(marker ? { marker } : {}) };
    // Taken by another worktree, or empty because a concurrent `add` just claimed it: try the
    // hashed slug. Taken by unrelated files: that is the user's data, so stop and say so.
    const registered = (await listWorktrees(repo.cwd)).some((w) => w.path === path);
    const empty = !registered && (await isEmptyDir(path));
    if (!registered && !empty) throw pathTaken(path);
    if (index === candidates.length - 1) {
      if (empty) return { path, slug: uniqueSlug(path, worktreePaths(repo), slug), created: false, createdParent };
      throw pathTaken(path);
    }
  }
  throw pathTaken(fillTemplate(repo, template, branch, base));
}

/**
 * The `vtree.path` template to use, for `branch` (or, without one, for the pool of spare
 * worktrees beside the worktrees it places). The one rule for every code path that places a
 * worktree (add, the spare pool and its job, `cache warm`/`prune`, rm's recycling; setup and the
 * hook set up worktrees git already placed): a template from the
 * committed `.vtreeconfig` came with the clone, so it is honoured only while the directories it
 * gives (the worktree's, and the pool's) stay inside the main worktree's parent directory (after
 * `..` and symlinks); otherwise one warning and the default. From git config (the user's own),
 * any directory goes.
 */
export async function pathTemplate(repo: Repo, config: Config, branch: string | undefined, warn: (line: string) => void): Promise<string> {
  const template = config.string('vtree.path', DEFAULT_PATH_TEMPLATE);
  if (!config.fromTeamFile('vtree.path')) return template;
  const parent = dirname(repo.mainPath);
  const places = [worktreesRoot(repo, template), ...(branch !== undefined ? [fillTemplate(repo, template, branch, slugify(branch))] : [])];
  const inside = await Promise.all(places.map((place) => resolvesInside(parent, place)));
  if (inside.every(Boolean)) return template;
  warn(`.vtreeconfig sets vtree.path '${template}', outside ${parent}: ignored (a committed file may not place worktrees elsewhere on disk; git config vtree.path '${template}' if you want it)`);
  return DEFAULT_PATH_TEMPLATE;
}

/**
 * Refuses (exit 2, one line) a worktree directory inside any worktree or repository on disk: a
 * directory on its way (after symlinks) that holds `.git`, or is a git directory itself. For
 * paths an agent chose (Claude Code's `worktree_path`), which may name any repository.
 */
export async function refuseInsideAnyRepository(path: string, source: string, hint: string): Promise<void> {
  // Judged where it leads: the deepest part that exists, resolved, then its ancestors.
  let existing = resolve(path);
  while (!(await exists(existing)) && dirname(existing) !== existing) existing = dirname(existing);
  for (let dir = await realpath(existing).catch(() => existing); ; dir = dirname(dir)) {
    const gitDir = (await exists(join(dir, 'HEAD'))) && (await exists(join(dir, 'objects'))) && (await exists(join(dir, 'refs')));
    if (gitDir || (await exists(join(dir, '.git')))) throw new UsageError(`${source} ${path} is inside the ${gitDir ? 'git directory' : 'worktree'} ${dir}; a worktree must live outside every worktree and repository`, hint);
    if (dirname(dir) === dir) return;
  }
}

/**
 * Refuses a worktree directory inside a git dir (`.git`, the common dir) and, for `--path`
 * (`checkMain`), inside the main worktree, where git would show it as untracked: exit 2, nothing
 * created. A `vtree.path` of the user's own git config may put worktrees in an ignored
 * directory of the main worktree on purpose.
 */
async function refuseInsideRepository(repo: Repo, path: string, source: string, checkMain: boolean): Promise<void> {
  const insideMain = checkMain && !repo.bare && (await resolvesInside(repo.mainPath, path));
  const insideGit = path.split(sep).includes('.git') || (await resolvesInside(repo.commonDir, path));
  if (!insideMain && !insideGit) return;
  const where = insideGit ? 'a git directory' : `the main worktree ${repo.mainPath}`;
  throw new UsageError(`${source} ${path} is inside ${where}; a worktree must live outside it`, `pass --path ${join(dirname(repo.mainPath), `${repo.name}.worktrees`, '<name>')}`);
}

/**
 * Removes a directory {@link claimWorktreePath} created, if it is still there and empty. One that
 * was there before (an empty `--path`) is the user's: if rolling back `git worktree add` took it,
 * it is made again, empty.
 */
export async function releaseClaim(claim: ClaimedPath): Promise<void> {
  if (!claim.created) await mkdir(claim.path).catch(() => undefined);
  const dirs = claim.created ? [claim.path] : [];
  if (claim.createdParent) {
    const top = claim.createdParent;
    for (let dir = dirname(claim.path); dir === top || dir.startsWith(top + sep); dir = dirname(dir)) dirs.push(dir);
  }
  for (const dir of dirs) {
    // The marker sits in the parent: it goes once the claimed directory is gone, before the parent.
    if (dir !== claim.path) await dropClaimMarker(claim);
    try {
      await rmdir(dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) continue;
      // Not empty: another worktree lives there now; leave it and its parents.
      if (isErrno(error, 'ENOTEMPTY', 'EEXIST')) break;
      throw error;
    }
  }
  await dropClaimMarker(claim);
}

/**
 * The directory new worktrees go into under `template` (`<parent>/<repo>.worktrees` by
 * default): where the pool of spare worktrees lives, on the same filesystem as the worktrees.
 */
export function worktreesRoot(repo: Repo, template: string): string {
  return dirname(fillTemplate(repo, template, 'spare', 'spare'));
}

function fillTemplate(repo: Repo, template: string, branch: string, slug: string): string {
  const filled = expandHome(template).replaceAll('{repo}', repo.name).replaceAll('{branch}', branch).replaceAll('{slug}', slug);
  return isAbsolute(filled) ? filled : join(dirname(repo.mainPath), filled);
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

/** Creates `path` exclusively, marked as claimed by this run; `created` is false when it already existed. */
async function claimDirectory(path: string): Promise<{ created: boolean; createdParent?: string; marker?: string }> {
  const createdParent = await mkdir(dirname(path), { recursive: true });
  const marker = claimMarker(path);
  try {
    await writeFile(marker, `${path}\n`);
    await mkdir(path);
    return { created: true, createdParent, marker };
  } catch (error) {
    await rm(marker, { force: true });
    if (isErrno(error, 'EEXIST')) return { created: false, createdParent };
    throw error;
  }
}

async function isEmptyDir(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length === 0;
  } catch {
    return false;
  }
}

function worktreePaths(repo: Repo): string[] {
  return repo.worktrees.map((w) => w.path);
}

function pathTaken(path: string): UsageError {
  return new UsageError(`target path ${path} exists and is not empty`, 'pass --path <dir> to put the worktree elsewhere, or move that directory away');
}
