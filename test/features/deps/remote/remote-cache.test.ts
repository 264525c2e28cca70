import { chmod, lstat, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEntries, openEntry } from '../../../../src/features/deps/cache.js';
import { RegistryError } from '../../../../src/features/deps/remote/client.js';
import { openRemote, pullEntry, pushEntry } from '../../../../src/features/deps/remote/remote-cache.js';
import { run } from '../../../../src/core/exec.js';
import { git, npmProjectsForFile, tempDir, treeOf, vtree } from '../../../helpers.js';
import { requirePrereq, startRegistry, startTokenRegistry } from '../../../remote-prereqs.js';

// The remote dependency cache against a real registry (Debian's docker-registry on 127.0.0.1),
// real npm installs and the built CLI: push after a real install, pull on a second clone, refusal
// of an entry made for another platform, fallback when the registry is down or stalls, and
// credentials from a Docker config file against a registry with htpasswd authentication.

const USER = { username: 'vtree', password: 'correct horse' };
const open = await requirePrereq('docker-registry on 127.0.0.1:5110', () => startRegistry(5110));
const authed = await requirePrereq('docker-registry with htpasswd auth on 127.0.0.1:5111', () => startRegistry(5111, USER));
const tokens = await requirePrereq('docker-registry with token auth on 127.0.0.1:5113', () => startTokenRegistry(5113, USER));
const REGISTRY = open.ok ? open.value : '';
const AUTH_REGISTRY = authed.ok ? authed.value : '';
/** A fresh repository name per run: the registry outlives test runs. */
const run_ = `t${Date.now().toString(36)}${process.pid}`;

const { projectRepo, warmedRepo } = npmProjectsForFile();

async function clone(repo: string): Promise<string> {
  const parent = await tempDir('vtree-remote-clone-');
  const dest = join(parent, 'app');
  await git(parent, 'clone', '-q', repo, dest);
  return dest;
}

/** `add <branch> --json`: exit code, the deps facts, stderr. */
async function add(repo: string, branch: string, env: NodeJS.ProcessEnv = {}) {
  const result = await vtree(repo, ['add', branch, '--json'], env);
  const facts = result.code === 0 ? (JSON.parse(result.stdout) as { facts: { deps: Record<string, unknown> }; path: string }) : undefined;
  return { ...result, deps: facts?.facts.deps, path: facts?.path ?? '' };
}

/** Waits until the registry holds tag `key` in `repository` (the push is a background job). */
async function waitForTag(registry: string, repository: string, key: string, headers: Record<string, string> = {}): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const response = await fetch(`http://${registry}/v2/${repository}/manifests/${key}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json', ...headers } });
    if (response.ok) return;
    await sleep(100);
  }
  throw new Error(`${registry}/${repository}:${key} never appeared`);
}

/** A Docker config directory whose config.json is `config`. */
async function dockerConfig(config: unknown): Promise<string> {
  const dir = await tempDir('vtree-docker-config-');
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

const basicAuth = (user: { username: string; password: string }) => Buffer.from(`${user.username}:${user.password}`).toString('base64');

describe.skipIf(!open.ok)(`remote cache in a registry${open.ok ? '' : ` (skipped: ${open.reason})`}`, () => {
  it('pushes after a real install, and a second clone with an empty cache pulls a tree equal to the clean install', async () => {
    const repository = `${run_}/roundtrip`;
    const first = await projectRepo();
    await git(first, 'config', 'vtree.cache.remote', `${REGISTRY}/${repository}`);
    await git(first, 'config', 'vtree.cache.push', 'true');
    const installed = await add(first, 'one');
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.deps?.source).toBe('miss');
    const key = String(installed.deps?.key);
    await waitForTag(REGISTRY, repository, key);
    // The artifact: its own media types and annotations.
    const manifest = (await (await fetch(`http://${REGISTRY}/v2/${repository}/manifests/${key}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json()) as Record<string, any>;
    expect(manifest.artifactType).toBe('application/vnd.vtree.deps.v1');
    expect(manifest.config.mediaType).toBe('application/vnd.vtree.deps.config.v1+json');
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(['application/vnd.vtree.deps.tree.v1.tar+gzip']);
    expect(manifest.annotations).toMatchObject({ 'dev.vtree.deps.manager': 'npm', 'dev.vtree.deps.node': process.versions.node.split('.')[0], 'dev.vtree.deps.platform': `${process.platform}-${process.arch}` });
    expect(Number(manifest.annotations['dev.vtree.deps.size'])).toBeGreaterThan(0);
    expect(Date.parse(manifest.annotations['org.opencontainers.image.created'])).not.toBeNaN();

    const second = await clone(first);
    await git(second, 'config', 'vtree.cache.remote', `${REGISTRY}/${repository}`);
    const pulled = await add(second, 'two');
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.deps).toMatchObject({ source: 'remote', key, from: `${REGISTRY}/${repository}` });
    expect(pulled.deps?.remoteBytes).toBeGreaterThan(0);
    expect(await treeOf(join(pulled.path, 'node_modules'))).toEqual(await treeOf(join(installed.path, 'node_modules')));
    // The pull filled the local cache: the next add is a local hit, without the registry.
    await git(second, 'config', 'vtree.cache.remote', '127.0.0.1:9/gone');
    const local = await add(second, 'three');
    expect(local.deps?.source).toBe('hit');
    expect(local.stderr).not.toContain('remote cache');
  }, 180_000);

  it('cache push and cache pull --for-commit do the same by hand', async () => {
    const repository = `${run_}/byhand`;
    const first = await warmedRepo(`${REGISTRY}/${repository}`);
    const pushed = await vtree(first, ['cache', 'push', '--json']);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(JSON.parse(pushed.stdout).entries).toEqual([expect.objectContaining({ pushed: true })]);
    const again = await vtree(first, ['cache', 'push', '--all', '--json']);
    expect(JSON.parse(again.stdout).entries).toEqual([expect.objectContaining({ pushed: false, bytes: 0 })]);

    const second = await clone(first);
    await git(second, 'config', 'vtree.cache.remote', `${REGISTRY}/${repository}`);
    const pulled = await vtree(second, ['cache', 'pull', '--for-commit', 'main', '--json']);
    expect(pulled.code, pulled.stderr).toBe(0);
    const answer = JSON.parse(pulled.stdout);
    expect(answer).toMatchObject({ pulled: true });
    const entries = await listEntries(join(second, '.git/vibetrees/cache'));
    expect(entries.map((e) => [e.key, e.meta.source])).toEqual([[answer.key, 'remote']]);
    const missing = await vtree(second, ['cache', 'pull', 'f'.repeat(40)]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`has no entry ffffffffffff`);
  }, 180_000);

  it('refuses an entry made for another platform: add installs instead, cache pull fails with the reason', async () => {
    const repository = `${run_}/platform`;
    const first = await warmedRepo();
    const cacheDir = join(first, '.git/vibetrees/cache');
    const [entry] = await listEntries(cacheDir);
    // The same key, but made (it says) by another Node.js major on another architecture.
    const metaPath = join(entry!.dir, 'meta.json');
    const meta = JSON.parse(await readFile(metaPath, 'utf8'));
    await writeFile(metaPath, JSON.stringify({ ...meta, platform: { ...meta.platform, node: '12', arch: 'arm' } }));
    const remote = openRemote(`${REGISTRY}/${repository}`, { timeoutMs: 5000, push: false });
    expect((await pushEntry(remote, cacheDir, entry!.key)).pushed).toBe(true);

    const elsewhere = await tempDir('vtree-remote-cache-');
    await expect(pullEntry(remote, elsewhere, entry!.key)).rejects.toThrow(RegistryError);
    await expect(pullEntry(remote, elsewhere, entry!.key)).rejects.toThrow(/made for node 12 \w+-arm/);
    expect(await openEntry(elsewhere, entry!.key)).toBeUndefined();

    const second = await clone(first);
    await git(second, 'config', 'vtree.cache.remote', `${REGISTRY}/${repository}`);
    const pulled = await vtree(second, ['cache', 'pull', '--for-commit', 'HEAD']);
    expect(pulled.code).toBe(1);
    expect(pulled.stderr).toMatch(/refused .*made for node 12/);
    const added = await add(second, 'two');
    expect(added.code, added.stderr).toBe(0);
    expect(added.deps?.source).toBe('miss');
    expect(added.stderr).toMatch(/remote cache .*refused .*made for node 12 .*; installing instead/);
  }, 180_000);
});

describe('remote cache that cannot answer', () => {
  let stalled: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts connections and never answers a byte: a registry hung behind a load balancer.
    stalled = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => stalled.close(resolve));
  });

  it('a registry that refuses connections: add installs, saying so in one line', async () => {
    const repo = await projectRepo();
    // A port that was free a moment ago: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    await git(repo, 'config', 'vtree.cache.remote', `127.0.0.1:${port}/team/deps`);
    const added = await add(repo, 'one');
    expect(added.code, added.stderr).toBe(0);
    expect(added.deps?.source).toBe('miss');
    expect(added.stderr.split('\n').filter((l) => l.includes('remote cache'))).toEqual([`warning: remote cache 127.0.0.1:${port}/team/deps: cannot reach 127.0.0.1:${port}: ECONNREFUSED; installing instead`]);
    expect(await lstat(join(added.path, 'node_modules/semver/package.json'))).toBeTruthy();
  }, 120_000);

  it('a registry that accepts and never answers: add gives up after vtree.cache.remoteTimeout and installs', async () => {
    const repo = await projectRepo();
    const port = (stalled.address() as { port: number }).port;
    await git(repo, 'config', 'vtree.cache.remote', `127.0.0.1:${port}/team/deps`);
    await git(repo, 'config', 'vtree.cache.remoteTimeout', '1s');
    const added = await add(repo, 'one');
    expect(added.code, added.stderr).toBe(0);
    expect(sockets.length).toBeGreaterThan(0);
    expect(added.deps?.source).toBe('miss');
    expect(added.stderr).toContain(`warning: remote cache 127.0.0.1:${port}/team/deps: 127.0.0.1:${port} did not answer in time; installing instead`);
  }, 120_000);

  it('a committed .vtreeconfig cannot set the remote cache', async () => {
    const repo = await projectRepo();
    await writeFile(join(repo, '.vtreeconfig'), '[vtree "cache"]\n\tremote = 127.0.0.1:1/attacker/deps\n\tpush = true\n');
    await git(repo, 'add', '.vtreeconfig');
    await git(repo, 'commit', '-qm', 'team config');
    const added = await add(repo, 'one');
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).not.toContain('remote cache');
  }, 120_000);
});

describe.skipIf(!authed.ok)(`remote cache with credentials${authed.ok ? '' : ` (skipped: ${authed.reason})`}`, () => {
  let first: string;
  let key: string;
  const repository = `${run_}/auth`;
  beforeAll(async () => {
    first = await projectRepo();
    await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: first });
    await git(first, 'config', 'vtree.cache.remote', `${AUTH_REGISTRY}/${repository}`);
    expect((await vtree(first, ['cache', 'warm'])).code).toBe(0);
    key = (await listEntries(join(first, '.git/vibetrees/cache')))[0]!.key;
  }, 120_000);

  it('basic auth from a Docker config file: push and pull work', async () => {
    const config = await dockerConfig({ auths: { [AUTH_REGISTRY]: { auth: basicAuth(USER) } } });
    const pushed = await vtree(first, ['cache', 'push'], { DOCKER_CONFIG: config });
    expect(pushed.code, pushed.stderr).toBe(0);
    const second = await clone(first);
    await git(second, 'config', 'vtree.cache.remote', `${AUTH_REGISTRY}/${repository}`);
    const added = await add(second, 'two', { DOCKER_CONFIG: config });
    expect(added.code, added.stderr).toBe(0);
    expect(added.deps).toMatchObject({ source: 'remote', key });
  }, 120_000);

  it('a credential helper (credsStore) is asked as Docker asks it', async () => {
    const bin = await tempDir('vtree-cred-helper-');
    const helper = join(bin, 'docker-credential-vtreetest');
    // Reads the registry from stdin and answers with JSON, as docker-credential-* helpers do.
    await writeFile(helper, `#!/bin/sh\nread host\n[ "$host" = "${AUTH_REGISTRY}" ] || { echo "credentials not found in native keychain"; exit 1; }\nprintf '{"ServerURL":"%s","Username":"${USER.username}","Secret":"${USER.password}"}' "$host"\n`);
    await chmod(helper, 0o755);
    const config = await dockerConfig({ credsStore: 'vtreetest', auths: { [AUTH_REGISTRY]: {} } });
    const second = await clone(first);
    await git(second, 'config', 'vtree.cache.remote', `${AUTH_REGISTRY}/${repository}`);
    await vtree(first, ['cache', 'push'], { DOCKER_CONFIG: await dockerConfig({ auths: { [AUTH_REGISTRY]: { auth: basicAuth(USER) } } }) });
    const pulled = await vtree(second, ['cache', 'pull', key], { DOCKER_CONFIG: config, PATH: `${bin}:${process.env.PATH}` });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout).toContain(`Pulled ${key.slice(0, 12)}`);
  }, 120_000);

  it('a wrong password is one clear line, and add still installs', async () => {
    const config = await dockerConfig({ auths: { [AUTH_REGISTRY]: { auth: basicAuth({ ...USER, password: 'wrong' }) } } });
    const second = await clone(first);
    await git(second, 'config', 'vtree.cache.remote', `${AUTH_REGISTRY}/${repository}`);
    const pulled = await vtree(second, ['cache', 'pull', key], { DOCKER_CONFIG: config });
    expect(pulled.code).toBe(1);
    const lines = pulled.stderr.trim().split('\n');
    expect(lines[0]).toBe(`git vtree: ${AUTH_REGISTRY} refused the credentials of 'vtree' from ${join(config, 'config.json')}: 401 UNAUTHORIZED authentication required`);
    expect(lines.slice(1)).toEqual([`hint: docker login ${AUTH_REGISTRY}`]);
    const anonymous = await vtree(second, ['cache', 'pull', key], { DOCKER_CONFIG: await tempDir('vtree-docker-empty-') });
    expect(anonymous.stderr).toContain(`${AUTH_REGISTRY} refused anonymous access (no credentials stored)`);
    const added = await add(second, 'two', { DOCKER_CONFIG: config });
    expect(added.code, added.stderr).toBe(0);
    expect(added.deps?.source).toBe('miss');
    expect(added.stderr).toContain(`remote cache ${AUTH_REGISTRY}/${repository}: ${AUTH_REGISTRY} refused the credentials of 'vtree'`);
  }, 120_000);
});

describe.skipIf(!tokens.ok)(`remote cache behind token authentication${tokens.ok ? '' : ` (skipped: ${tokens.reason})`}`, () => {
  const address = tokens.ok ? tokens.value.address : '';
  afterAll(async () => {
    if (tokens.ok) await tokens.value.close();
  });

  it('gets a bearer token from the realm with the stored credentials, for pull and for push; a wrong password is refused by the token service', async () => {
    const repository = `${run_}/token`;
    const first = await warmedRepo(`${address}/${repository}`);
    const config = await dockerConfig({ auths: { [address]: { auth: basicAuth(USER) } } });
    const pushed = await vtree(first, ['cache', 'push', '--json'], { DOCKER_CONFIG: config });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(JSON.parse(pushed.stdout).entries).toEqual([expect.objectContaining({ pushed: true })]);
    const second = await clone(first);
    await git(second, 'config', 'vtree.cache.remote', `${address}/${repository}`);
    const added = await add(second, 'two', { DOCKER_CONFIG: config });
    expect(added.code, added.stderr).toBe(0);
    expect(added.deps).toMatchObject({ source: 'remote' });
    // A clone whose local cache does not have the entry yet.
    const third = await clone(first);
    await git(third, 'config', 'vtree.cache.remote', `${address}/${repository}`);
    const wrong = await vtree(third, ['cache', 'pull', String(added.deps?.key)], { DOCKER_CONFIG: await dockerConfig({ auths: { [address]: { auth: basicAuth({ ...USER, password: 'nope' }) } } }) });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`${address} refused the credentials of 'vtree'`);
    expect(wrong.stderr).toContain('invalid username or password');
    const anonymous = await vtree(third, ['cache', 'pull', String(added.deps?.key)], { DOCKER_CONFIG: await tempDir('vtree-docker-empty-') });
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain(`${address} refused anonymous access`);
  }, 180_000);
});
