import { UsageError } from '../../core/errors.js';
import type { Config } from '../../git/config.js';

/** One `[vtree "seed.<volume>"]` section: a named Compose volume whose data is seeded once per key and cloned per worktree. */
export interface SeedSpec {
  /** The Compose project's named volume (lowercased, as git config reports section names). */
  volume: string;
  /** The service that mounts it: started alone to seed the golden copy. */
  service: string;
  /** The project's seed command, run with `sh -c` on the host in the worktree while the service runs. */
  run: string;
  /** Paths (files or directories) whose committed content keys the seeded copy. */
  inputs: string[];
  /**
   * The project's incremental command (`npm run db:migrate`), run in the worktree against its own
   * stack when the worktree got a clone of an older golden (its inputs changed since): optional.
   */
  update?: string;
  /** Defined (wholly or partly) by the committed `.vtreeconfig`: `run` runs only once the user approved it. */
  committed: boolean;
}

/** The keys a seed section may have. */
const SEED_KEYS = ['service', 'run', 'inputs', 'update'] as const;

/** A Compose volume name (and what the section name may be): it names a Docker volume and a directory. */
const VOLUME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/**
 * The project's seeded volumes, from git config and `.vtreeconfig`, in name order. A section
 * without `service` or `run`, an unknown key or a name Compose would not accept is a usage error
 * naming the key.
 */
export function readSeedSpecs(config: Config): SeedSpec[] {
  const prefix = 'vtree.seed.';
  return config
    .sections(prefix, SEED_KEYS, 'seed', { test: (name) => VOLUME.test(name) && !name.includes('..') }, 'name the section after the Compose volume (letters, digits, _ . -)')
    .map(([volume, keys]) => {
      const key = (field: string) => `${prefix}${volume}.${field}`;
      const service = config.string(key('service'))?.trim();
      const run = config.string(key('run'))?.trim();
      if (!service) throw new UsageError(`config ${prefix}${volume}: no service = <the service that mounts the volume>`, `git config ${key('service')} db`);
      if (!run) throw new UsageError(`config ${prefix}${volume}: no run = <command>`, `git config ${key('run')} '<command>'`);
      const inputs = config.list(key('inputs'));
      const outside = inputs.find((p) => p.startsWith('/') || p.split('/').includes('..'));
      if (outside) throw new UsageError(`config ${key('inputs')}: '${outside}' is not a path inside the repository`);
      const update = config.string(key('update'))?.trim();
      return { volume, service, run, inputs, ...(update ? { update } : {}), committed: keys.some((k) => config.fromTeamFile(k)) };
    });
}
