import { lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from '../core/exec.js';
import { worktreeGitDir } from '../git/worktree-state.js';

/** How far a branch is from another: commits only it has, commits only the other has. */
export interface Divergence {
  /** The other side: the upstream (`origin/x`) or the default branch (`main`). */
  ref: string;
  ahead: number;
  behind: number;
}

/** What `list` adds per worktree for "where was I" (not with `--fast`). */
export interface BoardColumns {
  /** Uncommitted and untracked changes (lines of `git status --porcelain`). */
  changes?: number;
  upstream?: Divergence;
  /** Against the repository's default branch (origin's HEAD, else the main worktree's branch). */
  base?: Divergence;
  /** The newest of: the worktree's last commit or checkout (its HEAD reflog) and its changed files. */
  lastActivity?: string;
  /** The stack's published ports as URLs on 127.0.0.1, while it runs. */
  urls?: Record<string, string>;
  /** As `git vtree wait` sees it. */
  readiness?: 'ready' | 'pending' | 'failed';
}

/** What of a `list` row the board reads, and the columns it fills in. */
export interface BoardRow extends BoardColumns {
  path: string;
  branch?: string;
  head?: string;
  main: boolean;
  prunable: boolean;
  spare?: boolean;
  ports?: Record<string, number>;
  services?: string;
}

/** Subprocesses at once: enough to overlap their start-up, few enough not to swamp a small machine. */
const CONCURRENCY = 8;
/** Changed files whose times are read for the last activity: the newest is among the first few. */
const STAT_LIMIT = 50;

/**
 * Fills each row with its {@link BoardColumns}: one `for-each-ref` for every branch's upstream
 * and tip, then per worktree, at most {@link CONCURRENCY} at a time, one `git status` and (when
 * its tip differs from the default branch's) one `rev-list --count`, plus a few stats and reads.
 */
export async function addBoardColumns(rows: BoardRow[], mainPath: string): Promise<void> {
  const refs = await branchRefs(mainPath);
  const base = defaultBranch(rows, refs);
  const { readReadiness } = await import('./readiness.js');
  await pool(
    rows.filter((row) => !row.prunable && !row.spare && row.head),
    CONCURRENCY,
    async (row) => {
      const gitDir = await worktreeGitDir(row.path);
      const branch = row.branch ? refs.branches.get(row.branch) : undefined;
      const [status, vsBase, readiness, reflog] = await Promise.all([
        // Read-only: no index refresh written back, no lock taken beside the user's own git commands.
        git(row.path, ['--no-optional-locks', 'status', '--porcelain', '--untracked-files=normal', '-z']).catch(() => undefined),
        !base || row.branch === base.name ? undefined : row.head === base.tip ? { ref: base.ref, ahead: 0, behind: 0 } : divergence(mainPath, base, row.head!),
        readReadiness(row.path, gitDir, row.main).catch(() => undefined),
        stat(join(gitDir, 'logs', 'HEAD')).catch(() => undefined),
      ]);
      if (status !== undefined) {
        const changed = changedPaths(status);
        row.changes = changed.length;
        const times = await Promise.all(changed.slice(0, STAT_LIMIT).map((file) => lstat(join(row.path, file)).then((s) => s.mtimeMs, () => 0)));
        const newest = Math.max(reflog?.mtimeMs ?? 0, branch?.committed ?? 0, ...times);
        if (newest > 0) row.lastActivity = new Date(newest).toISOString();
      }
      if (branch?.upstream) row.upstream = branch.upstream;
      if (vsBase) row.base = vsBase;
      if (readiness) row.readiness = readiness.state;
      if (row.ports && (row.services === 'running' || row.services === 'healthy')) {
        row.urls = Object.fromEntries(Object.entries(row.ports).map(([name, port]) => [name, `http://127.0.0.1:${port}`]));
      }
    },
  );
}

interface BranchRef {
  tip: string;
  /** Its last commit's time (ms). */
  committed: number;
  upstream?: Divergence;
}

/** Every local branch's tip, commit time and distance from its upstream; origin's HEAD, if set. */
async function branchRefs(mainPath: string): Promise<{ branches: Map<string, BranchRef>; originHead?: string; originTip?: string }> {
  const out = await git(mainPath, ['for-each-ref', '--format=%(refname)%00%(objectname)%00%(committerdate:unix)%00%(upstream:short)%00%(upstream:track,nobracket)%00%(symref:short)', 'refs/heads', 'refs/remotes/origin/HEAD']).catch(() => '');
  const branches = new Map<string, BranchRef>();
  let originHead: string | undefined;
  let originTip: string | undefined;
  for (const line of out.split('\n').filter(Boolean)) {
    const [ref, tip, time, upstream, track, symref] = line.split('\0');
    if (ref === 'refs/remotes/origin/HEAD') {
      originHead = symref || undefined;
      originTip = tip;
      continue;
    }
    const entry: BranchRef = { tip: tip!, committed: Number(time) * 1000 };
    // `gone` (its upstream was deleted) has no numbers: it is left out.
    if (upstream && track !== 'gone') {
      entry.upstream = { ref: upstream, ahead: Number(/ahead (\d+)/.exec(track ?? '')?.[1] ?? 0), behind: Number(/behind (\d+)/.exec(track ?? '')?.[1] ?? 0) };
    }
    branches.set(ref!.slice('refs/heads/'.length), entry);
  }
  return { branches, ...(originHead ? { originHead } : {}), ...(originTip ? { originTip } : {}) };
}

/** The branch others are compared with: origin's HEAD (`origin/main`), else the main worktree's branch. */
function defaultBranch(rows: readonly BoardRow[], refs: { branches: Map<string, BranchRef>; originHead?: string; originTip?: string }): Base | undefined {
  if (refs.originHead) return { name: refs.originHead.replace(/^origin\//, ''), ref: refs.originHead, ...(refs.originTip ? { tip: refs.originTip } : {}) };
  const main = rows.find((row) => row.main)?.branch;
  const tip = main ? refs.branches.get(main)?.tip : undefined;
  return main ? { name: main, ref: main, ...(tip ? { tip } : {}) } : undefined;
}

/** The branch others are compared with: its name, the ref to compare with, and its tip (a worktree at the tip is even). */
interface Base {
  name: string;
  ref: string;
  tip?: string;
}

async function divergence(mainPath: string, base: Base, head: string): Promise<Divergence | undefined> {
  const out = await git(mainPath, ['rev-list', '--left-right', '--count', `${head}...${base.ref}`, '--']).catch(() => undefined);
  const [ahead, behind] = (out ?? '').split(/\s+/).map(Number);
  return ahead === undefined || behind === undefined || Number.isNaN(ahead) || Number.isNaN(behind) ? undefined : { ref: base.ref, ahead, behind };
}

/** The paths of `git status --porcelain -z` (a rename's second, original path skipped). */
function changedPaths(status: string): string[] {
  const entries = status.split('\0');
  const paths: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.length < 4) continue;
    paths.push(entry.slice(3));
    if (entry[0] === 'R' || entry[0] === 'C') i++;
  }
  return paths;
}

/** Runs `work` on each item, at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
