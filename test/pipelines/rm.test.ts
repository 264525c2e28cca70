import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { addWorktree, BIN, git, makeRepo, repoForEachTest, testEnv, vtree } from '../helpers.js';

const execFileAsync = promisify(execFile);

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
    expect(json.movedAside).toEqual(['node_modules']);
    expect(existsSync(path)).toBe(false);
    expect(await git(repo, 'worktree', 'list', '--porcelain')).not.toContain(path);
    expect(await git(repo, 'branch', '--list', 'feat/x')).toContain('feat/x');
    const trash = join(repo, '.git', 'vibetrees', 'trash');
    // The job empties the trash, then logs that it finished: wait for both.
    const finished = async () => (await readdir(trash)).length === 0 && /delete-trash finished/.test(await readFile(json.backgroundLog, 'utf8'));
    for (let i = 0; i < 100 && !(await finished()); i++) await sleep(100);
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
    // ...and says nothing of a copy it did not keep.
    expect(refused.stderr).not.toMatch(/kept a copy/);
    const forced = await vtree(repo, ['rm', 'dirty', '--force', '--delete-branch']);
    expect(forced.code, forced.stderr).toBe(0);
    const [keptDir] = await readdir(join(repo, '.git', 'vibetrees', 'kept'));
    expect(forced.stderr).toContain(`warning: kept a copy of .env (changed in this worktree) in ${join(repo, '.git', 'vibetrees', 'kept', keptDir!)}`);
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

  it('without an argument removes the worktree you are in (from a subdirectory too); says what it deletes in the background', async () => {
    const path = await add('here');
    await mkdir(join(path, 'src', 'deep'), { recursive: true });
    await writeFile(join(path, '.env'), 'MINE=1\n'); // ignored and changed: a copy is kept, the rm goes on
    const result = await vtree(join(path, 'src', 'deep'), ['rm']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`Removed worktree ${path}`);
    // A few files and no node_modules: no "large directories".
    expect(result.stderr).toMatch(/^ {2}its files are being deleted in the background \(log: /m);
    expect(result.stderr).not.toMatch(/large directories|included\)/);
    expect(result.stderr).toContain(`  you were in it; the main worktree: cd ${repo}`);
    expect(existsSync(path)).toBe(false);
    // In the main worktree there is nothing to remove by default.
    const main = await vtree(repo, ['rm']);
    expect(main.code).toBe(2);
    expect(main.stderr).toMatch(/is the main worktree; vtree never removes it\nhint: name the worktree to remove/);
  });

  it('removes several worktrees; one it cannot remove does not stop the others, and sets the exit code', async () => {
    const [a, b, c] = [await add('many-a'), await add('many-b'), await add('many-c')];
    await mkdir(join(c, 'node_modules', 'x'), { recursive: true });
    const result = await vtree(repo, ['rm', 'many-a', 'nope', 'many-b', c]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no worktree of this repository matches 'nope'/);
    for (const path of [a, b, c]) expect(existsSync(path), path).toBe(false);
    expect(result.stderr).toMatch(/its files \(node_modules included\) are being deleted in the background/);
    const json = await vtree(repo, ['rm', 'many-x', 'many-y', '--json']);
    expect(json.code).toBe(2);
    expect(json.stdout.trim().split('\n').map((line) => JSON.parse(line))).toMatchObject([
      { ok: false, target: 'many-x', error: { kind: 'UsageError', exitCode: 2 } },
      { ok: false, target: 'many-y', error: { kind: 'UsageError', exitCode: 2 } },
    ]);
  });

  it('after removing the worktree the shell is in, the next command runs from the nearest existing directory (no uv_cwd crash)', async () => {
    const path = await add('gone');
    // cd into it, rm it, then list from the vanished directory: sh keeps $PWD pointing at it.
    const listed = await execFileAsync('sh', ['-c', '"$2" "$3" rm >/dev/null 2>&1; "$2" "$3" list', 'sh', path, process.execPath, BIN], { cwd: path, env: testEnv() }).catch(
      (e: { stdout: string; stderr: string }) => e,
    );
    expect(listed.stderr).not.toMatch(/uv_cwd|ENOENT/);
    expect(listed.stderr).toContain(`note: ${path} no longer exists; running in ${dirname(path)}`);
    expect(existsSync(path)).toBe(false);
    // A removed subdirectory of the main worktree: the repository is still found from its parent.
    await mkdir(join(repo, 'tmp-dir'));
    const inRepo = await execFileAsync('sh', ['-c', 'rmdir "$1" && "$2" "$3" list', 'sh', join(repo, 'tmp-dir'), process.execPath, BIN], { cwd: join(repo, 'tmp-dir'), env: testEnv() });
    expect(inRepo.stdout).toMatch(/^main \*/m);
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
