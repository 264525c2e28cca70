import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, makeRepo, repoForEachTest, vtree } from '../helpers.js';

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made), () => makeRepo({ 'README.md': '# app\n', '.gitignore': 'node_modules/\n.env\n' }));

async function add(branch: string, from?: string): Promise<string> {
  const result = await vtree(repo, ['add', branch, '--no-deps', '--no-services', ...(from ? ['--from', from] : [])]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

async function commit(cwd: string, file: string): Promise<void> {
  await writeFile(join(cwd, file), `${file}\n`);
  await git(cwd, 'add', file);
  await git(cwd, 'commit', '-qm', file);
}

interface Row {
  path: string;
  branch?: string;
  changes?: number;
  upstream?: { ref: string; ahead: number; behind: number };
  base?: { ref: string; ahead: number; behind: number };
  lastActivity?: string;
  readiness?: string;
}

describe('git vtree list as a status board', () => {
  it('shows per worktree its uncommitted changes, ahead/behind its upstream and the default branch, last activity and readiness', async () => {
    // A remote whose HEAD is main: the default branch others are compared with is origin/main.
    const remote = join(root, 'remote.git');
    await git(root, 'init', '-q', '--bare', remote);
    await git(repo, 'remote', 'add', 'origin', remote);
    await git(repo, 'push', '-q', '-u', 'origin', 'main');
    await git(repo, 'remote', 'set-head', 'origin', 'main');

    const busy = await add('busy');
    await commit(busy, 'one.txt');
    await writeFile(join(busy, 'README.md'), '# changed\n');
    await writeFile(join(busy, 'untracked.txt'), 'new\n');
    const tracked = await add('tracked');
    await git(tracked, 'push', '-q', '-u', 'origin', 'tracked');
    await commit(tracked, 'two.txt');
    await commit(tracked, 'three.txt');
    // main moves on (and is pushed): both branches are one behind it.
    await commit(repo, 'main.txt');
    await git(repo, 'push', '-q', 'origin', 'main');
    const started = Date.now() - 60_000;

    const result = await vtree(repo, ['list', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const rows = (JSON.parse(result.stdout) as { worktrees: Row[] }).worktrees;
    const row = (path: string) => rows.find((r) => r.path === path)!;
    expect(row(busy)).toMatchObject({ changes: 2, base: { ref: 'origin/main', ahead: 1, behind: 1 }, readiness: 'ready' });
    expect(row(busy).upstream).toBeUndefined();
    expect(row(tracked)).toMatchObject({ changes: 0, upstream: { ref: 'origin/tracked', ahead: 2, behind: 0 }, base: { ref: 'origin/main', ahead: 2, behind: 1 } });
    expect(row(repo)).toMatchObject({ branch: 'main', changes: 0, upstream: { ref: 'origin/main', ahead: 0, behind: 0 } });
    for (const path of [busy, tracked, repo]) expect(Date.parse(row(path).lastActivity!), path).toBeGreaterThan(started);

    const table = await vtree(repo, ['list']);
    expect(table.stdout).toMatch(/^BRANCH +PATH +CHANGES +AHEAD\/BEHIND +ACTIVE +STACK +READY$/m);
    expect(table.stdout).toMatch(new RegExp(`^busy +${busy} +2 +↑1 ↓1 origin/main +just now +none +ready$`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^tracked +${tracked} +clean +↑2 origin/tracked, ↑2 ↓1 origin/main `, 'm'));
  });

  it('--fast lists only what vtree recorded, with no git call per worktree', async () => {
    const path = await add('quick');
    await writeFile(join(path, 'dirty.txt'), 'x\n');
    const json = JSON.parse((await vtree(repo, ['list', '--fast', '--json'])).stdout) as { worktrees: Row[] };
    const row = json.worktrees.find((r) => r.path === path)!;
    expect(row).toMatchObject({ branch: 'quick', slug: 'quick', createdBy: 'add' });
    expect(row.changes).toBeUndefined();
    expect(row.readiness).toBeUndefined();
    expect((await vtree(repo, ['list', '--fast'])).stdout).toMatch(/^BRANCH +PATH +DEPS +PORTS +SERVICES +CREATED$/m);
  });
});
