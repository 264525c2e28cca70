import { mkdir, readdir, realpath, rm, symlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { confinedPath, isPlainRelative, isWorktreePath, linkLeavingTree, resolvesInside } from '../../src/core/confine.js';
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

describe('isWorktreePath', () => {
  it('refuses a .git directory or anything in one, at any depth and in any case', () => {
    for (const ok of ['node_modules', 'packages/a', '.github', 'a/.gitignore']) expect(isWorktreePath(ok), ok).toBe(true);
    for (const bad of ['.git', '.git/node_modules', 'packages/a/.git/x', '.GIT', '../x', '']) expect(isWorktreePath(bad), bad).toBe(false);
  });
});

/** The layer: `D/s` climbs back to the root, `D/t` one step more through it, `.bin` reaches out through `t`. */
const CLIMB: Array<[string, string]> = [
  ['node_modules/a/D/s', '../../..'],
  ['node_modules/a/D/t', 's/../../..'],
  ['node_modules/.bin', '../node_modules/a/D/t/outside'],
];

describe('linkLeavingTree', () => {
  it('follows the tree\'s own links: a climb through a link back to the root leaves it, whatever the order', () => {
    expect(linkLeavingTree(CLIMB)?.[0]).toBe('node_modules/a/D/t');
    expect(linkLeavingTree([...CLIMB].reverse())?.[0]).toMatch(/^node_modules\/(a\/D\/t|\.bin)$/);
    // Each alone reads as inside by its letters; only the link it goes through makes it leave.
    expect(linkLeavingTree([CLIMB[1]!])).toBeUndefined();
    // A link that makes an earlier one's `..` start from elsewhere.
    expect(linkLeavingTree([['node_modules/a/x', 'y/../../..'], ['node_modules/a/y', '.']])?.[0]).toBe('node_modules/a/x');
  });

  it('passes what npm, pnpm and workspaces make; refuses absolute targets and loops', () => {
    expect(linkLeavingTree([['node_modules/.bin/semver', '../semver/bin/semver.js'], ['node_modules/@s/pkg', '../../packages/pkg'], ['node_modules/.pnpm/node_modules/a', '../a@1/node_modules/a']])).toBeUndefined();
    expect(linkLeavingTree([['node_modules/passwd', '/etc/passwd']])?.[0]).toBe('node_modules/passwd');
    expect(linkLeavingTree([['node_modules/up', '../../x']])?.[0]).toBe('node_modules/up');
    expect(linkLeavingTree([['node_modules/a', '']])?.[0]).toBe('node_modules/a');
    expect(linkLeavingTree([['node_modules/a', 'b'], ['node_modules/b', 'a/x']])).toBeDefined();
  });

  it('agrees with the kernel: every link it passes resolves inside the tree on disk, every one it refuses outside', async () => {
    const cases: Array<Array<[string, string]>> = [
      CLIMB,
      [['node_modules/a/x', 'y/../../..'], ['node_modules/a/y', '.']],
      [['node_modules/a/x', 'y/../..'], ['node_modules/a/y', '.']],
      [['node_modules/a/b/s', '../..'], ['node_modules/a/b/t', 's/..']],
      [['node_modules/a/b/s', '../..'], ['node_modules/a/b/t', 's/../..'], ['node_modules/u', 'a/b/t/..']],
      [['node_modules/.bin/x', '../pkg/cli.js'], ['node_modules/pkg', '../packages/pkg']],
    ];
    for (const [i, links] of cases.entries()) {
      const root = join(dir, `case${i}`, 'tree');
      for (const [path] of links) await mkdir(dirname(join(root, path)), { recursive: true });
      await mkdir(join(dir, `case${i}`, 'outside'));
      for (const [path, target] of links) await symlink(target, join(root, path));
      const realRoot = await realpath(root);
      let outside = false;
      for (const [path] of links) {
        const real = await realpath(join(root, path)).catch(() => undefined);
        if (real !== undefined && relative(realRoot, real).startsWith('..')) outside = true;
      }
      expect(linkLeavingTree(links) !== undefined, `case ${i}`).toBe(outside);
    }
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
    ['a link that climbs out through another link', { ...good, dirs: [...good.dirs, 'node_modules/a/D'], links: CLIMB.slice(0, 2) }],
    ['a root in .git', { ...good, roots: ['.git/node_modules'], dirs: ['.git/node_modules'], files: [], links: [] }],
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
