import type { Args } from './spec.js';
import { ExitCode, UsageError } from '../core/errors.js';
import { formatMs, type Io } from '../core/output.js';
import { Profiler } from '../core/profiler.js';

/** `git vtree down [-w <worktree>] [--volumes]`: stops and removes the stack; volumes only when asked. */
export default async function down(args: Args, io: Io): Promise<number> {
  const { locateStack, recordStackRun, stackRuntime } = await import('../pipelines/services.js');
  const { stopServices, stopStartJob, stopTimeoutSeconds, writeServicesStatus } = await import('../features/services/stack.js');
  const volumes = Boolean(args.volumes);
  const stack = await locateStack(process.cwd(), args.worktree as string | undefined).catch(async (error: unknown) => {
    // A worktree removed by plain git: its stack (and its leases) may still be there.
    if (args.worktree === undefined || !(error instanceof UsageError)) throw error;
    const [{ reclaimNamed, describeReclaimed }, { resolveRepoStage }] = await Promise.all([import('../pipelines/orphans.js'), import('../pipelines/repo-stage.js')]);
    const reclaimed = await reclaimNamed(await resolveRepoStage(process.cwd()), String(args.worktree), process.cwd(), { volumes });
    if (!reclaimed) throw error;
    if (io.json) io.out(JSON.stringify({ ok: true, orphan: reclaimed }));
    else io.log(describeReclaimed(reclaimed));
    return undefined;
  });
  if (!stack) return ExitCode.ok;
  const runtime = await stackRuntime(stack);
  const profiler = new Profiler();
  let failure: unknown;
  try {
    await profiler.time('services-down', null, async () => {
      await stopStartJob(stack.status);
      const timeoutSeconds = stopTimeoutSeconds(stack.where.config);
      await stopServices(runtime, stack.project, { volumes, ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}) });
    });
    const { reason: _stale, ...recorded } = stack.record ?? {};
    await writeServicesStatus(stack.gitDir, { ...recorded, project: stack.project.name, state: 'stopped' });
  } catch (error) {
    failure = error;
  }
  await recordStackRun(stack, profiler, { down: stack.project.name, volumes }, failure, io.warn);
  if (failure) throw failure;
  if (io.json) io.out(JSON.stringify({ ok: true, project: stack.project.name, state: 'stopped', volumes }));
  else io.log(`${stack.project.name}: stopped in ${formatMs(profiler.now())}${volumes ? ', volumes removed' : ' (volumes kept; --volumes removes them)'}`);
  return ExitCode.ok;
}
