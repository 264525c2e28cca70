import { cp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installComplete } from '../../../src/features/deps/completeness.js';
import { openEntry } from '../../../src/features/deps/cache.js';
import { run } from '../../../src/core/exec.js';
import { detectProject, diskFiles } from '../../../src/features/deps/package-manager.js';
import { git, tempDir } from '../../helpers.js';
import { add, filesNaming, installedRepo, treeOf, waitFor } from './deps-helpers.js';
// @ts-expect-error: a JavaScript module of the benchmark, shared so both install the same tools the same way
import { prepareTools } from '../../../bench/tools.mjs';

/**
 * pnpm, yarn classic and yarn berry, each with a real install of a workspace monorepo (root,
 * `packages/lib`, and `docs` matched by `docs/**`): what `add` hands out is what a clean
 * install gives, with every workspace's node_modules, no file naming the main worktree's path,
 * and the manager's own state saying nothing is left to do. The tools are installed with npm
 * into `bench/.tools/` on first use (bench/tools.mjs), so CI needs only the npm registry.
 */

type Tool = { bin: string; version: string } | { reason: string };
let tools: Record<string, Tool>;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  tools = await prepareTools({ toolsDir: resolve('bench/.tools'), env: process.env, install: true, log: () => undefined, names: ['pnpm', 'yarn', 'yarn-berry'] });
}, 300_000);
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

/** PATH with the tool's directory first, or undefined (the test is skipped) when it could not be installed. */
function pathWith(name: string): NodeJS.ProcessEnv | undefined {
  const tool = tools[name];
  if (!tool || !('bin' in tool)) return undefined;
  return { PATH: `${join(tool.bin, '..')}:${process.env.PATH}`, YARN_ENABLE_TELEMETRY: '0', COREPACK_ENABLE_STRICT: '0' };
}

interface ManagerCase {
  tool: string;
  lockfile: string;
  files: Record<string, string>;
  install: string[];
  /** What a second install in a restored worktree runs: it must find nothing to do. */
  check: string[];
  /** State files that name their worktree: compared without it. */
  ignored: string[];
}

const pkg = (value: object) => JSON.stringify({ version: '1.0.0', private: true, ...value }, null, 2) + '\n';
const WORKSPACE = {
  'packages/lib/package.json': pkg({ name: 'lib', dependencies: { ms: '2.0.0' } }),
  'docs/package.json': pkg({ name: 'docs', dependencies: { 'is-number': '6.0.0' } }),
};
// Versions that differ from the workspaces' own, so yarn's hoisting leaves them a node_modules each.
const ROOT_DEPS = { 'is-number': '7.0.0', nanoid: '3.3.7', ms: '2.1.3' };

const CASES: Record<string, ManagerCase> = {
  pnpm: {
    tool: 'pnpm',
    lockfile: 'pnpm-lock.yaml',
    files: { ...WORKSPACE, 'package.json': pkg({ name: 'mono', dependencies: ROOT_DEPS }), 'pnpm-workspace.yaml': "packages:\n  - 'packages/*'\n  - 'docs/**'\n" },
    install: ['install'],
    check: ['install', '--offline', '--frozen-lockfile'],
    ignored: ['.pnpm-workspace-state-v1.json'],
  },
  'yarn classic': {
    tool: 'yarn',
    lockfile: 'yarn.lock',
    files: { ...WORKSPACE, 'package.json': pkg({ name: 'mono', workspaces: ['packages/*', 'docs/**'], dependencies: ROOT_DEPS }) },
    install: ['install'],
    check: ['install', '--offline', '--frozen-lockfile'],
    ignored: [],
  },
  'yarn berry': {
    tool: 'yarn-berry',
    lockfile: 'yarn.lock',
    // Berry's globs never match `docs` itself with `docs/**`: list it.
    files: { ...WORKSPACE, 'package.json': pkg({ name: 'mono', workspaces: ['packages/*', 'docs'], dependencies: ROOT_DEPS }), '.yarnrc.yml': 'nodeLinker: node-modules\n' },
    install: ['install'],
    check: ['install', '--immutable'],
    ignored: [],
  },
};

/**
 * The environment of the fixture's own installs, which write or update its lockfile: without CI,
 * since in CI pnpm and yarn berry refuse to touch a lockfile (frozen and immutable by default).
 */
function fixtureEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...process.env, ...env, CI: '' };
}

/** A repository with the case's workspace committed with its lockfile, installed in the main worktree. */
async function installed(c: ManagerCase, env: NodeJS.ProcessEnv): Promise<string> {
  const made = await installedRepo(c.files, { bin: c.tool === 'yarn-berry' ? 'yarn' : c.tool, args: c.install, env });
  cleanups.push(made.cleanup);
  return made.repo;
}

/** The node_modules directories of the workspace. */
const DIRS = ['node_modules', 'packages/lib/node_modules', 'docs/node_modules'];

describe.each(Object.entries(CASES))('%s workspace monorepo (real installs)', (_name, c) => {
  it('seeds every workspace\'s node_modules (docs/** included), names no other worktree, and the manager finds nothing to do', async (ctx) => {
    const env = pathWith(c.tool);
    if (!env) return ctx.skip(`${c.tool} could not be installed`);
    const repo = await installed(c, env);
    const seeded = await add(repo, 'seeded', [], env);
    expect(seeded.facts.deps.source).toBe('seed');
    for (const dir of ['node_modules', 'packages/lib/node_modules', 'docs/node_modules']) {
      const theirs = await treeOf(join(repo, dir));
      const ours = await treeOf(join(seeded.path, dir));
      for (const ignored of c.ignored) delete theirs[ignored], delete ours[ignored];
      expect(ours, dir).toEqual(theirs);
    }
    expect(await filesNaming(seeded.path, DIRS, repo)).toEqual([]);
    if (c.tool === 'yarn-berry') expect(await readFile(join(seeded.path, '.yarn/install-state.gz'))).toEqual(await readFile(join(repo, '.yarn/install-state.gz')));

    // The cached entry restores the same; the manager's own check passes and changes no tracked file.
    await waitFor('the entry', async () => (await openEntry(join(repo, '.git/vibetrees/cache'), seeded.facts.deps.key as string)) !== undefined);
    const hit = await add(repo, 'hit', ['--link-mode', 'hardlink'], env);
    expect(hit.facts.deps.source).toBe('hit');
    expect(await filesNaming(hit.path, DIRS, repo)).toEqual([]);
    expect(await filesNaming(hit.path, DIRS, seeded.path)).toEqual([]);
    await run(c.tool === 'yarn-berry' ? 'yarn' : c.tool, c.check, { cwd: hit.path, env: { ...process.env, ...env } });
    expect(await git(hit.path, 'status', '--porcelain')).toBe('');
    // Each workspace resolves its own versions.
    const version = async (dir: string, name: string) => (await run(process.execPath, ['-p', `require('${name}/package.json').version`], { cwd: join(hit.path, dir) })).stdout.trim();
    expect([await version('packages/lib', 'ms'), await version('docs', 'is-number'), await version('.', 'is-number')]).toEqual(['2.0.0', '6.0.0', '7.0.0']);
  });

  it('a partial start is reconciled to what a clean install gives: what the lockfile dropped is pruned', async (ctx) => {
    const env = pathWith(c.tool);
    if (!env) return ctx.skip(`${c.tool} could not be installed`);
    const repo = await installed(c, env);
    const bin = c.tool === 'yarn-berry' ? 'yarn' : c.tool;
    const opts = { cwd: repo, env: fixtureEnv(env) };
    await git(repo, 'checkout', '-qb', 'less');
    await writeFile(join(repo, 'package.json'), c.files['package.json']!.replace(/\s*"nanoid": "3.3.7",/, ''));
    await run(bin, c.install, opts);
    await git(repo, 'commit', '-qam', 'drop nanoid');
    await git(repo, 'checkout', '-q', 'main');
    await run(bin, c.install, opts);

    const partial = await add(repo, 'less-wt', ['--from', 'less'], env);
    expect(partial.facts.deps.source).toBe('partial');
    const project = (await detectProject(diskFiles(partial.path)))!;
    expect(await installComplete(partial.path, project)).toBe(true);
    const everything = Object.keys(await treeOf(join(partial.path, 'node_modules')));
    expect(everything.filter((p) => /(^|\/)nanoid(@|$|\/)/.test(p))).toEqual([]);
    expect(await git(partial.path, 'status', '--porcelain')).toBe('');
  });

  it('is not complete when the lockfile moved on and the install did not, however new its state file', async (ctx) => {
    const env = pathWith(c.tool);
    if (!env) return ctx.skip(`${c.tool} could not be installed`);
    const repo = await installed(c, env);
    const project = (await detectProject(diskFiles(repo)))!;
    expect(await installComplete(repo, project)).toBe(true);
    // Another lockfile (nanoid dropped), from an install elsewhere; the old tree stays, its state files touched.
    const other = await tempDir('vtree-managers-other-');
    cleanups.push(() => rm(other, { recursive: true, force: true }));
    await cp(repo, other, { recursive: true, filter: (p) => !p.includes('/node_modules') && !p.endsWith('/.git') });
    await writeFile(join(other, 'package.json'), c.files['package.json']!.replace(/\s*"nanoid": "3.3.7",/, ''));
    await run(c.tool === 'yarn-berry' ? 'yarn' : c.tool, c.install, { cwd: other, env: fixtureEnv(env) });
    await cp(join(other, c.lockfile), join(repo, c.lockfile));
    await cp(join(other, 'package.json'), join(repo, 'package.json'));
    const later = new Date(Date.now() + 60_000);
    for (const name of await readdir(join(repo, 'node_modules'))) if (name.startsWith('.')) await utimes(join(repo, 'node_modules', name), later, later);
    expect(await installComplete(repo, (await detectProject(diskFiles(repo)))!)).toBe(false);
  });
});
