import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deleteAside } from '../../src/core/files.js';
import { tempDir } from '../helpers.js';

let root: string;
beforeEach(async () => {
  root = await tempDir('vtree-files-');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('deleteAside', () => {
  it('takes the directory away in one rename, then deletes it: a reader sees it whole or not at all', async () => {
    const dir = join(root, 'pool', 'spare');
    await mkdir(dir, { recursive: true });
    const names = Array.from({ length: 2000 }, (_, i) => `f${i}`);
    await Promise.all(names.map((name) => writeFile(join(dir, name), name)));

    const seen = new Set<number>();
    let done = false;
    const deleting = deleteAside(dir, join(root, 'tmp'), 'spare').finally(() => (done = true));
    while (!done) seen.add(await readdir(dir).then((found) => found.length, () => 0));
    expect(await deleting).toBe(true);
    expect([...seen].every((count) => count === 0 || count === names.length)).toBe(true);
    expect(await readdir(join(root, 'pool'))).toEqual([]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('says false for a directory that is not there, and makes nothing', async () => {
    expect(await deleteAside(join(root, 'gone'), join(root, 'tmp'), 'gone')).toBe(false);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });
});
