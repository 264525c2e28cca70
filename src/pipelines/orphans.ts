import { realpath, stat } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RepoStage } from '../features/feature.js';
import type { EngineStack } from '../features/services/engine-stacks.js';
import type { PortLease } from '../features/ports/registry.js';

/**
 * What a worktree removed behind vtree's back (plain `git worktree remove`, `rm -rf`) left: its
 * git dir and state are gone, but its Compose stack may still run and its port leases remain.
 */
export interface Orphan {
  /** Where the worktree was. */
  path: string;
  /** Its directory name, as `rm <slug>` and `down -w <slug>` name it. */
  slug: string;
  /** Its Compose project, when containers of it are on the engine. */
  project?: string;
  containers: number;
  running: number;
  /** Ports its containers still publish. */
  published: number[];
  leases: PortLease[];
}

/**
 * The orphans of this repository: leases of it naming a worktree directory that is gone, and
 * Compose stacks in a directory that is gone that are this repository's: a lease of it names that
 * directory, the stack used an override from its git dir (`<common>/worktrees/<id>/`), or it has
 * the project name vtree gives a worktree of it in that directory. `repo.worktrees`: those that
 * exist. `engine: false` skips asking the container engine (leases only); `'if-leased'` asks it
 * only when a lease of a vanished worktree hints at an orphan (`list --fast`: a stack that
 * publishes no leased port is then not seen).
 */
export async function findOrphans(repo: { commonDir: string; name: string; worktrees: ReadonlyArray<{ path: string }> }, options: { engine?: boolean | 'if-leased' } = {}): Promise<Orphan[]> {
  const { listLeases } = await import('../features/ports/registry.js');
  const askEngine = () => import('../features/services/engine-stacks.js').then((m) => m.engineStacks());
  const [commonDir, leases, early, removing] = await Promise.all([
    realpath(repo.commonDir).catch(() => repo.commonDir),
    listLeases(),
    options.engine === false || options.engine === 'if-leased' ? undefined : askEngine(),
    import('../features/services/removals.js').then((m) => m.removals(repo.commonDir)),
  ]);
  // What `rm` is still taking down in the background is not left behind (yet).
  const busy = removing.filter((r) => r.state === 'removing');
  const live = new Set([...repo.worktrees.map((w) => w.path), ...busy.flatMap((r) => [r.path, r.leaseHolder])]);
  const staleLeases = leases.filter((lease) => lease.repo === commonDir && lease.stale && !live.has(lease.worktree));
  const stacks = options.engine === 'if-leased' && staleLeases.length > 0 ? await askEngine() : early;
  const goneStacks = (
    await Promise.all((stacks ?? []).map(async (stack) => (stack.workingDir && !live.has(stack.workingDir) && !(await isDirectory(stack.workingDir)) ? stack : undefined)))
  ).filter((stack) => stack !== undefined);
  if (staleLeases.length === 0 && goneStacks.length === 0) return [];
  // Only now: node:crypto (slug hashes) stays out of `list`'s start-up when there is nothing to tell.
  const [{ composeProjectName, slugify }, { projectPrefix }] = await Promise.all([import('../git/slug.js'), import('../git/project-prefix.js')]);
  const prefix = await projectPrefix(repo);
  const byPath = new Map<string, Orphan>();
  const orphan = (path: string): Orphan => {
    const found = byPath.get(path) ?? { path, slug: slugify(basename(path)), containers: 0, running: 0, published: [], leases: [] };
    byPath.set(path, found);
    return found;
  };
  for (const lease of staleLeases) orphan(lease.worktree).leases.push(lease);
  const adminDir = join(commonDir, 'worktrees') + sep;
  const ours = (stack: EngineStack) =>
    byPath.has(stack.workingDir) || stack.configFiles.some((f) => f.startsWith(adminDir)) || stack.project === composeProjectName(prefix, slugify(basename(stack.workingDir)));
  for (const stack of goneStacks) if (ours(stack)) Object.assign(orphan(stack.workingDir), stackFacts(stack));
  return [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
}

function stackFacts(stack: EngineStack): Pick<Orphan, 'project' | 'containers' | 'running' | 'published'> {
  return { project: stack.project, containers: stack.containers, running: stack.running, published: stack.ports };
}

/** The orphan `name` means: its path, its directory name or its slug. */
export function orphanNamed(orphans: readonly Orphan[], name: string, cwd: string): Orphan | undefined {
  const asPath = join(cwd, name);
  return orphans.find((o) => o.path === name || o.path === asPath) ?? orphans.find((o) => basename(o.path) === name || o.slug === name);
}

/** What {@link reclaimOrphan} did. */
export interface Reclaimed {
  path: string;
  /** The Compose project it stopped. */
  stopped?: string;
  /** The Compose project a background job is stopping (then it frees the leases), and the job's log. */
  stopping?: { project: string; log: string };
  freed: PortLease[];
  /** Leases kept because their port is still in use (by something else than the stack). */
  held: number[];
}

/**
 * Stops an orphan's stack (with its volumes when `volumes`), then frees its leases once nothing
 * listens on their ports any more (a port still held keeps its lease, so it is never handed out
 * twice). `background`: both happen in the `stack-down` job `rm` uses, after this returns.
 */
export async function reclaimOrphan(where: RepoStage, orphan: Orphan, options: { volumes: boolean; background?: boolean }): Promise<Reclaimed> {
  let stopped: string | undefined;
  if (orphan.project && options.background) return { path: orphan.path, stopping: await stopInBackground(where, orphan, orphan.project, options.volumes), freed: [], held: [] };
  if (orphan.project) {
    const [{ detectComposeRuntime }, { stopServices, stopTimeoutSeconds }] = await Promise.all([import('../features/services/runtime.js'), import('../features/services/stack.js')]);
    const detection = await detectComposeRuntime(where.config.string('vtree.compose.command'));
    if ('missing' in detection) {
      const { VtreeError } = await import('../core/errors.js');
      throw new VtreeError(`could not stop stack ${orphan.project} of removed worktree ${orphan.path}: ${detection.missing}`, 'start Docker, then run: git vtree prune');
    }
    // The worktree (and its compose files) is gone: `-p` alone finds the stack; the git dir holds no compose file to pick up.
    const timeoutSeconds = stopTimeoutSeconds(where.config);
    await stopServices(detection.runtime, { dir: where.repo.commonDir, name: orphan.project, files: [], env: {} }, { volumes: options.volumes, ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}) });
    stopped = orphan.project;
  }
  const { pruneLeases } = await import('../features/ports/registry.js');
  // Docker's proxy lets go of a port a moment after its container is gone.
  let freed: PortLease[] = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    freed = [...freed, ...(await pruneLeases({ holder: { worktree: orphan.path, repo: where.repo.commonDir } }))];
    if (freed.length === orphan.leases.length || !stopped) break;
    await sleep(100);
  }
  const held = orphan.leases.map((l) => l.port).filter((port) => !freed.some((f) => f.port === port));
  return { path: orphan.path, ...(stopped ? { stopped } : {}), freed, held };
}

/** Hands an orphan's stack and leases to the `stack-down` job; returns its log. */
async function stopInBackground(where: RepoStage, orphan: Orphan, project: string, volumes: boolean): Promise<{ project: string; log: string }> {
  const [{ detectComposeRuntime }, { stopTimeoutSeconds }, { projectContainers }, { rekeyLeases }, { startStackDown }, { newRunId }] = await Promise.all([
    import('../features/services/runtime.js'),
    import('../features/services/stack.js'),
    import('../features/services/teardown.js'),
    import('../features/ports/registry.js'),
    import('./stack-down.js'),
    import('../observe/metrics.js'),
  ]);
  const detection = await detectComposeRuntime(where.config.string('vtree.compose.command'));
  if ('missing' in detection) {
    const { VtreeError } = await import('../core/errors.js');
    throw new VtreeError(`could not stop stack ${project} of removed worktree ${orphan.path}: ${detection.missing}`, 'start Docker, then run: git vtree prune');
  }
  const runId = newRunId(new Date());
  const timeoutSeconds = stopTimeoutSeconds(where.config);
  const holder = { worktree: orphan.path, repo: where.repo.commonDir };
  const down = {
    engine: detection.runtime.engine,
    project,
    containers: await projectContainers(detection.runtime.engine, project),
    volumes,
    ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    leaseHolder: `${orphan.path} (removing ${runId})`,
  };
  await rekeyLeases(holder, { worktree: down.leaseHolder, repo: holder.repo });
  const log = await startStackDown({ ...where, path: orphan.path, gitDir: '', slug: orphan.slug, project }, down, runId);
  return { project, log };
}

/** One line saying what an orphan still holds. */
export function describeOrphan(orphan: Orphan): string {
  const parts = [
    orphan.project ? `stack ${orphan.project} (${orphan.running}/${orphan.containers} running)` : undefined,
    orphan.leases.length > 0 ? `ports ${orphan.leases.map((l) => `${l.variable}=${l.port}`).join(' ')}` : undefined,
  ].filter(Boolean);
  return `${orphan.path}: removed outside vtree; still holds ${parts.join(', ')}`;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * For `rm <name>` and `down -w <name>` when no worktree matches: the orphan `name` means, its
 * stack stopped and its leases freed; undefined when there is none.
 */
export async function reclaimNamed(where: RepoStage, name: string, cwd: string, options: { volumes: boolean; background?: boolean }): Promise<Reclaimed | undefined> {
  const orphan = orphanNamed(await findOrphans(where.repo), name, cwd);
  return orphan ? reclaimOrphan(where, orphan, options) : undefined;
}

/** One line saying what reclaiming an orphan did. */
export function describeReclaimed(reclaimed: Reclaimed): string {
  const parts = [
    reclaimed.stopped ? `stopped stack ${reclaimed.stopped}` : undefined,
    reclaimed.stopping ? `stack ${reclaimed.stopping.project} stops in the background, then its ports are freed (log: ${reclaimed.stopping.log})` : undefined,
    reclaimed.freed.length > 0 ? `freed port(s) ${reclaimed.freed.map((l) => l.port).join(', ')}` : undefined];
  const held = reclaimed.held.length > 0 ? `; port(s) ${reclaimed.held.join(', ')} still in use, lease kept` : '';
  return `${reclaimed.path} was removed outside vtree: ${parts.filter(Boolean).join(', ') || 'nothing left of it'}${held}`;
}
