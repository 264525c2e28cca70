import { appendFile, cp, lstat, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEntry, entryDir, openEntry, sparesDir } from '../../../src/features/deps/cache.js';
import { isolateTree } from '../../../src/features/deps/isolate.js';
import { restoreTree } from '../../../src/features/deps/link-modes.js';
import { detectProject, diskFiles } from '../../../src/features/deps/package-manager.js';
import { cacheKey } from '../../../src/features/deps/cache-key.js';
import { run } from '../../../src/core/exec.js';
import { readWorktreeState, worktreeGitDir } from '../../../src/git/worktree-state.js';
import { git, SPARES_ON, tempDir, vtree } from '../../helpers.js';
import { mountCowFs, requirePrereq } from '../../remote-prereqs.js';
import { add, countIn, installedRepoIn, waitFor } from './deps-helpers.js';

// Isolation by default (docs/trust.md): with default settings no file of a worktree's
// node_modules is shared (same inode) with the main worktree, another worktree, a spare or the
// cache, whichever path made it: seeded from main, a hit (hardlinked now, copied in the
// background on ext4), a spare node_modules, a spare worktree. Real npm installs, real git.

const DEPS = { 'is-number': '7.0.0', nanoid: '3.3.8' };
const INDEX = 'node_modules/is-number/index.js';
let fixture: string;
const cleanups: string[] = [];
const xfs = await requirePrereq('xfs on a loop device', () => mountCowFs('xfs'));

beforeAll(async () => {
  fixture = await tempDir('vtree-isolate-fixture-');
  cleanups.push(fixture);
  await writeFile(join(fixture, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: DEPS }, null, 2) + '\n');
  await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: fixture });
}, 120_000);
afterAll(async () => {
  await Promise.all(cleanups.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 })));
});

/** A repository under `parent` with the fixture committed and installed in its main worktree; default settings. */
async function installedRepo(parent: string): Promise<string> {
  const { root, repo } = await installedRepoIn(parent, 'vtree-isolate-', fixture);
  cleanups.push(root);
  return repo;
}

/** Every regular file under `dir`, with its inode and link count. */
async function filesOf(dir: string): Promise<Array<{ path: string; ino: number; nlink: number }>> {
  const out: Array<{ path: string; ino: number; nlink: number }> = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const info = await lstat(path);
        out.push({ path, ino: info.ino, nlink: info.nlink });
      }
    }
  };
  await walk(dir);
  return out;
}

/** Waits through `git vtree wait` (the state vtree exposes) until the worktree's background work is done. */
async function settled(repo: string, branch: string): Promise<void> {
  const waited = await vtree(repo, ['wait', branch, '--timeout', '120']);
  expect(waited.code, waited.stderr).toBe(0);
}

/**
 * Asserts that no inode under one owner's tree is under another's: each worktree's
 * node_modules, the main worktree's, the cache (entries and spare node_modules) and the spare
 * worktrees; and that no worktree file has a second link anywhere.
 */
async function expectNothingShared(owners: Record<string, string>, worktrees: readonly string[]): Promise<void> {
  const byInode = new Map<number, string>();
  for (const [owner, dir] of Object.entries(owners)) {
    for (const file of await filesOf(dir)) {
      const other = byInode.get(file.ino);
      expect(other === undefined || other === owner, `${file.path} (inode ${file.ino}) is shared by ${owner} and ${other}`).toBe(true);
      byInode.set(file.ino, owner);
    }
  }
  for (const w of worktrees) {
    const linked = (await filesOf(join(w, 'node_modules'))).filter((f) => f.nlink > 1);
    expect(linked.map((f) => f.path)).toEqual([]);
  }
}

/** add through every path with default settings, then checks that nothing is shared; an edit stays where it was made. */
async function everyPath(parent: string, clones: boolean): Promise<void> {
  const repo = await installedRepo(parent);
  const cache = join(repo, '.git/vibetrees/cache');
  // No spare node_modules at first: the second add is a file-by-file hit.
  await git(repo, 'config', 'vtree.cache.spares', '0');
  const seeded = await add(repo, 'seeded');
  expect(seeded.facts.deps).toMatchObject({ source: 'seed' });
  expect(seeded.facts.deps.linkMode).toBe(clones ? 'reflink' : 'copy');
  const key = seeded.facts.deps.key as string;
  await settled(repo, 'seeded');
  await waitFor('the entry', async () => (await openEntry(cache, key)) !== undefined);

  const hit = await add(repo, 'hit');
  expect(hit.facts.deps).toMatchObject({ source: 'hit', spare: false });
  await settled(repo, 'hit');
  const state = (await readWorktreeState(await worktreeGitDir(hit.path)))!.deps as { linkMode: string; isolation?: { state: string; sharedMs: number } };
  expect(state.linkMode).toBe(clones ? 'reflink' : 'hardlink');
  if (!clones) {
    // ext4: linked now, copied in the background; the window is measured and recorded.
    expect(hit.facts.deps.isolation).toBe('background');
    expect(state.isolation).toMatchObject({ state: 'done', sharedMs: expect.any(Number) });
    const runs = JSON.parse(await readFile(join(repo, '.git/vibetrees/metrics.json'), 'utf8')).runs as Array<{ command: string; linkedTo?: string; facts: { deps?: { isolation?: { sharedMs: number } } } }>;
    expect(runs.find((r) => r.command === 'deps' && r.facts.deps?.isolation)?.facts.deps?.isolation?.sharedMs).toBe(state.isolation!.sharedMs);
  }

  // A spare node_modules: one rename, and its files are its own.
  await git(repo, 'config', 'vtree.cache.spares', '1');
  const again = await add(repo, 'again');
  await settled(repo, 'again');
  await waitFor('the spare', async () => (await countIn(sparesDir(cache, key))) === 1);
  const spare = await add(repo, 'spare');
  expect(spare.facts.deps).toMatchObject({ source: 'hit', spare: true });
  await settled(repo, 'spare');

  // A spare worktree, built in the foreground by cache warm.
  await git(repo, 'config', 'vtree.spares.worktrees', '1');
  const warmed = await vtree(repo, ['cache', 'warm'], SPARES_ON);
  expect(warmed.code, warmed.stderr).toBe(0);
  const fromSpare = await vtree(repo, ['add', 'from-spare', '--json', '--no-services'], SPARES_ON);
  expect(fromSpare.code, fromSpare.stderr).toBe(0);
  const spareWorktree = JSON.parse(fromSpare.stdout) as { path: string; facts: { deps: Record<string, unknown> } };
  await settled(repo, 'from-spare');

  const worktrees = [seeded.path, hit.path, again.path, spare.path, spareWorktree.path];
  const owners: Record<string, string> = { main: join(repo, 'node_modules'), cache };
  for (const w of worktrees) owners[w] = join(w, 'node_modules');
  const pool = join(repo, '..', 'app.worktrees', '.vtree-spares');
  for (const name of await readdir(pool).catch(() => [] as string[])) owners[`spare ${name}`] = join(pool, name, 'node_modules');
  // Background jobs that may still be making the next spare node_modules or spare worktree.
  await waitFor('background jobs', async () => {
    const logs = join(repo, '.git/vibetrees/logs');
    const texts = await Promise.all((await readdir(logs)).map((n) => readFile(join(logs, n), 'utf8')));
    return texts.every((t) => / finished in /.test(t) || /git vtree/.test(t));
  });
  await expectNothingShared(owners, worktrees);

  // An edit in one worktree reaches nothing else.
  const clean = await readFile(join(repo, INDEX), 'utf8');
  await appendFile(join(hit.path, INDEX), '\n// debugging\n');
  for (const other of [repo, seeded.path, again.path, spare.path, spareWorktree.path, join(entryDir(cache, key), 'tree')]) {
    expect(await readFile(join(other, INDEX), 'utf8')).toBe(clean);
  }
  const verified = await vtree(repo, ['cache', 'verify', '--dry-run', '--json']);
  expect(verified.code, verified.stdout).toBe(0);

  // What isolation costs in disk, per extra worktree: the entry's bytes where files are copied, nothing new where they are cloned.
  const status = await vtree(repo, ['cache', 'status', '--json']);
  expect(status.code, status.stderr).toBe(0);
  const entryBytes = (JSON.parse(status.stdout).entries as Array<{ key: string; bytes: number }>).find((e) => e.key === key)!.bytes;
  expect(entryBytes).toBeGreaterThan(0);
  expect(JSON.parse(status.stdout).isolation).toEqual(clones ? { setting: 'auto', mode: 'reflink', bytesPerWorktree: 0, text: expect.any(String) } : { setting: 'auto', mode: 'copy', bytesPerWorktree: entryBytes, text: expect.stringContaining('per extra worktree') });
}

describe('isolation by default', () => {
  it('on ext4: seeded, hit, spare node_modules, spare worktree: no file shared with main, another worktree, a spare or the cache', async () => {
    const parent = await tempDir('vtree-isolate-ext4-');
    cleanups.push(parent);
    await everyPath(parent, false);
  }, 240_000);

  it.skipIf(!xfs.ok)(`on XFS with reflink${xfs.ok ? '' : ` (skipped: ${xfs.ok ? '' : xfs.reason})`}: the same`, async () => {
    await everyPath(xfs.ok ? xfs.value : '', true);
  }, 240_000);
});

describe('the background copy of a hardlinked restore', () => {
  it('replaces every linked file with a copy of its own, and reports a file edited through the link meanwhile, keeping the edit', async () => {
    const root = await tempDir('vtree-isolate-tree-');
    cleanups.push(root);
    await cp(join(fixture, 'node_modules'), join(root, 'main/node_modules'), { recursive: true, verbatimSymlinks: true });
    for (const file of ['package.json', 'package-lock.json']) await cp(join(fixture, file), join(root, 'main', file));
    const project = (await detectProject(diskFiles(join(root, 'main'))))!;
    const entry = await createEntry(join(root, 'cache'), { key: cacheKey(project), project, base: join(root, 'main'), roots: ['node_modules'], source: 'seed' }, () => undefined);
    // The entry is a copy of main's files, never a link to them.
    expect((await lstat(join(entry.tree, INDEX))).ino).not.toBe((await lstat(join(root, 'main', INDEX))).ino);
    const worktree = join(root, 'wt');
    await restoreTree(entry.manifest, { from: entry.tree, to: worktree, mode: 'hardlink', warn: () => undefined });
    expect((await lstat(join(worktree, INDEX))).nlink).toBe(2);
    const linked = (await filesOf(join(worktree, 'node_modules'))).filter((f) => f.nlink === 2).length;
    await appendFile(join(worktree, INDEX), '\n// edited through the link\n');

    const done = await isolateTree(entry.manifest, worktree);
    expect(done.edited).toEqual([INDEX]);
    expect(done.replaced).toBe(linked);
    expect((await filesOf(join(worktree, 'node_modules'))).filter((f) => f.nlink > 1)).toEqual([]);
    expect(await readFile(join(worktree, INDEX), 'utf8')).toMatch(/edited through the link/);
    expect((await readdir(root)).filter((n) => n.includes('vtree-deps'))).toEqual([]);
    // Run again: nothing left to copy.
    expect(await isolateTree(entry.manifest, worktree)).toEqual({ replaced: 0, edited: [] });
    expect(await openEntry(join(root, 'cache'), entry.key)).toBeDefined();
  });
});
