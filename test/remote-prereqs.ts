import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasCommand } from './helpers.js';

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
