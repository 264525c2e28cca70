import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../../src/core/exec.js';
import { cacheKey } from '../../../src/features/deps/cache-key.js';
import { commitFiles, detectProject, type Project } from '../../../src/features/deps/package-manager.js';
import { git, makeRepo, tempDir, treeOf, vtree } from '../../helpers.js';
import { logsOf, waitFor } from './deps-helpers.js';

// A project's committed package-manager config shapes what its install puts on disk (npm's
// `omit`, pnpm's `nodeLinker`) and can name programs or set how they run (`script-shell`,
// `node-options`, `git`): the first goes into the cache key, the second waits for approval.

let root: string;
let repo: string;
let out: string;
let env: NodeJS.ProcessEnv;
let cleanups: Array<() => Promise<void>>;

/** A project with one dependency and one development dependency, directories in the repository (npm links them: no registry). */
const FILES = {
  '.gitignore': 'node_modules/\n',
  'package.json': JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { b: 'file:./pkgs/b' }, devDependencies: { a: 'file:./pkgs/a' } }),
};

beforeEach(async () => {
  cleanups = [];
  out = await tempDir('vtree-outside-');
  cleanups.push(() => rm(out, { recursive: true, force: true }));
  const made = await makeRepo({ '.gitignore': FILES['.gitignore'], 'package.json': FILES['package.json'] });
  cleanups.push(made.cleanup);
  ({ root, repo } = made);
  for (const name of ['a', 'b']) {
    await mkdir(join(repo, 'pkgs', name), { recursive: true });
    await writeFile(join(repo, 'pkgs', name, 'package.json'), JSON.stringify({ name, version: '1.0.0' }));
  }
  await run('npm', ['install', '--no-audit', '--no-fund'], { cwd: repo });
  await commit('with a lockfile');
  env = { XDG_STATE_HOME: join(root, 'state') };
});
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function commit(message: string): Promise<void> {
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-qm', message);
}

const detect = async (): Promise<Project> => (await detectProject(commitFiles(repo, 'HEAD')))!;

describe('the settings of committed package-manager config', () => {
  it('shape the cache key, except registries, credentials, network and output; none of them is kept', async () => {
    const plain = cacheKey(await detect());

    // A user's registry and token (committed or not) is no reason for another install.
    await writeFile(join(repo, '.npmrc'), 'registry=https://npm.example.com/\n//npm.example.com/:_authToken=s3cr3t\nfund=false\nloglevel=warn\n');
    await commit('registry');
    const registry = await detect();
    expect(cacheKey(registry)).toBe(plain);
    expect(JSON.stringify(registry)).not.toContain('s3cr3t');

    await writeFile(join(repo, '.npmrc'), 'registry=https://npm.example.com/\nomit = dev\n');
    await commit('omit dev');
    const lean = await detect();
    expect(lean.settings).toEqual(['.npmrc omit=dev']);
    expect(cacheKey(lean)).not.toBe(plain);

    // Each manager's own files: pnpm's settings in pnpm-workspace.yaml (its globs are the workspaces).
    await rm(join(repo, '.npmrc'));
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'app', packageManager: 'pnpm@9.0.0' }));
    await writeFile(join(repo, 'pnpm-workspace.yaml'), 'packages:\n  - pkgs/*\n');
    await commit('pnpm');
    const isolated = await detect();
    expect(isolated.settings).toEqual([]);
    await writeFile(join(repo, 'pnpm-workspace.yaml'), 'packages:\n  - pkgs/*\nnodeLinker: hoisted\nnpmRegistries: { "https://x.example.com/": { authToken: s3cr3t } }\n');
    await commit('hoisted');
    const hoisted = await detect();
    expect(hoisted.settings).toEqual(['pnpm-workspace.yaml node-linker=hoisted']);
    expect(cacheKey(hoisted)).not.toBe(cacheKey(isolated));
    expect(JSON.stringify(hoisted)).not.toContain('s3cr3t');
  });

  it('that name a program or set how programs run are programs of the install; a file a manager does not read is not', async () => {
    await writeFile(join(repo, '.npmrc'), 'script-shell=./sh.sh\nnode_options="--require ./x.cjs"\ngit=./git.sh\nomit=dev\n');
    await writeFile(join(repo, '.yarnrc'), 'yarn-path "./yarn.cjs"\n');
    await commit('npm config');
    const npmrc = [
      { name: '.npmrc script-shell', text: './sh.sh', always: false },
      { name: '.npmrc node-options', text: '--require ./x.cjs', always: false },
      { name: '.npmrc git', text: './git.sh', always: true },
    ];
    expect((await detect()).programs).toEqual(npmrc);

    // yarn classic reads .yarnrc: its committed release runs on every yarn command.
    await writeFile(join(repo, 'yarn.lock'), '# yarn lockfile v1\n');
    await rm(join(repo, 'package-lock.json'));
    await writeFile(join(repo, 'yarn.cjs'), 'require("child_process")\n');
    await commit('yarn classic');
    const release = (await git(repo, 'rev-parse', 'HEAD:yarn.cjs')).trim();
    expect((await detect()).programs).toContainEqual({ name: 'yarn.cjs (yarn-path)', text: `file ${release}`, always: true });

    // pnpm: a pnpmfile elsewhere, named in pnpm-workspace.yaml; yarn berry: .env.yarn sets every script's environment.
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'app', packageManager: 'pnpm@9.0.0' }));
    await writeFile(join(repo, 'pnpm-workspace.yaml'), 'pnpmfile: hooks/pnpm.cjs\nuseNodeVersion: 20.0.0\nconfigDependencies:\n  pnpm-plugin-x: 1.0.0+sha512-AAAA\n');
    await commit('pnpm');
    expect((await detect()).programs).toEqual([
      ...npmrc,
      { name: 'pnpm-workspace.yaml pnpmfile', text: 'hooks/pnpm.cjs', always: true },
      { name: 'pnpm-workspace.yaml use-node-version', text: '20.0.0', always: false },
      { name: 'pnpm-workspace.yaml config-dependencies', text: '{"pnpm-plugin-x":"1.0.0+sha512-AAAA"}', always: true },
    ]);
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'app', packageManager: 'yarn@4.5.0' }));
    // A plugins key that is no list names no plugin (yarn refuses it), and reading it breaks nothing.
    await writeFile(join(repo, '.yarnrc.yml'), 'nodeLinker: node-modules\nplugins: "[not a list"\n');
    await writeFile(join(repo, '.env.yarn'), 'NODE_OPTIONS=--require ./x.cjs\n');
    await commit('yarn berry');
    const envFile = (await git(repo, 'rev-parse', 'HEAD:.env.yarn')).trim();
    expect((await detect()).programs).toEqual([{ name: '.env.yarn', text: `file ${envFile}`, always: false }]);
  });
});

describe('through git vtree add, with real npm', () => {
  it('a branch whose .npmrc omits development dependencies gets what npm ci gives it, never the cached tree of its lockfile', async () => {
    const first = await vtree(repo, ['add', 'first', '--no-services', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    // The entry is a snapshot of the main worktree: it is left alone until it is made.
    await waitForEntry();
    await git(repo, 'checkout', '-qb', 'lean');
    await writeFile(join(repo, '.npmrc'), 'omit=dev\n');
    await commit('omit dev');
    await git(repo, 'checkout', '-q', 'main');

    const lean = await vtree(repo, ['add', 'lean', '--no-services', '--json'], env);
    expect(lean.code, lean.stderr).toBe(0);
    expect((JSON.parse(lean.stdout) as { facts: { deps: { source: string } } }).facts.deps.source).not.toBe('hit');
    const clean = join(root, 'clean');
    await mkdir(clean);
    await run('sh', ['-c', `git -C ${repo} archive lean | tar -x -C ${clean}`]);
    await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: clean });
    const tree = (dir: string) => treeOf(join(dir, 'node_modules')).catch(() => ({}));
    expect(await tree(clean)).not.toHaveProperty('a');
    expect(await tree(join(root, 'app.worktrees', 'lean'))).toEqual(await tree(clean));
    expect(await tree(join(root, 'app.worktrees', 'first'))).toHaveProperty('a');
  });

  it('a script-shell the clone sets is not used until approved, though the script itself was', async () => {
    await writeFile(join(repo, 'package.json'), JSON.stringify({ ...JSON.parse(FILES['package.json']), scripts: { postinstall: 'true' } }));
    await commit('a postinstall');
    expect((await vtree(repo, ['trust', '--yes'], env)).code).toBe(0);
    await writeFile(join(repo, 'shell.sh'), `#!/bin/sh\ntouch ${out}/pwned\nexec sh "$@"\n`, { mode: 0o755 });
    await writeFile(join(repo, '.npmrc'), `script-shell=${join(repo, 'shell.sh')}\n`);
    await commit('a shell of its own');
    // Nothing to restore from: the add installs.
    await rm(join(repo, 'node_modules'), { recursive: true });

    const refused = await vtree(repo, ['add', 'refused', '--no-services'], env);
    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.stderr).toMatch(/deps: not installed — the install would run \.npmrc script-shell, not approved on this machine; review and approve them: cd \S+ && git vtree trust, then: git vtree setup/);
    expect(await readdir(out)).toEqual([]);

    const shown = await vtree(repo, ['trust', '--json'], env);
    expect(JSON.parse(shown.stdout)).toMatchObject({ install: expect.arrayContaining([{ name: '.npmrc script-shell', run: join(repo, 'shell.sh'), state: 'new' }]) });
    expect((await vtree(repo, ['trust', '--yes'], env)).code).toBe(0);
    const approved = await vtree(repo, ['add', 'approved', '--no-services'], env);
    expect(approved.code, approved.stderr).toBe(0);
    // The setting is what made npm run the clone's program: approval is what let it.
    expect(await readdir(out)).toEqual(['pwned']);
  });
});

/** Waits for the background snapshot of the first install (the cache entry of the main branch's key). */
async function waitForEntry(): Promise<void> {
  const entries = join(repo, '.git', 'vibetrees', 'cache', 'entries');
  await waitFor('the cache entry', async () => (await readdir(entries).catch(() => [])).length === 1, logsOf(repo));
}
