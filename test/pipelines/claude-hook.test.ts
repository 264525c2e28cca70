import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { BIN, git, otherRepository, repoForEachTest, testEnv, vtree, type VtreeResult } from '../helpers.js';

const ENSURE = fileURLToPath(new URL('../../hooks/ensure-setup', import.meta.url));

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made));

/**
 * Runs `git-vtree claude-hook <event>` in `cwd` as Claude Code does: the payload on stdin. With
 * `keepOpen`, stdin stays open after the payload (the hook must not wait for EOF).
 */
function hook(event: string, payload: unknown, cwd = root, keepOpen = false, env: NodeJS.ProcessEnv = {}): Promise<VtreeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'claude-hook', event], { cwd, env: testEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      child.stdin.destroy();
      resolve({ code: code ?? -1, stdout, stderr });
    });
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    if (keepOpen) child.stdin.write(text);
    else child.stdin.end(text);
  });
}

/** The WorktreeCreate input as the hooks reference shows it (code.claude.com/docs/en/hooks). */
function createPayload(name: string, extra: Record<string, unknown> = {}) {
  return {
    session_id: 'abc123',
    transcript_path: join(root, 'transcript.jsonl'),
    cwd: repo,
    hook_event_name: 'WorktreeCreate',
    name,
    ...extra,
  };
}

/** The WorktreeRemove input as the hooks reference shows it. */
function removePayload(worktreePath: string) {
  return { session_id: 'abc123', transcript_path: join(root, 'transcript.jsonl'), cwd: repo, hook_event_name: 'WorktreeRemove', worktree_path: worktreePath };
}

describe('git vtree claude-hook', () => {
  it('create: the documented payload makes a set-up worktree and prints only its absolute path', async () => {
    // Run from outside the repository: the payload's cwd names it.
    const result = await hook('create', createPayload('feature-auth'), root, true);
    expect(result.code, result.stderr).toBe(0);
    const path = join(root, 'app.worktrees', 'worktree-feature-auth');
    expect(result.stdout).toBe(`${path}\n`);
    expect(await git(path, 'branch', '--show-current')).toBe('worktree-feature-auth');
    expect(await readFile(join(path, '.env'), 'utf8')).toContain('SECRET=from-main');
    const state = JSON.parse(await readFile(join(repo, '.git', 'worktrees', 'worktree-feature-auth', 'vtree.json'), 'utf8'));
    expect(state).toMatchObject({ branch: 'worktree-feature-auth', path, createdBy: 'add' });

    // The same name again (a resumed session): the same worktree, nothing new.
    const again = await hook('create', createPayload('feature-auth'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(`${path}\n`);
    expect((await git(repo, 'worktree', 'list', '--porcelain')).match(/^worktree /gm)).toHaveLength(2);
  });

  it('create: tolerates other payload generations (worktree_name, source_ref, an explicit worktree_path)', async () => {
    await git(repo, 'checkout', '-q', '-b', 'base');
    await writeFile(join(repo, 'base.txt'), 'from base\n');
    await git(repo, 'add', 'base.txt');
    await git(repo, 'commit', '-qm', 'base');
    await git(repo, 'checkout', '-q', 'main');

    const named = await hook('create', { hook_event_name: 'WorktreeCreate', cwd: repo, worktree_name: 'bold-oak-a3f2', source_ref: 'base', base_path: join(repo, '.claude', 'worktrees') });
    expect(named.code, named.stderr).toBe(0);
    const path = named.stdout.trim();
    expect(named.stdout.split('\n')).toEqual([path, '']);
    expect(await readFile(join(path, 'base.txt'), 'utf8')).toBe('from base\n');

    const explicit = join(root, 'chosen', 'agent-1');
    const old = await hook('create', { hook_event_name: 'WorktreeCreate', cwd: repo, worktree_path: explicit, base_commit: 'main' });
    expect(old.code, old.stderr).toBe(0);
    expect(old.stdout).toBe(`${explicit}\n`);
    expect(await git(explicit, 'branch', '--show-current')).toBe('worktree-agent-1');
  });

  it('create: a payload that names nothing, or is not JSON, fails without output on stdout', async () => {
    const nameless = await hook('create', { hook_event_name: 'WorktreeCreate', cwd: repo });
    expect(nameless.code).toBe(2);
    expect(nameless.stdout).toBe('');
    expect(nameless.stderr).toMatch(/names no worktree/);
    const garbage = await hook('create', 'not json');
    expect(garbage.code).toBe(2);
    expect(garbage.stdout).toBe('');
    expect(garbage.stderr).toMatch(/not valid JSON/);
  });

  it('remove: removes a clean worktree, keeps one with uncommitted work, ignores a path that is no worktree', async () => {
    const made = await hook('create', createPayload('done'));
    const path = made.stdout.trim();
    const kept = (await hook('create', createPayload('dirty'))).stdout.trim();
    await writeFile(join(kept, 'work.txt'), 'unsaved\n');

    const removed = await hook('remove', removePayload(path));
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe('');
    expect(existsSync(path)).toBe(false);
    // Merged into main (no commits of its own): its branch goes too.
    expect(await git(repo, 'branch', '--list', 'worktree-done')).toBe('');

    const refused = await hook('remove', removePayload(kept));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/uncommitted or untracked change/);
    expect(await readFile(join(kept, 'work.txt'), 'utf8')).toBe('unsaved\n');

    const stranger = await hook('remove', removePayload(join(root, 'elsewhere')));
    expect(stranger.code, stranger.stderr).toBe(0);
    expect(stranger.stderr).toMatch(/not a worktree of .*; nothing to remove/);
  });

  it("acts only on its own repository: another repository's worktree, directly or through a symlink, is never removed; create refuses a path inside a worktree or repository", async () => {
    const { other, theirs } = await otherRepository(root);
    // A symlink inside A's worktrees directory that leads to B's worktree.
    const made = (await hook('create', createPayload('mine'))).stdout.trim();
    const link = join(root, 'app.worktrees', 'sneaky');
    await symlink(theirs, link);

    for (const path of [theirs, link, join(theirs, '.')]) {
      const result = await hook('remove', removePayload(path));
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/not a worktree of .*; nothing to remove/);
      expect(existsSync(join(theirs, 'b.txt'))).toBe(true);
      expect(await git(other, 'branch', '--list', 'feature')).not.toBe('');
    }
    // The main worktree of A is not a worktree the hook removes either.
    expect((await hook('remove', removePayload(repo))).stderr).toMatch(/nothing to remove/);
    expect(existsSync(join(repo, 'README.md'))).toBe(true);

    const inside = [join(theirs, 'nested'), join(other, 'nested'), join(made, 'deeper', 'x'), join(repo, '.claude', 'worktrees', 'x'), join(link, 'through-link'), join(other, '.git', 'x')];
    for (const path of inside) {
      const refused = await hook('create', { hook_event_name: 'WorktreeCreate', cwd: repo, worktree_path: path });
      expect(refused.code, `${path}: ${refused.stderr}`).toBe(2);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(/worktree_path .* is inside the (worktree|git directory) .*; a worktree must live outside every worktree and repository/);
      expect(existsSync(path)).toBe(false);
    }
    expect((await git(repo, 'worktree', 'list', '--porcelain')).match(/^worktree /gm)).toHaveLength(2);
  });
});

describe('git vtree init --claude', () => {
  it("merges vtree's hooks into the project's settings, keeps everything else, and adds nothing twice", async () => {
    await mkdir(join(repo, '.claude'));
    const before = {
      permissions: { allow: ['Bash(npm test)'] },
      hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: '.claude/hooks/block-rm.sh' }] }] },
      model: 'opus',
    };
    await writeFile(join(repo, '.claude', 'settings.json'), JSON.stringify(before, null, 2) + '\n');

    const first = await vtree(repo, ['init', '--claude', '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).claude).toMatchObject({ changed: true, added: ['WorktreeCreate', 'WorktreeRemove', 'SessionStart'] });
    const settings = JSON.parse(await readFile(join(repo, '.claude', 'settings.json'), 'utf8'));
    expect(settings).toEqual({
      ...before,
      hooks: {
        ...before.hooks,
        WorktreeCreate: [{ hooks: [{ type: 'command', command: 'git vtree claude-hook create' }] }],
        WorktreeRemove: [{ hooks: [{ type: 'command', command: 'git vtree claude-hook remove' }] }],
        SessionStart: [{ matcher: 'startup', hooks: [{ type: 'command', command: 'git-vtree-ensure-setup' }] }],
      },
    });
    const text = await readFile(join(repo, '.claude', 'settings.json'), 'utf8');

    const second = await vtree(repo, ['init', '--claude']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('Claude Code hooks are already in');
    // The SessionStart command must be found on PATH: said when it is not.
    expect(second.stderr).toContain('git-vtree-ensure-setup is not on PATH');
    expect(await readFile(join(repo, '.claude', 'settings.json'), 'utf8')).toBe(text);
  });

  it('refuses, changing nothing, when another program is the WorktreeCreate hook or the file is not JSON', async () => {
    await mkdir(join(repo, '.claude'));
    const theirs = JSON.stringify({ hooks: { WorktreeCreate: [{ hooks: [{ type: 'command', command: 'my-worktree-script' }] }] } });
    await writeFile(join(repo, '.claude', 'settings.json'), theirs);
    const conflict = await vtree(repo, ['init', '--claude']);
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toMatch(/already has a WorktreeCreate hook \(my-worktree-script\)/);
    expect(await readFile(join(repo, '.claude', 'settings.json'), 'utf8')).toBe(theirs);

    await writeFile(join(repo, '.claude', 'settings.json'), '{ "hooks": ');
    const broken = await vtree(repo, ['init', '--claude']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/is not valid JSON; vtree changes nothing in it/);
    expect(await readFile(join(repo, '.claude', 'settings.json'), 'utf8')).toBe('{ "hooks": ');
  });

  it("--user writes the user's settings (CLAUDE_CONFIG_DIR), even outside a repository", async () => {
    const config = join(root, 'claude-config');
    const bin = join(root, 'bin');
    await mkdir(bin);
    await symlink(ENSURE, join(bin, 'git-vtree-ensure-setup'));
    const result = await vtree(root, ['init', '--claude', '--user'], { CLAUDE_CONFIG_DIR: config, PATH: `${bin}:${process.env.PATH}` });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('not on PATH');
    const settings = JSON.parse(await readFile(join(config, 'settings.json'), 'utf8'));
    expect(Object.keys(settings.hooks)).toEqual(['WorktreeCreate', 'WorktreeRemove', 'SessionStart']);
    expect(existsSync(join(repo, '.claude'))).toBe(false);
  });
});
