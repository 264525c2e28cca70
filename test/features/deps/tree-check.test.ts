import { appendFile, lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fromSources from '../../../src/features/deps/tree-check.js';
import type { Manifest } from '../../../src/features/deps/manifest.js';
import { run } from '../../../src/core/exec.js';
import { tempDir } from '../../helpers.js';

// The check of a tree against recorded files, as the sources run it (in this thread) and as the
// built CLI runs it (a worker thread for long lists): both must see the same edits.
const fromBuild = (await import(new URL('../../../dist/features/deps/tree-check.js', import.meta.url).href)) as typeof fromSources;
const FILES = 2500;
let tree: string;
let files: Manifest['files'];

beforeAll(async () => {
  tree = await tempDir('vtree-tree-check-');
  await mkdir(join(tree, 'node_modules/p'), { recursive: true });
  files = [];
  for (let i = 0; i < FILES; i++) {
    const path = `node_modules/p/f${i}.js`;
    await writeFile(join(tree, path), `module.exports = ${i};\n`);
    const info = await lstat(join(tree, path));
    files.push([path, info.mode, info.size, info.mtimeMs, info.ino] as Manifest['files'][number]);
  }
  await writeFile(join(tree, 'record.json'), JSON.stringify({ files }));
  await appendFile(join(tree, 'node_modules/p/f7.js'), '// debug\n');
  await rm(join(tree, 'node_modules/p/f8.js'));
  // Same size and mtime, another inode: only a check of inodes sees it.
  const f9 = join(tree, 'node_modules/p/f9.js');
  await run('cp', ['-p', f9, `${f9}.new`]); // a new inode, with the same content and mtime (to the nanosecond)
  await rename(`${f9}.new`, f9);
});
afterAll(() => rm(tree, { recursive: true, force: true }));

describe.each([
  ['in this thread (sources)', fromSources],
  ['in a worker thread (built)', fromBuild],
])('changedFilesOffThread %s', (_how, { changedFilesOffThread }) => {
  it('names files edited in place, gone, or (with inodes) replaced', async () => {
    expect(await changedFilesOffThread({ tree, recorded: { files }, inodes: false })).toEqual(['node_modules/p/f7.js', 'node_modules/p/f8.js']);
    expect(await changedFilesOffThread({ tree, recorded: { files }, inodes: true })).toEqual(['node_modules/p/f7.js', 'node_modules/p/f8.js', 'node_modules/p/f9.js']);
  });
  it("reads a spare's record file itself, and answers undefined when there is none", async () => {
    expect(await changedFilesOffThread({ tree, recorded: { recordPath: join(tree, 'record.json') }, inodes: true })).toHaveLength(3);
    expect(await changedFilesOffThread({ tree, recorded: { recordPath: join(tree, 'missing.json') }, inodes: true })).toBeUndefined();
  });
});
