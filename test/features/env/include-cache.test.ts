import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cachedIncludedFiles } from '../../../src/features/env/include-cache.js';
import { git, makeRepo } from '../../helpers.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** Dates every directory of `dir` (but .git) a minute back: older than the cache's racy window, as on any real repository. */
async function age(dir: string): Promise<void> {
  const then = new Date(Date.now() - 60_000);
  await utimes(dir, then, then);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && entry.name !== '.git') await age(join(dir, entry.name));
  }
}

/** Replaces the cached list with a marker, leaving what it depends on as it was: a call that returns the marker read the cache. */
async function mark(cacheFile: string): Promise<void> {
  const cache = JSON.parse(await readFile(cacheFile, 'utf8')) as { files: string[] };
  await writeFile(cacheFile, JSON.stringify({ ...cache, files: ['(from the cache)'] }));
}

async function setUp(): Promise<{ repo: string; cacheFile: string }> {
  const made = await makeRepo({ '.gitignore': '.env\n.env.local\ndist/\nnode_modules/\n' });
  cleanup = made.cleanup;
  for (const [file, text] of [['apps/web/index.js', 'x\n'], ['src/a.js', 'a\n']]) {
    await mkdir(join(made.repo, file, '..'), { recursive: true });
    await writeFile(join(made.repo, file), text);
  }
  await git(made.repo, 'add', '-A');
  await git(made.repo, 'commit', '-qm', 'sources');
  await writeFile(join(made.repo, '.env'), 'A=1\n');
  await mkdir(join(made.repo, 'dist'));
  await age(made.repo);
  return { repo: made.repo, cacheFile: join(made.root, 'included-files.json') };
}

describe('the list of files to copy, kept between adds', () => {
  it('is read from the cache while no directory or ignore rule of the main worktree changed', async () => {
    const { repo, cacheFile } = await setUp();
    expect(await cachedIncludedFiles(repo, cacheFile)).toEqual(['.env']);
    await mark(cacheFile);
    expect(await cachedIncludedFiles(repo, cacheFile)).toEqual(['(from the cache)']);
    // Editing a tracked file in place changes no directory: still the cache.
    await writeFile(join(repo, 'src', 'a.js'), 'edited\n');
    expect(await cachedIncludedFiles(repo, cacheFile)).toEqual(['(from the cache)']);
  });

  it('lists again when a file appears in a directory, deep or in an ignored one, or the rules change', async () => {
    const { repo, cacheFile } = await setUp();
    const changes: Array<[string, () => Promise<void>, string[]]> = [
      ['a .env.local deep in the tree', () => writeFile(join(repo, 'apps', 'web', '.env.local'), 'B=1\n'), ['.env', 'apps/web/.env.local']],
      ['a .env at the top of an ignored directory', () => writeFile(join(repo, 'dist', '.env'), 'C=1\n'), ['.env', 'apps/web/.env.local', 'dist/.env']],
      ['.gitignore edited in place', () => writeFile(join(repo, '.gitignore'), '.env\ndist/\nnode_modules/\n'), ['.env', 'dist/.env']],
      ['a .worktreeinclude added', () => writeFile(join(repo, '.worktreeinclude'), '.env\n'), ['.env', 'dist/.env']],
    ];
    for (const [what, change, expected] of changes) {
      await age(repo);
      expect(await cachedIncludedFiles(repo, cacheFile), what).toEqual(expect.any(Array));
      await mark(cacheFile);
      await change();
      expect(await cachedIncludedFiles(repo, cacheFile), what).toEqual(expected);
    }
  });

  it('never trusts a directory changed within the racy window of the cache itself', async () => {
    const { repo, cacheFile } = await setUp();
    await writeFile(join(repo, 'apps', '.env'), 'D=1\n'); // apps/ changed just now
    expect(await cachedIncludedFiles(repo, cacheFile)).toEqual(['.env', 'apps/.env']);
    await mark(cacheFile);
    expect(await cachedIncludedFiles(repo, cacheFile)).toEqual(['.env', 'apps/.env']);
  });
});
