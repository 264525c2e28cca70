import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { addWorktree, git, makeRepo, repoForEachTest, vtree } from '../helpers.js';

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made), () => makeRepo({ 'README.md': '# app\n', '.gitignore': 'node_modules/\n.env\n' }));

const add = (branch: string): Promise<string> => addWorktree(repo, branch);

describe('git vtree rm', () => {
  it('removes a clean worktree by branch, deletes node_modules in the background, keeps the branch', async () => {
    const path = await add('feat/x');
    await mkdir(join(path, 'node_modules', 'pkg'), { recursive: true });
    await writeFile(join(path, 'node_modules', 'pkg', 'index.js'), 'x');
    await writeFile(join(path, '.env'), 'SECRET=1\n');
    const result = await vtree(repo, ['rm', 'feat/x', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({ ok: true, path, branch: 'feat/x', branchDeleted: false });
    expect(json.backgroundLog).toMatch(/vibetrees\/logs\/delete-trash-.*\.log$/);
    expect(existsSync(path)).toBe(false);
    expect(await git(repo, 'worktree', 'list', '--porcelain')).not.toContain(path);
    expect(await git(repo, 'branch', '--list', 'feat/x')).toContain('feat/x');
    const trash = join(repo, '.git', 'vibetrees', 'trash');
    for (let i = 0; i < 100 && (await readdir(trash)).length > 0; i++) await sleep(100);
    expect(await readdir(trash)).toEqual([]);
    expect(await readFile(json.backgroundLog, 'utf8')).toMatch(/delete-trash finished/);
    const runs = JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8')).runs;
    expect(runs.at(-1)).toMatchObject({ command: 'rm', ok: true, branch: 'feat/x', path });
  });

  it('refuses uncommitted or untracked changes unless --force, and never loses them silently', async () => {
    const path = await add('dirty');
    await writeFile(join(path, 'work-in-progress.txt'), 'precious');
    // An edited ignored file: the copy rm keeps of it is made while the status runs, and undone with the refusal.
    await writeFile(join(path, '.env'), 'MINE=1\n');
    const refused = await vtree(repo, ['rm', 'dirty']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/has 1 uncommitted or untracked change/);
    expect(refused.stderr).toMatch(/hint: .*git vtree rm dirty --force/);
    expect(await readFile(join(path, 'work-in-progress.txt'), 'utf8')).toBe('precious');
    expect(await readdir(join(repo, '.git', 'vibetrees', 'kept')).catch(() => [])).toEqual([]);
    const forced = await vtree(repo, ['rm', 'dirty', '--force', '--delete-branch']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(await git(repo, 'branch', '--list', 'dirty')).toBe('');
  });

  it('finds worktrees by slug and by path, including ones made with plain git', async () => {
    const bySlug = await add('feat/by-slug');
    expect((await vtree(repo, ['rm', 'feat-by-slug'])).code).toBe(0);
    expect(existsSync(bySlug)).toBe(false);
    const plain = join(root, 'plain');
    await git(repo, 'worktree', 'add', '-q', plain, '-b', 'plain');
    expect((await vtree(root, ['rm', plain], {})).code).toBe(2); // outside the repository
    const byPath = await vtree(plain, ['rm', plain]);
    expect(byPath.code, byPath.stderr).toBe(0);
    expect(existsSync(plain)).toBe(false);
  });

  it('keeps a branch that is not merged unless forced, and says how to delete it', async () => {
    const path = await add('unmerged');
    await writeFile(join(path, 'new.txt'), 'x');
    await git(path, 'add', '.');
    await git(path, 'commit', '-qm', 'work');
    const result = await vtree(repo, ['rm', 'unmerged', '--delete-branch']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/kept branch 'unmerged'.*git branch -D unmerged/);
    expect(await git(repo, 'branch', '--list', 'unmerged')).toContain('unmerged');
  });

  it('never removes the main worktree, and names what it could not find', async () => {
    const main = await vtree(repo, ['rm', 'main', '--force']);
    expect(main.code).toBe(2);
    expect(main.stderr).toMatch(/is the main worktree; vtree never removes it/);
    expect(existsSync(join(repo, 'README.md'))).toBe(true);
    const missing = await vtree(repo, ['rm', 'nope']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no worktree of this repository matches 'nope'/);
  });
});

describe('git vtree list', () => {
  it('lists every worktree with what vtree recorded, plain git ones too', async () => {
    const made = await add('feat/listed');
    await git(repo, 'worktree', 'add', '-q', join(root, 'plain'), '-b', 'plain');
    const result = await vtree(repo, ['list', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const { worktrees } = JSON.parse(result.stdout);
    expect(worktrees).toHaveLength(3);
    expect(worktrees[0]).toMatchObject({ path: repo, branch: 'main', main: true });
    expect(worktrees.find((w: { path: string }) => w.path === made)).toMatchObject({ branch: 'feat/listed', slug: 'feat-listed', createdBy: 'add' });
    const plain = worktrees.find((w: { path: string }) => w.path === join(root, 'plain'));
    expect(plain).toMatchObject({ branch: 'plain', main: false });
    expect(plain.createdBy).toBeUndefined();
    const table = await vtree(repo, ['list']);
    expect(table.stdout).toContain('feat/listed');
    expect(table.stdout).toContain(join(root, 'plain'));
  });
});
