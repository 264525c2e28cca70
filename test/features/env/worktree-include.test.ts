import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyIncluded, includedFiles } from '../../../src/features/env/worktree-include.js';
import { git, makeRepo, tempDir, vtree } from '../../helpers.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function repoWith(files: Record<string, string>, untracked: Record<string, string>): Promise<{ root: string; repo: string }> {
  const made = await makeRepo(files);
  cleanup = made.cleanup;
  for (const [name, content] of Object.entries(untracked)) {
    await mkdir(join(made.repo, name, '..'), { recursive: true });
    await writeFile(join(made.repo, name), content);
  }
  return made;
}

describe('.worktreeinclude', () => {
  it('copies only what it names and git ignores: never a tracked or a merely untracked file', async () => {
    const { repo } = await repoWith(
      {
        '.gitignore': '.env\nsecret.json\nconfig/*.local.json\nnode_modules/\nlogs/\n',
        '.worktreeinclude': '.env\nsecret.json\nconfig/*.local.json\nnotes.txt\ntracked.env\nlogs/\n',
        'tracked.env': 'TRACKED=1\n',
      },
      {
        '.env': 'A=1\n',
        'secret.json': '{"s":1}',
        'config/db.local.json': '{"db":1}',
        'notes.txt': 'untracked, not ignored\n',
        'logs/today.log': 'log\n',
        'node_modules/x/.env': 'inside node_modules\n',
        'other.env': 'ignored? no\n',
      },
    );
    expect(await includedFiles(repo)).toEqual(['.env', 'config/db.local.json', 'logs/today.log', 'secret.json']);
  });

  it('defaults to .env, .env.local and .env.*.local without a .worktreeinclude, at any depth', async () => {
    const { repo } = await repoWith(
      { '.gitignore': '.env*\n!.env.example\n', '.env.example': 'A=\n' },
      { '.env': 'A=1\n', '.env.local': 'B=1\n', '.env.development.local': 'C=1\n', '.env.production': 'P=1\n', 'apps/web/.env': 'W=1\n' },
    );
    expect(await includedFiles(repo)).toEqual(['.env', '.env.development.local', '.env.local', 'apps/web/.env']);
  });

  it('copies (never links) with modes kept, and leaves a file already there alone', async () => {
    const { repo } = await repoWith({ '.gitignore': '.env\n.env.local\n' }, { '.env': 'A=1\n', '.env.local': 'B=1\n' });
    const { chmod } = await import('node:fs/promises');
    await chmod(join(repo, '.env'), 0o600);
    const dest = await tempDir('vtree-include-dest-');
    await writeFile(join(dest, '.env.local'), 'MINE=1\n');
    expect(await copyIncluded(repo, dest, ['.env', '.env.local'])).toEqual(['.env']);
    const copied = await stat(join(dest, '.env'));
    expect(copied.mode & 0o777).toBe(0o600);
    expect(copied.nlink).toBe(1);
    expect(await readFile(join(dest, '.env.local'), 'utf8')).toBe('MINE=1\n');
  });

  it('git vtree add copies them into the new worktree', async () => {
    const { root, repo } = await repoWith({ '.gitignore': '.env\n', 'README.md': 'x\n' }, { '.env': 'SECRET=1\n', 'scratch.txt': 'untracked\n' });
    const result = await vtree(repo, ['add', 'feat', '--no-services', '--no-deps', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const path = join(root, 'app.worktrees', 'feat');
    expect(await readFile(join(path, '.env'), 'utf8')).toMatch(/^SECRET=1\n/);
    await expect(stat(join(path, 'scratch.txt'))).rejects.toThrow(/ENOENT/);
    expect(JSON.parse(result.stdout).facts['env-files']).toMatchObject({ files: ['.env'] });
    expect(await git(path, 'status', '--porcelain')).toBe('');
  });
});
