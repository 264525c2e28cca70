import { cp, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { run } from '../../../src/core/exec.js';
import { pathPattern } from '../../../src/features/deps/manifest.js';
import { git, makeRepo, testEnv, treeOf, vtree } from '../../helpers.js';

/** What `git vtree add --json` says of a run: the facts the dependency tests look at. */
export interface AddResult {
  facts: { deps: Record<string, unknown> };
  path: string;
}

/** Runs `git vtree add` with --json; returns its parsed result (and what it said on stderr). */
export async function add(repo: string, branch: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<AddResult & { stderr: string }> {
  const result = await vtree(repo, ['add', branch, '--json', '--no-services', ...extra], env);
  expect(result.code, result.stderr).toBe(0);
  return { ...(JSON.parse(result.stdout) as AddResult), stderr: result.stderr };
}

/**
 * Polls `check` every 100 ms, for up to 100 s (background jobs on a loaded machine; under the
 * tests' 120 s, so that this error, not the test's timeout, is what fails); on a timeout the
 * error carries what `explain` says (the jobs' logs), since a CI run keeps nothing else of them.
 */
export async function waitFor(what: string, check: () => Promise<boolean>, explain?: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + 100_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  const why = explain ? await explain().catch((error: unknown) => `(could not tell: ${String(error)})`) : '';
  throw new Error(`timed out waiting for ${what}${why ? `\n${why}` : ''}`);
}

/** The text of every background job log of the repository. */
export async function jobLogs(repo: string): Promise<string[]> {
  const logs = join(repo, '.git/vibetrees/logs');
  return Promise.all((await readdir(logs).catch(() => [] as string[])).map((n) => readFile(join(logs, n), 'utf8')));
}

/** What a timed-out {@link waitFor} tells: what the command said, and the repository's job logs. */
export const logsOf = (repo: string, said = '') => async () => `${said ? `the command said:\n${said}\n` : ''}its background jobs logged:\n${(await jobLogs(repo)).join('\n---\n')}`;

/** How many names a directory holds (0 when it does not exist). */
export const countIn = (dir: string) => readdir(dir).then((names) => names.length, () => 0);

/** The shared tree snapshot (type, mode, link target, content hash by path). */
export { treeOf };

/** Every file or link under the worktree's directories `dirs` that names `path` (as a path, not as the start of a longer name). */
export async function filesNaming(worktree: string, dirs: readonly string[], path: string): Promise<string[]> {
  const names = pathPattern(path);
  const found: string[] = [];
  for (const dir of dirs) {
    const tree = await treeOf(join(worktree, dir)).catch(() => ({}));
    for (const [rel, what] of Object.entries(tree)) {
      // latin1: a byte for a byte, so a path inside a binary (a native module) is found too.
      if (what.startsWith('link') ? names.test(what) : what.startsWith('file') && names.test(await readFile(join(worktree, dir, rel), 'latin1'))) found.push(`${dir}/${rel}`);
    }
  }
  return found;
}

/**
 * A repository with `files` committed together with the lockfile `install` (a package manager
 * and its arguments) writes, installed in the main worktree; `prepare` makes extra files first.
 * The install runs without CI: in CI pnpm and yarn berry refuse to write a lockfile.
 */
export async function installedRepo(
  files: Record<string, string>,
  install: { bin: string; args: string[]; env: NodeJS.ProcessEnv; prepare?: (repo: string) => Promise<void> },
): Promise<{ repo: string; cleanup: () => Promise<void> }> {
  const made = await makeRepo({ '.gitignore': 'node_modules/\n.yarn/\n.pnp.*\n' });
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(made.repo, path, '..'), { recursive: true });
    await writeFile(join(made.repo, path), text);
  }
  await install.prepare?.(made.repo);
  await run(install.bin, install.args, { cwd: made.repo, env: { ...process.env, ...install.env, CI: '' } });
  await git(made.repo, 'add', '-A');
  await git(made.repo, 'commit', '-qm', 'project');
  return { repo: made.repo, cleanup: made.cleanup };
}

/**
 * A repository `app` in a new directory under `parent` (named `prefix...`), with `fixture`'s
 * package.json and lockfile committed and its node_modules copied into the main worktree.
 */
export async function installedRepoIn(parent: string, prefix: string, fixture: string): Promise<{ root: string; repo: string }> {
  const root = await mkdtemp(join(parent, prefix));
  const repo = join(root, 'app');
  await run('git', ['init', '-q', '-b', 'main', repo], { env: testEnv() });
  await writeFile(join(repo, '.gitignore'), 'node_modules/\n');
  for (const file of ['package.json', 'package-lock.json']) await cp(join(fixture, file), join(repo, file));
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-qm', 'lockfile');
  await cp(join(fixture, 'node_modules'), join(repo, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  return { root, repo };
}
