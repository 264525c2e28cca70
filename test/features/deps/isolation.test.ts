import { appendFile, cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEntry, sparesDir } from '../../../src/features/deps/cache.js';
import { run } from '../../../src/core/exec.js';
import { git, makeRepo, tempDir, vtree } from '../../helpers.js';
import { add, countIn, treeOf, waitFor } from './deps-helpers.js';

/**
 * The isolation contract with real npm installs: an edit made through a hardlink, in any
 * worktree (main included), is found before the next `add` hands the entry out, named with the
 * worktrees that hold it, and never reaches a new worktree; and what `add` hands out equals a
 * clean install of the lockfile, whatever state the tree it started from was in.
 */

const DEPS = { 'is-number': '7.0.0', nanoid: '3.3.8' };
let fixture: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  fixture = await tempDir('vtree-isolation-fixture-');
  await writeFile(join(fixture, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: DEPS }, null, 2) + '\n');
  await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: fixture });
});
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
  await rm(fixture, { recursive: true, force: true });
});

/** A repository whose commit holds the fixture's package.json and lockfile, its main worktree installed (hardlink mode, one spare). */
async function installedRepo(): Promise<{ root: string; repo: string; cache: string }> {
  const made = await makeRepo({ '.gitignore': 'node_modules/\n' });
  cleanups.push(made.cleanup);
  for (const file of ['package.json', 'package-lock.json']) await cp(join(fixture, file), join(made.repo, file));
  await git(made.repo, 'add', '-A');
  await git(made.repo, 'commit', '-qm', 'dependencies');
  await cp(join(fixture, 'node_modules'), join(made.repo, 'node_modules'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  await git(made.repo, 'config', 'vtree.linkMode', 'hardlink');
  return { ...made, cache: join(made.repo, '.git/vibetrees/cache') };
}

const INDEX = 'node_modules/is-number/index.js';
const clean = () => readFile(join(fixture, INDEX), 'utf8');

describe('an edit through a hardlink', () => {
  it('in a worktree: the next add finds it, names the file and who holds it, and installs afresh; verify agrees', async () => {
    const { repo, cache } = await installedRepo();
    const seeded = await add(repo, 'seeded');
    expect(seeded.facts.deps).toMatchObject({ source: 'seed', linkMode: 'hardlink' });
    const key = seeded.facts.deps.key as string;
    await waitFor('the spare', async () => (await countIn(sparesDir(cache, key))) === 1);
    const a = await add(repo, 'a');
    expect(a.facts.deps).toMatchObject({ source: 'hit', spare: true });

    // What people do when they debug a dependency: edit it in place (the next spare is ready).
    await waitFor('the next spare', async () => (await countIn(sparesDir(cache, key))) === 1);
    await appendFile(join(a.path, INDEX), '\n// debugging\n');
    const b = await add(repo, 'b');
    expect(b.stderr).toMatch(new RegExp(`${INDEX}.*shared with.*${a.path}`));
    expect(b.stderr).toContain(repo);
    expect(b.facts.deps.source).toBe('miss');
    expect(await readFile(join(b.path, INDEX), 'utf8')).toBe(await clean());
    expect(await treeOf(join(b.path, 'node_modules/nanoid'))).toEqual(await treeOf(join(fixture, 'node_modules/nanoid')));

    // The clean install becomes the entry; the edited worktrees are named by verify, never handed on.
    await waitFor('the clean entry', async () => (await openEntry(cache, key)) !== undefined);
    const verified = await vtree(repo, ['cache', 'verify', '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ checked: 1, broken: [] });
    const c = await add(repo, 'c');
    expect(c.facts.deps.source).toBe('hit');
    expect(await readFile(join(c.path, INDEX), 'utf8')).toBe(await clean());
  });

  it('in the main worktree, after seeding: caught too; cache verify names the holders and --repair re-installs the entry and every tree it names clean', async () => {
    const { repo, cache } = await installedRepo();
    await git(repo, 'config', 'vtree.cache.spares', '0');
    const seeded = await add(repo, 'seeded');
    const key = seeded.facts.deps.key as string;
    await waitFor('the entry', async () => (await openEntry(cache, key)) !== undefined);
    await appendFile(join(repo, INDEX), '\n// debugging in main\n');

    const dry = await vtree(repo, ['cache', 'verify', '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain(INDEX);
    expect(dry.stdout).toContain(`${repo} still has the edit`);
    expect(dry.stdout).toContain(`${seeded.path} still has the edit`);
    const repaired = await vtree(repo, ['cache', 'verify', '--repair', '--json']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(JSON.parse(repaired.stdout)).toMatchObject({ broken: [{ key, files: [INDEX], repaired: true }] });
    expect(await git(repo, 'worktree', 'list', '--porcelain')).not.toMatch(/repair-/);
    const entry = (await openEntry(cache, key))!;
    expect(await readFile(join(entry.tree, INDEX), 'utf8')).toBe(await clean());
    // What verify named, --repair re-installed: the main worktree and the seeded one are clean again.
    expect(JSON.parse(repaired.stdout).trees).toEqual(expect.arrayContaining([expect.objectContaining({ path: repo, repaired: true }), expect.objectContaining({ path: seeded.path, repaired: true })]));
    expect(await readFile(join(repo, INDEX), 'utf8')).toBe(await clean());
    expect(await readFile(join(seeded.path, INDEX), 'utf8')).toBe(await clean());

    const next = await add(repo, 'next');
    expect(next.facts.deps).toMatchObject({ source: 'hit', key });
    expect(await readFile(join(next.path, INDEX), 'utf8')).toBe(await clean());
  });
});

describe('cache verify and --repair agree', () => {
  it('an edit that add found and reported (the entry dropped) is still named by verify, main included, and --repair re-installs exactly those trees', async () => {
    const { repo, cache } = await installedRepo();
    const k1 = await add(repo, 'k1');
    const key = k1.facts.deps.key as string;
    await waitFor('the spare', async () => (await countIn(sparesDir(cache, key))) === 1);
    const k2 = await add(repo, 'k2');
    expect(k2.facts.deps).toMatchObject({ source: 'hit', linkMode: 'hardlink' });
    await appendFile(join(k2.path, INDEX), '\n// debugging in k2\n');
    // The next add finds the edit, says so, drops the entry: the edit is no longer in any entry.
    const k3 = await add(repo, 'k3');
    expect(k3.stderr).toContain('edited in place through a hardlink');
    await waitFor('the clean entry', async () => (await openEntry(cache, key)) !== undefined);

    const dry = await vtree(repo, ['cache', 'verify', '--dry-run', '--json']);
    expect(dry.code).toBe(1);
    const named = JSON.parse(dry.stdout).trees as Array<{ path: string; files: string[]; repair: string }>;
    expect(named.map((t) => t.path).sort()).toEqual([repo, k1.path, k2.path].sort());
    for (const t of named) expect(t).toMatchObject({ files: [INDEX], repair: expect.stringMatching(/^rm -rf node_modules, then npm (ci|install)/) });

    const repaired = await vtree(repo, ['cache', 'verify', '--repair', '--json']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect((JSON.parse(repaired.stdout).trees as Array<{ path: string; repaired: boolean }>).map((t) => [t.path, t.repaired]).sort()).toEqual([repo, k1.path, k2.path].sort().map((p) => [p, true]));
    for (const tree of [repo, k1.path, k2.path, k3.path]) expect(await readFile(join(tree, INDEX), 'utf8')).toBe(await clean());
    const after = await vtree(repo, ['cache', 'verify', '--dry-run', '--json']);
    expect(after.code, after.stdout).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ broken: [], trees: [] });
  });
});

describe('what add hands out equals a clean install', () => {
  it('never seeds from a tree whose lockfile moved on without an install (npm --package-lock-only)', async () => {
    const { repo } = await installedRepo();
    // The lockfile now says nanoid 3.3.7; 3.3.8 is still on disk, and npm's hidden lockfile was rewritten.
    const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8'));
    await writeFile(join(repo, 'package.json'), JSON.stringify({ ...pkg, dependencies: { ...DEPS, nanoid: '3.3.7' } }, null, 2) + '\n');
    await run('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: repo });
    await git(repo, 'commit', '-qam', 'nanoid 3.3.7');
    const wt = await add(repo, 'wt');
    expect(wt.facts.deps.source).not.toBe('seed');
    expect(JSON.parse(await readFile(join(wt.path, 'node_modules/nanoid/package.json'), 'utf8')).version).toBe('3.3.7');
    expect(await git(wt.path, 'status', '--porcelain')).toBe('');
  });

  it('caches a drifting lockfile under the commit\'s key after the first reconcile, and never dirties the checkout', async () => {
    const { repo, cache } = await installedRepo();
    // A branch whose committed lockfile npm writes differently (without the `license` fields npm
    // adds back): main's install of the original lockfile is the partial start.
    await git(repo, 'checkout', '-qb', 'drift');
    const lock = JSON.parse(await readFile(join(repo, 'package-lock.json'), 'utf8'));
    for (const entry of Object.values(lock.packages as Record<string, Record<string, unknown>>)) delete entry.license;
    await writeFile(join(repo, 'package-lock.json'), JSON.stringify(lock, null, 2) + '\n');
    await git(repo, 'commit', '-qam', 'drifting lockfile');
    await git(repo, 'checkout', '-q', 'main');

    const first = await add(repo, 'first', ['--from', 'drift']);
    expect(first.facts.deps.source).toBe('partial');
    expect(await git(first.path, 'status', '--porcelain')).toBe('');
    const key = first.facts.deps.key as string;
    await waitFor('the entry', async () => (await openEntry(cache, key)) !== undefined);
    const second = await add(repo, 'second', ['--from', 'drift']);
    expect(second.facts.deps).toMatchObject({ source: 'hit', key });
    expect(await git(second.path, 'status', '--porcelain')).toBe('');
  });
});
