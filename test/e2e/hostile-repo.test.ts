import { execFile, spawnSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/features/deps/cache-key.js';
import { detectProject, diskFiles } from '../../src/features/deps/package-manager.js';
import { git, makeRepo, tempDir, testEnv, treeOf, vtree } from '../helpers.js';

const execFileAsync = promisify(execFile);

/**
 * A hostile cloned repository: a committed `.vtreeconfig` that points the cache and the worktrees
 * at a directory outside, a `.worktreeinclude` reaching out with `../`, absolute paths and
 * symlinks, a branch whose tracked symlink leads out, a crafted cache entry and `vtree.json`, and
 * archives for `cache import` with `../` entries and links out. Whatever vtree does with it, a
 * sentinel directory outside the repository and its worktrees directory must not change by one
 * byte, and nothing may appear beside the repository but its worktrees directory.
 */

let root: string;
let app: string;
let sentinel: string;
let cleanups: Array<() => Promise<void>>;

beforeEach(async () => {
  cleanups = [];
  sentinel = await tempDir('vtree-sentinel-');
  cleanups.push(() => rm(sentinel, { recursive: true, force: true }));
  await writeFile(join(sentinel, 'secret'), 'TOP SECRET\n');
  await mkdir(join(sentinel, 'victim'));
  await writeFile(join(sentinel, 'victim', 'keep.txt'), 'keep me\n');
  // What `cacheDir = <sentinel>/cache` would have had its stale-temp cleanup delete.
  await mkdir(join(sentinel, 'cache', 'tmp', 'users-own-dir'), { recursive: true });
  await writeFile(join(sentinel, 'cache', 'tmp', 'users-own-dir', 'data'), 'mine\n');
  const old = new Date(Date.now() - 3 * 3600_000);
  await utimes(join(sentinel, 'cache', 'tmp', 'users-own-dir'), old, old);

  const upstream = await makeRepo({
    '.gitignore': 'node_modules/\n.env\nconf/\nlink-out\n',
    '.vtreeconfig': `[vtree]\n\tcacheDir = ${sentinel}/cache\n\tpath = ${sentinel}/anywhere/{slug}\n[vtree "compose"]\n\tcommand = touch ${sentinel}/pwned\n\tfiles = ../../../${sentinel}/compose.yaml\n`,
    '.worktreeinclude': ['.env', '../outside.env', '../../*', `${sentinel}/secret`, '/etc/passwd', 'conf/.env', 'link-out'].join('\n') + '\n',
    'package.json': JSON.stringify({ name: 'app', version: '1.0.0', private: true }),
    'package-lock.json': JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'app', version: '1.0.0' } } }),
  });
  cleanups.push(upstream.cleanup);
  // A branch whose tracked `conf` is a symlink out of the worktree.
  await git(upstream.repo, 'checkout', '-qb', 'evil');
  await symlink(sentinel, join(upstream.repo, 'conf'));
  await git(upstream.repo, 'add', '-f', 'conf');
  await git(upstream.repo, 'commit', '-qm', 'conf is a link out');
  await git(upstream.repo, 'checkout', '-q', 'main');

  root = await tempDir('vtree-hostile-');
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  app = join(root, 'app');
  await execFileAsync('git', ['clone', '-q', upstream.repo, app], { env: testEnv() });
  await git(app, 'branch', 'evil', 'origin/evil');
  // The user's own ignored files in the main worktree.
  await writeFile(join(app, '.env'), 'A=1\n');
  await mkdir(join(app, 'conf'));
  await writeFile(join(app, 'conf', '.env'), 'CONF=1\n');
  await symlink(join(sentinel, 'secret'), join(app, 'link-out'));
});
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A cache entry of `app`'s key whose manifest leads out of the tree. */
async function craftEntry(manifest: object, meta?: object): Promise<string> {
  const key = cacheKey((await detectProject(diskFiles(app)))!);
  const dir = join(app, '.git', 'vibetrees', 'cache', 'entries', key);
  await mkdir(join(dir, 'tree', 'node_modules'), { recursive: true });
  await writeFile(join(dir, 'tree', 'node_modules', 'ok.js'), 'ok\n');
  const project = (await detectProject(diskFiles(app)))!;
  const now = new Date().toISOString();
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  await writeFile(join(dir, 'meta.json'), JSON.stringify(meta ?? { key, source: 'seed', packageManager: 'npm', project, platform: {}, createdAt: now, lastUsedAt: now, hits: 0, files: 1, bytes: 3 }));
  return dir;
}

describe('a hostile cloned repository', () => {
  it('cannot make add, rm or the cache write, delete or run anything outside the repository and its worktrees directory', async () => {
    const before = await treeOf(sentinel, { times: true });
    const entry = await craftEntry({
      roots: ['node_modules'],
      dirs: ['node_modules'],
      files: [
        ['node_modules/ok.js', 0o644, 3, 0, 0],
        ['node_modules/../../../escaped-file', 0o644, 3, 0, 0],
      ],
      links: [
        ['node_modules/passwd', '/etc/passwd'],
        ['node_modules/up', `../../../../../../../../..${sentinel}/secret`],
      ],
    });

    const add = await vtree(app, ['add', 'feat']);
    expect(add.code, add.stderr).toBe(0);
    // Committed keys that could reach outside: one warning each, naming where to set them instead.
    expect(add.stderr.match(/\.vtreeconfig sets vtree\.cacheDir, ignored.*git config vtree\.cacheDir/g)).toHaveLength(1);
    expect(add.stderr).toMatch(/\.vtreeconfig sets vtree\.compose\.command, ignored/);
    expect(add.stderr).toMatch(/\.vtreeconfig sets vtree\.compose\.files, ignored: it names a file outside the repository/);
    expect(add.stderr).toMatch(/\.vtreeconfig sets vtree\.path .* outside .*: ignored/);
    const feat = join(root, 'app.worktrees', 'feat');
    expect(add.stdout.trim()).toBe(feat);
    // The crafted entry was corrupt: dropped, nothing restored from it.
    await expect(lstat(entry)).rejects.toThrow();
    await expect(lstat(join(feat, 'node_modules', 'passwd'))).rejects.toThrow();
    await expect(lstat(join(feat, 'node_modules', 'up'))).rejects.toThrow();
    expect(await readFile(join(feat, '.env'), 'utf8')).toMatch(/^A=1\n/);
    // A link the user made is carried as a link: nothing was read through it.
    expect(await readlink(join(feat, 'link-out'))).toBe(join(sentinel, 'secret'));

    const evil = await vtree(app, ['add', 'evil']);
    expect(evil.code, evil.stderr).toBe(0);
    const evilPath = join(root, 'app.worktrees', 'evil');
    expect(evil.stderr).toMatch(/not copying conf\/\.env: it leads outside the worktree/);
    expect((await lstat(join(evilPath, 'conf'))).isSymbolicLink()).toBe(true);

    // A vtree.json that names a directory outside as the worktree's node_modules.
    const gitDir = (await git(evilPath, 'rev-parse', '--absolute-git-dir')).trim();
    const state = JSON.parse(await readFile(join(gitDir, 'vtree.json'), 'utf8'));
    state.deps = { ...state.deps, dirs: [relative(evilPath, join(sentinel, 'victim')), `${sentinel}/victim`, 'node_modules/../../../victim'] };
    await writeFile(join(gitDir, 'vtree.json'), JSON.stringify(state));
    const removed = await vtree(app, ['rm', 'evil', '--force']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stderr).toMatch(/ignored dependency directory/);

    // Archives for `cache import`: `../` entries, a link out, a meta whose package dirs climb out.
    const stage = await tempDir('vtree-tar-');
    cleanups.push(() => rm(stage, { recursive: true, force: true }));
    const key = 'f'.repeat(40);
    await mkdir(join(stage, 'pack', key, 'tree', 'node_modules'), { recursive: true });
    await writeFile(join(stage, 'pack', key, 'meta.json'), JSON.stringify({ key, lastUsedAt: '', project: { packageDirs: ['../../../..'] }, platform: {} }));
    await writeFile(join(stage, 'escape.txt'), 'escaped\n');
    await symlink(join(sentinel, 'secret'), join(stage, 'pack', key, 'tree', 'node_modules', 'x'));
    const withLink = join(stage, 'link.tar');
    await execFileAsync('tar', ['-cf', withLink, '-C', join(stage, 'pack'), key]);
    const dotdot = join(stage, 'dotdot.tar');
    await rm(join(stage, 'pack', key, 'tree', 'node_modules', 'x'));
    // -P keeps the member name `../escape.txt` as it is.
    await execFileAsync('tar', ['-cf', dotdot, '-P', key, '../escape.txt'], { cwd: join(stage, 'pack') });
    expect((await execFileAsync('tar', ['-tf', dotdot])).stdout).toMatch(/^\.\.\/escape\.txt$/m);
    const importLink = await vtree(app, ['cache', 'import', withLink]);
    expect(importLink.code).not.toBe(0);
    const importDotdot = await vtree(app, ['cache', 'import', dotdot]);
    expect(importDotdot.code).toBe(1);
    // A `../` member refuses the whole archive before any entry of it is looked at.
    expect(importDotdot.stderr).toMatch(/refused .*dotdot\.tar: '\.\.\/escape\.txt' is not a path inside the tree/);
    await rm(dotdot);
    await execFileAsync('tar', ['-cf', dotdot, key], { cwd: join(stage, 'pack') });
    const importMeta = await vtree(app, ['cache', 'import', dotdot]);
    expect(importMeta.code).toBe(1);
    expect(importMeta.stderr).toMatch(/refused ffffffffffff \(package directories .* are not the worktree's workspaces\)/);

    expect((await vtree(app, ['cache', 'prune'])).code).toBe(0);
    expect((await vtree(app, ['cache', 'verify'])).code).toBe(0);
    expect((await vtree(app, ['rm', 'feat', '--force'])).code).toBe(0);

    // Nothing outside changed, nothing appeared beside the repository.
    expect(await treeOf(sentinel, { times: true })).toEqual(before);
    expect((await readdir(root)).sort()).toEqual(['app', 'app.worktrees']);
    expect(await readdir(join(root, 'app.worktrees'))).toEqual([]);
    await expect(lstat(join(stage, 'escape.txt'))).resolves.toBeTruthy();
  });

  it('honours the same keys from git config, where the user set them (and cleans only its own temp names there)', async () => {
    const cache = join(sentinel, 'cache');
    await git(app, 'config', 'vtree.cacheDir', cache);
    await git(app, 'config', 'vtree.path', `${sentinel}/trees/{slug}`);
    const add = await vtree(app, ['add', 'feat']);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stderr).not.toMatch(/\.vtreeconfig sets vtree\.(cacheDir|path)/);
    expect(add.stdout.trim()).toBe(join(sentinel, 'trees', 'feat'));
    // A temp dir vtree made and whose process is gone is cleaned; the user's old directory in tmp/ is not.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    const ours = join(cache, 'tmp', `.vtree-tmp-${deadPid}-0badc0de-crashed`);
    await mkdir(ours, { recursive: true });
    expect((await vtree(app, ['cache', 'prune'])).code).toBe(0);
    await expect(lstat(ours)).rejects.toThrow();
    expect(await readFile(join(cache, 'tmp', 'users-own-dir', 'data'), 'utf8')).toBe('mine\n');
  });
});
