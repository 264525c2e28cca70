import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBackgroundJob } from '../core/background.js';
import { readJsonFile, writeFileAtomic } from '../core/files.js';
import { backgroundLogPath, removingDir } from '../core/paths.js';
import type { RemoveTarget } from '../features/feature.js';
import type { Removal } from '../features/services/removals.js';
import type { StackDown } from '../features/services/teardown.js';
import type { SeedClones } from '../features/seed/index.js';

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
  // The record `rm` wrote, with what the job adds to it (gone already when the removal was forgotten).
  const mark = async (fields: Partial<Removal>) => {
    const record = await readJsonFile<Omit<Removal, 'state'>>(plan.record).catch(() => undefined);
    if (record) await writeFileAtomic(plan.record, JSON.stringify({ ...record, ...fields }, null, 2) + '\n');
  };
  await mark({ pid: process.pid });
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
  // A new worktree of the branch waits for this before it makes its volumes and starts its stack.
  await mark({ down: true });
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

