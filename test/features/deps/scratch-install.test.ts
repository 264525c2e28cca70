import { appendFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEntry } from '../../../src/features/deps/cache.js';
import { cacheKey } from '../../../src/features/deps/cache-key.js';
import { judgeInstall } from '../../../src/features/deps/completeness.js';
import { judgeWithReference, readReference, referencePath } from '../../../src/features/deps/scratch-install.js';
import { detectProject, diskFiles } from '../../../src/features/deps/package-manager.js';
import { run } from '../../../src/core/exec.js';
import { git } from '../../helpers.js';
import { add, installedRepo, jobLogs, treeOf, waitFor } from './deps-helpers.js';
// @ts-expect-error: a JavaScript module of the benchmark, shared so both install the same tools the same way
import { prepareTools } from '../../../bench/tools.mjs';

/**
 * A bun project whose lockfile is the binary `bun.lockb` (bun 1.2+ writes it with `install.saveTextLockfile =
 * false` in bunfig.toml): the completeness check cannot read it, so a frozen install in a scratch
 * copy decides, in the background, and the next `add` is served from the cache.
 */

let bunEnv: NodeJS.ProcessEnv | undefined;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  const tools = await prepareTools({ toolsDir: resolve('bench/.tools'), env: process.env, install: true, log: () => undefined, names: ['bun'] });
  if ('bin' in tools.bun) bunEnv = { PATH: `${join(tools.bun.bin, '..')}:${process.env.PATH}` };
  // The scratch install of the in-process checks below runs bun from PATH too.
  if (bunEnv) process.env.PATH = bunEnv.PATH;
}, 300_000);
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

const FILES = {
  // esbuild: its optional packages of other platforms are in the lockfile and installed by no one here.
  'package.json': JSON.stringify({ name: 'app', private: true, version: '1.0.0', dependencies: { ms: '2.1.3' }, devDependencies: { esbuild: '0.25.0' } }, null, 2),
  'bunfig.toml': '[install]\nsaveTextLockfile = false\n',
};

async function binaryLockRepo(): Promise<string> {
  const made = await installedRepo(FILES, { bin: 'bun', args: ['install', '--ignore-scripts'], env: bunEnv! });
  cleanups.push(made.cleanup);
  expect(await readdir(made.repo)).toContain('bun.lockb');
  expect(await readdir(made.repo)).not.toContain('bun.lock');
  return made.repo;
}

/** {@link binaryLockRepo}, with its project as on disk, its key and its cache directory. */
async function binaryLockProject() {
  const repo = await binaryLockRepo();
  const project = (await detectProject(diskFiles(repo)))!;
  return { repo, project, key: cacheKey(project), cacheDir: join(repo, '.git/vibetrees/cache') };
}

describe('a bun.lockb project: a scratch install decides what the check cannot', () => {
  it('the first add starts the decision, the second is a cache hit equal to the main install', async (ctx) => {
    if (!bunEnv) return ctx.skip('bun could not be installed');
    const { repo, project, key, cacheDir } = await binaryLockProject();
    expect(await judgeInstall(repo, project)).toMatchObject({ complete: false, cannotTell: true });

    const first = await add(repo, 'first', [], bunEnv);
    expect(first.facts.deps.source).not.toBe('seed');
    expect(first.facts.deps.notSeed).toEqual({ path: repo, problem: expect.stringContaining('a frozen install in a scratch copy decides in the background') });
    await waitFor('the cache entry', async () => (await openEntry(cacheDir, key)) !== undefined);
    // The main worktree's snapshot and the first worktree's both need the answer: one scratch install gives it.
    const logs = (await jobLogs(repo)).join('\n');
    expect(logs.match(/is a complete install: bun install --frozen-lockfile --ignore-scripts in a scratch copy/g), logs).toHaveLength(1);
    const reference = (await readReference(cacheDir, key))!;
    expect(reference, logs).toBeDefined();
    expect(reference.files.map(([path]) => path)).toContain('node_modules/ms/package.json');
    // No scratch copy is left behind.
    expect((await readdir(join(cacheDir, 'tmp')).catch(() => [] as string[])).filter((n) => n.includes('decide-'))).toEqual([]);

    const second = await add(repo, 'second', [], bunEnv);
    expect(second.facts.deps.source).toBe('hit');
    expect(await treeOf(join(second.path, 'node_modules'))).toEqual(await treeOf(join(repo, 'node_modules')));
    expect((await run(process.execPath, ['-p', "require('esbuild').version + ' ' + require('ms')(60000)"], { cwd: second.path })).stdout.trim()).toBe('0.25.0 1m');
    expect(await git(second.path, 'status', '--porcelain')).toBe('');

    // Remembered per key: a third add of a fresh repository state decides from the reference, with no install.
    const decidedAt = (await stat(referencePath(cacheDir, key))).mtimeMs;
    const verdict = await judgeWithReference(cacheDir, second.path, project, key, { install: false, hashes: true });
    expect(verdict).toEqual({ complete: true });
    expect((await stat(referencePath(cacheDir, key))).mtimeMs).toBe(decidedAt);
  }, 240_000);

  it('a tree that differs from the clean install is not complete, and says how', async (ctx) => {
    if (!bunEnv) return ctx.skip('bun could not be installed');
    const { repo, project, key, cacheDir } = await binaryLockProject();
    const judge = (hashes: boolean) => judgeWithReference(cacheDir, repo, project, key, { install: true, hashes });
    expect(await judge(true)).toEqual({ complete: true });

    // A leftover package no install of this lockfile makes.
    await mkdir(join(repo, 'node_modules/leftover'), { recursive: true });
    await writeFile(join(repo, 'node_modules/leftover/package.json'), '{"name":"leftover","version":"1.0.0"}');
    expect(await judge(true)).toMatchObject({ complete: false, problem: expect.stringMatching(/files a clean install does not make \(node_modules\/leftover/) });
    await rm(join(repo, 'node_modules/leftover'), { recursive: true });

    // A package missing.
    await rm(join(repo, 'node_modules/ms'), { recursive: true });
    expect(await judge(true)).toMatchObject({ complete: false, problem: expect.stringContaining('missing or different (node_modules/ms') });
    await run('bun', ['install', '--frozen-lockfile', '--ignore-scripts'], { cwd: repo, env: { ...process.env, ...bunEnv } });
    expect(await judge(true)).toEqual({ complete: true });

    // An edit of the same size: only the content comparison (the background one) sees it.
    const index = join(repo, 'node_modules/ms/index.js');
    const text = await readFile(index, 'utf8');
    await rm(index); // bun hardlinks from its own cache: a new file, not an edit of that one
    await writeFile(index, text.replace('function', 'FUNCTION'));
    expect(await judge(false)).toEqual({ complete: true });
    expect(await judge(true)).toMatchObject({ complete: false, problem: expect.stringContaining('files differ in content (node_modules/ms/index.js)') });
    await appendFile(index, '\n');
    expect(await judge(false)).toMatchObject({ complete: false, problem: expect.stringContaining('node_modules/ms/index.js differs in size') });
  }, 240_000);

  it('a scratch install that fails decides nothing: not complete, said with the failure, tried again next time', async (ctx) => {
    if (!bunEnv) return ctx.skip('bun could not be installed');
    const repo = await binaryLockRepo();
    // A dependency the lockfile lacks: a frozen install refuses it.
    const manifest = JSON.parse(FILES['package.json']) as { dependencies: Record<string, string> };
    await writeFile(join(repo, 'package.json'), JSON.stringify({ ...manifest, dependencies: { ...manifest.dependencies, 'left-pad': '1.3.0' } }));
    const project = (await detectProject(diskFiles(repo)))!;
    const cacheDir = join(repo, '.git/vibetrees/cache');
    const verdict = await judgeWithReference(cacheDir, repo, project, cacheKey(project), { install: true, hashes: true });
    expect(verdict).toMatchObject({ complete: false, cannotTell: true, problem: expect.stringContaining('deciding by a frozen install in a scratch copy failed: bun install --frozen-lockfile --ignore-scripts failed in a scratch copy') });
    expect(await readReference(cacheDir, cacheKey(project))).toBeUndefined();
    expect((await readdir(join(cacheDir, 'tmp')).catch(() => [] as string[])).filter((n) => n.includes('decide-'))).toEqual([]);
  }, 240_000);
});
