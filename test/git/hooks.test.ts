import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { MetricsFile } from '../../src/observe/metrics.js';
import { FEATURES } from '../../src/pipelines/features.js';
import { SETUP_STAGES } from '../../src/pipelines/setup.js';
import { BIN, git, repoForEachTest, testEnv, vtree } from '../helpers.js';

const execFileAsync = promisify(execFile);

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made));

/** Runs git and reports its exit code and output instead of throwing. */
async function gitRun(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('git', args, { cwd, env: testEnv(env) });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function runs(commonDir = join(repo, '.git')): Promise<MetricsFile['runs']> {
  const file = join(commonDir, 'vibetrees', 'metrics.json');
  if (!existsSync(file)) return [];
  return (JSON.parse(await readFile(file, 'utf8')) as MetricsFile).runs;
}

/** Every entry of a directory, with type, mode and content (or link target), to compare byte for byte. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const info = await lstat(path);
    if (info.isSymbolicLink()) out[name] = `link ${await readlink(path)}`;
    else if (info.isDirectory()) out[name] = 'dir';
    else out[name] = `${(info.mode & 0o777).toString(8)} ${info.mtimeMs} ${(await readFile(path)).toString('base64')}`;
  }
  return out;
}

/** A pre-existing hook that records each call (and its arguments) and exits with `status`. */
async function writeUserHook(path: string, status = 0): Promise<string> {
  const log = join(root, 'user-hook.log');
  await writeFile(path, `#!/bin/sh\necho "user hook: $*" >> '${log}'\nexit ${status}\n`);
  await chmod(path, 0o755);
  return log;
}

async function installHook(): Promise<void> {
  const result = await vtree(repo, ['hooks', 'install']);
  expect(result.code, result.stderr).toBe(0);
}

/** Names of the set-up tasks every feature contributes with default options. */
function featureTaskNames(): string[] {
  const options = { deps: true, services: true, wait: false };
  return FEATURES.filter((f) => f.enabled?.(options) ?? true)
    .flatMap((f) => f.setupTasks(SETUP_STAGES))
    .map((t) => t.name);
}

describe('git vtree hooks install', () => {
  it('makes a plain `git worktree add` run the set-up pipeline as a `hook` run', async () => {
    const install = await vtree(repo, ['hooks', 'install']);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).toMatch(/Installed vtree's post-checkout hook/);

    const wt = join(root, 'wt-one');
    const added = await gitRun(repo, ['worktree', 'add', '-b', 'one', wt]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).toMatch(/git vtree: set up worktree 'one'/);

    const [run, ...more] = await runs();
    expect(more).toEqual([]);
    expect(run).toMatchObject({ command: 'hook', ok: true, branch: 'one', slug: 'wt-one', path: wt });
    const spans = run!.spans.map((s) => s.name);
    expect(spans).toEqual(expect.arrayContaining(['resolve-repo', 'locate-worktree', 'write-state', ...featureTaskNames()]));
    const state = JSON.parse(await readFile(join(repo, '.git', 'worktrees', 'wt-one', 'vtree.json'), 'utf8'));
    expect(state).toMatchObject({ branch: 'one', slug: 'wt-one', path: wt, createdBy: 'hook', runId: run!.id });
    // The env-files feature copied the ignored .env from the main worktree.
    expect(await readFile(join(wt, '.env'), 'utf8')).toContain('SECRET=from-main');
  });

  it('gives a plain `git worktree add` its node_modules, .env and ports', async () => {
    // A small real npm project (one package from the registry), installed in the main worktree.
    await writeFile(join(repo, '.gitignore'), 'node_modules/\n.env\n');
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { 'is-number': '7.0.0' } }));
    await execFileAsync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: repo, env: testEnv() });
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'npm project');
    await git(repo, 'config', 'vtree.ports.vars', 'PORT');
    await git(repo, 'config', 'vtree.cacheDir', join(root, 'cache'));
    await installHook();

    const wt = join(root, 'wt-npm');
    const added = await gitRun(repo, ['worktree', 'add', '-b', 'npm', wt]);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(wt, 'node_modules', 'is-number', 'package.json'), 'utf8'))).toMatchObject({ version: '7.0.0' });
    const state = JSON.parse(await readFile(join(repo, '.git', 'worktrees', 'wt-npm', 'vtree.json'), 'utf8'));
    expect(state.ports.PORT).toEqual(expect.any(Number));
    const env = await readFile(join(wt, '.env'), 'utf8');
    expect(env).toContain('SECRET=from-main');
    expect(env).toContain(`PORT=${state.ports.PORT}`);
    const [run] = await runs();
    expect(run).toMatchObject({ command: 'hook', ok: true, facts: { ports: { PORT: state.ports.PORT } } });

    // Let the background jobs the set-up started (caching node_modules) finish before cleaning up.
    const logs = join(repo, '.git', 'vibetrees', 'logs');
    for (let i = 0; i < 300; i++) {
      const names = existsSync(logs) ? await readdir(logs) : [];
      const texts = await Promise.all(names.map((n) => readFile(join(logs, n), 'utf8')));
      if (texts.every((t) => / finished in /.test(t))) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it('does nothing on an ordinary checkout, switch or clone', async () => {
    await installHook();
    await git(repo, 'branch', 'other');
    for (const args of [['checkout', '-q', 'other'], ['switch', '-q', 'main'], ['checkout', '-q', '-b', 'third']]) {
      const result = await gitRun(repo, args);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe('');
    }
    // A clone gets the null sha as previous HEAD too, but is no linked worktree.
    const hooksDir = join(repo, '.git', 'hooks');
    const clone = join(root, 'clone');
    const cloned = await gitRun(root, ['-c', `core.hooksPath=${hooksDir}`, 'clone', '-q', repo, clone]);
    expect(cloned.code, cloned.stderr).toBe(0);
    expect(cloned.stderr).not.toMatch(/git vtree/);
    const separate = await gitRun(root, ['-c', `core.hooksPath=${hooksDir}`, 'clone', '-q', '--separate-git-dir', join(root, 'sep.git'), repo, join(root, 'sep')]);
    expect(separate.code, separate.stderr).toBe(0);
    expect(separate.stderr).not.toMatch(/git vtree/);
    expect(await runs()).toEqual([]);
    expect(await runs(join(clone, '.git'))).toEqual([]);
  });

  it('starts no Node.js on an ordinary checkout, only on a worktree creation', async () => {
    await installHook();
    // Point the installed hook at a spy "node" that only logs its arguments.
    const spyLog = join(root, 'node-spy.log');
    const spy = join(root, 'node-spy');
    await writeFile(spy, `#!/bin/sh\necho "$*" >> '${spyLog}'\n`);
    await chmod(spy, 0o755);
    const hook = join(repo, '.git', 'hooks', 'post-checkout');
    await writeFile(hook, (await readFile(hook, 'utf8')).replace(/^vtree_node=.*$/m, `vtree_node='${spy}'`));

    await git(repo, 'branch', 'other');
    for (const args of [['checkout', '-q', 'other'], ['switch', '-q', 'main'], ['checkout', '-q', '--', 'README.md'], ['checkout', '-q', '--detach']]) {
      expect((await gitRun(repo, args)).code, args.join(' ')).toBe(0);
    }
    expect(existsSync(spyLog)).toBe(false);
    expect((await gitRun(repo, ['worktree', 'add', '-q', '-b', 'spied', join(root, 'spied')])).code).toBe(0);
    expect(await readFile(spyLog, 'utf8')).toBe(`${BIN} setup --hook\n`);
  });

  it('stands aside for VTREE_SKIP_HOOK=1 and for `git vtree add` itself', async () => {
    await installHook();
    const skipped = await gitRun(repo, ['worktree', 'add', '-b', 'skipped', join(root, 'skipped')], { VTREE_SKIP_HOOK: '1' });
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(await runs()).toEqual([]);
    expect(existsSync(join(root, 'skipped', '.env'))).toBe(false);

    const added = await vtree(repo, ['add', 'via-vtree']);
    expect(added.code, added.stderr).toBe(0);
    expect((await runs()).map((r) => r.command)).toEqual(['add']);
  });

  it('keeps a pre-existing hook running, passes on its failure, and restores it byte for byte', async () => {
    const hooksDir = join(repo, '.git', 'hooks');
    const userHook = join(hooksDir, 'post-checkout');
    const log = await writeUserHook(userHook, 3);
    await git(repo, 'branch', 'other');
    // What git makes of the failing hook alone (it reports 1 for any failing post-checkout).
    const baseline = await gitRun(repo, ['checkout', '-q', 'other']);
    expect(baseline.code).not.toBe(0);
    expect((await gitRun(repo, ['checkout', '-q', 'main'])).code).toBe(baseline.code);
    await writeFile(log, '');
    const before = await snapshot(hooksDir);

    await installHook();
    const installed = await snapshot(hooksDir);
    expect(installed['post-checkout.vtree-chained']).toBe(before['post-checkout']);
    const again = await vtree(repo, ['hooks', 'install']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already installed/);
    expect(await snapshot(hooksDir)).toEqual(installed);

    const status = await vtree(repo, ['hooks', 'status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ hook: 'installed', chained: true, outdated: false, dir: hooksDir });

    // An ordinary checkout: the user's hook runs with git's arguments and fails git as before.
    const checkout = await gitRun(repo, ['checkout', '-q', 'other']);
    expect(checkout.code).toBe(baseline.code);
    expect(await readFile(log, 'utf8')).toMatch(/^user hook: [0-9a-f]{40} [0-9a-f]{40} 1$/m);
    expect(await runs()).toEqual([]);
    // The exit status itself is passed on unchanged.
    const head = await git(repo, 'rev-parse', 'HEAD');
    const direct = await execFileAsync('sh', [userHook, head, head, '1'], { cwd: repo, env: testEnv() }).then(
      () => 0,
      (error: { code: number }) => error.code,
    );
    expect(direct).toBe(3);

    // A new worktree: the user's hook runs, vtree sets the worktree up, the failure still shows.
    const added = await gitRun(repo, ['worktree', 'add', '-b', 'two', join(root, 'two')]);
    expect(added.code).not.toBe(0);
    expect((await readFile(log, 'utf8')).split('\n').filter(Boolean)).toHaveLength(3);
    expect((await runs()).map((r) => [r.command, r.ok])).toEqual([['hook', true]]);

    expect((await vtree(repo, ['hooks', 'uninstall'])).code).toBe(0);
    expect(await snapshot(hooksDir)).toEqual(before);
    const twice = await vtree(repo, ['hooks', 'uninstall']);
    expect(twice.code).toBe(0);
    expect(await snapshot(hooksDir)).toEqual(before);
  });

  it('installs into core.hooksPath, and the round trip leaves that directory as it was', async () => {
    const hooksDir = join(repo, '.githooks');
    await mkdir(hooksDir);
    await writeFile(join(hooksDir, 'pre-commit'), '#!/bin/sh\nexit 0\n');
    await chmod(join(hooksDir, 'pre-commit'), 0o755);
    await symlink('pre-commit', join(hooksDir, 'post-commit'));
    await git(repo, 'config', 'core.hooksPath', '.githooks');
    const before = await snapshot(hooksDir);

    const install = await vtree(repo, ['hooks', 'install']);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).toContain(join(hooksDir, 'post-checkout'));
    expect(install.stderr).toMatch(/inside the work tree/);
    expect(existsSync(join(repo, '.git', 'hooks', 'post-checkout'))).toBe(false);

    const added = await gitRun(repo, ['worktree', 'add', '-b', 'three', join(root, 'three')]);
    expect(added.code, added.stderr).toBe(0);
    expect((await runs()).map((r) => r.command), added.stderr).toEqual(['hook']);

    expect((await vtree(repo, ['hooks', 'uninstall'])).code).toBe(0);
    expect(await snapshot(hooksDir)).toEqual(before);
  });

  it("chains husky's stub so that the user's .husky script still runs, and warns that husky regenerates it", async () => {
    // husky 9's layout: core.hooksPath=.husky/_, a stub per hook that finds the user's script by $0.
    const husky = join(repo, '.husky');
    const underscore = join(husky, '_');
    await mkdir(underscore, { recursive: true });
    await writeFile(join(underscore, 'h'), '#!/usr/bin/env sh\nn=$(basename "$0")\ns=$(dirname "$(dirname "$0")")/$n\n[ ! -f "$s" ] && exit 0\nsh -e "$s" "$@"\n');
    await writeFile(join(underscore, 'post-checkout'), '#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n');
    await chmod(join(underscore, 'post-checkout'), 0o755);
    const log = join(root, 'husky.log');
    await writeFile(join(husky, 'post-checkout'), `echo "husky user script: $3" >> '${log}'\n`);
    await git(repo, 'config', 'core.hooksPath', '.husky/_');

    const install = await vtree(repo, ['hooks', 'install']);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).toMatch(/husky regenerates \.husky\/_/);
    const status = JSON.parse((await vtree(repo, ['hooks', 'status', '--json'])).stdout);
    expect(status).toMatchObject({ manager: 'husky', hook: 'installed', chained: true });

    await git(repo, 'branch', 'other');
    expect((await gitRun(repo, ['checkout', '-q', 'other'])).code).toBe(0);
    expect(await readFile(log, 'utf8')).toBe('husky user script: 1\n');
  });

  it("chains lefthook's hook and warns that `lefthook install` replaces vtree's", async () => {
    const hook = join(repo, '.git', 'hooks', 'post-checkout');
    const log = join(root, 'lefthook.log');
    // What `lefthook install` writes, reduced to its shape: a sh script that calls lefthook.
    await writeFile(hook, `#!/bin/sh\nif [ "$LEFTHOOK" = "0" ]; then exit 0; fi\necho "lefthook run post-checkout $*" >> '${log}'\n`);
    await chmod(hook, 0o755);
    const install = await vtree(repo, ['hooks', 'install']);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).toMatch(/`lefthook install` replaces hooks it did not write/);
    expect(JSON.parse((await vtree(repo, ['hooks', 'status', '--json'])).stdout)).toMatchObject({ manager: 'lefthook', chained: true });
    await git(repo, 'branch', 'other');
    expect((await gitRun(repo, ['checkout', '-q', 'other'])).code).toBe(0);
    expect(await readFile(log, 'utf8')).toMatch(/^lefthook run post-checkout [0-9a-f]{40} [0-9a-f]{40} 1\n$/);
  });

  it('turns a set-up failure into one line and leaves git successful', async () => {
    await installHook();
    // A branch whose committed .vtreeconfig git cannot parse: loading the config fails.
    await git(repo, 'checkout', '-q', '-b', 'broken');
    await writeFile(join(repo, '.vtreeconfig'), '[vtree\n');
    await git(repo, 'add', '.vtreeconfig');
    await git(repo, 'commit', '-qm', 'broken config');
    await git(repo, 'checkout', '-q', 'main');

    const added = await gitRun(repo, ['worktree', 'add', join(root, 'broken'), 'broken']);
    expect(added.code, added.stderr).toBe(0);
    const lines = added.stderr.split('\n').filter((l) => l.includes('git vtree'));
    expect(lines, added.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^git vtree: .*\(post-checkout hook; retry with: git vtree setup\)$/);
    expect(existsSync(join(root, 'broken', 'README.md'))).toBe(true);
  });

  it('says so in one line when vtree itself cannot be found', async () => {
    await installHook();
    const hook = join(repo, '.git', 'hooks', 'post-checkout');
    const text = await readFile(hook, 'utf8');
    await writeFile(hook, text.replace(/^vtree_entry=.*$/m, `vtree_entry='${join(root, 'gone', 'git-vtree')}'`));
    // A PATH with git but without git-vtree.
    const added = await gitRun(repo, ['worktree', 'add', '-b', 'lost', join(root, 'lost')], { PATH: '/usr/bin:/bin' });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).toMatch(/^git vtree \(post-checkout hook\): git-vtree is not installed; set this worktree up later with: git vtree setup$/m);
    expect(await runs()).toEqual([]);
  });
});

describe('git vtree init', () => {
  it('installs the hook and says what to do next', async () => {
    const result = await vtree(repo, ['init']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Installed vtree's post-checkout hook/);
    const hook = await readFile(join(repo, '.git', 'hooks', 'post-checkout'), 'utf8');
    expect(hook).toContain('# git-vtree-hook: post-checkout');
    expect(hook).toContain(`vtree_entry='${BIN}'`);
    expect((await vtree(repo, ['init'])).stderr).toMatch(/already installed/);
  });
});

describe('hooks install keeps the main worktree clean', () => {
  /** `git status` of the main worktree, every untracked file listed. */
  const status = () => git(repo, 'status', '--porcelain', '--untracked-files=all');

  it('under husky 9, installed from npm', async () => {
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    await writeFile(join(repo, '.gitignore'), '.env\nnode_modules\n');
    await execFileAsync('npm', ['install', '--save-dev', '--no-audit', '--no-fund', 'husky@9'], { cwd: repo, env: testEnv() });
    await execFileAsync('npx', ['husky', 'init'], { cwd: repo, env: testEnv() });
    expect(await git(repo, 'config', 'core.hooksPath')).toBe('.husky/_');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'husky', '--no-verify');
    expect(await status()).toBe('');

    const install = await vtree(repo, ['hooks', 'install']);
    expect(install.code, install.stderr).toBe(0);
    expect(JSON.parse((await vtree(repo, ['hooks', 'status', '--json'])).stdout)).toMatchObject({ manager: 'husky', hook: 'installed', chained: true });
    expect(await status()).toBe('');
    const added = await gitRun(repo, ['worktree', 'add', '-b', 'husky9', join(root, 'husky9')]);
    expect(added.code, added.stderr).toBe(0);
    expect((await runs()).map((r) => r.command)).toEqual(['hook']);
    expect(await status()).toBe('');
  }, 120_000);

  it('under husky 4-8 (.husky committed as core.hooksPath) and a plain core.hooksPath, and uninstall gives info/exclude back', async () => {
    const exclude = join(repo, '.git', 'info', 'exclude');
    const excludeBefore = await readFile(exclude, 'utf8');
    for (const dir of ['.husky', '.githooks']) {
      await mkdir(join(repo, dir, '_'), { recursive: true });
      await writeFile(join(repo, dir, 'pre-commit'), '#!/bin/sh\nexit 0\n');
      await chmod(join(repo, dir, 'pre-commit'), 0o755);
    }
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'hooks');
    for (const dir of ['.husky', '.githooks']) {
      await git(repo, 'config', 'core.hooksPath', dir);
      const install = await vtree(repo, ['hooks', 'install']);
      expect(install.code, install.stderr).toBe(0);
      expect(existsSync(join(repo, dir, 'post-checkout'))).toBe(true);
      expect(await status()).toBe('');
      const added = await gitRun(repo, ['worktree', 'add', '-b', `wt${dir}`, join(root, `wt${dir}`)]);
      expect(added.code, added.stderr).toBe(0);
      expect(await status()).toBe('');
      expect((await vtree(repo, ['hooks', 'uninstall'])).code).toBe(0);
      expect(await readFile(exclude, 'utf8')).toBe(excludeBefore);
    }
    expect((await runs()).map((r) => r.command)).toEqual(['hook', 'hook']);
  });

  it('leaves a committed post-checkout hook alone and says which line to add to it', async () => {
    await mkdir(join(repo, '.githooks'));
    await writeUserHook(join(repo, '.githooks', 'post-checkout'));
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'hooks');
    await git(repo, 'config', 'core.hooksPath', '.githooks');
    const install = await vtree(repo, ['hooks', 'install']);
    expect(install.code).toBe(1);
    expect(install.stderr).toMatch(/post-checkout is committed to the repository: vtree leaves it alone\nhint: .*add this line to it: \[ "\$1" = 0{40} \] && \[ -f \.git \] && git vtree setup --hook/);
    expect(await status()).toBe('');
  });
});
