import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { RefusedInput } from '../../../../src/core/confine.js';
import { unpackTar } from '../../../../src/features/deps/remote/unpack.js';
import { tempDir } from '../../../helpers.js';

type Entry = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; mode?: number; body?: string | Buffer };

/** A tar stream of `entries`, made with tar-stream as an attacker would. */
function archive(entries: Entry[]): Readable {
  const packer = pack();
  for (const { body, ...header } of entries) packer.entry({ type: 'file', mode: 0o644, ...header }, body ?? '');
  packer.finalize();
  return packer as unknown as Readable;
}

describe('unpacking a layer', () => {
  it('writes files with their modes, directories and relative symlinks', async () => {
    const dir = await tempDir('vtree-unpack-');
    await unpackTar(
      archive([
        // The root itself, as `tar -C dir .` and tar-fs write it.
        { name: './', type: 'directory' },
        { name: 'node_modules/', type: 'directory' },
        { name: 'node_modules/a/index.js', body: 'module.exports = 1;\n' },
        { name: 'node_modules/a/cli.js', body: '#!/usr/bin/env node\n', mode: 0o4755 },
        { name: 'node_modules/.bin/a', type: 'symlink', linkname: '../a/cli.js' },
        { name: 'node_modules/hard', type: 'link', linkname: 'node_modules/a/index.js' },
      ]),
      dir,
    );
    expect(await readFile(join(dir, 'node_modules/a/index.js'), 'utf8')).toBe('module.exports = 1;\n');
    // setuid dropped, executable kept.
    expect((await stat(join(dir, 'node_modules/a/cli.js'))).mode & 0o7777).toBe(0o755);
    expect(await readlink(join(dir, 'node_modules/.bin/a'))).toBe('../a/cli.js');
    await expect(lstat(join(dir, 'node_modules/hard'))).rejects.toThrow(/ENOENT/);
  });

  it.each<[string, Entry[], RegExp]>([
    ['a path with ..', [{ name: 'node_modules/../../escape.js' }], /not a path inside the tree/],
    ['an absolute path', [{ name: '/tmp/vtree-escape.js' }], /not a path inside the tree/],
    ['a symlink out of the tree', [{ name: 'node_modules/x', type: 'symlink', linkname: '../../outside' }], /links outside the tree/],
    ['an absolute symlink', [{ name: 'node_modules/x', type: 'symlink', linkname: '/etc' }], /links outside the tree/],
    [
      // Each reads as inside by its letters: `s` is the tree root, so `t`'s last `..` is outside.
      'a symlink that climbs out through another',
      [
        { name: 'node_modules/.bin', type: 'symlink', linkname: '../node_modules/a/D/t/outside' },
        { name: 'node_modules/a/D/s', type: 'symlink', linkname: '../../..' },
        { name: 'node_modules/a/D/t', type: 'symlink', linkname: 's/../../..' },
      ],
      /node_modules\/(\.bin|a\/D\/t) links outside the tree/,
    ],
    [
      'a write through a symlink of the archive',
      [
        { name: 'node_modules/up', type: 'symlink', linkname: '..' },
        { name: 'node_modules/up/planted.js', body: 'x' },
      ],
      /goes through the symlink node_modules\/up/,
    ],
    [
      'a file replacing a symlink',
      [
        { name: 'node_modules/l', type: 'symlink', linkname: 'a' },
        { name: 'node_modules/l', body: 'x' },
      ],
      /goes through the symlink node_modules\/l/,
    ],
  ])('refuses %s', async (_what, entries, error) => {
    const dir = await tempDir('vtree-unpack-');
    await expect(unpackTar(archive(entries), dir)).rejects.toThrow(error);
  });

  it('streams a large file to disk, and refuses one past the bounds at its header, before writing it', async () => {
    const big = Buffer.alloc(3 * 2 ** 20, 7);
    const dir = await tempDir('vtree-unpack-');
    await unpackTar(archive([{ name: 'node_modules/big.bin', body: big }]), dir, { bytes: 4 * 2 ** 20, entries: 10 });
    expect((await readFile(join(dir, 'node_modules/big.bin'))).equals(big)).toBe(true);

    const bounded = await tempDir('vtree-unpack-');
    const refused = unpackTar(archive([{ name: 'node_modules/a.js', body: 'x' }, { name: 'node_modules/zeros', body: Buffer.alloc(64 * 2 ** 20) }]), bounded, { bytes: 2 ** 20, entries: 10 });
    await expect(refused).rejects.toThrow(RefusedInput);
    await expect(refused).rejects.toThrow(/more than 1048576 bytes \(at node_modules\/zeros, 67108864 bytes\)/);
    expect(await readdir(join(bounded, 'node_modules'))).toEqual(['a.js']);

    const many = Array.from({ length: 20 }, (_, i) => ({ name: `node_modules/f${i}.js`, body: 'x' }));
    await expect(unpackTar(archive(many), await tempDir('vtree-unpack-'), { bytes: 2 ** 20, entries: 10 })).rejects.toThrow(/more than 10 entries/);
  });
});
