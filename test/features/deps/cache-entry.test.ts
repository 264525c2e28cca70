import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entryDir, listEntries, openEntry } from '../../../src/features/deps/cache.js';
import { tempDir } from '../../helpers.js';

let cacheDir: string;
beforeEach(async () => {
  cacheDir = await tempDir('vtree-cache-');
});
afterEach(async () => rm(cacheDir, { recursive: true, force: true }));

const manifest = JSON.stringify({ roots: ['node_modules'], dirs: [], files: [], links: [] });

describe('a corrupt cache entry', () => {
  it.each([
    ['garbage meta.json', 'not json {', manifest],
    ['meta.json of the wrong shape', '"a string"', manifest],
    ['meta.json of another key', JSON.stringify({ key: 'other' }), manifest],
    ['no meta.json', undefined, manifest],
    ['garbage manifest.json', undefined, '[1, 2'],
  ])('is dropped, not listed and not left to block its key: %s', async (_, meta, man) => {
    const key = 'k'.repeat(64);
    const dir = entryDir(cacheDir, key);
    await mkdir(join(dir, 'tree', 'node_modules'), { recursive: true });
    if (meta !== undefined) await writeFile(join(dir, 'meta.json'), meta);
    await writeFile(join(dir, 'manifest.json'), man);
    expect(await listEntries(cacheDir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(await openEntry(cacheDir, key)).toBeUndefined();
  });
});
