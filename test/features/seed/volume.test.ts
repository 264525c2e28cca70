import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { setCowExtentHint } from '../../../src/features/seed/volume.js';
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
