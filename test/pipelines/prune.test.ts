import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { addWorktree, git, makeRepo, repoForEachTest, vtree } from '../helpers.js';

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made), () => makeRepo({ 'README.md': '# app\n', '.gitignore': 'node_modules/\n.env\n' }));

const add = (branch: string): Promise<string> => addWorktree(repo, branch);

async function commit(path: string, file: string): Promise<void> {
  await writeFile(join(path, file), file);
  await git(path, 'add', file);
  await git(path, 'commit', '-qm', file);
}

/** A bare remote `origin` (with `origin/HEAD` → main) the repository has pushed main to. */
async function withRemote(): Promise<void> {
  await git(root, 'init', '-q', '--bare', 'remote.git');
  await git(repo, 'remote', 'add', 'origin', join(root, 'remote.git'));
  await git(repo, 'push', '-q', '-u', 'origin', 'main');
  await git(repo, 'remote', 'set-head', 'origin', 'main');
}

async function plan(...args: string[]) {
  const result = await vtree(repo, ['prune', '--json', ...args]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as { applied: boolean; defaultBranch: string; worktrees: Array<{ path: string; branch: string; reasons: string[]; kept?: string }> };
}

describe('git vtree prune', () => {
  it('finds merged (also squash-merged) and gone-upstream worktrees, keeps new, unpushed and dirty ones, and removes only with --yes', async () => {
    await withRemote();
    const merged = await add('merged');
    await commit(merged, 'm.txt');
    await git(repo, 'merge', '-q', '--no-edit', 'merged');
    const squashed = await add('squashed');
    await commit(squashed, 's1.txt');
    await commit(squashed, 's2.txt');
    await git(repo, 'merge', '-q', '--squash', 'squashed');
    await git(repo, 'commit', '-qm', 'squashed');
    // Pushed, then deleted on the remote (as a host does after merging a pull request), and squash-merged.
    const gone = await add('gone');
    await commit(gone, 'g.txt');
    await git(gone, 'push', '-q', '-u', 'origin', 'gone');
    await git(repo, 'merge', '-q', '--squash', 'gone');
    await git(repo, 'commit', '-qm', 'gone squashed');
    await git(repo, 'push', '-q', 'origin', 'main', ':gone');
    await git(repo, 'fetch', '-q', '--prune');
    // Gone upstream, but with a commit that is nowhere else.
    const lost = await add('lost');
    await commit(lost, 'l1.txt');
    await git(lost, 'push', '-q', '-u', 'origin', 'lost');
    await commit(lost, 'l2.txt');
    await git(repo, 'push', '-q', 'origin', ':lost');
    await git(repo, 'fetch', '-q', '--prune');
    const dirty = await add('dirty');
    await commit(dirty, 'd.txt');
    await git(repo, 'merge', '-q', '--no-edit', 'dirty');
    await writeFile(join(dirty, 'wip.txt'), 'precious');
    const fresh = await add('fresh');
    const working = await add('working');
    await commit(working, 'w.txt');

    const listed = await plan();
    expect(listed.applied).toBe(false);
    expect(listed.defaultBranch).toBe('main');
    const by = Object.fromEntries(listed.worktrees.map((w) => [w.branch, w]));
    expect(Object.keys(by).sort()).toEqual(['dirty', 'gone', 'lost', 'merged', 'squashed']);
    expect(by.merged).toMatchObject({ path: merged, reasons: ['merged into main'] });
    expect(by.merged!.kept).toBeUndefined();
    expect(by.squashed!.reasons).toEqual(['merged into main']);
    expect(by.gone!.reasons).toEqual(['merged into main', 'upstream origin/gone is gone']);
    expect(by.gone!.kept).toBeUndefined();
    expect(by.lost).toMatchObject({ reasons: ['upstream origin/lost is gone'], kept: '2 commit(s) on no remote and not in main' });
    expect(by.dirty).toMatchObject({ reasons: ['merged into main'], kept: '1 uncommitted or untracked change(s)' });
    // Listing without a terminal and without --yes removes nothing.
    const text = await vtree(repo, ['prune']);
    expect(text.code).toBe(0);
    expect(text.stderr).toMatch(/remove {2}merged .*merged into main/);
    expect(text.stderr).toMatch(/keep {4}lost .*2 commit\(s\) on no remote/);
    expect(text.stderr).toMatch(/Nothing removed: run git vtree prune --yes/);
    for (const path of [merged, squashed, gone, lost, dirty, fresh, working]) expect(existsSync(path)).toBe(true);

    const removed = await vtree(repo, ['prune', '--yes', '--delete-branch']);
    expect(removed.code, removed.stderr).toBe(0);
    for (const path of [merged, squashed, gone]) expect(existsSync(path)).toBe(false);
    for (const path of [lost, dirty, fresh, working]) expect(existsSync(path)).toBe(true);
    expect(await git(repo, 'branch', '--list', 'merged')).toBe('');
    const worktrees = await git(repo, 'worktree', 'list', '--porcelain');
    expect(worktrees).not.toContain(merged);

    // --force takes the rest too, keeping what rm --force keeps; the commits stay reachable from the branch.
    const forced = await vtree(repo, ['prune', '--yes', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    for (const path of [lost, dirty]) expect(existsSync(path)).toBe(false);
    expect(await git(repo, 'rev-parse', 'lost')).toMatch(/^[0-9a-f]{40}$/);
    expect(existsSync(fresh) && existsSync(working)).toBe(true);
    const runs = (await readdir(join(repo, '.git', 'vibetrees', 'logs'))).filter((f) => f.startsWith('delete-trash'));
    expect(runs.length).toBeGreaterThan(0);
  });

  it('--idle takes worktrees with no commit and no file change for that long, never an active one', async () => {
    const idle = await add('idle');
    const active = await add('active');
    const edited = await add('edited');
    await sleep(2500);
    await commit(active, 'a.txt');
    await writeFile(join(edited, 'README.md'), '# changed\n');
    const listed = await plan('--idle', '2s', '--force');
    expect(listed.worktrees.map((w) => w.branch)).toEqual(['idle']);
    expect(listed.worktrees[0]!.reasons[0]).toMatch(/^idle \d+m$/);
    const none = await plan('--idle', '1h');
    expect(none.worktrees).toEqual([]);
    const removed = await vtree(repo, ['prune', '--idle', '2s', '--yes']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(existsSync(idle)).toBe(false);
    expect(existsSync(active) && existsSync(edited)).toBe(true);
  });

  it('removes many merged worktrees in one run: gone from git when it returns, their files deleted by one background job', async () => {
    const paths: string[] = [];
    for (const branch of ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']) {
      const path = await add(branch);
      await commit(path, `${branch}.txt`);
      // Ignored dependencies, as vtree restores them: renamed into the trash with the rest.
      await mkdir(join(path, 'node_modules', 'dep'), { recursive: true });
      await writeFile(join(path, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
      paths.push(path);
    }
    await git(repo, 'merge', '-q', '--no-edit', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6');
    const logs = join(repo, '.git', 'vibetrees', 'logs');
    const jobsBefore = (await readdir(logs).catch(() => [] as string[])).filter((f) => f.startsWith('delete-trash'));

    const pruned = await vtree(repo, ['prune', '--yes', '--json']);
    expect(pruned.code, pruned.stderr).toBe(0);
    const { outcome } = JSON.parse(pruned.stdout) as { outcome: { removed: Array<{ path: string }>; trashLog: string } };
    expect(outcome.removed.map((r) => r.path).sort()).toEqual([...paths].sort());
    const listed = await git(repo, 'worktree', 'list', '--porcelain');
    for (const path of paths) {
      expect(listed).not.toContain(path);
      expect(existsSync(path)).toBe(false);
    }
    const jobs = (await readdir(logs)).filter((f) => f.startsWith('delete-trash') && !jobsBefore.includes(f));
    expect(jobs.map((f) => join(logs, f))).toEqual([outcome.trashLog]);
    const trash = join(repo, '.git', 'vibetrees', 'trash');
    for (let i = 0; i < 150 && (await readdir(trash).catch(() => [] as string[])).length > 0; i++) await sleep(200);
    expect(await readdir(trash).catch(() => [] as string[])).toEqual([]);
  });

  it('refuses a bad --idle with a usage error', async () => {
    const result = await vtree(repo, ['prune', '--idle', 'soon']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot read --idle 'soon'/);
  });
});
