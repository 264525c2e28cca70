import { existsSync, realpathSync } from 'node:fs';
import { basename, isAbsolute } from 'node:path';
import { UsageError } from '../core/errors.js';
import type { SetupOptions } from '../features/feature.js';
import { resolveRepo } from '../git/repo.js';
import { refuseInsideAnyRepository } from '../git/worktree-path.js';
import { addWorktree, type Reporter } from './add.js';
import { removeWorktree } from './remove.js';
import { setupWorktree } from './setup.js';

/**
 * What Claude Code sends on stdin to a `WorktreeCreate` or `WorktreeRemove` command hook. The
 * hooks reference (code.claude.com/docs/en/hooks) documents `name` for create and
 * `worktree_path` for remove, beside the common `session_id`, `transcript_path`, `cwd` and
 * `hook_event_name`; other builds and older drafts sent `worktree_name`, `base_path`,
 * `source_ref`/`base_ref`/`base_commit`, or an explicit `worktree_path` for create. Every one
 * is accepted; what is not understood is ignored.
 */
export interface ClaudeHookPayload {
  hook_event_name?: string;
  cwd?: string;
  name?: string;
  worktree_name?: string;
  worktree_path?: string;
  source_ref?: string;
  base_ref?: string;
  base_commit?: string;
  [field: string]: unknown;
}

/** Claude Code names the branch of a worktree it makes itself `worktree-<name>`; vtree does the same. */
export const CLAUDE_BRANCH_PREFIX = 'worktree-';

/** A payload field that is a non-empty string, else undefined. */
function text(payload: ClaudeHookPayload, ...fields: string[]): string | undefined {
  for (const field of fields) {
    const value = payload[field];
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
  }
  return undefined;
}

/** The directory the hook acts from: the payload's `cwd` when it exists, else the process's. */
function hookCwd(payload: ClaudeHookPayload): string {
  const cwd = text(payload, 'cwd');
  return cwd && isAbsolute(cwd) && existsSync(cwd) ? cwd : process.cwd();
}

/**
 * `WorktreeCreate`: makes (or, for a name seen before, finds and finishes setting up) the
 * worktree for branch `worktree-<name>` with vtree's full set-up, and returns its absolute path,
 * the one line Claude Code reads from stdout. An explicit `worktree_path` (older payloads) is
 * honoured unless it lies inside a worktree or a repository (any: the agent chose it); otherwise
 * the worktree goes where `git vtree add` puts it (`vtree.path`).
 */
export async function claudeCreate(payload: ClaudeHookPayload, reporter: Reporter, options: SetupOptions, signal?: AbortSignal): Promise<string> {
  const requestedPath = text(payload, 'worktree_path');
  const name = text(payload, 'name', 'worktree_name') ?? (requestedPath ? basename(requestedPath) : undefined);
  if (!name) throw new UsageError('the WorktreeCreate payload names no worktree (no "name" field)', 'is this hook run by Claude Code? see docs/agents.md');
  const cwd = hookCwd(payload);
  const branch = `${CLAUDE_BRANCH_PREFIX}${name}`;
  const repo = await resolveRepo(cwd);
  const existing = repo.worktrees.find((w) => w.branch === branch && !w.prunable);
  if (existing) {
    // The same name again (a resumed session): the worktree is there; make sure it is set up.
    reporter.log(`git vtree: worktree for '${branch}' exists at ${existing.path}; setting it up if it is not`);
    if (!existing.main) await setupWorktree({ cwd, target: existing.path, command: 'setup', options }, reporter, signal);
    return existing.path;
  }
  const from = text(payload, 'source_ref', 'base_ref', 'base_commit');
  const path = requestedPath && isAbsolute(requestedPath) ? requestedPath : undefined;
  // The payload is the agent's: a path inside a worktree or a repository (this one or another) would nest a checkout in it.
  if (path) await refuseInsideAnyRepository(path, 'worktree_path', 'leave worktree_path out: vtree places the worktree itself (vtree.path)');
  const result = await addWorktree({ cwd, branch, options, ...(from ? { from } : {}), ...(path ? { path } : {}) }, reporter, signal);
  return result.path;
}

/**
 * `WorktreeRemove`: removes the worktree at `worktree_path` as `git vtree rm` does (stack down,
 * ports released, node_modules deleted in the background) and deletes its branch if it is merged.
 * Uncommitted work is never discarded: a worktree with changes is kept, and the hook fails
 * saying so. A path that is not (or no longer) a worktree of the repository the hook runs in
 * (judged after symlinks) is nothing to do: another repository's worktree is never touched.
 */
export async function claudeRemove(payload: ClaudeHookPayload, reporter: Reporter, signal?: AbortSignal): Promise<string | undefined> {
  const path = text(payload, 'worktree_path');
  if (!path || !isAbsolute(path)) throw new UsageError('the WorktreeRemove payload has no absolute "worktree_path"', 'is this hook run by Claude Code? see docs/agents.md');
  // The repository the hook was started in (its `cwd`), never the one the path leads to: the
  // path (after symlinks) must be one of its worktrees.
  const repo = await resolveRepo(hookCwd(payload));
  // By path only: a branch or directory name that happens to match must not pick another worktree.
  const entry = repo.worktrees.find((w) => !w.main && canonical(w.path) === canonical(path));
  if (!entry) {
    reporter.log(`git vtree: ${path} is not a worktree of ${repo.mainPath}; nothing to remove`);
    return undefined;
  }
  const result = await removeWorktree({ cwd: repo.mainPath, target: entry.path, force: false, deleteBranch: true, volumes: false }, reporter, signal);
  return result.path;
}

function canonical(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
