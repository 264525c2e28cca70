import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { reclaimDead, TEMP_FILE } from '../../core/debris.js';
import { UsageError, VtreeError } from '../../core/errors.js';
import { isErrno, writeFileAtomic } from '../../core/files.js';
import { withLock, withLockShared } from '../../core/lock.js';
import { isProcessAlive } from '../../core/pid.js';
import { isSetUpRecord, readWorktreeState, worktreeGitDir } from '../../git/worktree-state.js';
import { portsLockPath, portsRegistryPath } from '../../core/paths.js';
import type { PortLease } from './lease.js';

/** Default `vtree.ports.range`. */
export const DEFAULT_PORT_RANGE = '20000-29999';

/** An inclusive range of TCP ports vtree may hand out. */
export interface PortRange {
  first: number;
  last: number;
}

export type { PortLease } from './lease.js';

/** The machine-wide registry file: leases by port, so one port can only ever have one holder. */
interface Registry {
  version: 1;
  leases: Record<string, PortLease>;
}

/** Which worktree asks: the lease key is the worktree path plus its repository's common dir. */
export interface LeaseHolder {
  worktree: string;
  repo: string;
}

/** What {@link leasePorts} did. */
export interface LeaseOutcome {
  /** Variable → port, for every variable asked for. */
  ports: Record<string, number>;
  /** The leases this call created (rolling back releases exactly these). */
  created: PortLease[];
  /** How many variables kept the port they already held. */
  kept: number;
  /** Ports passed over because something else was listening on them. */
  busy: number[];
  /** Leases of worktrees that no longer exist, freed on the way. */
  reclaimed: PortLease[];
}

/** Options shared by the registry functions; `env` locates the registry (tests set XDG_STATE_HOME). */
export interface RegistryOptions {
  env?: NodeJS.ProcessEnv;
  /** Told when a corrupt registry was rebuilt from the worktrees' state files. */
  warn?: (line: string) => void;
}

/** Parses `vtree.ports.range` (`20000-29999`); a usage error naming the key otherwise. */
export function parsePortRange(text: string): PortRange {
  const match = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(text);
  const first = Number(match?.[1]);
  const last = Number(match?.[2]);
  if (!match || first < 1024 || last > 65535 || first > last) {
    throw new UsageError(`config vtree.ports.range must be <first>-<last> within 1024-65535, not '${text}'`, `git config vtree.ports.range ${DEFAULT_PORT_RANGE}`);
  }
  return { first, last };
}

/** True when `name` can be an environment variable Compose interpolates. */
export function isPortVariable(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

/**
 * The port `variable` of `worktree` tries first: a hash of both, so a re-created worktree (same
 * path) usually gets the same ports back, and different worktrees spread over the range.
 */
export function preferredPort(worktree: string, variable: string, range: PortRange): number {
  const digest = createHash('sha256').update(`${worktree}\0${variable}`).digest();
  return range.first + (digest.readUInt32BE(0) % (range.last - range.first + 1));
}

/**
 * Leases one port per variable to `holder`, under the machine-wide lock, so concurrent runs (of
 * any repository) never hand out a port twice. A variable the worktree already holds keeps its
 * port. A new port starts at {@link preferredPort} and walks the range past ports leased to anyone
 * and ports that fail a bind test on 127.0.0.1 (something is listening). Leases of worktrees whose
 * directory is gone, and of set-ups that died unrecorded, are reclaimed first. `forSetUp`: the
 * caller is a set-up run, whose new leases die with it unless the worktree's set-up is recorded.
 */
export async function leasePorts(holder: LeaseHolder, variables: readonly string[], range: PortRange, options: RegistryOptions & { forSetUp?: boolean } = {}): Promise<LeaseOutcome> {
  const key = await normalizeHolder(holder);
  return withLock(portsLockPath(options.env), async () => {
    const { registry, rebuilt } = await loadRegistry(options, [key.repo]);
    const reclaimed = await reclaimStale(registry);
    const outcome: LeaseOutcome = { ports: {}, created: [], kept: 0, busy: [], reclaimed };
    const held = new Map(Object.values(registry.leases).filter((l) => sameHolder(l, key)).map((l) => [l.variable, l.port]));
    for (const variable of new Set(variables)) {
      const kept = held.get(variable);
      if (kept !== undefined) {
        outcome.ports[variable] = kept;
        outcome.kept++;
        continue;
      }
      const port = await findFreePort(registry, preferredPort(key.worktree, variable, range), range, outcome.busy);
      const lease: PortLease = { port, variable, worktree: key.worktree, repo: key.repo, leasedAt: new Date().toISOString(), ...(options.forSetUp ? { pid: process.pid } : {}) };
      registry.leases[String(port)] = lease;
      outcome.ports[variable] = port;
      outcome.created.push(lease);
    }
    if (rebuilt || outcome.created.length > 0 || reclaimed.length > 0) await writeRegistry(registry, options.env);
    // Temp files of registry writes and locks a killed run left (two readdirs of small directories).
    await Promise.all([reclaimDead(dirname(portsRegistryPath(options.env)), TEMP_FILE), reclaimDead(dirname(portsLockPath(options.env)), TEMP_FILE)]);
    return outcome;
  });
}

/**
 * Releases leases: those of `holder` (all, or only the given `ports`). Returns what it released,
 * so a rolled-back `rm` can {@link restoreLeases} them. Releases asked for in this process while
 * one waits for the lock share its turn: one read and one write of the registry.
 */
export async function releasePorts(holder: LeaseHolder, ports?: readonly number[], options: RegistryOptions = {}): Promise<PortLease[]> {
  const key = await normalizeHolder(holder);
  return withLockShared(portsLockPath(options.env), { key, ports }, async (turn) => {
    const { registry, rebuilt } = await loadRegistry(options, [...new Set(turn.map((r) => r.key.repo))]);
    const released = turn.map((r) => {
      const leases = Object.values(registry.leases).filter((l) => sameHolder(l, r.key) && (r.ports === undefined || r.ports.includes(l.port)));
      for (const lease of leases) delete registry.leases[String(lease.port)];
      return leases;
    });
    if (rebuilt || released.some((leases) => leases.length > 0)) await writeRegistry(registry, options.env);
    return released;
  });
}

/** Puts back leases {@link releasePorts} released, except ports someone else leased meanwhile. */
export async function restoreLeases(leases: readonly PortLease[], options: RegistryOptions = {}): Promise<PortLease[]> {
  if (leases.length === 0) return [];
  return withLock(portsLockPath(options.env), async () => {
    const { registry, rebuilt } = await loadRegistry(options, leases.map((l) => l.repo));
    const restored = leases.filter((l) => registry.leases[String(l.port)] === undefined);
    for (const lease of restored) registry.leases[String(lease.port)] = lease;
    if (rebuilt || restored.length > 0) await writeRegistry(registry, options.env);
    return restored;
  });
}

/**
 * Hands `from`'s leases to `to` (a worktree being removed whose stack still stops in the
 * background): a new worktree at the same path then leases ports of its own, while these stay
 * taken until the stack is down. Returns the leases moved.
 */
export async function rekeyLeases(from: LeaseHolder, to: LeaseHolder, options: RegistryOptions = {}): Promise<PortLease[]> {
  const [source, target] = await Promise.all([normalizeHolder(from), normalizeHolder(to)]);
  return withLock(portsLockPath(options.env), async () => {
    const { registry, rebuilt } = await loadRegistry(options, [source.repo]);
    const moved = Object.values(registry.leases).filter((l) => sameHolder(l, source));
    for (const lease of moved) registry.leases[String(lease.port)] = { ...lease, worktree: target.worktree, repo: target.repo };
    if (rebuilt || moved.length > 0) await writeRegistry(registry, options.env);
    return moved;
  });
}

/** A lease as `git vtree ports` shows it. */
export interface LeaseRow extends PortLease {
  /** The worktree's directory no longer exists: the next lease reclaims it. */
  stale: boolean;
}

/**
 * Every lease on the machine, by port; read without the lock (the file is replaced atomically),
 * unless it is corrupt: then it is rebuilt under the lock first.
 */
export async function listLeases(options: RegistryOptions = {}): Promise<LeaseRow[]> {
  const parsed = await parseRegistry(portsRegistryPath(options.env));
  const registry =
    parsed.ok
      ? parsed.registry
      : await withLock(portsLockPath(options.env), async () => {
          const { registry: current, rebuilt } = await loadRegistry(options, []);
          if (rebuilt) await writeRegistry(current, options.env);
          return current;
        });
  const leases = Object.values(registry.leases).sort((a, b) => a.port - b.port);
  return Promise.all(leases.map(async (lease) => ({ ...lease, stale: !(await directoryExists(lease.worktree)) })));
}

/**
 * Frees the leases of worktrees whose directory is gone (`git vtree ports --prune`), except ports
 * still in use: `published` by a container (a stack that outlived its worktree), or held by any
 * listener. Only `holder`'s, when given.
 */
export async function pruneLeases(options: RegistryOptions & { published?: ReadonlySet<number>; holder?: LeaseHolder } = {}): Promise<PortLease[]> {
  const holder = options.holder ? await normalizeHolder(options.holder) : undefined;
  return withLock(portsLockPath(options.env), async () => {
    const { registry, rebuilt } = await loadRegistry(options, []);
    const reclaimed = await reclaimStale(registry, (l) => !options.published?.has(l.port) && (holder === undefined || sameHolder(l, holder)));
    if (rebuilt || reclaimed.length > 0) await writeRegistry(registry, options.env);
    return reclaimed;
  });
}

async function findFreePort(registry: Registry, preferred: number, range: PortRange, busy: number[]): Promise<number> {
  const size = range.last - range.first + 1;
  for (let step = 0; step < size; step++) {
    const port = range.first + ((preferred - range.first + step) % size);
    if (registry.leases[String(port)] !== undefined) continue;
    if (await canBind(port)) return port;
    busy.push(port);
  }
  throw new VtreeError(
    `no free port left in ${range.first}-${range.last} (all leased or in use)`,
    'see them with `git vtree ports`, remove unused worktrees, or widen: git config --global vtree.ports.range 20000-39999',
  );
}

/**
 * Whether a TCP listener can bind `port` on 127.0.0.1 right now, and on ::1 where the machine has
 * IPv6 (a dev server bound to `localhost` may listen on ::1 only).
 */
async function canBind(port: number): Promise<boolean> {
  return (await bindOutcome(port, '127.0.0.1')) === 'free' && (await bindOutcome(port, '::1')) !== 'taken';
}

function bindOutcome(port: number, host: string): Promise<'free' | 'taken' | 'no-such-address'> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', (error) => resolve(isErrno(error, 'EADDRNOTAVAIL', 'EAFNOSUPPORT') ? 'no-such-address' : 'taken'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve('free')));
  });
}

/**
 * Frees the leases of worktrees whose directory is gone, unless their port is still bound (a
 * stack or dev server that outlived its worktree still holds it, and handing it out again would
 * give two worktrees one port), and those a set-up took and died before recording (its process
 * is gone and the worktree has no set-up record): a set-up killed part way, whose worktree
 * `setup` leases again.
 */
async function reclaimStale(registry: Registry, may: (lease: PortLease) => boolean = () => true): Promise<PortLease[]> {
  const worktrees = [...new Set(Object.values(registry.leases).map((l) => l.worktree))];
  const gone = new Set((await Promise.all(worktrees.map(async (w) => ((await directoryExists(w)) ? undefined : w)))).filter((w) => w !== undefined));
  const stale = Object.values(registry.leases).filter((l) => gone.has(l.worktree) && may(l));
  const free = await Promise.all(stale.map((l) => canBind(l.port)));
  const orphans = Object.values(registry.leases).filter((l) => !gone.has(l.worktree) && l.pid !== undefined && l.pid !== process.pid && !isProcessAlive(l.pid) && may(l));
  const unrecorded = new Set<string>();
  for (const w of new Set(orphans.map((l) => l.worktree))) {
    if (!isSetUpRecord(await readWorktreeState(await worktreeGitDir(w)))) unrecorded.add(w);
  }
  const reclaimed = [...stale.filter((_l, i) => free[i]), ...orphans.filter((l) => unrecorded.has(l.worktree))];
  for (const lease of reclaimed) delete registry.leases[String(lease.port)];
  return reclaimed;
}

type Parsed = { ok: true; registry: Registry } | { ok: false; text: string };

/** Reads the registry; a missing file is an empty registry, anything unreadable as one is `ok: false`. */
async function parseRegistry(path: string): Promise<Parsed> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return { ok: true, registry: { version: 1, leases: {} } };
    throw error;
  }
  try {
    const registry = JSON.parse(text) as Registry;
    if (typeof registry === 'object' && registry !== null && typeof registry.leases === 'object' && registry.leases !== null && !Array.isArray(registry.leases)) {
      const valid = Object.entries(registry.leases).every(([port, l]) => typeof l === 'object' && l !== null && String(l.port) === port && typeof l.worktree === 'string' && typeof l.repo === 'string');
      if (valid) return { ok: true, registry };
    }
  } catch {
    // Not JSON: rebuilt below.
  }
  return { ok: false, text };
}

/**
 * The registry, under its lock. A corrupt one is not deleted (that would drop every live lease
 * and let the next add hand a port out twice): it is moved aside and rebuilt from the state files
 * of the worktrees that exist ({@link rebuildLeases}); `rebuilt` says the caller must write it.
 */
async function loadRegistry(options: RegistryOptions, knownRepos: readonly string[]): Promise<{ registry: Registry; rebuilt: boolean }> {
  const path = portsRegistryPath(options.env);
  const parsed = await parseRegistry(path);
  if (parsed.ok) return { registry: parsed.registry, rebuilt: false };
  const { rebuildLeases } = await import('./rebuild.js');
  const recovered = await rebuildLeases(path, parsed.text, knownRepos);
  options.warn?.(
    `the port registry ${path} was corrupt: rebuilt ${Object.keys(recovered.leases).length} lease(s) from the worktrees of ${recovered.repos.length} repositor${recovered.repos.length === 1 ? 'y' : 'ies'}; the corrupt file is kept as ${recovered.corruptCopy}`,
  );
  return { registry: { version: 1, leases: recovered.leases }, rebuilt: true };
}

async function writeRegistry(registry: Registry, env: NodeJS.ProcessEnv | undefined): Promise<void> {
  await writeFileAtomic(portsRegistryPath(env), JSON.stringify(registry, null, 2) + '\n', { durable: false });
}

async function normalizeHolder(holder: LeaseHolder): Promise<LeaseHolder> {
  // git lists worktrees by real path; a worktree reached through a symlink must be the same key.
  const [worktree, repo] = await Promise.all([realpath(holder.worktree).catch(() => holder.worktree), realpath(holder.repo).catch(() => holder.repo)]);
  return { worktree, repo };
}

function sameHolder(lease: PortLease, holder: LeaseHolder): boolean {
  return lease.worktree === holder.worktree && lease.repo === holder.repo;
}

async function directoryExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
