import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * Where vtree keeps its files inside a repository's common git dir (shared by every worktree).
 * Every other module asks here, so the layout is documented in one place (docs/metrics.md).
 */
export function vibetreesDir(commonDir: string): string {
  return join(commonDir, 'vibetrees');
}

/** The run log: `.git/vibetrees/metrics.json`. */
export function metricsPath(commonDir: string): string {
  return join(vibetreesDir(commonDir), 'metrics.json');
}

/** Lock files guarding shared state files. */
export function lockPath(commonDir: string, name: string): string {
  return join(vibetreesDir(commonDir), 'locks', `${name}.lock`);
}

/** The log of a detached background job; the only place such a path is made. */
export function backgroundLogPath(commonDir: string, job: string, id: string): string {
  return join(vibetreesDir(commonDir), 'logs', `${job}-${id}.log`);
}

/** The full output of a package-manager install that failed in run `runId` (shown in its error). */
export function installLogPath(commonDir: string, runId: string): string {
  return join(vibetreesDir(commonDir), 'logs', `install-${runId}.log`);
}

/** What went wrong in a dependency step of run `runId` that a clean install replaced (named in its warning). */
export function depsLogPath(commonDir: string, runId: string): string {
  return join(vibetreesDir(commonDir), 'logs', `deps-${runId}.log`);
}

/** Where `rm` keeps copies of ignored files the user changed in a removed worktree (`.env` edits). */
export function keptDir(commonDir: string): string {
  return join(vibetreesDir(commonDir), 'kept');
}

/** Where removed worktrees' large directories wait for background deletion. */
export function trashDir(commonDir: string): string {
  return join(vibetreesDir(commonDir), 'trash');
}

/** Records of removed worktrees whose stack a background job is still taking down (`<run id>.json`). */
export function removingDir(commonDir: string): string {
  return join(vibetreesDir(commonDir), 'removing');
}

/** The dependency cache (entries, spares, temp dirs) unless config `vtree.cacheDir` moves it. */
export function defaultCacheDir(commonDir: string): string {
  return join(vibetreesDir(commonDir), 'cache');
}

/** What vtree knows of one worktree, kept in that worktree's own git dir so git's prune removes it too. */
export function worktreeStatePath(worktreeGitDir: string): string {
  return join(worktreeGitDir, 'vtree.json');
}

/**
 * vtree's machine-wide state directory, `${XDG_STATE_HOME:-~/.local/state}/vibetrees`: what
 * worktrees of *different* repositories must agree on (port leases) lives here, not in one `.git`.
 */
export function machineStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 'vibetrees');
}

/** The machine-wide port lease registry. */
export function portsRegistryPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(machineStateDir(env), 'ports.json');
}

/** The lock guarding every read-modify-write of the port registry. */
export function portsLockPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(machineStateDir(env), 'locks', 'ports.lock');
}

/**
 * The machine-wide claims on repository names in Compose project names (`{ name: commonDir }`):
 * two clones named alike must not share their worktrees' stacks and volumes.
 */
export function projectNamesPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(machineStateDir(env), 'project-names.json');
}

/** The name a repository's Compose projects start with, once claimed (`{ "prefix": "app" }`). */
export function projectPrefixPath(commonDir: string): string {
  return join(vibetreesDir(commonDir), 'project-prefix.json');
}

/** Cached MCP server discovery of a repository (invalidated by a hash of its inputs). */
export function mcpCachePath(commonDir: string): string {
  return join(vibetreesDir(commonDir), 'mcp-discovery.json');
}

/** The files of a spare worktree's own dependency tree as made (size, mtime, inode): `add` checks them before handing it out. */
export function depsRecordPath(worktreeGitDir: string): string {
  return join(worktreeGitDir, 'vtree-deps-files.json');
}

/** The live status file of a worktree's Compose stack, next to its `vtree.json` (git removes both with it). */
export function servicesStatusPath(worktreeGitDir: string): string {
  return join(worktreeGitDir, 'vtree-services.json');
}

/** Name of the per-worktree Compose override vtree generates. */
export const OVERRIDE_FILE_NAME = 'vtree-compose.override.yaml';

/** Where a worktree's generated Compose override lives: its own git dir, so `git status` stays clean. */
export function overridePath(worktreeGitDir: string): string {
  return join(worktreeGitDir, OVERRIDE_FILE_NAME);
}

/** Where parsed compose models are cached, by content: `.git/vibetrees/cache/compose/`. */
export function composeCacheDir(commonDir: string): string {
  return join(vibetreesDir(commonDir), 'cache', 'compose');
}

/** Where the detected Compose command is remembered: `.git/vibetrees/cache/compose-runtime.json`. */
export function composeRuntimeCachePath(commonDir: string): string {
  return join(vibetreesDir(commonDir), 'cache', 'compose-runtime.json');
}

/**
 * The live state of a worktree's project tasks (`[vtree "task.<name>"]`): one entry per task with
 * its state and log, next to its `vtree.json`. `git vtree wait` reads it.
 */
export function tasksStatusPath(worktreeGitDir: string): string {
  return join(worktreeGitDir, 'vtree-tasks.json');
}

/** The log of one project task of one run: `.git/vibetrees/logs/task-<name>-<run id>.log`. */
export function taskLogPath(commonDir: string, task: string, runId: string): string {
  return backgroundLogPath(commonDir, `task-${task}`, runId);
}

/** Which committed project tasks the user approved to run, machine-wide (as direnv's `allow`). */
export function trustStorePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(machineStateDir(env), 'trust.json');
}

/** Which background failure of a worktree vtree has already told the user about (told once, not on every command). */
export function noticedPath(worktreeGitDir: string): string {
  return join(worktreeGitDir, 'vtree-noticed.json');
}

/** What the last walk of the main worktree found to copy into new worktrees, and what it depends on (features/env/include-cache.ts). */
export function includeCachePath(commonDir: string): string {
  return join(vibetreesDir(commonDir), 'included-files.json');
}

/** The seeded volumes of a worktree (`[vtree "seed.<volume>"]`): which golden each got, or the build under way or failed. */
export function seedStatusPath(worktreeGitDir: string): string {
  return join(worktreeGitDir, 'vtree-seed.json');
}
