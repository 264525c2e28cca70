import { lstat, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { listEntries, type CacheEntry } from '../../src/features/deps/cache.js';
import type { Manifest } from '../../src/features/deps/manifest.js';
import { git, npmProjectsForFile, tempDir, vtree } from '../helpers.js';

// `cache verify`, `export` and `import` against trees whose links lead outside once followed
// through each other (the pair: `D/s -> ../../..` is the tree root, `D/t -> s/../../..`
// one climb more), though each reads as inside by its letters.

const { warmedRepo } = npmProjectsForFile();

const CLIMB: Array<[string, string]> = [
  ['node_modules/a/D/s', '../../..'],
  ['node_modules/a/D/t', 's/../../..'],
];

/** A warmed repository and its one entry. */
async function warmed(): Promise<{ repo: string; entry: CacheEntry }> {
  const repo = await warmedRepo();
  const [entry] = await listEntries(join(repo, '.git/vibetrees/cache'));
  return { repo, entry: entry! };
}

/** Places the climbing links in `entry`'s tree on disk; with `inManifest`, lists them in its manifest too. */
async function plantClimb(entry: CacheEntry, inManifest: boolean): Promise<void> {
  await mkdir(join(entry.tree, 'node_modules/a/D'), { recursive: true });
  for (const [path, target] of CLIMB) await symlink(target, join(entry.tree, path));
  if (!inManifest) return;
  const manifest = JSON.parse(await readFile(join(entry.dir, 'manifest.json'), 'utf8')) as Manifest;
  manifest.dirs.push('node_modules/a', 'node_modules/a/D');
  manifest.links.push(...CLIMB);
  await writeFile(join(entry.dir, 'manifest.json'), JSON.stringify(manifest));
}

describe('cache verify, export and import judge links by where they lead', () => {
  it('verify names and drops an entry whose manifest holds links climbing out through each other, never "all intact"', async () => {
    const { repo, entry } = await warmed();
    await plantClimb(entry, true);
    const verified = await vtree(repo, ['cache', 'verify', '--dry-run']);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain(`${entry.key.slice(0, 12)}: link 'node_modules/a/D/t' leads outside the tree (s/../../..): dropped`);
    expect(verified.stdout).not.toContain('all intact');
    await expect(lstat(entry.dir)).rejects.toThrow(/ENOENT/);
  }, 120_000);

  it('verify finds links changed in the tree on disk since the entry was made; export does not carry that entry on', async () => {
    const { repo, entry } = await warmed();
    await plantClimb(entry, false);
    const file = join(await tempDir('vtree-export-'), 'cache.tar.gz');
    const exported = await vtree(repo, ['cache', 'export', file]);
    expect(exported.stderr).toContain(`not exporting ${entry.key.slice(0, 12)}: link 'node_modules/a/D/s' is not the one the entry was made with`);
    expect(exported.code).not.toBe(0);
    await expect(lstat(file)).rejects.toThrow(/ENOENT/);
    const verified = await vtree(repo, ['cache', 'verify', '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ checked: 1, unsafe: [{ key: entry.key, why: expect.stringMatching(/is not the one the entry was made with/) }] });
    expect(await listEntries(join(repo, '.git/vibetrees/cache'))).toEqual([]);
  }, 120_000);

  it('import refuses an archive whose links climb out through each other, and an entry whose links leave its own tree', async () => {
    const { repo, entry } = await warmed();
    /** An archive of the entry's meta, one file and `links` under its tree. */
    const archive = async (name: string, links: Array<[string, string]>) => {
      const packer = pack();
      packer.entry({ name: `${entry.key}/meta.json` }, await readFile(join(entry.dir, 'meta.json')));
      packer.entry({ name: `${entry.key}/tree/node_modules/is-number/index.js` }, 'module.exports = 1;\n');
      for (const [path, target] of links) packer.entry({ name: `${entry.key}/tree/${path}`, type: 'symlink', linkname: target });
      packer.finalize();
      const file = join(await tempDir('vtree-import-'), name);
      await pipeline(packer as unknown as Readable, createWriteStream(file));
      return file;
    };
    const parent = await tempDir('vtree-import-clone-');
    const clone = join(parent, 'app');
    await git(parent, 'clone', '-q', repo, clone);

    const out = await archive('out.tar', [...CLIMB, ['node_modules/.bin', '../node_modules/a/D/t/outside']]);
    const refused = await vtree(clone, ['cache', 'import', out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`refused ${out}: ${entry.key}/tree/node_modules/(a/D/t|\\.bin) links outside the tree`));
    // One climb less: inside the archive, but out of the entry's own tree (into its directory).
    const toEntryDir = await archive('entry-dir.tar', [CLIMB[0]!, ['node_modules/a/D/t', 's/..']]);
    const imported = await vtree(clone, ['cache', 'import', toEntryDir]);
    expect(imported.code).toBe(1);
    expect(imported.stderr).toContain(`refused ${entry.key.slice(0, 12)} (link 'node_modules/a/D/t' leads outside the tree (s/..))`);
    expect(await listEntries(join(clone, '.git/vibetrees/cache'))).toEqual([]);
  }, 120_000);
});
