import { git, run } from '../core/exec.js';
import { UsageError } from '../core/errors.js';
import { exists } from '../core/files.js';
import type { Repo } from './repo.js';
import { isSetUpRecord, readWorktreeState, worktreeGitDir } from './worktree-state.js';
import { isSpare } from './worktree.js';
import { reclaimUnfinishedAdds } from './worktree-path.js';

/** How `git worktree add` will get the branch. */
export type BranchPlan =
  /** A new branch from `startPoint` (`from` is the ref the user named, for messages). */
  | { kind: 'new'; branch: string; commit: string; from: string }
  /** An existing local branch. */
  | { kind: 'local'; branch: string; commit: string }
  /** A new local branch tracking `remoteRef` (`origin/x`). */
  | { kind: 'remote'; branch: string; commit: string; remoteRef: string };

/**
 * Decides what `git vtree add <name> [--from <ref>]` means: an existing local branch, a remote
 * branch to track (`origin/x`, or `x` when exactly one remote has it), or a new branch from
 * `from` (default: the main worktree's HEAD). Validates the name with `git check-ref-format` and
 * refuses a branch already checked out elsewhere, saying where. Changes nothing.
 */
export async function planBranch(repo: Repo, name: string, from?: string): Promise<BranchPlan> {
  // Three independent git reads at once: the name's validity, the refs it could mean, and the
  // commit a new branch would start from (unused when the branch exists; cheap to ask anyway).
  const shortName = name.slice(name.indexOf('/') + 1);
  const startRef = from ?? 'HEAD';
  const [, refs, start] = await Promise.all([
    assertValidBranchName(repo.cwd, name),
    git(repo.cwd, ['for-each-ref', '--format=%(objectname) %(refname)', `refs/heads/${name}`, `refs/heads/${shortName}`, 'refs/remotes/']),
    run('git', ['rev-parse', '--verify', '--quiet', '--end-of-options', `${startRef}^{commit}`], {
      cwd: from === undefined ? repo.mainPath : repo.cwd,
      okCodes: [0, 1, 128],
    }),
  ]);
  const byRef = new Map(
    refs
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(line.indexOf(' ') + 1), line.slice(0, line.indexOf(' '))] as const),
  );

  const local = byRef.get(`refs/heads/${name}`);
  if (local !== undefined) {
    await assertNotCheckedOut(repo, name);
    if (from !== undefined) throw new UsageError(`branch '${name}' already exists; --from only applies to new branches`, `git vtree add ${name}`);
    return { kind: 'local', branch: name, commit: local };
  }

  const explicitRemote = byRef.get(`refs/remotes/${name}`);
  if (explicitRemote !== undefined && !name.endsWith('/HEAD')) {
    if (byRef.has(`refs/heads/${shortName}`)) {
      throw new UsageError(`local branch '${shortName}' already exists; '${name}' would shadow it`, `git vtree add ${shortName}`);
    }
    await assertNotCheckedOut(repo, shortName);
    return { kind: 'remote', branch: shortName, commit: explicitRemote, remoteRef: name };
  }

  if (from === undefined) {
    const remotes = [...byRef].filter(([ref]) => ref.startsWith('refs/remotes/') && ref.split('/').slice(3).join('/') === name);
    if (remotes.length === 1) {
      const [ref, commit] = remotes[0]!;
      return { kind: 'remote', branch: name, commit, remoteRef: ref.replace(/^refs\/remotes\//, '') };
    }
    if (remotes.length > 1) {
      const names = remotes.map(([ref]) => ref.replace(/^refs\/remotes\//, ''));
      throw new UsageError(`branch '${name}' exists on several remotes (${names.join(', ')})`, `git vtree add ${names[0]}`);
    }
  }

  if (start.code !== 0) {
    if (from === undefined) throw new UsageError(`the main worktree ${repo.mainPath} has no commit to branch from`, 'commit something first, or pass --from <ref>');
    throw new UsageError(`--from ref '${from}' does not exist`, 'git branch -a   # lists the refs you can start from');
  }
  return { kind: 'new', branch: name, commit: start.stdout.trim(), from: from ?? 'HEAD of the main worktree' };
}

/** Rejects what git would not accept as a branch name, without ever passing it through a shell. */
export async function assertValidBranchName(cwd: string, name: string): Promise<void> {
  // A leading dash would read as an option to git; `HEAD` passes check-ref-format but git refuses it as a branch.
  if (name === '' || name.startsWith('-') || name === 'HEAD') throw invalidName(name);
  const { code } = await run('git', ['check-ref-format', `refs/heads/${name}`], { cwd, okCodes: [0, 1] });
  if (code !== 0) throw invalidName(name);
}

function invalidName(name: string): UsageError {
  return new UsageError(`'${name}' is not a valid branch name`, 'see `git help check-ref-format` for the rules');
}

async function assertNotCheckedOut(repo: Repo, branch: string): Promise<void> {
  const holder = repo.worktrees.find((w) => w.branch === branch);
  // A spare holding a branch is one an `add` killed part way had claimed and begun switching: the
  // claim step reclaims it (and its admin dir) before this run checks the branch out.
  if (!holder || isSpare(holder)) return;
  // A `git worktree add` killed part way holds it: an empty shell is removed (the branch is free
  // again), one holding files unlocked, and then judged below as never set up.
  if ((await reclaimUnfinishedAdds(repo.mainPath, [holder])) && !(await exists(holder.path))) return;
  // A linked worktree vtree never finished setting up (a run killed part way, or a plain `git worktree add`).
  if (!holder.main && !holder.prunable && !isSetUpRecord(await readWorktreeState(await worktreeGitDir(holder.path)))) {
    throw new UsageError(
      `branch '${branch}' is already checked out at ${holder.path}, which was never set up (no dependencies, ports or .env from vtree)`,
      `finish it: git vtree setup ${JSON.stringify(holder.path)}   (or remove it: git vtree rm ${JSON.stringify(holder.path)})`,
    );
  }
  throw new UsageError(`branch '${branch}' is already checked out at ${holder.path}`, `cd ${JSON.stringify(holder.path)}`);
}
