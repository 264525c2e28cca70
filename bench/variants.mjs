// The rows of the benchmark: what each one times, in which repository, from which starting
// state. One value per row; run.mjs alternates them round-robin.
import { join } from 'node:path';
import { bunEnv, CHANGED_LOCKFILE_BRANCH, pnpmStoreDir } from './fixture.mjs';
import { runChild } from './measure.mjs';
import { clearVtreeState, removeRunWorktrees, RUN_BRANCH_PREFIX } from './repo-state.mjs';

/**
 * What every row gets to build its commands from.
 * @typedef {{
 *   repos: Record<string, import('./fixture.mjs').BenchRepo | { reason: string }>,
 *   tools: import('./fixture.mjs').Tools,
 *   env: NodeJS.ProcessEnv,
 *   workDir: string,
 *   vtreeBin: string,
 * }} BenchContext
 */

/**
 * One row. `commands` are timed together; `prepare` runs before each run, untimed.
 * @typedef {{
 *   id: string,
 *   label: string,
 *   group: 'git' | 'tool' | 'vtree',
 *   repo: string,
 *   what: string,
 *   expect?: 'hit' | 'spare' | 'seed' | 'partial',
 *   linkMode?: string,
 *   unavailable?: (ctx: BenchContext) => string | undefined,
 *   prepare?: (ctx: BenchContext, repo: import('./fixture.mjs').BenchRepo) => Promise<void>,
 *   commands: (ctx: BenchContext, repo: import('./fixture.mjs').BenchRepo, run: RunTarget) => import('./measure.mjs').Command[],
 * }} Variant
 * @typedef {{ branch: string, path: string }} RunTarget
 */

/**
 * The repositories the rows use and the vtree config each one has. `npm` is the main case;
 * `npm-spare` keeps vtree's default config (spares on); `npm-fresh` has its vtree state cleared
 * before every run, for the first-ever and changed-lockfile rows.
 * @type {Record<string, { manager: 'npm' | 'pnpm' | 'bun', copyOf?: string, config: Record<string, string | undefined> }>}
 */
export const REPOS = {
  npm: { manager: 'npm', config: { 'vtree.cache.spares': '0' } },
  'npm-spare': { manager: 'npm', copyOf: 'npm', config: { 'vtree.cache.spares': undefined } },
  'npm-fresh': { manager: 'npm', copyOf: 'npm', config: { 'vtree.cache.spares': '0' } },
  pnpm: { manager: 'pnpm', config: {} },
  bun: { manager: 'bun', config: {} },
};

/** Where a run of `variant` puts its worktree and which branch it creates. */
export function runTarget(variant, repo) {
  const branch = `${RUN_BRANCH_PREFIX}${variant.id}`;
  return { branch, path: join(repo.parent, 'app.worktrees', branch) };
}

/** `git worktree add` of a new branch at HEAD, as `git vtree add` runs it. */
function worktreeAdd(ctx, repo, run) {
  return { cmd: 'git', args: ['worktree', 'add', '--no-track', '-b', run.branch, '--', run.path, 'HEAD'], cwd: repo.root, env: ctx.env };
}

/** `git vtree add` through git's dispatcher, as users type it, without the Compose stack. */
function vtreeAdd(ctx, repo, run, extra = []) {
  return { cmd: 'git', args: ['vtree', 'add', '--json', '--no-services', ...extra, run.branch], cwd: repo.root, env: ctx.env };
}

function toolMissing(name) {
  return (ctx) => ('reason' in ctx.tools[name] ? `${name} not available: ${ctx.tools[name].reason}` : undefined);
}

/** @type {Variant[]} */
export const BASE_VARIANTS = [
  {
    id: 'worktree',
    label: 'git worktree add',
    group: 'git',
    repo: 'npm',
    what: 'git alone: checkout of the source files, no dependencies (1.0×)',
    commands: (ctx, repo, run) => [worktreeAdd(ctx, repo, run)],
  },
  {
    id: 'node+worktree',
    label: 'node -e 0 + git worktree add',
    group: 'git',
    repo: 'npm',
    what: 'the floor for any Node.js tool that checks out a worktree',
    commands: (ctx, repo, run) => [{ cmd: 'node', args: ['-e', '0'], cwd: repo.root, env: ctx.env }, worktreeAdd(ctx, repo, run)],
  },
  {
    id: 'cp-al',
    label: 'git worktree add + cp -al node_modules',
    group: 'git',
    repo: 'npm',
    what: "hardlink copy of the main worktree's node_modules: the per-file floor",
    commands: (ctx, repo, run) => [
      worktreeAdd(ctx, repo, run),
      { cmd: 'cp', args: ['-al', join(repo.root, 'node_modules'), join(run.path, 'node_modules')], cwd: repo.root, env: ctx.env },
    ],
  },
  {
    id: 'npm',
    label: 'git worktree add + npm install --prefer-offline',
    group: 'tool',
    repo: 'npm',
    what: "npm with a warm cache (--no-audit --no-fund: no network round trips)",
    commands: (ctx, repo, run) => [
      worktreeAdd(ctx, repo, run),
      { cmd: 'npm', args: ['install', '--prefer-offline', '--no-audit', '--no-fund'], cwd: run.path, env: ctx.env },
    ],
  },
  {
    id: 'pnpm',
    label: 'git worktree add + pnpm install --offline --frozen-lockfile',
    group: 'tool',
    repo: 'pnpm',
    what: 'pnpm from its warm store (hardlinks, same filesystem)',
    unavailable: toolMissing('pnpm'),
    commands: (ctx, repo, run) => [
      worktreeAdd(ctx, repo, run),
      { cmd: ctx.tools.pnpm.bin, args: ['install', '--offline', '--frozen-lockfile', '--store-dir', pnpmStoreDir(ctx.workDir)], cwd: run.path, env: ctx.env },
    ],
  },
  {
    id: 'bun',
    label: 'git worktree add + bun install --frozen-lockfile',
    group: 'tool',
    repo: 'bun',
    what: 'bun from its warm cache',
    unavailable: toolMissing('bun'),
    commands: (ctx, repo, run) => [
      worktreeAdd(ctx, repo, run),
      { cmd: ctx.tools.bun.bin, args: ['install', '--frozen-lockfile'], cwd: run.path, env: { ...ctx.env, ...bunEnv(ctx.workDir) } },
    ],
  },
  {
    id: 'vtree-spare',
    label: 'git vtree add (spare ready)',
    group: 'vtree',
    repo: 'npm-spare',
    what: "default config: a spare made in the background by the previous add is ready",
    expect: 'spare',
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run)],
  },
  {
    id: 'vtree-hit',
    label: 'git vtree add (cache hit, no spare)',
    group: 'vtree',
    repo: 'npm',
    what: 'warm cache entry, vtree.cache.spares 0: restore links every file',
    expect: 'hit',
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run)],
  },
  {
    id: 'vtree-seed',
    label: 'git vtree add (first ever, seed)',
    group: 'vtree',
    repo: 'npm-fresh',
    what: "no vtree state at all; the main worktree's node_modules seeds the cache",
    expect: 'seed',
    prepare: (ctx, repo) => clearVtreeState(repo, ctx.env),
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run)],
  },
  {
    id: 'vtree-partial',
    label: 'git vtree add (changed lockfile, partial)',
    group: 'vtree',
    repo: 'npm-fresh',
    what: `cache holds main's entry only; branch from ${CHANGED_LOCKFILE_BRANCH} (one more dependency): closest entry + npm reconciles`,
    expect: 'partial',
    async prepare(ctx, repo) {
      // Start from a cache that has the main branch's entry and nothing made by the last run.
      await clearVtreeState(repo, ctx.env);
      const base = { branch: `${RUN_BRANCH_PREFIX}partial-base`, path: '' };
      const seeded = await runChild(vtreeAdd(ctx, repo, base));
      await removeRunWorktrees(repo, ctx.env, { viaVtree: true });
      if (seeded.code !== 0) throw new Error(`seeding the cache before the partial run failed: ${seeded.stderr.trim().split('\n')[0]}`);
    },
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run, ['--from', CHANGED_LOCKFILE_BRANCH])],
  },
];

/**
 * One cache-hit row per `--link-mode` that `git vtree add -h` offers besides `auto` (which is the
 * hit row), so modes are measured as they land.
 * @param {string[]} modes
 * @returns {Variant[]}
 */
export function linkModeVariants(modes) {
  return modes
    .filter((mode) => mode !== 'auto')
    .map((mode) => ({
      id: `vtree-${mode}`,
      label: `git vtree add --link-mode ${mode} (hit)`,
      group: 'vtree',
      repo: 'npm',
      what: `cache hit restored with link mode ${mode}, vtree.cache.spares 0`,
      expect: 'hit',
      linkMode: mode,
      commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run, ['--link-mode', mode])],
    }));
}

/**
 * The start-up rows, timed apart from the worktree rows (they take milliseconds).
 * @type {Array<{ id: string, label: string, command: (ctx: BenchContext, cwd: string) => import('./measure.mjs').Command }>}
 */
export const STARTUP_VARIANTS = [
  { id: 'node-e0', label: 'node -e 0', command: (ctx, cwd) => ({ cmd: 'node', args: ['-e', '0'], cwd, env: ctx.env }) },
  { id: 'git-vtree-version', label: 'git-vtree --version', command: (ctx, cwd) => ({ cmd: ctx.vtreeBin, args: ['--version'], cwd, env: ctx.env }) },
  { id: 'git-vtree-version-via-git', label: 'git vtree --version', command: (ctx, cwd) => ({ cmd: 'git', args: ['vtree', '--version'], cwd, env: ctx.env }) },
];
