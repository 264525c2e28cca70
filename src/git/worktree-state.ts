import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readJsonFile, writeFileAtomic } from '../core/files.js';
import { worktreeStatePath } from '../core/paths.js';

/** What vtree knows of one worktree; each feature adds its own section. */
export interface WorktreeState {
  branch: string;
  slug: string;
  path: string;
  /** ISO time the worktree was set up. */
  createdAt: string;
  /** `add`, `hook` or `setup`. */
  createdBy: string;
  /** The metrics run that set it up. */
  runId: string;
  /** The directory was there (empty) before `add` used it (`--path`): `rm` leaves it, empty. */
  existedBefore?: boolean;
  /** Per-feature sections: `deps`, `ports`, `services`, `env`, `mcp`. */
  [feature: string]: unknown;
}

/**
 * The git dir of the worktree at `path`: `<common>/worktrees/<id>` for a linked worktree, read
 * from its `.git` file without starting git; `<path>/.git` for the main worktree.
 */
export async function worktreeGitDir(path: string): Promise<string> {
  const dotGit = join(path, '.git');
  try {
    // Synchronous, like readJsonFile: a few bytes, read for every worktree by `list`.
    const text = readFileSync(dotGit, 'utf8');
    const match = /^gitdir: (.+)$/m.exec(text);
    if (match) return resolve(path, match[1]!.trim());
  } catch {
    // A directory (EISDIR): the main worktree.
  }
  return dotGit;
}

/** Reads the state of the worktree whose git dir is `gitDir`; undefined when vtree never set it up. */
export async function readWorktreeState(gitDir: string): Promise<WorktreeState | undefined> {
  try {
    return await readJsonFile<WorktreeState>(worktreeStatePath(gitDir));
  } catch {
    return undefined;
  }
}

/**
 * Whether `state` records a finished set-up of its worktree. A spare's own record (it has a
 * `spare` section) is not one: an `add` that claimed the spare and died before writing the new
 * worktree's state leaves a worktree that was never set up, whatever file its admin dir holds.
 * Nor is the record of a worktree `rm` began tearing down (`removing`: its ports may be gone).
 */
export function isSetUpRecord(state: WorktreeState | undefined): state is WorktreeState {
  return state !== undefined && state.spare === undefined && state.removing === undefined;
}

/** Writes a worktree's state atomically. */
export async function writeWorktreeState(gitDir: string, state: WorktreeState): Promise<void> {
  await writeFileAtomic(worktreeStatePath(gitDir), JSON.stringify(state, null, 2) + '\n', { durable: false });
}
