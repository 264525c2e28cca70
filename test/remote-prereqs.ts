import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

// Prerequisites of the remote-cache, copy-on-write and image-pull tests: a real OCI registry
// (Debian's docker-registry) on 127.0.0.1, and real XFS (reflink=1) and btrfs filesystems on loop
// devices. Each is set up idempotently (a second call, or a second test file, reuses it). Outside
// CI a machine that cannot (not root, no loop devices, no apt) skips with the reason; under
// CI=true that is a failure. Ports 5100-5199 are this file's; images and mounts are named
// vtree-remote-* so they never collide with another suite's.

/** A prerequisite that is there, or the reason it is not. */
export type Prereq<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Runs `setup`; on failure returns the reason to skip with, or throws under `CI=true`. */
export async function requirePrereq<T>(name: string, setup: () => T | Promise<T>): Promise<Prereq<T>> {
  try {
    return { ok: true, value: await setup() };
  } catch (error) {
    const reason = `${name} unavailable: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
    if (process.env.CI === 'true') throw new Error(`${reason} (required under CI=true)`);
    return { ok: false, reason };
  }
}

/** True when `command` is on PATH. */
function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function asRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('needs root');
}

function aptInstall(command: string, pkg: string): void {
  if (hasCommand(command)) return;
  asRoot();
  execFileSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!hasCommand(command)) throw new Error(`${pkg} installed but ${command} is not on PATH`);
}

/** A user of a registry started with basic (htpasswd) authentication. */
export interface RegistryUser {
  username: string;
  password: string;
}

/**
 * A docker-registry listening on 127.0.0.1:`port` (storage under /var/lib/vtree-remote-<port>),
 * with htpasswd authentication when `user` is given. Returns its address `127.0.0.1:<port>`.
 */
export async function startRegistry(port: number, user?: RegistryUser): Promise<string> {
  const address = `127.0.0.1:${port}`;
  const answering = async () => {
    try {
      const response = await fetch(`http://${address}/v2/`, { signal: AbortSignal.timeout(1000) });
      return response.status === 200 || response.status === 401;
    } catch {
      return false;
    }
  };
  if (await answering()) return address;
  asRoot();
  aptInstall('docker-registry', 'docker-registry');
  const dir = `/var/lib/vtree-remote-${port}`;
  mkdirSync(dir, { recursive: true });
  let auth = '';
  if (user) {
    aptInstall('htpasswd', 'apache2-utils');
    writeFileSync(`${dir}/htpasswd`, execFileSync('htpasswd', ['-Bbn', user.username, user.password], { encoding: 'utf8' }));
    auth = `auth:\n  htpasswd:\n    realm: vtree-test\n    path: ${dir}/htpasswd\n`;
  }
  writeFileSync(`${dir}/config.yml`, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}\n  delete:\n    enabled: true\nhttp:\n  addr: ${address}\n${auth}`);
  const log = openSync(`${dir}/registry.log`, 'a');
  spawn('docker-registry', ['serve', `${dir}/config.yml`], { detached: true, stdio: ['ignore', log, log] }).unref();
  for (let i = 0; i < 50 && !(await answering()); i++) await sleep(100);
  if (!(await answering())) throw new Error(`docker-registry did not start on ${address}; see ${dir}/registry.log`);
  return address;
}

/**
 * The local test image `vtree-test/busybox:latest`, pushed into the registry at `address` as
 * `vtree-test/<name>:<tag>` and removed from the local store again (so pulling it is real). Returns
 * the pushed reference.
 */
export function pushTestImage(address: string, name = 'busybox', tag = 'latest'): string {
  const image = 'vtree-test/busybox:latest';
  const remote = `${address}/vtree-test/${name}:${tag}`;
  execFileSync('docker', ['image', 'inspect', image], { stdio: 'ignore' });
  execFileSync('docker', ['tag', image, remote], { stdio: 'ignore' });
  try {
    execFileSync('docker', ['push', '-q', remote], { stdio: 'ignore' });
  } finally {
    execFileSync('docker', ['rmi', remote], { stdio: 'ignore' });
  }
  return remote;
}

/** Filesystems the copy-on-write tests run on. */
export type CowFs = 'xfs' | 'btrfs';

/**
 * A mounted `kind` filesystem (XFS with reflink=1, or btrfs) on a loop device over a sparse
 * image, at /mnt/vtree-remote-<kind>, world-writable with the sticky bit. Returns the mount point.
 */
export function mountCowFs(kind: CowFs, size = '1G'): string {
  const dir = `/mnt/vtree-remote-${kind}`;
  const mounted = () => {
    try {
      execFileSync('mountpoint', ['-q', dir]);
      return true;
    } catch {
      return false;
    }
  };
  if (mounted()) return dir;
  asRoot();
  aptInstall(`mkfs.${kind}`, kind === 'xfs' ? 'xfsprogs' : 'btrfs-progs');
  const image = `/var/tmp/vtree-remote-${kind}.img`;
  mkdirSync(dir, { recursive: true });
  if (!existsSync(image)) {
    execFileSync('truncate', ['-s', size, image]);
    execFileSync(`mkfs.${kind}`, kind === 'xfs' ? ['-q', '-m', 'reflink=1', image] : ['-q', image], { stdio: 'ignore' });
  }
  execFileSync('mount', ['-o', 'loop', image, dir]);
  execFileSync('chmod', ['1777', dir]);
  return dir;
}

/** A registry with token authentication: where it is, and the token service's realm. */
export interface TokenRegistry {
  address: string;
  /** Stops the token service (the registry itself stays up for the next run). */
  close(): Promise<void>;
}

/**
 * A docker-registry on 127.0.0.1:`port` with token authentication (`auth: token:`), as Docker Hub,
 * GHCR or Harbor do it, and its token service on `port + 1` in this process: it gives `user` a
 * JWT (RS256, signed with a key whose self-signed certificate the registry trusts) granting what
 * the client asked for, and anonymous clients a token that grants nothing.
 */
export async function startTokenRegistry(port: number, user: RegistryUser): Promise<TokenRegistry> {
  asRoot();
  const { createServer } = await import('node:http');
  const { createPrivateKey, sign, randomUUID, X509Certificate } = await import('node:crypto');
  const { readFileSync } = await import('node:fs');
  const dir = `/var/lib/vtree-remote-${port}`;
  mkdirSync(dir, { recursive: true });
  if (!existsSync(`${dir}/token.crt`)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/token.key`, '-out', `${dir}/token.crt`, '-days', '3650', '-subj', '/CN=vtree-test-token'], { stdio: 'ignore' });
  }
  const key = createPrivateKey(readFileSync(`${dir}/token.key`));
  const certDer = new X509Certificate(readFileSync(`${dir}/token.crt`)).raw.toString('base64');
  const realmPort = port + 1;
  const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${realmPort}`);
    const given = request.headers.authorization?.startsWith('Basic ') ? Buffer.from(request.headers.authorization.slice(6), 'base64').toString() : undefined;
    if (given !== undefined && given !== `${user.username}:${user.password}`) {
      response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
      return;
    }
    const access = given === undefined ? [] : url.searchParams.getAll('scope').map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer] }));
    const claims = b64url(JSON.stringify({ iss: 'vtree-test-issuer', sub: given ? user.username : '', aud: 'vtree-test', exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }));
    const token = `${header}.${claims}.${b64url(sign('RSA-SHA256', Buffer.from(`${header}.${claims}`), key))}`;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(realmPort, '127.0.0.1', () => resolve()));
  const address = `127.0.0.1:${port}`;
  const auth = `auth:\n  token:\n    realm: http://127.0.0.1:${realmPort}/token\n    service: vtree-test\n    issuer: vtree-test-issuer\n    rootcertbundle: ${dir}/token.crt\n`;
  const configFile = `${dir}/config.yml`;
  const config = `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}\n  delete:\n    enabled: true\nhttp:\n  addr: ${address}\n${auth}`;
  const up = await fetch(`http://${address}/v2/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 401, () => false);
  if (!up) {
    aptInstall('docker-registry', 'docker-registry');
    writeFileSync(configFile, config);
    const log = openSync(`${dir}/registry.log`, 'a');
    spawn('docker-registry', ['serve', configFile], { detached: true, stdio: ['ignore', log, log] }).unref();
    for (let i = 0; i < 50; i++) {
      if (await fetch(`http://${address}/v2/`).then((r) => r.status === 401, () => false)) break;
      await sleep(100);
    }
  }
  return { address, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
