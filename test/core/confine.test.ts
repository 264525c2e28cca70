import { mkdir, readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { confinedPath, isPlainRelative, linkStaysInside, resolvesInside } from '../../src/core/confine.js';
import { tempName, tempNamePid } from '../../src/core/temp-name.js';
import { manifestProblem, type Manifest } from '../../src/features/deps/manifest.js';
import { restoreTree } from '../../src/features/deps/link-modes.js';
import { tempDir } from '../helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('vtree-confine-');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('isPlainRelative', () => {
  it('accepts relative paths without . or .. parts, refuses everything else', () => {
    for (const ok of ['a', 'node_modules/.bin/x', 'a/...', '.env', 'packages/a/node_modules']) expect(isPlainRelative(ok), ok).toBe(true);
    for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', 'a/./b', 'a//b', 'a/', '..', '.', 'a\\..\\b', 'a\0b', 42, undefined]) expect(isPlainRelative(bad), String(bad)).toBe(false);
  });
});

describe('linkStaysInside', () => {
  it('allows relative targets that stay inside the tree, refuses absolute and climbing ones', () => {
    expect(linkStaysInside('node_modules/.bin/semver', '../semver/bin/semver.js')).toBe(true);
    expect(linkStaysInside('node_modules/@scope/pkg', '../../packages/pkg')).toBe(true);
    expect(linkStaysInside('node_modules/up', '../../x')).toBe(false);
    expect(linkStaysInside('node_modules/passwd', '/etc/passwd')).toBe(false);
    expect(linkStaysInside('node_modules/a', '')).toBe(false);
  });
});

describe('resolvesInside / confinedPath', () => {
  it('follows symlinks on the way, including to paths still to be created', async () => {
    const outside = await tempDir('vtree-outside-');
    try {
      await mkdir(join(dir, 'real'));
      await symlink(outside, join(dir, 'out'));
      await symlink('real', join(dir, 'in'));
      expect(await resolvesInside(dir, join(dir, 'real', 'new', 'file'))).toBe(true);
      expect(await resolvesInside(dir, join(dir, 'in', 'file'))).toBe(true);
      expect(await resolvesInside(dir, join(dir, 'out', 'file'))).toBe(false);
      expect(await resolvesInside(dir, join(dir, 'out', 'a', 'b'))).toBe(false);
      expect(await confinedPath(dir, 'real/x')).toBe(join(dir, 'real/x'));
      expect(await confinedPath(dir, 'out/x')).toBeUndefined();
      expect(await confinedPath(dir, '../x')).toBeUndefined();
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('manifestProblem', () => {
  const good: Manifest = {
    roots: ['node_modules'],
    dirs: ['node_modules', 'node_modules/.bin', 'node_modules/a'],
    files: [['node_modules/a/index.js', 0o644, 1, 0, 0]],
    links: [['node_modules/.bin/a', '../a/index.js']],
  };
  it('passes a manifest vtree makes', () => {
    expect(manifestProblem(good)).toBeUndefined();
  });
  it.each([
    ['a root that is not a node_modules', { ...good, roots: ['src'], dirs: ['src'] }],
    ['a root that climbs', { ...good, roots: ['../node_modules'] }],
    ['a file that climbs', { ...good, files: [['node_modules/../../../x', 0, 0, 0, 0]] }],
    ['an absolute file', { ...good, files: [['/etc/passwd', 0, 0, 0, 0]] }],
    ['a file under an unlisted directory', { ...good, files: [['node_modules/b/x', 0, 0, 0, 0]] }],
    ['a file under a link', { ...good, links: [['node_modules/evil', '../a']], files: [['node_modules/evil/x', 0, 0, 0, 0]] }],
    ['a link to an absolute path', { ...good, links: [['node_modules/passwd', '/etc/passwd']] }],
    ['a link that climbs out', { ...good, links: [['node_modules/up', '../../..']] }],
    ['a directory that is also a link', { ...good, links: [['node_modules/a', '.bin']] }],
    ['not a manifest', { roots: 'node_modules' }],
  ])('refuses %s', (_name, manifest) => {
    expect(manifestProblem(manifest)).toBeTypeOf('string');
  });
  it('makes restoreTree refuse before it creates anything', async () => {
    const to = join(dir, 'staging');
    const bad = { ...good, files: [...good.files, ['node_modules/../../escaped', 0, 0, 0, 0]] } as Manifest;
    await expect(restoreTree(bad, { from: dir, to, mode: 'copy', warn: () => undefined })).rejects.toThrow(/leaves the tree/);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('temp names', () => {
  it('carry the pid, and only vtree-made names parse', () => {
    const name = tempName('cache/entry');
    expect(name).toMatch(/^\.vtree-tmp-\d+-[0-9a-f]{8}-cache-entry$/);
    expect(tempNamePid(name)).toBe(process.pid);
    for (const other of ['users-own-dir', 'key.123.abcd', '.vtree-tmp-x-1234abcd-y', 'tmp']) expect(tempNamePid(other)).toBeUndefined();
  });
});
