import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { git, makeRepo, vtree } from '../helpers.js';

/**
 * What vtree promises about the user's own data and how it reports failure (docs/trust.md):
 * worktree paths that would dirty the repository are refused, `rm` gives back what it did not
 * create and keeps what the user changed, errors speak the user's language, `--json` always
 * answers, a failed install says why and where its log is, `info/exclude` hides nothing of the user's.
 */

let root: string;
let repo: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ root, repo, cleanup } = await makeRepo({ 'README.md': '# app\n', '.gitignore': 'node_modules/\n.env\n.env.local\n' }));
});
afterEach(async () => cleanup());

const plain = ['--no-deps', '--no-services'];

async function add(branch: string, ...extra: string[]): Promise<string> {
  const result = await vtree(repo, ['add', branch, ...plain, ...extra]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

describe('worktree paths', () => {
  it('refuses --path inside the main worktree or a git dir: exit 2, one line, nothing created', async () => {
    for (const path of [join(repo, 'sub', 'wt'), join(repo, '.git', 'wt'), '.git/worktrees/x']) {
      const result = await vtree(repo, ['add', 'feat', ...plain, '--path', path]);
      expect(result.code, path).toBe(2);
      expect(result.stderr.split('\n')[0]).toMatch(/^git vtree: --path .* is inside (the main worktree .*|a git directory); a worktree must live outside it$/);
    }
    expect(await git(repo, 'status', '--porcelain')).toBe('');
    expect(await git(repo, 'branch', '--list', 'feat')).toBe('');
    expect(existsSync(join(repo, 'sub'))).toBe(false);
    expect(existsSync(join(repo, '.git', 'wt'))).toBe(false);
  });

  it('rm leaves an empty directory the user passed as --path', async () => {
    const mine = join(root, 'mine');
    await mkdir(mine);
    const path = await add('feat', '--path', mine);
    expect(path).toBe(mine);
    const removed = await vtree(repo, ['rm', 'feat']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await readdir(mine)).toEqual([]);
    // A directory vtree created is removed with the worktree.
    const ours = await add('other');
    expect((await vtree(repo, ['rm', 'other'])).code).toBe(0);
    expect(existsSync(ours)).toBe(false);
  });
});

describe('rm keeps what the user changed', () => {
  it('keeps a copy of an edited .env and of an ignored file the user made, and says where', async () => {
    await writeFile(join(repo, '.env'), 'A=1\n');
    await git(repo, 'config', 'vtree.ports.vars', 'PORT');
    const path = await add('feat');
    expect(await readFile(join(path, '.env'), 'utf8')).toMatch(/^A=1\n# >>> git vtree/);
    await writeFile(join(path, '.env'), (await readFile(join(path, '.env'), 'utf8')) + 'MINE=2\n');
    await writeFile(join(path, '.env.local'), 'LOCAL=1\n');
    const removed = await vtree(repo, ['rm', 'feat', '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    const { kept } = JSON.parse(removed.stdout);
    expect(kept.files).toEqual(['.env', '.env.local']);
    expect(kept.dir).toMatch(/\.git\/vibetrees\/kept\/feat-/);
    expect(removed.stderr).toContain(`kept a copy of .env, .env.local (changed in this worktree) in ${kept.dir}`);
    expect(await readFile(join(kept.dir, '.env'), 'utf8')).toMatch(/MINE=2/);
    expect(await readFile(join(kept.dir, '.env.local'), 'utf8')).toBe('LOCAL=1\n');
  });

  it('keeps nothing when the user changed nothing (vtree\'s own block is not an edit)', async () => {
    await writeFile(join(repo, '.env'), 'A=1'); // no final newline: vtree adds one before its block
    await git(repo, 'config', 'vtree.ports.vars', 'PORT');
    await add('feat');
    const removed = await vtree(repo, ['rm', 'feat']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stderr).not.toMatch(/kept a copy/);
    expect(existsSync(join(repo, '.git', 'vibetrees', 'kept'))).toBe(false);
  });
});

describe('errors', () => {
  it('name no internal task, and --json prints { ok: false, error }', async () => {
    const missing = await vtree(repo, ['rm', 'no-such']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.split('\n')[0]).toBe("git vtree: no worktree of this repository matches 'no-such'");
    expect(missing.stderr).not.toMatch(/locate-worktree|resolve-branch|resolve-repo/);
    const verbose = await vtree(repo, ['rm', 'no-such', '--verbose']);
    expect(verbose.stderr).toMatch(/failed step: locate-worktree/);

    await add('taken');
    const failed = await vtree(repo, ['add', 'taken', ...plain, '--json']);
    expect(failed.code).not.toBe(0);
    const json = JSON.parse(failed.stdout);
    expect(json).toMatchObject({ ok: false, error: { exitCode: failed.code } });
    expect(json.error.message).toMatch(/taken/);
    expect(json.error.message).not.toMatch(/resolve-branch|claim-path|git-worktree-add/);
    const usage = await vtree(join(root), ['list', '--json']);
    expect(JSON.parse(usage.stdout)).toMatchObject({ ok: false, error: { kind: 'UsageError', exitCode: 2 } });
  });
});

describe('a failed install', () => {
  it('shows its last lines and the path of its full log, rolls back to the user\'s empty directory; scripts can be skipped through the environment', async () => {
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, scripts: { postinstall: 'echo boom-from-postinstall && exit 3' } }));
    await git(repo, 'add', 'package.json');
    await git(repo, 'commit', '-qm', 'a failing postinstall');
    // The user approved the script (test/features/deps/consent.test.ts: without that, nothing runs it).
    expect((await vtree(repo, ['trust', '--yes'])).code).toBe(0);
    // Into an empty directory of the user's: rolling back gives it back, empty.
    const mine = join(root, 'mine');
    await mkdir(mine);
    const failed = await vtree(repo, ['add', 'feat', '--no-services', '--path', mine]);
    expect(failed.code).toBe(1);
    expect(await readdir(mine)).toEqual([]);
    expect(failed.stderr).toMatch(/npm i(nstall)? output \(last \d+ lines; all of it in .*\.git\/vibetrees\/logs\/install-.*\.log\):/);
    expect(failed.stderr).toMatch(/ {2}\| .*boom-from-postinstall/);
    const log = /full output in (\S+\.log)/.exec(failed.stderr)?.[1];
    expect(log).toBeDefined();
    expect(await readFile(log!, 'utf8')).toMatch(/boom-from-postinstall/);
    expect(failed.stderr).toMatch(/hint: .*npm_config_ignore_scripts=true git vtree add/);
    // The hint works.
    const skipped = await vtree(repo, ['add', 'feat', '--no-services'], { npm_config_ignore_scripts: 'true' });
    expect(skipped.code, skipped.stderr).toBe(0);
  });
});

describe('info/exclude', () => {
  it('never hides an untracked file of the main worktree, and takes back a line that did', async () => {
    await writeFile(join(repo, '.gitignore'), 'node_modules/\n');
    await git(repo, 'commit', '-qam', 'no .env rule');
    await git(repo, 'config', 'vtree.ports.vars', 'PORT');
    const exclude = join(repo, '.git', 'info', 'exclude');
    // Without a .env of the user's in the main worktree, the worktree's .env is hidden the usual way.
    const first = await add('first');
    expect(await readFile(exclude, 'utf8')).toMatch(/^\/\.env$/m);
    expect(await git(first, 'status', '--porcelain')).toBe('');
    // Now the user makes their own untracked .env in the main worktree.
    await writeFile(join(repo, '.env'), 'MAIN=1\n');
    const second = await vtree(repo, ['add', 'second', ...plain]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/\.env is not hidden through \.git\/info\/exclude: .* has its own untracked \.env/);
    expect(await readFile(exclude, 'utf8')).not.toMatch(/^\/\.env$/m);
    expect(await git(repo, 'status', '--porcelain')).toBe('?? .env');
    // vtree's own .env shows in the new worktree, and does not make rm refuse.
    expect(await git(second.stdout.trim(), 'status', '--porcelain')).toBe('?? .env');
    const removed = await vtree(repo, ['rm', 'second']);
    expect(removed.code, removed.stderr).toBe(0);
  });
});
