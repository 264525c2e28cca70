import { spawn, spawnSync } from 'node:child_process';
import { appendFile, cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheWorktree, changedFiles, cleanStaleTemps, linkedTreeChanges, createEntry, dropEntry, entryDir, openEntry, sparesDir, tempDir as cacheTempDir, type CacheEntry } from '../../../src/features/deps/cache.js';
import { cacheKey } from '../../../src/features/deps/cache-key.js';
import { run } from '../../../src/core/exec.js';
import { resolveLinkMode, restoreTree, type LinkMode } from '../../../src/features/deps/link-modes.js';
import { detectProject, diskFiles, nodeModulesDirs } from '../../../src/features/deps/package-manager.js';
import { BIN, git, makeRepo, requirePrereq, tempDir, testEnv, vtree } from '../../helpers.js';
import { add, countIn, logsOf, treeOf, waitFor } from './deps-helpers.js';

/**
 * Real installs from the npm registry, kept small: three packages (one scoped, one with a bin
 * link), and a second lockfile that adds a fourth. Installed once for the whole file.
 */
const DEPS_A = { semver: '7.6.3', 'is-number': '7.0.0', '@isaacs/string-locale-compare': '1.1.0' };
const DEPS_B = { ...DEPS_A, ms: '2.1.3' };

let fixtures: string;
const fixture = (which: 'a' | 'b') => join(fixtures, which);
const cleanups: Array<() => Promise<void>> = [];

async function npmInstall(dir: string, dependencies: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies }, null, 2) + '\n');
  await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir });
}

/** An npm workspace whose package `packages/lib` needs another `ms` than the root: two node_modules. */
async function npmWorkspace(dir: string): Promise<void> {
  await mkdir(join(dir, 'packages/lib'), { recursive: true });
  await writeFile(join(dir, 'packages/lib/package.json'), JSON.stringify({ name: 'lib', version: '1.0.0', dependencies: { ms: '2.0.0' } }));
  await writeFile(join(dir, 'packages/lib/index.js'), "module.exports = require('ms');\n");
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'mono', private: true, workspaces: ['packages/*'], dependencies: { ms: '2.1.3' } }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir });
}

beforeAll(async () => {
  fixtures = await tempDir('vtree-deps-fixture-');
  await Promise.all([npmInstall(fixture('a'), DEPS_A), npmInstall(fixture('b'), DEPS_B), npmWorkspace(join(fixtures, 'mono'))]);
});
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
  await rm(fixtures, { recursive: true, force: true });
});

/** A repository `app` whose commit holds fixture `lock`'s package.json and lockfile; with its node_modules when asked. */
async function projectRepo(lock: 'a' | 'b', withNodeModules: boolean): Promise<{ root: string; repo: string }> {
  const made = await makeRepo({ '.gitignore': 'node_modules/\n.env\n' });
  cleanups.push(made.cleanup);
  for (const file of ['package.json', 'package-lock.json']) await cp(join(fixture(lock), file), join(made.repo, file));
  await git(made.repo, 'add', '-A');
  await git(made.repo, 'commit', '-qm', `lockfile ${lock}`);
  if (withNodeModules) await cp(join(fixture(lock), 'node_modules'), join(made.repo, 'node_modules'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  return made;
}

/** A cache (in a fresh dir) holding the entry of `repo`'s node_modules. */
async function cachedEntry(repo: string, cacheDir?: string): Promise<{ cacheDir: string; entry: CacheEntry; warnings: string[] }> {
  const dir = cacheDir ?? (await tempDir('vtree-cache-'));
  if (!cacheDir) cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const project = (await detectProject(diskFiles(repo)))!;
  const warnings: string[] = [];
  const entry = await cacheWorktree(dir, repo, cacheKey(project), 'seed', (w) => warnings.push(w));
  expect(entry).toBeDefined();
  return { cacheDir: dir, entry: entry!, warnings };
}

async function restoreInto(entry: CacheEntry, mode: LinkMode): Promise<{ to: string; warnings: string[] }> {
  const to = join(await tempDir('vtree-restore-'), 'staging');
  cleanups.push(() => rm(join(to, '..'), { recursive: true, force: true }));
  const warnings: string[] = [];
  await restoreTree(entry.manifest, { from: entry.tree, to, mode, warn: (w) => warnings.push(w) });
  return { to, warnings };
}

describe('cache entries and link modes', () => {
  it('restores a snapshot file by file like the fresh install: same files, modes, symlink targets; hardlinks share inodes', async () => {
    const { repo } = await projectRepo('a', true);
    const { entry } = await cachedEntry(repo);
    expect(entry.manifest.roots).toEqual(['node_modules']);
    const { to } = await restoreInto(entry, 'hardlink');
    expect(await treeOf(join(to, 'node_modules'))).toEqual(await treeOf(join(fixture('a'), 'node_modules')));
    expect((await stat(join(to, 'node_modules/semver/package.json'))).nlink).toBeGreaterThan(1);
    expect((await stat(join(to, 'node_modules/semver/package.json'))).ino).toBe((await stat(join(entry.tree, 'node_modules/semver/package.json'))).ino);
    // Rewritten in place by npm: a copy of its own.
    expect((await stat(join(to, 'node_modules/.package-lock.json'))).nlink).toBe(1);
    // The .bin link is relative and resolves inside the restored tree.
    expect(await readlink(join(to, 'node_modules/.bin/semver'))).toBe('../semver/bin/semver.js');
    expect(await realpath(join(to, 'node_modules/.bin/semver'))).toBe(join(await realpath(to), 'node_modules/semver/bin/semver.js'));
    expect((await stat(join(to, 'node_modules/semver/bin/semver.js'))).mode & 0o111).not.toBe(0);
  });

  it('copy mode shares no inode with the cache', async () => {
    const { repo } = await projectRepo('a', true);
    const { entry } = await cachedEntry(repo);
    const { to } = await restoreInto(entry, 'copy');
    expect(await treeOf(join(to, 'node_modules'))).toEqual(await treeOf(join(fixture('a'), 'node_modules')));
    for (const [path] of entry.manifest.files) expect((await stat(join(to, path))).nlink, path).toBe(1);
  });

  it('symlink mode links whole packages into the entry and still runs them', async () => {
    const { repo } = await projectRepo('a', true);
    const { entry } = await cachedEntry(repo);
    const { to } = await restoreInto(entry, 'symlink');
    expect(await readlink(join(to, 'node_modules/semver'))).toBe(join(entry.tree, 'node_modules/semver'));
    expect(await readlink(join(to, 'node_modules/@isaacs/string-locale-compare'))).toBe(join(entry.tree, 'node_modules/@isaacs/string-locale-compare'));
    expect((await lstat(join(to, 'node_modules/@isaacs'))).isDirectory()).toBe(true);
    expect((await lstat(join(to, 'node_modules/.package-lock.json'))).nlink).toBe(1);
    const { stdout } = await run(join(to, 'node_modules/.bin/semver'), ['-r', '>=7', '7.1.0']);
    expect(stdout.trim()).toBe('7.1.0');
    const required = await run(process.execPath, ['-e', "process.stdout.write(String(require('is-number')(5)))"], { cwd: to });
    expect(required.stdout).toBe('true');
  });

  it('auto picks reflink, or copy where the filesystem cannot clone: never a link (isolation)', async () => {
    const { repo } = await projectRepo('a', true);
    const { entry } = await cachedEntry(repo);
    const warnings: string[] = [];
    const to = join(await tempDir('vtree-probe-'), 'staging');
    cleanups.push(() => rm(join(to, '..'), { recursive: true, force: true }));
    expect(['reflink', 'copy']).toContain(await resolveLinkMode('auto', entry.manifest, entry.tree, to, (w) => warnings.push(w)));
    expect(warnings).toEqual([]);
  });

  it('writing node_modules/.package-lock.json in one worktree changes neither the cache nor another worktree', async () => {
    const { repo } = await projectRepo('a', true);
    const { entry } = await cachedEntry(repo);
    const [one, two] = [await restoreInto(entry, 'hardlink'), await restoreInto(entry, 'hardlink')];
    const hidden = (dir: string) => readFile(join(dir, 'node_modules/.package-lock.json'), 'utf8');
    const before = await hidden(entry.tree);
    await appendFile(join(one.to, 'node_modules/.package-lock.json'), '\n');
    await writeFile(join(one.to, 'node_modules/.package-lock.json'), '{"rewritten":true}');
    expect(await hidden(entry.tree)).toBe(before);
    expect(await hidden(two.to)).toBe(before);
    expect(await changedFiles(entry)).toEqual([]);
  });

  it('leaves tool caches out and makes absolute links into the worktree relative', async () => {
    const { repo } = await projectRepo('a', true);
    await mkdir(join(repo, 'node_modules/.cache/babel'), { recursive: true });
    await writeFile(join(repo, 'node_modules/.cache/babel/x.json'), '{}');
    await mkdir(join(repo, 'node_modules/.vite'), { recursive: true });
    await symlink(join(repo, 'node_modules/semver/bin/semver.js'), join(repo, 'node_modules/.bin/abs'));
    const { entry } = await cachedEntry(repo);
    const { to } = await restoreInto(entry, 'hardlink');
    expect(entry.manifest.dirs.filter((d) => d.includes('.cache') || d.includes('.vite'))).toEqual([]);
    await expect(lstat(join(to, 'node_modules/.cache'))).rejects.toThrow(/ENOENT/);
    expect(await readlink(join(to, 'node_modules/.bin/abs'))).toBe('../semver/bin/semver.js');
  });

  it('cache verify finds a file edited through a hardlink', async () => {
    const { repo } = await projectRepo('a', true);
    const { entry } = await cachedEntry(repo);
    const { to } = await restoreInto(entry, 'hardlink');
    await appendFile(join(to, 'node_modules/semver/README.md'), 'edited in a worktree\n');
    expect(await changedFiles(entry)).toEqual(['node_modules/semver/README.md']);
  });

  it('judges a linked tree by its entry: intact, edited (the file named), or not the entry\'s at all', async () => {
    const { repo } = await projectRepo('a', true);
    const { entry } = await cachedEntry(repo);
    const linked = (await restoreInto(entry, 'hardlink')).to;
    const copied = (await restoreInto(entry, 'copy')).to;
    // The package manager's state file is copied by every restore: the tree's own, never compared.
    await writeFile(join(linked, 'node_modules/.package-lock.json'), '{"rewritten":true}');
    expect(await linkedTreeChanges(entry, linked)).toEqual([]);
    expect(await linkedTreeChanges(entry, copied)).toBe('foreign');
    await appendFile(join(linked, 'node_modules/semver/README.md'), 'edited in a worktree\n');
    expect(await linkedTreeChanges(entry, linked)).toEqual(['node_modules/semver/README.md']);
  });

  it('a restore that fails part way leaves nothing behind', async () => {
    const { repo } = await projectRepo('a', true);
    const { entry } = await cachedEntry(repo);
    await rm(join(entry.tree, 'node_modules/semver/functions'), { recursive: true });
    const to = join(await tempDir('vtree-fail-'), 'staging');
    cleanups.push(() => rm(join(to, '..'), { recursive: true, force: true }));
    await expect(restoreTree(entry.manifest, { from: entry.tree, to, mode: 'hardlink', warn: () => undefined })).rejects.toThrow(/ENOENT/);
    await expect(lstat(to)).rejects.toThrow(/ENOENT/);
  });
});

describe('cache integrity', () => {
  it('concurrent creation of one entry, in one process and across processes, leaves one entry and no temp dir', async () => {
    const { repo } = await projectRepo('a', true);
    const cacheDir = await tempDir('vtree-race-');
    cleanups.push(() => rm(cacheDir, { recursive: true, force: true }));
    const project = (await detectProject(diskFiles(repo)))!;
    const key = cacheKey(project);
    const seed = { key, project, base: repo, roots: nodeModulesDirs(project), source: 'seed' as const };
    const entries = await Promise.all([1, 2, 3, 4].map(() => createEntry(cacheDir, seed, () => undefined)));
    expect(new Set(entries.map((e) => e.key))).toEqual(new Set([key]));
    expect(await readdir(join(cacheDir, 'entries'))).toEqual([key]);
    expect(await readdir(cacheTempDir(cacheDir))).toEqual([]);

    await dropEntry(cacheDir, key);
    const job = () =>
      new Promise<number>((resolve) => {
        const child = spawn(process.execPath, [BIN, '__job', 'cache-snapshot', cacheDir, repo, key, 'seed', '0', 'auto'], { cwd: repo, env: testEnv(), stdio: 'ignore' });
        child.on('close', (code) => resolve(code ?? -1));
      });
    expect(await Promise.all([job(), job(), job()])).toEqual([0, 0, 0]);
    expect(await readdir(join(cacheDir, 'entries'))).toEqual([key]);
    expect(await readdir(cacheTempDir(cacheDir))).toEqual([]);
    expect(await changedFiles((await openEntry(cacheDir, key))!)).toEqual([]);
  });

  it('an interrupted creation leaves only a temp dir, which the next creation removes (unless its creator still runs)', async () => {
    const { repo } = await projectRepo('a', true);
    const cacheDir = await tempDir('vtree-crash-');
    cleanups.push(() => rm(cacheDir, { recursive: true, force: true }));
    const project = (await detectProject(diskFiles(repo)))!;
    const key = cacheKey(project);
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    const sleeper = spawn('sleep', ['60']);
    try {
      // What a creation killed half way leaves: a partial tree, no manifest, in tmp/.
      const crashed = join(cacheTempDir(cacheDir), `.vtree-tmp-${deadPid}-dead0001-${key}`);
      const running = join(cacheTempDir(cacheDir), `.vtree-tmp-${sleeper.pid}-00001111-${key}`);
      for (const dir of [crashed, running]) {
        await mkdir(join(dir, 'tree/node_modules/semver'), { recursive: true });
        await writeFile(join(dir, 'tree/node_modules/semver/package.json'), '{}');
      }
      expect(await openEntry(cacheDir, key)).toBeUndefined();
      await createEntry(cacheDir, { key, project, base: repo, roots: ['node_modules'], source: 'seed' }, () => undefined);
      expect(await readdir(cacheTempDir(cacheDir))).toEqual([`.vtree-tmp-${sleeper.pid}-00001111-${key}`]);
      expect((await openEntry(cacheDir, key))?.manifest.files.length).toBeGreaterThan(10);
      sleeper.kill();
      await new Promise((resolve) => sleeper.once('exit', resolve));
      expect(await cleanStaleTemps(cacheDir)).toBe(1);
      expect(await readdir(cacheTempDir(cacheDir))).toEqual([]);
    } finally {
      sleeper.kill();
    }
  });

  it('falls back to copying across filesystems (EXDEV) and says so once', async (ctx) => {
    // A second filesystem: the btrfs loop mount (the temporary directories are on another one).
    const { mount } = await requirePrereq('btrfs', ctx);
    const mountPoint = await mkdtemp(join(mount, 'vtree-exdev-'));
    cleanups.push(() => rm(mountPoint, { recursive: true, force: true }));
    const { repo } = await projectRepo('a', true);
    // Snapshot across filesystems: the repository on disk, the cache on btrfs.
    const { entry, warnings: snapshotWarnings } = await cachedEntry(repo, join(mountPoint, 'cache'));
    expect(snapshotWarnings).toHaveLength(1);
    expect(snapshotWarnings[0]).toMatch(/another filesystem.*copying/);
    // Restore back onto the disk with hardlink asked for: copies, one warning.
    const { to, warnings } = await restoreInto(entry, 'hardlink');
    expect(warnings).toHaveLength(1);
    expect(await treeOf(join(to, 'node_modules'))).toEqual(await treeOf(join(fixture('a'), 'node_modules')));
    for (const [path] of entry.manifest.files) expect((await stat(join(to, path))).nlink, path).toBe(1);
    // auto probes once and settles on copy, saying why.
    const autoWarnings: string[] = [];
    expect(await resolveLinkMode('auto', entry.manifest, entry.tree, join(to, '..', 'auto'), (w) => autoWarnings.push(w))).toBe('copy');
    expect(autoWarnings).toHaveLength(1);
  });
});

describe('git vtree add (end to end, built bin)', () => {
  it('seeds from the main worktree, then hits the cache (a spare first), and never gives another lockfile the wrong node_modules', async () => {
    const { repo } = await projectRepo('a', true);
    const cache = join(repo, '.git/vibetrees/cache');

    const first = await add(repo, 'one');
    expect(first.facts.deps).toMatchObject({ source: 'seed', packageManager: 'npm', files: expect.any(Number), key: expect.any(String) });
    const key = first.facts.deps.key as string;
    expect(await treeOf(join(first.path, 'node_modules'))).toEqual(await treeOf(join(fixture('a'), 'node_modules')));
    const state = JSON.parse(await readFile(join(repo, '.git/worktrees/one/vtree.json'), 'utf8'));
    expect(state.deps).toMatchObject({ source: 'seed', key, dirs: ['node_modules'] });

    // The background job caches the seed and makes one spare (vtree.cache.spares defaults to 1).
    await waitFor('the spare', async () => (await countIn(sparesDir(cache, key))) === 1, logsOf(repo));
    const second = await add(repo, 'two');
    expect(second.facts.deps).toMatchObject({ source: 'hit', spare: true, key });
    expect(await treeOf(join(second.path, 'node_modules'))).toEqual(await treeOf(join(fixture('a'), 'node_modules')));

    // The pool is topped up again in the background; with the pool turned off, the last spare
    // is used and none is made after it.
    await waitFor('the next spare', async () => (await countIn(sparesDir(cache, key))) === 1, logsOf(repo));
    await git(repo, 'config', 'vtree.cache.spares', '0');
    expect((await add(repo, 'last-spare')).facts.deps).toMatchObject({ source: 'hit', spare: true });
    const third = await add(repo, 'three');
    expect(third.facts.deps).toMatchObject({ source: 'hit', spare: false, key });
    expect(['hardlink', 'reflink']).toContain(third.facts.deps.linkMode);
    expect(await treeOf(join(third.path, 'node_modules'))).toEqual(await treeOf(join(fixture('a'), 'node_modules')));
    const copied = await add(repo, 'copied', ['--link-mode', 'copy']);
    expect(copied.facts.deps).toMatchObject({ source: 'hit', linkMode: 'copy' });
    expect((await stat(join(copied.path, 'node_modules/semver/package.json'))).nlink).toBe(1);

    // A branch with another lockfile: never this entry, never main's node_modules.
    await git(repo, 'checkout', '-qb', 'other');
    for (const file of ['package.json', 'package-lock.json']) await cp(join(fixture('b'), file), join(repo, file));
    await git(repo, 'commit', '-qam', 'lockfile b');
    await git(repo, 'checkout', '-q', 'main');
    const other = await add(repo, 'other');
    expect(other.facts.deps.source).toBe('partial');
    expect(other.facts.deps.key).not.toBe(key);
    expect(await treeOf(join(other.path, 'node_modules/ms'))).toEqual(await treeOf(join(fixture('b'), 'node_modules/ms')));
    await expect(lstat(join(third.path, 'node_modules/ms'))).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(repo, 'node_modules/ms'))).rejects.toThrow(/ENOENT/);
    // Its result is cached under its own key: the next add of that lockfile is a hit.
    await waitFor('the entry of lockfile b', async () => (await openEntry(cache, other.facts.deps.key as string)) !== undefined, logsOf(repo));
    const otherAgain = await add(repo, 'other-again', ['--from', 'other']);
    expect(otherAgain.facts.deps).toMatchObject({ source: 'hit', key: other.facts.deps.key });
    const bFiles = await treeOf(join(fixture('b'), 'node_modules'));
    const restoredB = await treeOf(join(otherAgain.path, 'node_modules'));
    // npm rewrites its hidden lockfile with worktree-specific content; every package file is identical.
    delete bFiles['.package-lock.json'];
    delete restoredB['.package-lock.json'];
    expect(restoredB).toEqual(bFiles);

    const status = await vtree(repo, ['cache', 'status', '--json']);
    const entries = JSON.parse(status.stdout).entries as Array<{ key: string; hits: number; usedBy: string[] }>;
    expect(entries.map((e) => e.key).sort()).toEqual([key, other.facts.deps.key].sort());
    expect(entries.find((e) => e.key === key)).toMatchObject({ hits: 4 });
  });

  it('never uses a spare whose entry was dropped; a miss installs and caches', async () => {
    const { repo } = await projectRepo('a', false);
    const cache = join(repo, '.git/vibetrees/cache');
    const first = await add(repo, 'one');
    expect(first.facts.deps).toMatchObject({ source: 'miss', packageManager: 'npm' });
    const installedFiles = Object.values(await treeOf(join(first.path, 'node_modules'))).filter((t) => t.startsWith('file')).length;
    expect(first.facts.deps.files).toBe(installedFiles);
    expect(await treeOf(join(first.path, 'node_modules/semver'))).toEqual(await treeOf(join(fixture('a'), 'node_modules/semver')));
    const key = first.facts.deps.key as string;
    await waitFor('the spare', async () => (await countIn(sparesDir(cache, key))) === 1, logsOf(repo));
    // The entry disappears (deleted by hand) but its spare stays: the spare must not be used.
    await rm(entryDir(cache, key), { recursive: true });
    const second = await add(repo, 'two');
    expect(second.facts.deps).toMatchObject({ source: 'seed', spare: false, from: first.path });
    // Dropping an entry drops its spares with it.
    await waitFor('the re-created entry', async () => (await openEntry(cache, key)) !== undefined, logsOf(repo));
    await dropEntry(cache, key);
    expect(await countIn(sparesDir(cache, key))).toBe(0);
    expect(await countIn(join(cache, 'entries'))).toBe(0);
  });

  it('restores every node_modules of a workspace, the packages\' own included', async () => {
    const made = await makeRepo({ '.gitignore': 'node_modules/\n' });
    cleanups.push(made.cleanup);
    const mono = join(fixtures, 'mono');
    await cp(mono, made.repo, { recursive: true, verbatimSymlinks: true });
    await git(made.repo, 'add', '-A');
    await git(made.repo, 'commit', '-qm', 'workspace');
    const seeded = await add(made.repo, 'ws');
    expect(seeded.facts.deps).toMatchObject({ source: 'seed' });
    const state = JSON.parse(await readFile(join(made.repo, '.git/worktrees/ws/vtree.json'), 'utf8'));
    expect(state.deps.dirs).toEqual(['node_modules', 'packages/lib/node_modules']);
    expect(await treeOf(join(seeded.path, 'packages/lib/node_modules'))).toEqual(await treeOf(join(mono, 'packages/lib/node_modules')));
    // The workspace link stays relative: it resolves to the new worktree's own package.
    expect(await readlink(join(seeded.path, 'node_modules/lib'))).toBe('../packages/lib');
    const { stdout } = await run(process.execPath, ['-e', "process.stdout.write(require('lib')('1s') + ' ' + require('ms')('1s'))"], { cwd: seeded.path });
    expect(stdout).toBe('1000 1000');
    expect(await realpath(join(seeded.path, 'node_modules/lib'))).toBe(join(seeded.path, 'packages/lib'));
    const cache = join(made.repo, '.git/vibetrees/cache');
    await waitFor('the workspace entry', async () => (await openEntry(cache, seeded.facts.deps.key as string)) !== undefined, logsOf(made.repo));
    const hit = await add(made.repo, 'ws2', ['--link-mode', 'hardlink']);
    expect(hit.facts.deps).toMatchObject({ source: 'hit' });
    expect(await treeOf(join(hit.path, 'packages/lib/node_modules'))).toEqual(await treeOf(join(mono, 'packages/lib/node_modules')));
    // rm clears every one of them.
    const removed = await vtree(made.repo, ['rm', 'ws2']);
    expect(removed.code, removed.stderr).toBe(0);
    await expect(lstat(hit.path)).rejects.toThrow(/ENOENT/);
  });

  it('never seeds from, or caches, a worktree whose packages are symlinks into the cache', async () => {
    const { repo } = await projectRepo('a', true);
    const cache = join(repo, '.git/vibetrees/cache');
    await git(repo, 'config', 'vtree.cache.spares', '0');
    expect((await vtree(repo, ['cache', 'warm', '--spares', '0'])).code).toBe(0);
    const linked = await add(repo, 'linked', ['--link-mode', 'symlink']);
    expect(linked.facts.deps).toMatchObject({ source: 'hit', linkMode: 'symlink' });
    const key = linked.facts.deps.key as string;
    await dropEntry(cache, key);
    await rm(join(repo, 'node_modules'), { recursive: true });
    // Its packages link into the dropped entry: not even a complete install, and never cached.
    const warm = await vtree(linked.path, ['cache', 'warm', '--spares', '0']);
    expect(warm.code, warm.stderr).toBe(0);
    expect(await openEntry(cache, key)).toBeUndefined();
    const next = await add(repo, 'next');
    expect(next.facts.deps).toMatchObject({ source: 'miss' });
    expect((await lstat(join(next.path, 'node_modules/semver'))).isDirectory()).toBe(true);
  });

  it('starts a new lockfile from the main worktree\'s install when the cache has nothing, leaving main untouched', async () => {
    const { repo } = await projectRepo('a', true);
    await git(repo, 'checkout', '-qb', 'other');
    for (const file of ['package.json', 'package-lock.json']) await cp(join(fixture('b'), file), join(repo, file));
    await git(repo, 'commit', '-qam', 'lockfile b');
    await git(repo, 'checkout', '-q', 'main');
    const mainBefore = await treeOf(join(repo, 'node_modules'));
    const other = await add(repo, 'other-wt', ['--from', 'other']);
    expect(other.facts.deps).toMatchObject({ source: 'partial', from: repo });
    expect(await treeOf(join(other.path, 'node_modules/ms'))).toEqual(await treeOf(join(fixture('b'), 'node_modules/ms')));
    expect(await treeOf(join(repo, 'node_modules'))).toEqual(mainBefore);
    expect(await git(other.path, 'status', '--porcelain')).toBe('');
  });

  it('cleans up the staging directory a killed add left next to the worktree', async () => {
    const { root, repo } = await projectRepo('a', true);
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    const leftover = join(root, 'app.worktrees', `.one.vtree-deps.${deadPid}`);
    await mkdir(join(leftover, 'node_modules/half'), { recursive: true });
    expect((await add(repo, 'one')).facts.deps).toMatchObject({ source: 'seed' });
    expect((await readdir(join(root, 'app.worktrees'))).sort()).toEqual(['one']);
  });

  it('says what it did not do: no package.json, yarn Plug\'n\'Play, no lockfile (installs, caches nothing)', async () => {
    const plain = await makeRepo();
    cleanups.push(plain.cleanup);
    expect((await add(plain.repo, 'none')).facts.deps).toMatchObject({ source: 'none' });

    const pnp = await makeRepo({ 'package.json': JSON.stringify({ name: 'p', packageManager: 'yarn@4.5.0' }), 'yarn.lock': '__metadata:\n  version: 8\n' });
    cleanups.push(pnp.cleanup);
    const skipped = await vtree(pnp.repo, ['add', 'pnp', '--no-services']);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.stderr).toMatch(/Plug'n'Play/);

    const unlocked = await makeRepo({ 'package.json': JSON.stringify({ name: 'u', version: '1.0.0', dependencies: { 'is-number': '7.0.0' } }), '.gitignore': 'node_modules/\npackage-lock.json\n' });
    cleanups.push(unlocked.cleanup);
    const result = await vtree(unlocked.repo, ['add', 'unlocked', '--no-services', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/no lockfile/);
    const { facts, path } = JSON.parse(result.stdout);
    expect(facts.deps).toMatchObject({ source: 'miss', key: null, reason: 'no lockfile' });
    expect(JSON.parse(await readFile(join(path, 'node_modules/is-number/package.json'), 'utf8')).version).toBe('7.0.0');
    expect(await countIn(join(unlocked.repo, '.git/vibetrees/cache/entries'))).toBe(0);
  });

  it('cache prune keeps entries in use unless asked, drops the least recently used first, and their spares', async () => {
    const { repo } = await projectRepo('a', true);
    const cache = join(repo, '.git/vibetrees/cache');
    const used = await add(repo, 'used');
    const usedKey = used.facts.deps.key as string;
    await waitFor('the spare', async () => (await countIn(sparesDir(cache, usedKey))) === 1, logsOf(repo));
    // A second, unused entry, older than the first: lockfile b snapshotted from its fixture.
    const other = await projectRepo('b', true);
    const { entry: stale } = await cachedEntry(other.repo, cache);
    const metaPath = join(stale.dir, 'meta.json');
    const meta = JSON.parse(await readFile(metaPath, 'utf8'));
    await writeFile(metaPath, JSON.stringify({ ...meta, lastUsedAt: '2020-01-01T00:00:00.000Z' }));

    const byAge = await vtree(repo, ['cache', 'prune', '--older-than', '30d', '--json']);
    expect(byAge.code, byAge.stderr).toBe(0);
    expect(JSON.parse(byAge.stdout)).toMatchObject({ dropped: [stale.key], kept: [usedKey] });
    const bySize = await vtree(repo, ['cache', 'prune', '--max-size', '0', '--json']);
    expect(JSON.parse(bySize.stdout)).toMatchObject({ dropped: [], kept: [usedKey] });
    const all = await vtree(repo, ['cache', 'prune', '--max-size', '0', '--include-used', '--json']);
    expect(JSON.parse(all.stdout)).toMatchObject({ dropped: [usedKey], kept: [] });
    expect(await countIn(join(cache, 'spares'))).toBe(0);
    // The worktree restored from it is untouched.
    expect(await treeOf(join(used.path, 'node_modules'))).toEqual(await treeOf(join(fixture('a'), 'node_modules')));
  });

  it('cache verify (the command) reports, then drops, an entry edited through a hardlink', async () => {
    const { repo } = await projectRepo('a', false);
    // Hardlinked trees: the user's choice of disk over isolation.
    await git(repo, 'config', 'vtree.linkMode', 'hardlink');
    const cache = join(repo, '.git/vibetrees/cache');
    const first = await add(repo, 'first');
    const key = first.facts.deps.key as string;
    await waitFor('the entry', async () => (await openEntry(cache, key)) !== undefined, logsOf(repo));
    await git(repo, 'config', 'vtree.cache.spares', '0');
    const hit = await add(repo, 'hit');
    await appendFile(join(hit.path, 'node_modules/is-number/index.js'), '\n// edited in place\n');
    const dry = await vtree(repo, ['cache', 'verify', '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(/node_modules\/is-number\/index\.js/);
    const fixed = await vtree(repo, ['cache', 'verify']);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await openEntry(cache, key)).toBeUndefined();
  });

  it('cache export/import carries entries to another repository and refuses another platform', async () => {
    const { root, repo } = await projectRepo('a', true);
    expect((await vtree(repo, ['cache', 'warm'])).code).toBe(0);
    const archive = join(root, 'cache.tar.gz');
    const exported = await vtree(repo, ['cache', 'export', archive]);
    expect(exported.code, exported.stderr).toBe(0);

    const other = await projectRepo('a', false);
    const imported = await vtree(other.repo, ['cache', 'import', archive, '--json']);
    expect(imported.code, imported.stderr).toBe(0);
    const [key] = JSON.parse(imported.stdout).imported as string[];
    const entry = (await openEntry(join(other.repo, '.git/vibetrees/cache'), key!))!;
    expect(entry.meta.source).toBe('import');
    expect(await changedFiles(entry)).toEqual([]);
    const hit = await add(other.repo, 'from-import');
    expect(hit.facts.deps).toMatchObject({ source: 'hit', key });

    // The same archive as made on another architecture.
    const unpacked = join(root, 'unpacked');
    await mkdir(unpacked);
    const { extract, pack } = await import('tar-fs');
    const { pipeline } = await import('node:stream/promises');
    const { createGunzip } = await import('node:zlib');
    const { createReadStream, createWriteStream } = await import('node:fs');
    await pipeline(createReadStream(archive), createGunzip(), extract(unpacked));
    const metaPath = join(unpacked, key!, 'meta.json');
    const meta = JSON.parse(await readFile(metaPath, 'utf8'));
    await writeFile(metaPath, JSON.stringify({ ...meta, platform: { ...meta.platform, arch: 'mips' } }));
    const foreign = join(root, 'foreign.tar');
    await pipeline(pack(unpacked), createWriteStream(foreign));
    const third = await projectRepo('a', false);
    const refused = await vtree(third.repo, ['cache', 'import', foreign]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused .*mips/);
    expect(await countIn(join(third.repo, '.git/vibetrees/cache/entries'))).toBe(0);
  });
});
