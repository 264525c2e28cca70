import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import { formatMs, type Io } from '../core/output.js';
import { Profiler } from '../core/profiler.js';

/** `git vtree down [-w <worktree>] [--volumes]`: stops and removes the stack; volumes only when asked. */
export default async function down(args: Args, io: Io): Promise<number> {
  const { locateStack, recordStackRun, stackRuntime } = await import('../pipelines/services.js');
  const { stopServices, stopStartJob, stopTimeoutSeconds, writeServicesStatus } = await import('../features/services/stack.js');
  const stack = await locateStack(process.cwd(), args.worktree as string | undefined);
  const runtime = await stackRuntime(stack);
  const volumes = Boolean(args.volumes);
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
