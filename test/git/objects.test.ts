import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCommittedTexts } from '../../src/git/objects.js';
import { git, makeRepo } from '../helpers.js';

let repo: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ repo, cleanup } = await makeRepo({ 'a.txt': 'plain\n', 'ü.json': '{"naïve":"日本"}\n' }));
});
afterEach(async () => cleanup());

describe('readCommittedTexts', () => {
  it('reads committed files by exact byte size, skipping missing paths and directories', async () => {
    // A binary blob between two text files must not shift the parse of the next one.
    await writeFile(join(repo, 'bin.dat'), Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x80]));
    await git(repo, 'add', '.');
    await git(repo, 'commit', '-qm', 'binary');
    const commit = await git(repo, 'rev-parse', 'HEAD');
    await writeFile(join(repo, 'a.txt'), 'changed on disk, not committed\n');
    const texts = await readCommittedTexts(repo, commit, ['a.txt', 'bin.dat', 'missing.txt', 'ü.json', '.']);
    expect([...texts.keys()]).toEqual(['a.txt', 'bin.dat', 'ü.json']);
    expect(texts.get('a.txt')).toBe('plain\n');
    expect(texts.get('ü.json')).toBe('{"naïve":"日本"}\n');
    expect(await readCommittedTexts(repo, commit, [])).toEqual(new Map());
  });
});
