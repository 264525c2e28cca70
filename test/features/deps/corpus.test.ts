import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheWorktree, openEntry } from '../../../src/features/deps/cache.js';
import { installProblem } from '../../../src/features/deps/completeness.js';
import { cacheKey } from '../../../src/features/deps/cache-key.js';
import { run } from '../../../src/core/exec.js';
import { pathPattern } from '../../../src/features/deps/manifest.js';
import { detectProject, diskFiles } from '../../../src/features/deps/package-manager.js';
import { git, SPARES_ON, vtree } from '../../helpers.js';
import { add, filesNaming, installedRepo, jobLogs, logsOf, treeOf, waitFor } from './deps-helpers.js';
// @ts-expect-error: a JavaScript module of the benchmark, shared so both install the same tools the same way
import { prepareTools } from '../../../bench/tools.mjs';

/**
 * A corpus of real-shaped projects, one per package manager (npm, pnpm, yarn classic, yarn 4,
 * bun), each with a platform-specific optional dependency (esbuild: its lockfile lists
 * `@esbuild/<platform>` for every platform, and only this one's is installed), plus an npm
 * workspace monorepo and a native module built by node-gyp. Each must pass what a user sees:
 * the first `add` works (the main worktree's install is a seed), the second is served from the
 * cache, its tree equals the main worktree's clean install, and no file in it names the main
 * worktree (or the first). The managers are installed with npm into `bench/.tools/` on first use.
 */

type Tool = { bin: string; version: string } | { reason: string };
let tools: Record<string, Tool>;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  tools = await prepareTools({ toolsDir: resolve('bench/.tools'), env: process.env, install: true, log: () => undefined, names: ['pnpm', 'yarn', 'yarn-berry', 'bun'] });
}, 300_000);
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

const ESBUILD = '0.25.0';
const pkg = (value: object) => JSON.stringify({ version: '1.0.0', private: true, ...value }, null, 2) + '\n';

interface CorpusCase {
  /** The tool of bench/tools.mjs, or npm (always there). */
  tool: 'npm' | 'pnpm' | 'yarn' | 'yarn-berry' | 'bun';
  files: Record<string, string>;
  /** The install that made the committed lockfile, run in the main worktree. */
  install: string[];
  /** node_modules directories of the project. */
  dirs: string[];
  /** Makes extra files before the install (a packed native module). */
  prepare?: (repo: string) => Promise<void>;
}

const CASES: Record<string, CorpusCase> = {
  npm: {
    tool: 'npm',
    files: { 'package.json': pkg({ name: 'app', devDependencies: { esbuild: ESBUILD } }) },
    install: ['install', '--no-audit', '--no-fund', '--prefer-offline'],
    dirs: ['node_modules'],
  },
  pnpm: {
    tool: 'pnpm',
    // The repro: a workspace of the root alone. esbuild's build script declined, as pnpm 10+ asks.
    files: { 'package.json': pkg({ name: 'app', devDependencies: { esbuild: ESBUILD } }), 'pnpm-workspace.yaml': "packages: ['.']\nallowBuilds:\n  esbuild: false\n" },
    install: ['install'],
    dirs: ['node_modules'],
  },
  'yarn classic': {
    tool: 'yarn',
    files: { 'package.json': pkg({ name: 'app', devDependencies: { esbuild: ESBUILD } }) },
    install: ['install', '--ignore-scripts'],
    dirs: ['node_modules'],
  },
  'yarn 4': {
    tool: 'yarn-berry',
    files: { 'package.json': pkg({ name: 'app', packageManager: 'yarn@4.11.0', devDependencies: { esbuild: ESBUILD } }), '.yarnrc.yml': 'nodeLinker: node-modules\n' },
    install: ['install'],
    dirs: ['node_modules'],
  },
  bun: {
    tool: 'bun',
    files: { 'package.json': pkg({ name: 'app', devDependencies: { esbuild: ESBUILD } }) },
    install: ['install', '--ignore-scripts'],
    dirs: ['node_modules'],
  },
  'npm workspace monorepo': {
    tool: 'npm',
    files: {
      'package.json': pkg({ name: 'mono', workspaces: ['packages/*'], dependencies: { ms: '2.1.3' } }),
      'packages/build/package.json': pkg({ name: 'build', devDependencies: { esbuild: ESBUILD } }),
      'packages/lib/package.json': pkg({ name: 'lib', dependencies: { ms: '2.0.0' } }),
    },
    install: ['install', '--no-audit', '--no-fund', '--prefer-offline'],
    dirs: ['node_modules', 'packages/lib/node_modules'],
  },
  // bun's isolated layout (its default for workspaces): a store directory per package and set of peers.
  'bun workspace monorepo': {
    tool: 'bun',
    files: {
      'package.json': pkg({ name: 'mono', workspaces: ['packages/*'], dependencies: { react: '19.0.0', 'react-dom': '19.0.0', 'use-sync-external-store': '1.2.0' } }),
      'packages/build/package.json': pkg({ name: 'build', devDependencies: { esbuild: ESBUILD } }),
      'packages/lib/package.json': pkg({ name: 'lib', dependencies: { react: '18.3.1', 'use-sync-external-store': '1.2.0' } }),
    },
    install: ['install', '--ignore-scripts'],
    dirs: ['node_modules', 'packages/build/node_modules', 'packages/lib/node_modules'],
  },
  'native module (node-gyp)': {
    tool: 'npm',
    files: { 'package.json': pkg({ name: 'native-app', dependencies: { 'tiny-native': 'file:vendor/tiny-native-1.0.0.tgz' } }) },
    prepare: packNativeModule,
    install: ['install', '--no-audit', '--no-fund', '--prefer-offline'],
    dirs: ['node_modules'],
  },
};

/**
 * A native module as npm publishes one: a tarball with a binding.gyp and a C file, which npm
 * builds with its node-gyp at install time (into `node_modules/tiny-native/build`), against the
 * headers of the Node.js that runs the tests.
 */
async function packNativeModule(repo: string): Promise<void> {
  const src = join(repo, '.pack/package');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'package.json'), JSON.stringify({ name: 'tiny-native', version: '1.0.0', main: 'index.js', gypfile: true }));
  await writeFile(join(src, 'binding.gyp'), JSON.stringify({ targets: [{ target_name: 'tiny', sources: ['tiny.c'] }] }));
  await writeFile(
    join(src, 'tiny.c'),
    '#include <node_api.h>\n' +
      'static napi_value Answer(napi_env env, napi_callback_info info) { napi_value v; napi_create_int32(env, 42, &v); return v; }\n' +
      'NAPI_MODULE_INIT() { napi_value fn; napi_create_function(env, "answer", NAPI_AUTO_LENGTH, Answer, NULL, &fn); napi_set_named_property(env, exports, "answer", fn); return exports; }\n',
  );
  await writeFile(join(src, 'index.js'), "module.exports = require('./build/Release/tiny.node');\n");
  await mkdir(join(repo, 'vendor'), { recursive: true });
  await run('tar', ['czf', join(repo, 'vendor/tiny-native-1.0.0.tgz'), '-C', join(repo, '.pack'), 'package']);
  await rm(join(repo, '.pack'), { recursive: true, force: true });
}

/** PATH with the case's tool first, or undefined (the case is skipped) when it could not be installed. */
function envFor(tool: CorpusCase['tool']): NodeJS.ProcessEnv | undefined {
  // node-gyp builds against the headers installed with Node.js (no download here).
  const base = { YARN_ENABLE_TELEMETRY: '0', COREPACK_ENABLE_STRICT: '0', npm_config_nodedir: resolve(process.execPath, '../..') };
  if (tool === 'npm') return base;
  const found = tools[tool];
  if (!found || !('bin' in found)) return undefined;
  return { ...base, PATH: `${join(found.bin, '..')}:${process.env.PATH}` };
}

const bin = (tool: CorpusCase['tool']) => (tool === 'yarn-berry' ? 'yarn' : tool);

/** A repository with the case's project committed with its lockfile, installed in the main worktree. */
async function installed(c: CorpusCase, env: NodeJS.ProcessEnv): Promise<string> {
  const made = await installedRepo(c.files, { bin: bin(c.tool), args: c.install, env, ...(c.prepare ? { prepare: c.prepare } : {}) });
  cleanups.push(made.cleanup);
  return made.repo;
}


/**
 * The trees of `dirs` under `worktree`; a file that names its own worktree (pnpm's workspace
 * state, node-gyp's Makefile) is compared with that path as `<worktree>`.
 */
async function trees(worktree: string, dirs: readonly string[]): Promise<Record<string, Record<string, string>>> {
  const names = pathPattern(worktree, 'g');
  const out: Record<string, Record<string, string>> = {};
  for (const dir of dirs) {
    const tree = await treeOf(join(worktree, dir));
    for (const [rel, what] of Object.entries(tree)) {
      if (!what.startsWith('file')) continue;
      const text = await readFile(join(worktree, dir, rel), 'latin1');
      if (names.test(text)) tree[rel] = `${what.split(' ').slice(0, 2).join(' ')} ${createHash('sha1').update(text.replace(names, '<worktree>'), 'latin1').digest('hex')}`;
      names.lastIndex = 0;
    }
    out[dir] = tree;
  }
  return out;
}

describe.each(Object.entries(CASES))('corpus: %s', (_name, c) => {
  it('first add works from the main worktree, the second is a cache hit, both equal its clean install and name no other worktree', async (ctx) => {
    const env = envFor(c.tool);
    if (!env) return ctx.skip(`${c.tool} could not be installed`);
    const repo = await installed(c, env);
    const project = (await detectProject(diskFiles(repo)))!;
    // Only this platform's esbuild binary is installed; every other one is in the lockfile.
    expect(await installProblem(repo, project)).toBeUndefined();

    const first = await add(repo, 'first', [], env);
    expect(first.facts.deps.source).toBe('seed');
    expect(first.stderr).not.toContain('not a complete install');
    await waitFor('the cache entry', async () => (await openEntry(join(repo, '.git/vibetrees/cache'), cacheKey(project))) !== undefined, logsOf(repo, first.stderr));
    const second = await add(repo, 'second', [], env);
    expect(second.facts.deps.source).toBe('hit');

    const clean = await trees(repo, c.dirs);
    expect(await trees(first.path, c.dirs)).toEqual(clean);
    expect(await trees(second.path, c.dirs)).toEqual(clean);
    for (const wt of [first.path, second.path]) expect(await filesNaming(wt, c.dirs, repo)).toEqual([]);
    expect(await filesNaming(second.path, c.dirs, first.path)).toEqual([]);
    if (c.tool === 'yarn-berry') expect(await readFile(join(second.path, '.yarn/install-state.gz'))).toEqual(await readFile(join(repo, '.yarn/install-state.gz')));

    // The packages work where they were put.
    const esbuild = c.dirs.length > 1 ? join(second.path, 'packages/build') : second.path;
    if (c.tool === 'npm' && c.files['package.json']!.includes('tiny-native')) {
      expect((await run(process.execPath, ['-p', "require('tiny-native').answer()"], { cwd: second.path })).stdout.trim()).toBe('42');
    } else {
      expect((await run(process.execPath, ['-p', "require('esbuild').version"], { cwd: esbuild })).stdout.trim()).toBe(ESBUILD);
    }
    expect(await git(second.path, 'status', '--porcelain')).toBe('');

    // rm says nothing of the files vtree itself recorded (yarn 4's install state among them).
    const removed = await vtree(repo, ['rm', 'first', '--force']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stderr).not.toContain('ignored dependency directory');
    // The cache entry comes from a background snapshot (for bun, after a scratch install): minutes on a loaded machine.
  }, 300_000);
});

describe('a partial start from a main worktree the check calls incomplete', () => {
  // The crash: the state files were left out of the copy but still listed to rewrite (pnpm) or move (yarn 4).
  it.for([
    ['pnpm', 'node_modules/.pnpm/esbuild@0.25.0'],
    ['yarn 4', 'node_modules/.yarn-state.yml'],
  ] as const)('%s: leaves the state files out and asks nothing of them; the reconcile gives a complete install', async ([name, remove], ctx) => {
    const c = CASES[name]!;
    const env = envFor(c.tool);
    if (!env) return ctx.skip(`${c.tool} could not be installed`);
    const repo = await installed(c, env);
    await rm(join(repo, remove), { recursive: true, force: true });
    const project = (await detectProject(diskFiles(repo)))!;
    const problem = await installProblem(repo, project);
    expect(problem).toBeDefined();

    const added = await vtree(repo, ['add', 'partial', '--no-services'], env);
    expect(added.code, added.stderr).toBe(0);
    // Said as it is: where it started from, and why the main worktree was not simply copied.
    expect(added.stderr).toContain(`deps: started from the node_modules of the worktree at ${repo} and reconciled with ${project.manager} (${repo} has this lockfile but is not a complete install of it: ${problem})`);
    const partial = { path: join(repo, '../app.worktrees/partial') };
    expect(await installProblem(partial.path, project)).toBeUndefined();
    expect(await filesNaming(partial.path, c.dirs, repo)).toEqual([]);
    expect(await git(partial.path, 'status', '--porcelain')).toBe('');

    // The background snapshot of the result says why it did or did not cache it; here it does.
    const refused: string[] = [];
    const key = cacheKey(project);
    await rm(join(repo, 'node_modules'), { recursive: true, force: true });
    expect(await cacheWorktree(join(repo, '.git/vibetrees/cache-probe'), repo, key, 'seed', () => undefined, 'auto', (why) => refused.push(why))).toBeUndefined();
    expect(refused).toEqual([expect.stringMatching(/^its node_modules is not a complete install of its lockfile \(.*node_modules.* is missing\)$/)]);
  });
});

describe('an unexpected failure while restoring', () => {
  it('falls back to a clean install with one warning naming a log, never a failed add', async () => {
    const c = CASES.npm!;
    const env = envFor('npm')!;
    const repo = await installed(c, env);
    await git(repo, 'config', 'vtree.cache.spares', '0');
    const first = await add(repo, 'first', [], env);
    const key = first.facts.deps.key as string;
    await waitFor('the cache entry', async () => (await openEntry(join(repo, '.git/vibetrees/cache'), key)) !== undefined);
    // A file of the entry gone from under it: the restore's link() fails.
    const entry = (await openEntry(join(repo, '.git/vibetrees/cache'), key))!;
    await rm(join(entry.tree, 'node_modules/esbuild/package.json'));

    const second = await add(repo, 'second', [], env);
    expect(second.facts.deps.source).toBe('miss');
    const log = second.facts.deps.fellBack as string;
    expect(log).toMatch(/\.git\/vibetrees\/logs\/deps-.*\.log$/);
    expect(await readFile(log, 'utf8')).toContain('ENOENT');
    expect(second.stderr.match(/deps: restoring dependencies failed \(.*ENOENT.*\); installing with npm from scratch instead \(details in .*deps-.*\.log\)/g)).toHaveLength(1);
    expect(await trees(second.path, c.dirs)).toEqual(await trees(repo, c.dirs));
  });
});

describe('yarn 4 installing for more platforms (supportedArchitectures)', () => {
  it('is complete with every listed platform\'s package, and not without one', async (ctx) => {
    const env = envFor('yarn-berry');
    if (!env) return ctx.skip('yarn 4 could not be installed');
    const c = CASES['yarn 4']!;
    const other = process.arch === 'arm64' ? 'x64' : 'arm64';
    const repo = await installed({ ...c, files: { ...c.files, '.yarnrc.yml': `nodeLinker: node-modules\nsupportedArchitectures:\n  os: [current, darwin]\n  cpu: [current, ${other}]\n` } }, env);
    const project = (await detectProject(diskFiles(repo)))!;
    // yarn fetched darwin's and the other CPU's binaries as well as this machine's.
    expect(await readFile(join(repo, `node_modules/@esbuild/darwin-${other}/package.json`), 'utf8')).toContain(ESBUILD);
    expect(await installProblem(repo, project)).toBeUndefined();
    await rm(join(repo, `node_modules/@esbuild/darwin-${other}`), { recursive: true });
    expect(await installProblem(repo, project)).toBe(`node_modules/@esbuild/darwin-${other} is missing`);
  });
});

describe('spare worktrees (the default) of a pnpm project with platform packages', () => {
  it('the spare job builds one with its node_modules, and the next add takes it as it is', async (ctx) => {
    const c = CASES.pnpm!;
    const env = envFor('pnpm');
    if (!env) return ctx.skip('pnpm could not be installed');
    const repo = await installed(c, env);
    const spareEnv = { ...env, ...SPARES_ON };
    expect((await add(repo, 'first', [], spareEnv)).facts.deps.source).toBe('seed');
    // Every background job (snapshot, spare node_modules, spare worktree) finished, none of them failing.
    const texts = () => jobLogs(repo);
    await waitFor('the spare worktree', async () => (await texts()).some((t) => /spare worktrees: 1\/1 ready/.test(t)) && (await texts()).every((t) => / finished in /.test(t)));
    expect((await texts()).join('\n')).not.toMatch(/ENOENT|failed/);

    const second = await add(repo, 'second', [], spareEnv);
    expect(second.facts.deps).toMatchObject({ source: 'hit', inSpareWorktree: true });
    expect(await trees(second.path, c.dirs)).toEqual(await trees(repo, c.dirs));
    expect(await filesNaming(second.path, c.dirs, repo)).toEqual([]);
  });
});

describe('a native module built in a worktree that is then recycled as a spare', () => {
  it('the next add gets its node-gyp files written for its own path', async () => {
    const c = CASES['native module (node-gyp)']!;
    const env = envFor('npm')!;
    const repo = await installed(c, env);
    // No seed: the first add installs (and builds) in its own worktree.
    await rm(join(repo, 'node_modules'), { recursive: true });
    const first = await add(repo, 'first', [], env);
    expect(first.facts.deps.source).toBe('miss');
    expect(await readFile(join(first.path, 'node_modules/tiny-native/build/Makefile'), 'utf8')).toContain(first.path);
    await waitFor('the snapshot', async () => (await jobLogs(repo)).every((t) => / finished in /.test(t)));
    const removed = await vtree(repo, ['rm', '--json', 'first'], SPARES_ON);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout).recycled).toBe(true);
    await waitFor('the pool', async () => (await jobLogs(repo)).every((t) => / finished in /.test(t)));

    const second = await add(repo, 'second', [], { ...env, ...SPARES_ON });
    // The recycled worktree, its node_modules kept in place.
    expect(second.facts.deps).toMatchObject({ source: 'hit', inSpareWorktree: true });
    for (const named of [first.path, join(repo, '../app.worktrees/.vtree-spares')]) expect(await filesNaming(second.path, c.dirs, named)).toEqual([]);
    expect(await readFile(join(second.path, 'node_modules/tiny-native/build/Makefile'), 'utf8')).toContain(second.path);
    expect((await run(process.execPath, ['-p', "require('tiny-native').answer()"], { cwd: second.path })).stdout.trim()).toBe('42');
  });
});
