import { lstat, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEntries } from '../../../src/features/deps/cache.js';
import { restoreTree } from '../../../src/features/deps/link-modes.js';
import { run } from '../../../src/core/exec.js';
import { git, tempDir, vtree } from '../../helpers.js';
import { mountCowFs, requirePrereq, type CowFs } from '../../remote-prereqs.js';
import { installedRepoIn } from './deps-helpers.js';

// Reflink on real copy-on-write filesystems: an XFS made with reflink=1 and a btrfs, each on a
// loop device. The repository, its worktrees and the cache all live there; `auto` must pick
// reflink and say so, and every worktree must be fully isolated from the cache and each other.

const FILESYSTEMS: CowFs[] = ['xfs', 'btrfs'];
const mounts = Object.fromEntries(await Promise.all(FILESYSTEMS.map(async (fs) => [fs, await requirePrereq(`${fs} on a loop device`, () => mountCowFs(fs))] as const)));

let fixture: string;
const cleanups: string[] = [];

beforeAll(async () => {
  fixture = await tempDir('vtree-reflink-fixture-');
  await writeFile(join(fixture, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { semver: '7.6.3', 'is-number': '7.0.0', '@isaacs/string-locale-compare': '1.1.0' } }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: fixture });
  cleanups.push(fixture);
}, 120_000);
afterAll(async () => {
  await Promise.all(cleanups.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A repository on `mount` with the fixture committed and installed in its main worktree, and its cache warmed. */
async function repoOn(mount: string): Promise<string> {
  const { root, repo } = await installedRepoIn(mount, 'vtree-reflink-', fixture);
  cleanups.push(root);
  // Restores from the entry itself (no spares): the per-file path is the one under test.
  await git(repo, 'config', 'vtree.cache.spares', '0');
  return repo;
}

async function add(repo: string, branch: string, args: string[] = []) {
  const result = await vtree(repo, ['add', branch, '--json', ...args]);
  expect(result.code, result.stderr).toBe(0);
  const out = JSON.parse(result.stdout) as { path: string; facts: { deps: { source: string; linkMode: string } } };
  return { ...out, stderr: result.stderr };
}

const FILE = 'node_modules/semver/package.json';

for (const fs of FILESYSTEMS) {
  const mount = mounts[fs]!;
  describe.skipIf(!mount.ok)(`reflink on ${fs}${mount.ok ? '' : ` (skipped: ${mount.reason})`}`, () => {
    let repo: string;
    beforeAll(async () => {
      repo = await repoOn(mount.ok ? mount.value : '');
      const warmed = await vtree(repo, ['cache', 'warm', '--spares', '0']);
      expect(warmed.code, warmed.stderr).toBe(0);
    }, 120_000);

    it('auto picks reflink, reports it, and every restored file is its own inode', async () => {
      const one = await add(repo, 'one');
      const two = await add(repo, 'two');
      for (const run of [one, two]) expect(run.facts.deps).toMatchObject({ source: 'hit', linkMode: 'reflink' });
      const [entry] = await listEntries(join(repo, '.git/vibetrees/cache'));
      const inodes = await Promise.all([join(one.path, FILE), join(two.path, FILE), join(entry!.tree, FILE)].map((p) => stat(p)));
      expect(new Set(inodes.map((i) => i.ino)).size).toBe(3);
      for (const info of inodes.slice(0, 2)) expect(info.nlink).toBe(1);
      // The metrics record says it too.
      const metrics = JSON.parse(await readFile(join(repo, '.git/vibetrees/metrics.json'), 'utf8')) as { runs: Array<{ facts?: { deps?: { linkMode?: string } } }> };
      expect(metrics.runs.at(-1)?.facts?.deps?.linkMode).toBe('reflink');
    }, 120_000);

    it('an edit in place in one worktree reaches neither the cache, nor another worktree, nor the main one', async () => {
      const one = await add(repo, 'edit-one');
      const two = await add(repo, 'edit-two');
      const [entry] = await listEntries(join(repo, '.git/vibetrees/cache'));
      const before = await readFile(join(two.path, FILE), 'utf8');
      // Opened r+: written through the same inode, as an editor saving in place or patch-package does.
      await writeFile(join(one.path, FILE), '{"edited": true}\n', { flag: 'r+' });
      expect(await readFile(join(one.path, FILE), 'utf8')).toContain('edited');
      for (const other of [join(two.path, FILE), join(entry!.tree, FILE), join(repo, FILE)]) expect(await readFile(other, 'utf8')).toBe(before);
      const verified = await vtree(repo, ['cache', 'verify', '--dry-run']);
      expect(verified.code, verified.stdout).toBe(0);
    }, 120_000);

    it('a restore that fails part way leaves nothing behind', async () => {
      const [entry] = await listEntries(join(repo, '.git/vibetrees/cache'));
      const to = join(repo, '..', 'staging-failed');
      const broken = { ...entry!.manifest, files: [...entry!.manifest.files, ['node_modules/semver/missing.js', 0o644, 1, 0, 0] as [string, number, number, number, number]] };
      await expect(restoreTree(broken, { from: entry!.tree, to, mode: 'reflink', warn: () => undefined })).rejects.toThrow(/ENOENT/);
      await expect(lstat(to)).rejects.toThrow(/ENOENT/);
    }, 120_000);

    it('a cache on another filesystem falls back to copying, with one warning', async () => {
      const elsewhere = await tempDir('vtree-reflink-cache-');
      cleanups.push(elsewhere);
      await git(repo, 'config', 'vtree.cacheDir', elsewhere);
      try {
        expect((await vtree(repo, ['cache', 'warm', '--spares', '0'])).code).toBe(0);
        const auto = await add(repo, 'far-auto');
        expect(auto.facts.deps).toMatchObject({ source: 'hit', linkMode: 'copy' });
        expect(auto.stderr.split('\n').filter((l) => l.startsWith('warning:'))).toEqual([
          `warning: the cache (${join(elsewhere, 'entries')}/${(await listEntries(elsewhere))[0]!.key}/tree) is on another filesystem than ${join(repo, '..', 'app.worktrees')}: copying files instead of linking (slower; set vtree.cacheDir on the worktrees' filesystem)`,
        ]);
        const forced = await add(repo, 'far-reflink', ['--link-mode', 'reflink']);
        expect(forced.facts.deps).toMatchObject({ source: 'hit', linkMode: 'copy' });
        expect(forced.stderr).toMatch(/warning: cannot reflink from .* \(EXDEV\): copying files instead/);
        expect((await stat(join(forced.path, FILE))).nlink).toBe(1);
      } finally {
        await git(repo, 'config', '--unset', 'vtree.cacheDir');
      }
    }, 120_000);
  });
}

// The probe itself on the local disk (ext4 here): no clone support, so auto is hardlink, never reflink.
describe('auto off a copy-on-write filesystem', () => {
  it('an explicit reflink falls back to copy on a filesystem that cannot clone', async () => {
    const dir = await tempDir('vtree-reflink-ext4-');
    cleanups.push(dir);
    const probe = await run('stat', ['-f', '-c', '%T', dir]);
    if (!/ext|tmpfs/.test(probe.stdout)) return; // the test machine's disk clones: nothing to check here
    await mkdir(join(dir, 'from/node_modules'), { recursive: true });
    await writeFile(join(dir, 'from/node_modules/a.js'), 'a');
    const warnings: string[] = [];
    const ctx = { from: join(dir, 'from'), to: join(dir, 'to'), mode: 'reflink' as const, warn: (w: string) => warnings.push(w) };
    await restoreTree({ roots: ['node_modules'], dirs: ['node_modules'], files: [['node_modules/a.js', 0o644, 1, 0, 0]], links: [] }, ctx);
    expect((ctx as { mode: string }).mode).toBe('copy');
    expect(warnings).toEqual([expect.stringMatching(/cannot reflink from .* \((EOPNOTSUPP|ENOTSUP|EXDEV)\)/)]);
  });
});
