import { readJsonFile, writeFileAtomic } from '../../core/files.js';
import { withLock } from '../../core/lock.js';
import { seedStatusPath } from '../../core/paths.js';
import type { CloneMode } from './volume.js';

/** Where one seeded volume of a worktree stands. */
export interface SeedVolumeStatus {
  volume: string;
  key: string;
  /**
   * `cloned`: the worktree's volume is its own clone of a golden; `building`: the golden is being
   * built (after a miss, or by `git vtree seed` here); `ready`: a golden for the key exists (built
   * here, not cloned into this worktree's volume); `failed`: the seed command failed; `missing`:
   * no golden yet and none being built (not approved, say); `kept`: the volume existed already;
   * `updating`: a clone of an older golden (`base`), its `update` command to run or running.
   */
  state: 'cloned' | 'updating' | 'building' | 'ready' | 'failed' | 'missing' | 'kept';
  /** The key of the older golden an updated clone came from. */
  base?: string;
  /** The seed command, when it runs or failed. */
  command?: string;
  log?: string;
  error?: string;
  pid?: number;
  /** When the golden copy used was built. */
  golden?: string;
  mode?: CloneMode;
  /** Bytes of the golden's data the clone shares (reflink) or copied. */
  bytes?: number;
  cloneMs?: number;
  /** The Docker volume and its directory. */
  dockerVolume?: string;
  dir?: string;
}

/** A worktree's `vtree-seed.json`. */
export interface SeedStatus {
  volumes: Record<string, SeedVolumeStatus>;
  updatedAt: string;
}

/** The worktree's seed status, if it has seeded volumes. */
export async function readSeedStatus(worktreeGitDir: string): Promise<SeedStatus | undefined> {
  return readJsonFile<SeedStatus>(seedStatusPath(worktreeGitDir)).catch(() => undefined);
}

/**
 * Sets one volume's entry (the others kept), atomically under a lock: a set-up run and a background
 * build may write at once. With `build`, a golden build's progress does not replace what the
 * worktree's own volume is (a clone it got, updated or not, a volume it kept): `git vtree seed`
 * run in it, or the build after an update.
 */
export async function writeSeedStatus(worktreeGitDir: string, volume: SeedVolumeStatus, options: { build?: boolean } = {}): Promise<void> {
  const path = seedStatusPath(worktreeGitDir);
  await withLock(`${path}.lock`, async () => {
    const status = (await readSeedStatus(worktreeGitDir)) ?? { volumes: {}, updatedAt: '' };
    const current = status.volumes[volume.volume];
    if (options.build && (current?.dir !== undefined || current?.state === 'kept')) return;
    status.volumes[volume.volume] = volume;
    status.updatedAt = new Date().toISOString();
    await writeFileAtomic(path, JSON.stringify(status, null, 2) + '\n', { durable: false });
  });
}
