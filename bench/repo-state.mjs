// Bringing a benchmark repository back to its starting state between runs (outside the timed
// region): the run's worktree and branch gone, vtree's cache cleared where a row needs that.
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { $ } from 'zx';

/** Prefix of the branches timed runs create; everything under it is removed between runs. */
export const RUN_BRANCH_PREFIX = 'timed-';

/**
 * The worktrees of `repo` other than the main one; vtree's spare worktrees only when `spares`.
 * @param {import('./fixture.mjs').BenchRepo} repo
 * @param {NodeJS.ProcessEnv} env
 * @param {boolean} [spares]
 * @returns {Promise<Array<{ path: string, branch?: string }>>}
 */
export async function extraWorktrees(repo, env, spares = false) {
  const { stdout } = await $({ cwd: repo.root, env, quiet: true })`git worktree list --porcelain`;
  const entries = stdout.split('\n\n').filter((block) => block.trim());
  return entries
    .slice(1)
    .filter((block) => spares || !/^locked git vtree spare/m.test(block))
    .map((block) => {
      const lines = block.split('\n');
      const path = lines.find((l) => l.startsWith('worktree '))?.slice('worktree '.length) ?? '';
      const branch = lines.find((l) => l.startsWith('branch refs/heads/'))?.slice('branch refs/heads/'.length);
      return { path, branch };
    });
}

/**
 * Removes every worktree but the main one (and vtree's spare worktrees, which the next run may
 * take, unless `spares`), and every run branch. With `viaVtree`, asks `git vtree rm` first (so
 * leases and state go the way users see them go; a clean worktree may be recycled into the pool
 * of spares) and falls back to git when it fails; the failure is returned as a warning.
 * @param {import('./fixture.mjs').BenchRepo} repo
 * @param {NodeJS.ProcessEnv} env
 * @param {{ viaVtree: boolean, spares?: boolean }} options
 * @returns {Promise<string[]>} warnings
 */
export async function removeRunWorktrees(repo, env, { viaVtree, spares = false }) {
  const warnings = [];
  const sh = $({ cwd: repo.root, env, quiet: true, nothrow: true });
  for (const worktree of await extraWorktrees(repo, env, spares)) {
    if (viaVtree) {
      const result = await sh`git vtree rm --force --delete-branch --json ${worktree.path}`;
      if (result.exitCode !== 0) warnings.push(`git vtree rm ${worktree.path} failed: ${result.stderr.trim().split('\n')[0]}`);
    }
    if (existsSync(worktree.path)) {
      await sh`git worktree remove --force --force ${worktree.path}`;
      await rm(worktree.path, { recursive: true, force: true });
    }
  }
  await sh`git worktree prune`;
  const { stdout } = await sh`git for-each-ref ${'--format=%(refname:short)'} ${`refs/heads/${RUN_BRANCH_PREFIX}*`}`;
  for (const branch of stdout.split('\n').filter(Boolean)) await sh`git branch -D ${branch}`;
  return warnings;
}

/**
 * Forgets everything vtree keeps for `repo`: `.git/vibetrees` (cache, spares, leases, metrics)
 * and a cache directory configured elsewhere with `vtree.cacheDir`. The next `git vtree add` is
 * then a first-ever one.
 * @param {import('./fixture.mjs').BenchRepo} repo
 * @param {NodeJS.ProcessEnv} env
 */
export async function clearVtreeState(repo, env) {
  const sh = $({ cwd: repo.root, env, quiet: true, nothrow: true });
  const cacheDir = (await sh`git config --get vtree.cacheDir`).stdout.trim();
  if (cacheDir) await rm(isAbsolute(cacheDir) ? cacheDir : resolve(repo.root, cacheDir), { recursive: true, force: true });
  await rm(join(repo.root, '.git', 'vibetrees'), { recursive: true, force: true });
}

/**
 * Sets (or, for `undefined`, unsets) git config keys in `repo`.
 * @param {import('./fixture.mjs').BenchRepo} repo
 * @param {NodeJS.ProcessEnv} env
 * @param {Record<string, string | undefined>} settings
 */
export async function applyConfig(repo, env, settings) {
  const sh = $({ cwd: repo.root, env, quiet: true, nothrow: true });
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined) await sh`git config --unset-all ${key}`;
    else await sh`git config ${key} ${value}`;
  }
}

/**
 * How many entries `dir/node_modules` has at its top level, or `null` when there is none.
 * @param {string} dir
 */
export async function nodeModulesEntries(dir) {
  try {
    return (await readdir(join(dir, 'node_modules'))).length;
  } catch {
    return null;
  }
}
