import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { git, run } from '../core/exec.js';
import { errorMessage } from '../core/errors.js';
import { trashDir } from '../core/paths.js';
import { tempNamePid } from '../core/temp-name.js';
import { startBackgroundJob } from '../core/background.js';
import type { RepoStage } from '../features/feature.js';
import { readWorktreeState, worktreeGitDir } from '../git/worktree-state.js';
import { slugify } from '../git/slug.js';
import { isSpare, type WorktreeEntry } from '../git/worktree.js';
import type { Reporter } from './add.js';
import { findOrphans, reclaimOrphan, type Orphan, type Reclaimed } from './orphans.js';
import { removeWorktree, type RemoveBatch } from './remove.js';
import { resolveRepoStage } from './repo-stage.js';

/** What `git vtree prune` was asked to do. */
export interface PruneRequest {
  cwd: string;
  /** `--idle <age>`: also worktrees with no commit and no file change for this long. */
  idleMs?: number;
  /** Also worktrees with uncommitted changes or commits on no remote (their changes kept as `rm --force` keeps them). */
  force: boolean;
  /** Also delete the branches of removed worktrees. */
  deleteBranch: boolean;
  /** Leave processes running inside removed worktrees alone. */
  keepProcesses?: boolean;
}

/** A worktree `prune` would remove, and why; `kept` says why it stays without `--force`. */
export interface PruneWorktree {
  path: string;
  branch?: string;
  slug: string;
  reasons: string[];
  /** Uncommitted changes, or commits neither on a remote nor in the default branch. */
  kept?: string;
  /** Last commit or file change seen (ISO time). */
  lastActivity: string;
}

/** Everything `prune` would remove. */
export interface PrunePlan {
  /** The branch "merged" is judged against. */
  defaultBranch?: string;
  worktrees: PruneWorktree[];
  /** Stacks, volumes and port leases of worktrees that no longer exist. */
  orphans: Orphan[];
  /** Spare worktrees beyond the pool's size, too old or too far behind. */
  spareWorktrees: number;
  /** Entries in vtree's trash (files of removed worktrees not yet deleted). */
  trash: number;
  /** Staging directories of crashed cache writes. */
  staging: number;
  /** Cache entries past `vtree.cache.maxAge` / `vtree.cache.maxSize`, used by no worktree. */
  cacheEntries: string[];
}

/** What `prune --yes` did. */
export interface PruneOutcome {
  removed: Array<{ path: string; branch?: string; branchDeleted: boolean; kept?: { dir: string; files: string[] } }>;
  failed: Array<{ path: string; error: string }>;
  orphans: Reclaimed[];
  spareWorktrees: number;
  trashLog?: string;
  staging: number;
  cacheEntries: string[];
}

/** Worktrees `prune` removes at once. */
const REMOVALS_AT_ONCE = 4;

/** Default of `vtree.cache.maxAge`: `prune` drops entries no worktree used for this long. */
const DEFAULT_CACHE_MAX_AGE = '30d';

/** Reads every candidate and leftover; changes nothing. */
export async function planPrune(request: PruneRequest): Promise<PrunePlan> {
  const where = await resolveRepoStage(request.cwd);
  const { repo } = where;
  const defaultBranch = await findDefaultBranch(where);
  const refs = await branchRefs(repo.mainPath, defaultBranch);
  const linked = repo.worktrees.filter((w) => !w.main && !w.bare && !w.prunable && !w.locked && !isSpare(w));
  const [verdicts, orphans, spareWorktrees, trash, staging, cacheEntries] = await Promise.all([
    Promise.all(linked.map((w) => judge(where, w, refs, defaultBranch, request))),
    findOrphans(repo),
    import('./spare-pool.js').then((m) => m.pruneSparePool(request.cwd, false, { dryRun: true })),
    countTrash(repo.commonDir),
    import('../features/deps/cache.js').then(async (m) => m.cleanStaleTemps(m.cacheDirOf(repo, where.config), { dryRun: true })),
    cachePastLimits(where).then((entries) => entries.map((e) => e.key)),
  ]);
  return {
    ...(defaultBranch ? { defaultBranch } : {}),
    worktrees: verdicts.filter((v): v is PruneWorktree => v !== undefined),
    orphans,
    spareWorktrees,
    trash,
    staging,
    cacheEntries,
  };
}

/**
 * Removes what the plan lists: each worktree through `rm` (teardown, kept `.env` edits, trash),
 * worktrees with something to lose only under `--force`; then the leftovers. The removals share
 * one resolved repository and one pass over /proc, and leave their files in the trash for one
 * deletion job started at the end, so that fifty cost little more than one.
 */
export async function applyPrune(plan: PrunePlan, request: PruneRequest, reporter: Reporter): Promise<PruneOutcome> {
  const outcome: PruneOutcome = { removed: [], failed: [], orphans: [], spareWorktrees: 0, staging: 0, cacheEntries: [] };
  const chosen = plan.worktrees.filter((w) => !w.kept || request.force);
  const before = await resolveRepoStage(request.cwd);
  const [{ sparesWanted, startSpareJob }, processes] = await Promise.all([
    import('../git/spare-worktree.js'),
    request.keepProcesses || chosen.length === 0 ? undefined : import('../core/processes.js').then((m) => m.processesInsideEach(chosen.map((w) => w.path))),
  ]);
  const batch: RemoveBatch = {
    where: before,
    ...(processes ? { processes } : {}),
    spareRoom: { left: Math.max(0, sparesWanted(before.config) - before.repo.worktrees.filter(isSpare).length) },
  };
  // A few at a time: each removal is mostly waiting on git and the file system.
  await eachLimited(chosen, REMOVALS_AT_ONCE, async (w) => {
    try {
      const result = await removeWorktree({ cwd: request.cwd, target: w.path, force: request.force, deleteBranch: request.deleteBranch, volumes: false, keepProcesses: request.keepProcesses ?? false, batch }, reporter);
      outcome.removed.push({ path: w.path, ...(w.branch ? { branch: w.branch } : {}), branchDeleted: result.branchDeleted, ...(result.kept ? { kept: result.kept } : {}) });
      reporter.log(`removed ${w.path} (${w.reasons.join(', ')})`);
    } catch (error) {
      outcome.failed.push({ path: w.path, error: errorMessage(error) });
      reporter.warn(`could not remove ${w.path}: ${errorMessage(error)}`);
    }
  });
  const where = await resolveRepoStage(request.cwd);
  // Each stack stops in a background job, as after `rm`: handing them over takes a moment each.
  await Promise.all(
    plan.orphans.map(async (orphan) => {
      try {
        outcome.orphans.push(await reclaimOrphan(where, orphan, { volumes: true, background: true }));
      } catch (error) {
        outcome.failed.push({ path: orphan.path, error: errorMessage(error) });
        reporter.warn(errorMessage(error));
      }
    }),
  );
  // Removals whose background job died: what they left was reclaimed as orphans above.
  const { forgetRemoval, removals } = await import('../features/services/removals.js');
  for (const stalled of (await removals(where.repo.commonDir)).filter((r) => r.state === 'stalled')) await forgetRemoval(where.repo.commonDir, stalled);
  const [{ pruneSparePool }, { cacheDirOf, cleanStaleTemps, dropEntry }] = await Promise.all([import('./spare-pool.js'), import('../features/deps/cache.js')]);
  const cacheDir = cacheDirOf(where.repo, where.config);
  // Judged again now: a worktree removed above may have let go of an entry.
  const past = await cachePastLimits(where);
  for (const entry of past) await dropEntry(cacheDir, entry.key);
  outcome.cacheEntries = past.map((e) => e.key);
  [outcome.spareWorktrees, outcome.staging] = await Promise.all([pruneSparePool(request.cwd, false), cleanStaleTemps(cacheDir)]);
  // One job deletes what every removal above left in the trash.
  const runId = `prune-${Date.now()}`;
  if ((await countTrash(where.repo.commonDir)) > 0) {
    outcome.trashLog = await startBackgroundJob({ job: 'delete-trash', id: runId, commonDir: where.repo.commonDir, args: [trashDir(where.repo.commonDir)], cwd: where.repo.mainPath });
  }
  // Refill the pool of spares (or finish recycling removed worktrees into it), once for all of them.
  if (outcome.removed.length > 0 && sparesWanted(where.config) > 0) await startSpareJob(where.repo, runId, reporter.warn);
  return outcome;
}

/**
 * The branch worktrees are merged into: the one `origin/HEAD` names (as a local branch when there
 * is one), else the main worktree's branch.
 */
async function findDefaultBranch({ repo }: RepoStage): Promise<string | undefined> {
  const remoteHead = await run('git', ['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD'], { cwd: repo.mainPath, okCodes: [0, 1, 128] });
  const remote = remoteHead.code === 0 ? remoteHead.stdout.trim() : undefined;
  if (remote) {
    const local = remote.replace(/^origin\//, '');
    const has = await run('git', ['rev-parse', '--verify', '--quiet', `refs/heads/${local}`], { cwd: repo.mainPath, okCodes: [0, 1] });
    return has.code === 0 ? local : remote;
  }
  return repo.worktrees[0]?.branch;
}

interface BranchRef {
  /** The commit the branch points at. */
  tip: string;
  /** Its committer time, in seconds. */
  committed: number;
  upstream: string;
  /** `[gone]` when the upstream branch no longer exists on its remote. */
  track: string;
  /** Its tip is an ancestor of the default branch. */
  merged: boolean;
}

/**
 * Every local branch's tip, commit time, upstream and tracking state, and whether it is in the
 * default branch: two git calls for all worktrees, however many there are.
 */
async function branchRefs(cwd: string, defaultBranch: string | undefined): Promise<Map<string, BranchRef>> {
  const [out, merged] = await Promise.all([
    git(cwd, ['for-each-ref', '--format=%(refname:short)%00%(objectname)%00%(committerdate:unix)%00%(upstream:short)%00%(upstream:track)', 'refs/heads']),
    defaultBranch ? git(cwd, ['for-each-ref', `--merged=${defaultBranch}`, '--format=%(refname:short)', 'refs/heads']).catch(() => '') : '',
  ]);
  const inDefault = new Set(merged.split('\n').filter(Boolean));
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name = '', tip = '', committed = '0', upstream = '', track = ''] = line.split('\0');
        return [name, { tip, committed: Number(committed) || 0, upstream, track, merged: inDefault.has(name) }] as const;
      }),
  );
}

/** Why `w` should go (if at all), and what it would lose. */
async function judge(where: RepoStage, w: WorktreeEntry, refs: Map<string, BranchRef>, defaultBranch: string | undefined, request: PruneRequest): Promise<PruneWorktree | undefined> {
  const gitDir = await worktreeGitDir(w.path);
  const state = await readWorktreeState(gitDir);
  const head = w.head ?? '';
  const ref = w.branch ? refs.get(w.branch) : undefined;
  const reasons: string[] = [];
  const merged = w.branch !== defaultBranch && defaultBranch !== undefined && (await isMerged(where.repo.commonDir, w.path, w.branch, head, defaultBranch, ref));
  if (merged) reasons.push(`merged into ${defaultBranch}`);
  if (ref?.track === '[gone]') reasons.push(`upstream ${ref.upstream} is gone`);
  const changes = await localChanges(w.path, state);
  const lastActivity = await lastActivityMs(w.path, gitDir, head, ref, changes.files, state?.createdAt);
  if (request.idleMs !== undefined && Date.now() - lastActivity > request.idleMs) reasons.push(`idle ${formatAge(Date.now() - lastActivity)}`);
  if (reasons.length === 0) return undefined;
  const unpushed = merged || !head ? 0 : await commitsOnlyHere(w.path, head, defaultBranch);
  const kept = [changes.files.length > 0 ? `${changes.files.length} uncommitted or untracked change(s)` : undefined, unpushed > 0 ? `${unpushed} commit(s) on no remote${defaultBranch ? ` and not in ${defaultBranch}` : ''}` : undefined].filter(Boolean).join(', ');
  return {
    path: w.path,
    ...(w.branch ? { branch: w.branch } : {}),
    slug: typeof state?.slug === 'string' ? state.slug : slugify(w.path.split('/').at(-1) ?? ''),
    reasons,
    ...(kept ? { kept } : {}),
    lastActivity: new Date(lastActivity).toISOString(),
  };
}

/**
 * Whether the branch's work is in the default branch: its tip is an ancestor of it, or merging it
 * would change nothing (squash or rebase merges). A branch that never had a commit of its own
 * (its reflog holds only its creation, and it tracks nothing) is new, not merged.
 */
async function isMerged(commonDir: string, cwd: string, branch: string | undefined, head: string, defaultBranch: string, ref: BranchRef | undefined): Promise<boolean> {
  if (!head) return false;
  if (branch && !ref?.upstream && (await reflogEntries(commonDir, cwd, branch)) <= 1) return false;
  // Known for every branch from one `for-each-ref --merged`; a detached HEAD is asked alone.
  const tipKnown = ref !== undefined && ref.tip === head;
  if (tipKnown ? ref.merged : (await run('git', ['merge-base', '--is-ancestor', head, defaultBranch], { cwd, okCodes: [0, 1, 128] })).code === 0) return true;
  // git ≥ 2.38: the tree a merge would make; equal to the default branch's own tree, the work is in already.
  const merge = await run('git', ['merge-tree', '--write-tree', defaultBranch, head], { cwd, okCodes: [0, 1, 128, 129] });
  if (merge.code !== 0) return false;
  const tree = await git(cwd, ['rev-parse', `${defaultBranch}^{tree}`]);
  return merge.stdout.trim().split('\n')[0] === tree;
}

/**
 * How many entries the branch's reflog has: read from `logs/refs/heads/<branch>` (one line each),
 * without a git call; git is asked where there is no such file (another ref backend, no reflog).
 */
async function reflogEntries(commonDir: string, cwd: string, branch: string): Promise<number> {
  const text = await readFile(join(commonDir, 'logs', 'refs', 'heads', branch), 'utf8').catch(() => undefined);
  if (text !== undefined) return text.split('\n').filter(Boolean).length;
  const reflog = await run('git', ['reflog', 'show', '--format=%H', `refs/heads/${branch}`, '--'], { cwd, okCodes: [0, 128] });
  return reflog.code === 0 ? reflog.stdout.trim().split('\n').filter(Boolean).length : Number.POSITIVE_INFINITY;
}

/** Uncommitted and untracked files, besides the `.env` / `.mcp.json` vtree wrote. */
async function localChanges(path: string, state: Record<string, unknown> | undefined): Promise<{ files: string[] }> {
  const status = await git(path, ['status', '--porcelain', '-z', '--untracked-files=normal']).catch(() => '?? (unreadable)\0');
  const ours = new Set([(state?.env as { file?: string } | undefined)?.file, (state?.mcp as { file?: string } | undefined)?.file].filter(Boolean));
  const files = status
    .split('\0')
    .filter((entry) => /^.. /.test(entry))
    .map((entry) => entry.slice(3))
    .filter((file) => !ours.has(file));
  return { files };
}

/**
 * When the worktree last saw work: its tip's commit time, the last move of its HEAD (commit,
 * checkout, reset), its creation, and the change time of every file git reports changed.
 */
async function lastActivityMs(path: string, gitDir: string, head: string, ref: BranchRef | undefined, changed: readonly string[], createdAt: unknown): Promise<number> {
  const times: number[] = [];
  if (head && ref?.tip === head) times.push(ref.committed * 1000);
  else if (head) times.push(Number(await git(path, ['show', '-s', '--format=%ct', head]).catch(() => '0')) * 1000);
  const headLog = await stat(join(gitDir, 'logs', 'HEAD')).catch(() => undefined);
  if (headLog) times.push(headLog.mtimeMs);
  if (typeof createdAt === 'string' && Date.parse(createdAt)) times.push(Date.parse(createdAt));
  const stats = await Promise.all(changed.map((file) => stat(join(path, file)).catch(() => undefined)));
  for (const s of stats) if (s) times.push(Math.max(s.mtimeMs, s.ctimeMs));
  return Math.max(0, ...times);
}

/** Commits of `head` on no remote-tracking branch and not in the default branch. */
async function commitsOnlyHere(cwd: string, head: string, defaultBranch: string | undefined): Promise<number> {
  const out = await git(cwd, ['rev-list', '--count', head, '--not', '--remotes', ...(defaultBranch ? [defaultBranch] : [])]).catch(() => '0');
  return Number(out) || 0;
}

/** Cache entries no worktree uses, past `vtree.cache.maxAge` (default 30d) or `vtree.cache.maxSize`. */
async function cachePastLimits({ repo, config }: RepoStage) {
  const [{ cacheDirOf, listEntries }, { entriesInUse, entriesPastLimits }, { parseDuration }, { parseSize }] = await Promise.all([
    import('../features/deps/cache.js'),
    import('../features/deps/lru.js'),
    import('../core/duration.js'),
    import('../core/size.js'),
  ]);
  const olderThanMs = parseDuration(config.string('vtree.cache.maxAge', DEFAULT_CACHE_MAX_AGE), 'config vtree.cache.maxAge');
  const size = config.string('vtree.cache.maxSize');
  const maxBytes = size === undefined ? undefined : parseSize(size, 'config vtree.cache.maxSize');
  const [entries, used] = await Promise.all([listEntries(cacheDirOf(repo, config)), entriesInUse(repo)]);
  return entriesPastLimits(entries, new Set(used.keys()), { olderThanMs, ...(maxBytes !== undefined ? { maxBytes } : {}) });
}

async function countTrash(commonDir: string): Promise<number> {
  return (await readdir(trashDir(commonDir)).catch(() => [] as string[])).filter((name) => tempNamePid(name) !== undefined).length;
}

function formatAge(ms: number): string {
  const hours = ms / 3_600_000;
  return hours >= 48 ? `${Math.floor(hours / 24)}d` : hours >= 1 ? `${Math.floor(hours)}h` : `${Math.max(1, Math.floor(ms / 60_000))}m`;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
