import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBackgroundJob } from '../core/background.js';
import { readJsonFile, writeFileAtomic } from '../core/files.js';
import { backgroundLogPath, removingDir } from '../core/paths.js';
import { jobGone } from '../core/pid.js';
import type { RemoveTarget } from '../features/feature.js';
import type { StackDown } from '../features/services/teardown.js';
import type { SeedClones } from '../features/seed/index.js';

/** A removed worktree whose stack a background job is still taking down: what `list` shows as removing. */
export interface Removal {
  path: string;
  branch?: string;
  slug: string;
  project: string;
  /** Who holds its port leases until the stack is down. */
  leaseHolder: string;
  log: string;
  startedAt: string;
  /** The job, once it runs. */
  pid?: number;
  /** `stalled`: the job ended (or never started) before the stack was down; its log says why. */
  state: 'removing' | 'stalled';
}

/** What the `stack-down` job is given. */
export interface StackDownPlan extends StackDown {
  commonDir: string;
  /** Its record in {@link removingDir}. */
  record: string;
  /** The worktree's seeded clones: their Docker volumes and directories, removed once its containers are gone. */
  seedClones?: SeedClones;
  /** vtree's trash, emptied meanwhile: `rm` renamed the worktree's files into it and starts no job of its own for them. */
  trash?: string;
}

/** Hands the stack of a worktree `rm` removed to a detached job; returns the job's log. */
export async function startStackDown(target: RemoveTarget, down: StackDown & { seedClones?: SeedClones; trash?: string }, runId: string): Promise<string> {
  const record = join(removingDir(target.repo.commonDir), `${runId}.json`);
  const plan: StackDownPlan = { ...down, commonDir: target.repo.commonDir, record };
  // The record first: the job removes it when done, which may be before this function would have written it.
  const removal: Omit<Removal, 'state'> = { path: target.path, ...(target.branch ? { branch: target.branch } : {}), slug: target.slug, project: down.project, leaseHolder: down.leaseHolder, log: backgroundLogPath(target.repo.commonDir, 'stack-down', runId), startedAt: new Date().toISOString() };
  await writeFileAtomic(record, JSON.stringify(removal, null, 2) + '\n');
  return startBackgroundJob({ job: 'stack-down', id: runId, commonDir: target.repo.commonDir, args: [JSON.stringify(plan)], cwd: target.repo.mainPath });
}

/** How long the job waits for the stack's ports to be let go of before leaving their leases to `ports --prune`. */
const PORTS_WAIT_MS = 60_000;

/** The body of the `stack-down` job: stops the containers, then frees the leases once their ports are free. */
export async function runStackDownJob(plan: StackDownPlan, log: (line: string) => void): Promise<void> {
  const record = await readJsonFile<Omit<Removal, 'state'>>(plan.record).catch(() => undefined);
  if (record) await writeFileAtomic(plan.record, JSON.stringify({ ...record, pid: process.pid }, null, 2) + '\n');
  const { takeStackDown } = await import('../features/services/teardown.js');
  const emptied = plan.trash
    ? import('../core/debris.js').then((m) => m.emptyTrash(plan.trash!)).then(
        () => log('trash deleted'),
        (error: unknown) => log(`could not empty the trash ${plan.trash}: ${(error as Error).message}`),
      )
    : undefined;
  const down = await takeStackDown(plan, log);
  // A new worktree of the branch runs a project of the same name: volumes of that name are its now.
  if (plan.seedClones && down) {
    const { removeClones } = await import('../features/seed/index.js');
    await removeClones(plan.seedClones).then(
      () => log(`seeded volume(s) ${plan.seedClones!.volumes.map((v) => v.dockerVolume).join(', ')} removed`),
      (error: unknown) => log(`seed: ${(error as Error).message}; remove it with: docker volume rm`),
    );
  }
  const { listLeases, pruneLeases } = await import('../features/ports/registry.js');
  const holder = { worktree: plan.leaseHolder, repo: plan.commonDir };
  for (const deadline = Date.now() + PORTS_WAIT_MS; ; ) {
    const freed = await pruneLeases({ holder });
    if (freed.length > 0) log(`freed port(s) ${freed.map((l) => l.port).join(', ')}`);
    const left = (await listLeases()).filter((l) => l.worktree === holder.worktree);
    if (left.length === 0) break;
    if (Date.now() > deadline) {
      log(`port(s) ${left.map((l) => l.port).join(', ')} still in use: their leases stay until git vtree ports --prune finds them free`);
      break;
    }
    await sleep(200);
  }
  await emptied;
  await rm(plan.record, { force: true });
}

/** Forgets a stalled removal once what it left was reclaimed (`prune`). */
export async function forgetRemoval(commonDir: string, removal: Removal): Promise<void> {
  const dir = removingDir(commonDir);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const found = await readJsonFile<Omit<Removal, 'state'>>(join(dir, name)).catch(() => undefined);
    if (found?.leaseHolder === removal.leaseHolder) await rm(join(dir, name), { force: true });
  }
}

/** The removals still under way in the repository (and those whose job stalled). */
export async function removals(commonDir: string): Promise<Removal[]> {
  const dir = removingDir(commonDir);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => name.endsWith('.json') && !name.startsWith('.'));
  const found = await Promise.all(names.map((name) => readJsonFile<Omit<Removal, 'state'>>(join(dir, name)).catch(() => undefined)));
  return found
    .filter((r) => r !== undefined)
    .map((r) => ({ ...r, state: jobGone(r.pid, r.startedAt) ? 'stalled' : 'removing' }) satisfies Removal);
}

/** The removal `name` (branch, slug or path) means, if one is under way. */
export async function removalNamed(commonDir: string, name: string, cwd: string): Promise<Removal | undefined> {
  const { resolve } = await import('node:path');
  const all = await removals(commonDir);
  return all.find((r) => r.path === resolve(cwd, name)) ?? all.find((r) => r.branch === name || r.slug === name);
}

/** One line for `list` and `status`. */
export function describeRemoval(removal: Removal): string {
  return removal.state === 'removing'
    ? `${removal.path}: removing (stack ${removal.project} stopping in the background, log: ${removal.log})`
    : `${removal.path}: removal stalled before stack ${removal.project} was down (log: ${removal.log}); git vtree prune finishes it`;
}
