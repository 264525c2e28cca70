import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cacheKey, currentPlatform } from '../../../src/features/deps/cache-key.js';
import { commitFiles, detectProject, diskFiles, gitBlobId, installCommand, reconcileCommand } from '../../../src/features/deps/package-manager.js';
import { git, makeRepo } from '../../helpers.js';

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.map((c) => c()));
  cleanups = [];
});

/** A repository whose one commit holds `files`; returns it and that commit. */
async function repoWith(files: Record<string, string | Buffer>): Promise<{ repo: string; commit: string }> {
  const made = await makeRepo();
  cleanups.push(made.cleanup);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(made.repo, name)), { recursive: true });
    await writeFile(join(made.repo, name), content);
  }
  await git(made.repo, 'add', '-A');
  await git(made.repo, 'commit', '-qm', 'project');
  return { repo: made.repo, commit: await git(made.repo, 'rev-parse', 'HEAD') };
}

const pkg = (extra: Record<string, unknown> = {}) => JSON.stringify({ name: 'app', version: '1.0.0', dependencies: { semver: '^7.6.0' }, ...extra });

describe('detectProject', () => {
  it('reads the manager and lockfiles of a commit from the object store, as on disk', async () => {
    const lock = '{"lockfileVersion":3,"packages":{}}\n';
    const { repo, commit } = await repoWith({ 'package.json': pkg(), 'package-lock.json': lock });
    const fromCommit = await detectProject(commitFiles(repo, commit));
    expect(fromCommit).toMatchObject({ manager: 'npm', packageDirs: [''], pnp: false });
    expect(fromCommit!.lockfiles).toEqual({ 'package-lock.json': gitBlobId(Buffer.from(lock)) });
    expect(fromCommit!.manifests['package.json']).toEqual({ dependencies: { semver: '^7.6.0' } });
    // The same project read from the worktree gives the same key.
    expect(cacheKey((await detectProject(diskFiles(repo)))!)).toBe(cacheKey(fromCommit!));
  });

  it.each([
    [{ 'pnpm-lock.yaml': 'lockfileVersion: 9.0\n' }, 'pnpm'],
    [{ 'yarn.lock': '# yarn lockfile v1\n' }, 'yarn'],
    [{ 'yarn.lock': '__metadata:\n  version: 8\n', '.yarnrc.yml': 'nodeLinker: node-modules\n' }, 'yarn@berry'],
    [{ 'bun.lock': '{}\n' }, 'bun'],
    [{ 'bun.lockb': Buffer.from([0, 1, 2, 255, 254]) }, 'bun'],
    [{ 'npm-shrinkwrap.json': '{}\n' }, 'npm'],
  ] as Array<[Record<string, string | Buffer>, string]>)('detects %o as %s', async (files, manager) => {
    const { repo, commit } = await repoWith({ 'package.json': pkg(), ...files });
    const project = await detectProject(commitFiles(repo, commit));
    expect(project?.manager).toBe(manager);
    expect(Object.keys(project!.lockfiles)).toEqual(Object.keys(files).filter((f) => f !== '.yarnrc.yml'));
  });

  it('lets the packageManager field win over the lockfile, and says yarn berry with PnP has no node_modules', async () => {
    const pnpmByField = await repoWith({ 'package.json': pkg({ packageManager: 'pnpm@9.12.0' }), 'package-lock.json': '{}' });
    expect((await detectProject(commitFiles(pnpmByField.repo, pnpmByField.commit)))?.manager).toBe('pnpm');
    const berry = await repoWith({ 'package.json': pkg({ packageManager: 'yarn@4.5.0' }), 'yarn.lock': '__metadata:\n' });
    expect(await detectProject(commitFiles(berry.repo, berry.commit))).toMatchObject({ manager: 'yarn@berry', pnp: true });
  });

  it('finds every workspace package (npm workspaces and pnpm-workspace.yaml), never node_modules', async () => {
    const npm = await repoWith({
      'package.json': pkg({ workspaces: ['packages/*', 'apps/**'] }),
      'package-lock.json': '{}',
      'packages/a/package.json': pkg({ name: 'a' }),
      'packages/b/package.json': pkg({ name: 'b', devDependencies: { ms: '2' } }),
      'apps/web/site/package.json': pkg({ name: 'site' }),
      'packages/a/node_modules/x/package.json': '{}',
      'tools/package.json': pkg({ name: 'not-a-workspace' }),
    });
    const project = (await detectProject(commitFiles(npm.repo, npm.commit)))!;
    expect(project.packageDirs).toEqual(['', 'apps/web/site', 'packages/a', 'packages/b']);
    expect(Object.keys(project.manifests).sort()).toEqual(['apps/web/site/package.json', 'package.json', 'packages/a/package.json', 'packages/b/package.json']);
    const pnpm = await repoWith({
      'package.json': pkg(),
      'pnpm-lock.yaml': 'lockfileVersion: 9.0\n',
      'pnpm-workspace.yaml': "packages:\n  - 'libs/*'\n  - '!libs/skip'\n",
      'libs/one/package.json': pkg({ name: 'one' }),
    });
    expect((await detectProject(commitFiles(pnpm.repo, pnpm.commit)))?.packageDirs).toEqual(['', 'libs/one']);
  });

  it('matches workspace globs as each manager does: `docs/**` includes `docs` (npm, pnpm, yarn classic) or not (yarn berry); `!` excludes', async () => {
    const tree = { 'docs/package.json': pkg({ name: 'docs' }), 'docs/sub/package.json': pkg({ name: 'sub' }), 'docs/test/package.json': pkg({ name: 't' }) };
    const dirs = async (files: Record<string, string>) => {
      const made = await repoWith({ ...tree, ...files });
      return (await detectProject(commitFiles(made.repo, made.commit)))?.packageDirs;
    };
    expect(await dirs({ 'package.json': pkg({ workspaces: ['docs/**'] }), 'package-lock.json': '{}' })).toEqual(['', 'docs', 'docs/sub', 'docs/test']);
    expect(await dirs({ 'package.json': pkg({ workspaces: ['docs/**'] }), 'yarn.lock': '# yarn lockfile v1\n' })).toEqual(['', 'docs', 'docs/sub', 'docs/test']);
    expect(await dirs({ 'package.json': pkg(), 'pnpm-lock.yaml': 'lockfileVersion: 9.0\n', 'pnpm-workspace.yaml': "packages:\n  - 'docs/**'\n  - '!**/test'\n" })).toEqual(['', 'docs', 'docs/sub']);
    expect(await dirs({ 'package.json': pkg({ workspaces: ['docs/**'] }), 'yarn.lock': '__metadata:\n', '.yarnrc.yml': 'nodeLinker: node-modules\n' })).toEqual(['', 'docs/sub', 'docs/test']);
  });

  it('has nothing to say about a commit without package.json', async () => {
    const { repo, commit } = await repoWith({ 'main.go': 'package main\n' });
    expect(await detectProject(commitFiles(repo, commit))).toBeUndefined();
  });
});

describe('cacheKey', () => {
  it('changes with the lockfile, with any dependency field of any workspace package.json, and with the platform', async () => {
    const base = { 'package.json': pkg({ workspaces: ['packages/*'] }), 'package-lock.json': '{"a":1}', 'packages/a/package.json': pkg({ name: 'a' }) };
    const key = async (files: Record<string, string>) => {
      const { repo, commit } = await repoWith(files);
      return cacheKey((await detectProject(commitFiles(repo, commit)))!);
    };
    const original = await key(base);
    expect(await key({ ...base, 'README.md': 'docs do not matter' })).toBe(original);
    expect(await key({ ...base, 'package.json': pkg({ workspaces: ['packages/*'], scripts: { test: 'x' }, version: '2.0.0' }) })).toBe(original);
    expect(await key({ ...base, 'package-lock.json': '{"a":2}' })).not.toBe(original);
    // package.json edited without updating the lockfile: still another key.
    expect(await key({ ...base, 'packages/a/package.json': pkg({ name: 'a', peerDependencies: { react: '18' } }) })).not.toBe(original);
    expect(await key({ ...base, 'package.json': pkg({ workspaces: ['packages/*'], overrides: { ms: '2.1.3' } }) })).not.toBe(original);
    const { repo, commit } = await repoWith(base);
    const project = (await detectProject(commitFiles(repo, commit)))!;
    expect(cacheKey(project, { ...currentPlatform(), arch: 'mips' })).not.toBe(cacheKey(project));
    expect(cacheKey(project, { ...currentPlatform(), node: '0' })).not.toBe(cacheKey(project));
  });
});

describe('install commands', () => {
  it('uses the frozen install for misses and an offline-first reconcile for partial restores', async () => {
    expect(await installCommand('npm', true)).toEqual({ command: 'npm', args: ['ci'] });
    expect(await installCommand('pnpm', true)).toEqual({ command: 'pnpm', args: ['i', '--frozen-lockfile'] });
    expect(await installCommand('yarn@berry', true)).toEqual({ command: 'yarn', args: ['install', '--immutable'] });
    expect(await installCommand('bun', true)).toEqual({ command: 'bun', args: ['install', '--frozen-lockfile'] });
    expect(reconcileCommand('npm').args).toContain('--prefer-offline');
    expect(reconcileCommand('pnpm').args).toEqual(['install', '--prefer-offline', '--frozen-lockfile', '--config.modules-cache-max-age=0']);
    expect(reconcileCommand('npm').args).toContain('--no-save');
  });
});
