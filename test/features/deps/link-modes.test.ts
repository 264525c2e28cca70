import { lstat, mkdir, readlink, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { restoreTree } from '../../../src/features/deps/link-modes.js';
import { scanTree } from '../../../src/features/deps/manifest.js';
import { tempDir } from '../../helpers.js';

let dir: string;
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A tree as pnpm's virtual store has them: a package and symlinks to it (one target longer than 60 bytes). */
async function treeWithLinks(): Promise<string> {
  dir = await tempDir();
  const from = join(dir, 'from');
  const pkg = '.pnpm/some-package-with-a-long-name@1.2.3_peer-dependency@4.5.6/node_modules/some-package-with-a-long-name';
  await mkdir(join(from, 'node_modules', pkg), { recursive: true });
  await writeFile(join(from, 'node_modules', pkg, 'index.js'), 'module.exports = 1;\n');
  await mkdir(join(from, 'node_modules/.bin'));
  await symlink(pkg, join(from, 'node_modules/some-package-with-a-long-name'));
  await symlink('../some-package-with-a-long-name/index.js', join(from, 'node_modules/.bin/short'));
  return from;
}

/** {@link treeWithLinks} restored with `mode`. */
async function restored(mode: 'hardlink' | 'copy') {
  const from = await treeWithLinks();
  const manifest = await scanTree(from, ['node_modules']);
  const to = join(dir, 'to');
  await restoreTree(manifest, { from, to, mode, warn: () => undefined });
  return { from, to, manifest };
}

describe('restoring symlinks', () => {
  it('by hardlink: each is a new name of the source symlink, reading the manifest target', async () => {
    const { from, to, manifest } = await restored('hardlink');
    for (const [path, target] of manifest.links) {
      const [theirs, ours] = await Promise.all([lstat(join(from, path)), lstat(join(to, path))]);
      expect(ours.isSymbolicLink()).toBe(true);
      expect(ours.ino, path).toBe(theirs.ino);
      expect(await readlink(join(to, path))).toBe(target);
    }
    // Replacing it in the restored tree (what any tool does: a symlink cannot be edited in place) leaves the source as it was.
    await unlink(join(to, 'node_modules/.bin/short'));
    await symlink('elsewhere', join(to, 'node_modules/.bin/short'));
    expect(await readlink(join(from, 'node_modules/.bin/short'))).toBe('../some-package-with-a-long-name/index.js');
  });

  it('by hardlink: a source symlink whose target is not the manifest one is not linked; the manifest target is made', async () => {
    const from = await treeWithLinks();
    const manifest = await scanTree(from, ['node_modules']);
    await unlink(join(from, 'node_modules/.bin/short'));
    await symlink('/etc/passwd', join(from, 'node_modules/.bin/short'));
    const to = join(dir, 'to');
    await restoreTree(manifest, { from, to, mode: 'hardlink', warn: () => undefined });
    expect(await readlink(join(to, 'node_modules/.bin/short'))).toBe('../some-package-with-a-long-name/index.js');
    expect((await lstat(join(to, 'node_modules/.bin/short'))).ino).not.toBe((await lstat(join(from, 'node_modules/.bin/short'))).ino);
  });

  it('by copy: each is a symlink of its own', async () => {
    const { from, to, manifest } = await restored('copy');
    for (const [path, target] of manifest.links) {
      expect((await lstat(join(to, path))).ino).not.toBe((await lstat(join(from, path))).ino);
      expect(await readlink(join(to, path))).toBe(target);
    }
  });
});
