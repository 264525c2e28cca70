import { basename, dirname } from 'node:path';
import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { portsRegistryPath } from '../core/paths.js';
import { listLeases, pruneLeases } from '../features/ports/registry.js';

/** `git vtree ports [--prune] [--json]`: every port lease on this machine, of every repository. */
export default async function ports(args: Args, io: Io): Promise<number> {
  const pruned = args.prune ? await pruneLeases({ warn: io.warn, published: await publishedPorts() }) : [];
  const leases = await listLeases({ warn: io.warn });
  if (io.json) {
    io.out(JSON.stringify({ registry: portsRegistryPath(), leases, ...(args.prune ? { pruned } : {}) }));
    return ExitCode.ok;
  }
  if (args.prune) io.log(`Freed ${pruned.length} lease(s) of worktrees that no longer exist`);
  if (leases.length === 0) {
    io.log(`No ports leased (registry: ${portsRegistryPath()})`);
    return ExitCode.ok;
  }
  const { default: Table } = await import('cli-table3');
  const table = new Table({ head: ['port', 'variable', 'repository', 'worktree', 'leased'], style: { head: [], border: [] } });
  for (const lease of leases) {
    table.push([
      String(lease.port),
      lease.variable,
      repositoryName(lease.repo),
      lease.worktree + (lease.stale ? ' (missing: freed by --prune or the next add once nothing holds the port)' : ''),
      lease.leasedAt.slice(0, 16).replace('T', ' '),
    ]);
  }
  io.out(table.toString());
  return ExitCode.ok;
}

/** Host ports containers publish now, by the engine's word (a bind test may miss one the engine forwards without a listener). */
async function publishedPorts(): Promise<Set<number>> {
  const { engineStacks } = await import('../features/services/engine-stacks.js');
  return new Set(((await engineStacks()) ?? []).flatMap((s) => s.ports));
}

/** `/src/app/.git` → `app`; a bare `/src/app.git` → `app`. */
function repositoryName(commonDir: string): string {
  const name = basename(commonDir) === '.git' ? basename(dirname(commonDir)) : basename(commonDir);
  return name.replace(/\.git$/, '');
}
