import type { Args } from './spec.js';
import { errorMessage, ExitCode } from '../core/errors.js';
import { formatBytes, type Io } from '../core/output.js';

/** `git vtree status [-w <worktree>]`: the stack's recorded state and each container as the engine sees it. */
export default async function status(args: Args, io: Io): Promise<number> {
  const { locateStack, stackRuntime } = await import('../pipelines/services.js');
  const { serviceStatuses, stackState } = await import('../features/services/stack.js');
  const stack = await locateStack(process.cwd(), args.worktree as string | undefined).catch(async (error: unknown) => {
    // `rm` returned while the stack still stops in the background.
    const { removalNamed, describeRemoval } = await import('../features/services/removals.js');
    const { git } = await import('../core/exec.js');
    const commonDir = await git(process.cwd(), ['rev-parse', '--path-format=absolute', '--git-common-dir']).catch(() => undefined);
    const removal = args.worktree !== undefined && commonDir ? await removalNamed(commonDir, String(args.worktree), process.cwd()) : undefined;
    if (!removal) throw error;
    if (io.json) io.out(JSON.stringify({ project: removal.project, path: removal.path, state: removal.state, log: removal.log, services: [] }));
    else io.out(describeRemoval(removal));
    return undefined;
  });
  if (!stack) return ExitCode.ok;
  const recorded = stack.status ?? stack.record;
  let live: Awaited<ReturnType<typeof serviceStatuses>> | undefined;
  let unreachable: string | undefined;
  try {
    live = await serviceStatuses(await stackRuntime(stack), stack.project);
  } catch (error) {
    unreachable = errorMessage(error);
  }
  const expected = stack.record ? [...(stack.record.critical ?? []), ...(stack.record.deferred ?? [])] : [...new Set((live ?? []).map((s) => s.service))];
  // A job still starting the stack knows better than a snapshot of half-started containers.
  const keepRecorded = !live || recorded?.state === 'starting' || recorded?.state === 'failed' || (recorded?.state === 'none' && live.length === 0);
  const state = keepRecorded || !live ? (recorded?.state ?? 'none') : stackState(live, expected);
  // The set-up's phases (background dependency work, the stack, project tasks), as `wait` sees them.
  const { readReadiness } = await import('../pipelines/readiness.js');
  const readiness = await readReadiness(stack.path, stack.gitDir, stack.path === stack.where.repo.mainPath);
  // Which golden each seeded volume got (docs/data.md).
  const seed = Object.values((await (await import('../features/seed/status.js')).readSeedStatus(stack.gitDir))?.volumes ?? {});
  const result = {
    project: stack.project.name,
    path: stack.path,
    state,
    ...(recorded?.reason && state === recorded.state ? { reason: recorded.reason } : {}),
    ...(recorded?.log ? { log: recorded.log } : {}),
    ...(unreachable ? { engine: unreachable } : {}),
    services: live ?? [],
    readiness: { state: readiness.state, phases: readiness.phases, ...(readiness.failed ? { failed: readiness.failed } : {}) },
    ...(seed.length > 0 ? { seed } : {}),
  };
  if (io.json) {
    io.out(JSON.stringify(result));
    return ExitCode.ok;
  }
  io.out(`${result.project} (${result.path}): ${state}${result.reason ? ` — ${result.reason}` : ''}`);
  if (unreachable) io.out(`  engine: ${unreachable}`);
  if (live && live.length > 0) {
    const { default: Table } = await import('cli-table3');
    const table = new Table({ head: ['service', 'state', 'health', 'ports', 'container'], style: { head: [], border: [] } });
    for (const s of live) table.push([s.service, s.exitCode !== undefined ? `exited (${s.exitCode})` : s.state, s.health ?? '-', s.ports || '-', s.container]);
    io.out(table.toString());
  }
  if (result.log) io.out(`  log of the start job: ${result.log}`);
  for (const v of seed) {
    const got = v.state === 'cloned' ? `${v.mode} clone of golden ${v.key.slice(0, 12)} (built ${v.golden}, ${formatBytes(v.bytes ?? 0)})` : `${v.state}${v.error ? `: ${v.error}` : ''}${v.log ? ` (log: ${v.log})` : ''}`;
    io.out(`seed ${v.volume}: ${got}`);
  }
  // A stopped stack is stopped, not "skipped".
  const phase = (p: (typeof readiness.phases)[number]) => (p.name === 'services' && state === 'stopped' ? 'services stopped' : `${p.name} ${p.state}`);
  io.out(`set-up: ${readiness.state} (${readiness.phases.map(phase).join(', ')})`);
  return ExitCode.ok;
}
