import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../core/exec.js';
import type { EngineAnswer } from '../../core/docker-socket.js';
import { errorMessage } from '../../core/errors.js';

/** The container engine CLI (`docker` or `podman`). */
export type Engine = 'docker' | 'podman';

/**
 * How a worktree's copy of a golden was made: a btrfs snapshot of the golden's subvolume, a reflink
 * clone (in the foreground, or made ahead and renamed), a copy in the foreground, or a full copy
 * made ahead of time and renamed (`spare`).
 */
export type CloneMode = 'snapshot' | 'reflink' | 'copy' | 'spare';

/** `f_type` of btrfs in statfs(2). */
const BTRFS_MAGIC = 0x9123683e;
/** The inode number of a btrfs subvolume's root directory. */
const SUBVOLUME_ROOT_INO = 256;

/**
 * Makes the empty directory `dir` for a golden's data: on btrfs a subvolume (when the `btrfs`
 * tool is there), so each clone is a snapshot, one metadata operation whatever the size; else a
 * plain directory.
 */
export async function makeDataDir(dir: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  if ((await statfs(dirname(dir))).type === BTRFS_MAGIC && (await run('btrfs', ['subvolume', 'create', dir]).then(() => true, () => false))) return;
  await mkdir(dir, { recursive: true });
}

/**
 * Copies the directory `from` to `to` (which must not exist), keeping owners, modes and times:
 * a snapshot where `from` is a btrfs subvolume, a reflink clone (`cp --reflink=always`: shared
 * extents, copy-on-write) where the filesystem clones (XFS, btrfs), else a full copy. The copy is
 * made under the temporary name `partial` beside `to` and renamed, so `to` is either absent or whole.
 */
export async function cloneTree(from: string, to: string, partial: string): Promise<Exclude<CloneMode, 'spare'>> {
  await mkdir(dirname(to), { recursive: true });
  let mode: Exclude<CloneMode, 'spare'> = 'snapshot';
  if (!(await isSubvolume(from)) || !(await run('btrfs', ['subvolume', 'snapshot', from, partial]).then(() => true, () => false))) {
    await rm(partial, { recursive: true, force: true });
    mode = await copyTree(from, partial);
  }
  await rename(partial, to);
  return mode;
}

/**
 * `cp -a` of `from` to `to` (which must not exist): a reflink clone where the filesystem clones,
 * else a full copy; says which. `prefix` runs `cp` under another command (`nice -n 19`).
 */
export async function copyTree(from: string, to: string, prefix: readonly string[] = []): Promise<'reflink' | 'copy'> {
  const cp = (args: string[]) => (prefix.length > 0 ? run(prefix[0]!, [...prefix.slice(1), 'cp', ...args]) : run('cp', args));
  try {
    await cp(['-a', '--reflink=always', from, to]);
    return 'reflink';
  } catch {
    await rm(to, { recursive: true, force: true });
    await cp(['-a', from, to]);
    return 'copy';
  }
}

async function isSubvolume(dir: string): Promise<boolean> {
  const [fs, info] = await Promise.all([statfs(dir), stat(dir)]);
  return fs.type === BTRFS_MAGIC && info.ino === SUBVOLUME_ROOT_INO;
}

/** `f_type` of XFS in statfs(2). */
const XFS_MAGIC = 0x58465342;

/** Left in a directory once it has the hint, so later clones skip the `xfs_io` process (it stays set). */
const HINT_MARKER = '.vtree-cowextsize-8k';

/**
 * On XFS, makes files created under `dir` get a copy-on-write extent size hint of 8 KiB: with the
 * default (128 KiB) each write to a cloned page unshares a 128 KiB extent, and a database's clone
 * grows several times faster than its data changes. Elsewhere nothing to do (undefined). Best
 * effort: on XFS, why the hint could not be set (no xfs_io, the ioctl refused), for one log line.
 */
export async function setCowExtentHint(dir: string): Promise<string | undefined> {
  await mkdir(dir, { recursive: true });
  const marker = join(dir, HINT_MARKER);
  if (existsSync(marker) || (await statfs(dir)).type !== XFS_MAGIC) return undefined;
  return run('xfs_io', ['-c', 'cowextsize 8k', dir]).then(
    () => writeFile(marker, '').then(() => undefined, () => undefined),
    (error: unknown) => errorMessage(error).split('\n')[0],
  );
}

/** The labels Compose puts on a volume it creates, so `up` adopts the volume as its own, silently. */
export function composeVolumeLabels(project: string, volume: string, composeVersion: string): Record<string, string> {
  return {
    'com.docker.compose.project': project,
    'com.docker.compose.volume': volume,
    'com.docker.compose.version': composeVersion,
  };
}

/**
 * Creates the local volume `name` backed by the directory `dir` (a bind mount: the data stays on
 * the worktrees' filesystem, where it was cloned), with `labels`.
 */
export async function createBoundVolume(engine: Engine, name: string, dir: string, labels: Readonly<Record<string, string>>): Promise<void> {
  const answer = await askEngine(engine, 'POST', '/volumes/create', { Name: name, Driver: 'local', DriverOpts: { type: 'none', o: 'bind', device: dir }, Labels: labels });
  if (answer?.status === 201) return;
  const labelArgs = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  await run(engine, ['volume', 'create', '--driver', 'local', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${dir}`, ...labelArgs, name]);
}

/** The directory a bind-backed volume `name` mounts, `''` for another kind of volume, undefined when there is no such volume. */
export async function volumeDevice(engine: Engine, name: string): Promise<string | undefined> {
  const answer = await askEngine(engine, 'GET', `/volumes/${encodeURIComponent(name)}`);
  if (answer?.status === 404) return undefined;
  if (answer?.status === 200) return (JSON.parse(answer.body) as { Options?: { device?: string } | null }).Options?.device ?? '';
  const found = await run(engine, ['volume', 'inspect', '--format', '{{.Options.device}}', name], { okCodes: [0, 1] });
  if (found.code !== 0) return undefined;
  return found.stdout.trim().replace(/^<no value>$/, '');
}

/** Removes the volume `name` if it exists; a volume still in use is an error naming it. */
export async function removeVolume(engine: Engine, name: string): Promise<void> {
  const answer = await askEngine(engine, 'DELETE', `/volumes/${encodeURIComponent(name)}`);
  if (answer?.status === 204 || answer?.status === 404) return;
  const result = await run(engine, ['volume', 'rm', name], { okCodes: [0, 1] });
  if (result.code !== 0 && !/no such volume/i.test(result.stderr)) throw new Error(`cannot remove volume ${name}: ${errorMessage(result.stderr.trim())}`);
}

/** The id of `image` on the engine, pulling it first when the engine lacks it. */
export async function imageId(engine: Engine, image: string, signal?: AbortSignal): Promise<string> {
  // A reference's `/` and `:` stay as they are: the API's route takes the name as the rest of the path.
  const answer = await askEngine(engine, 'GET', `/images/${encodeURI(image)}/json`);
  if (answer?.status === 200) return (JSON.parse(answer.body) as { Id: string }).Id;
  const inspect = () => run(engine, ['image', 'inspect', '--format', '{{.Id}}', image], { okCodes: [0, 1], ...(signal ? { signal } : {}) });
  let found = await inspect();
  if (found.code !== 0) {
    await run(engine, ['pull', image], signal ? { signal } : {});
    found = await inspect();
  }
  if (found.code !== 0) throw new Error(`image ${image} is not on the engine`);
  return found.stdout.trim();
}

/**
 * Docker's answer over its socket, where it is plain to see: a few ms where the CLI costs a
 * process, on the way to a seeded stack's start. Undefined for Podman or when the engine cannot be
 * asked so: then the CLI is, and says what is wrong in its own words.
 */
async function askEngine(engine: Engine, method: string, path: string, body?: unknown): Promise<EngineAnswer | undefined> {
  return engine === 'docker' ? (await import('../../core/docker-socket.js')).askDocker(method, path, body) : undefined;
}

/** Bytes a directory holds, as `du` counts them (shared reflinked extents counted in full). */
export async function directoryBytes(dir: string): Promise<number> {
  const { stdout } = await run('du', ['-sb', dir]);
  return Number(stdout.split('\t')[0]) || 0;
}
