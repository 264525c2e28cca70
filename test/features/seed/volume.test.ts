import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { cloneTree, makeDataDir, setCowExtentHint } from '../../../src/features/seed/volume.js';
import { requirePrereq, tempDir } from '../../helpers.js';

const execFileAsync = promisify(execFile);

const made: string[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The copy-on-write extent size hint xfs_io reports for `path` (`[8192] path`), in bytes. */
async function cowExtSize(path: string): Promise<number> {
  const { stdout } = await execFileAsync('xfs_io', ['-c', 'cowextsize', path]);
  return Number(/^\[(\d+)\]/.exec(stdout)?.[1]);
}

describe('setCowExtentHint', () => {
  it("on XFS gives the clones' parent directory an 8 KiB copy-on-write extent hint, which what is created under it inherits", async (ctx) => {
    const { mount } = await requirePrereq('xfs', ctx);
    const root = await mkdtemp(join(mount, 'vtree-cowext-'));
    made.push(root);
    const parent = join(root, 'seeds', 'volumes');
    // The filesystem's default first: the test would pass without the call otherwise.
    await mkdir(root, { recursive: true });
    expect(await cowExtSize(root)).not.toBe(8192);

    expect(await setCowExtentHint(parent)).toBeUndefined();
    expect(await cowExtSize(parent)).toBe(8192);
    // A clone is a directory tree made under it afterwards (cp -a --reflink): its files carry the hint.
    await mkdir(join(parent, 'clone', 'base'), { recursive: true });
    await writeFile(join(parent, 'clone', 'base', '16384'), 'page');
    expect(await cowExtSize(join(parent, 'clone', 'base', '16384'))).toBe(8192);
    // Set once: the next clone's call starts no xfs_io (it could not, here), and says nothing.
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(await setCowExtentHint(parent)).toBeUndefined();
    } finally {
      process.env.PATH = path;
    }
  });

  it('on XFS without xfs_io says why the hint is missing (for the one log line), and does not fail', async (ctx) => {
    const { mount } = await requirePrereq('xfs', ctx);
    const root = await mkdtemp(join(mount, 'vtree-cowext-'));
    made.push(root);
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(await setCowExtentHint(join(root, 'volumes'))).toMatch(/xfs_io/);
    } finally {
      process.env.PATH = path;
    }
  });

  it('elsewhere (ext4, tmpfs) does nothing and says nothing', async () => {
    const root = await tempDir('vtree-cowext-');
    made.push(root);
    expect(await setCowExtentHint(join(root, 'volumes'))).toBeUndefined();
  });
});

describe('makeDataDir and cloneTree', () => {
  it('on btrfs make a golden a subvolume and each clone a snapshot of it, its own: a write to the clone stays there, rm takes it away', async (ctx) => {
    const { mount } = await requirePrereq('btrfs', ctx);
    const root = await mkdtemp(join(mount, 'vtree-snapshot-'));
    made.push(root);
    const golden = join(root, 'golden', 'data');
    await makeDataDir(golden);
    // A subvolume's root directory is inode 256; a plain directory never is.
    expect((await stat(golden)).ino).toBe(256);
    await writeFile(join(golden, 'rows'), 'seeded\n');
    const clone = join(root, 'volumes', 'app-a_pgdata');
    expect(await cloneTree(golden, clone, join(root, 'volumes', '.partial-a'))).toBe('snapshot');
    expect((await stat(clone)).ino).toBe(256);
    await writeFile(join(clone, 'rows'), 'changed\n');
    expect(await readFile(join(golden, 'rows'), 'utf8')).toBe('seeded\n');
    expect(existsSync(join(root, 'volumes', '.partial-a'))).toBe(false);
    await rm(clone, { recursive: true, force: true });
    expect(existsSync(clone)).toBe(false);

    // A golden kept in a plain directory (built before goldens were subvolumes) is cloned by reflink.
    const plain = join(root, 'plain');
    await mkdir(plain);
    await writeFile(join(plain, 'rows'), 'seeded\n');
    expect(await cloneTree(plain, join(root, 'volumes', 'app-b_pgdata'), join(root, 'volumes', '.partial-b'))).toBe('reflink');
    expect(await readFile(join(root, 'volumes', 'app-b_pgdata', 'rows'), 'utf8')).toBe('seeded\n');
  });

  it('off btrfs (here the temp directory: ext4 or tmpfs copies, XFS clones): a plain directory, never a snapshot', async () => {
    const root = await tempDir('vtree-copy-');
    made.push(root);
    const golden = join(root, 'golden', 'data');
    await makeDataDir(golden);
    expect((await stat(golden)).ino).not.toBe(256);
    await writeFile(join(golden, 'rows'), 'seeded\n');
    expect(['copy', 'reflink']).toContain(await cloneTree(golden, join(root, 'clone'), join(root, '.partial')));
    expect(await readFile(join(root, 'clone', 'rows'), 'utf8')).toBe('seeded\n');
  });
});
