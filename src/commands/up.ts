import type { Args } from './spec.js';
import { errorMessage, ExitCode } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { formatMs } from '../core/output.js';
import { Profiler } from '../core/profiler.js';

/** `git vtree up [services..] [-w <worktree>] [--wait]`: starts the stack in the foreground. */
export default async function up(args: Args, io: Io): Promise<number> {
  const { locateStack, requireComposeFiles, requireStackConsent, recordStackRun, stackRuntime } = await import('../pipelines/services.js');
  const { defaultServices, servicesMap, serviceStatuses, stackState, startServices, waitTimeoutMs, writeServicesStatus } = await import('../features/services/stack.js');
  const stack = await locateStack(process.cwd(), args.worktree as string | undefined);
  requireComposeFiles(stack);
  await requireStackConsent(stack);
  const runtime = await stackRuntime(stack);
  // Set up without a start (--no-services, vtree.services.start = none, no engine then), a seeded
  // volume does not exist yet: Compose would make it empty.
  const specs = (await import('../features/seed/definitions.js')).readSeedSpecs(stack.where.config);
  if (specs.length > 0) await (await import('../pipelines/seed.js')).seedBeforeUp(stack, runtime, specs, io);
  const named = ((args.services as string[] | undefined) ?? []).map(String);
  const all = stack.model ? defaultServices(stack.model) : [...(stack.record?.critical ?? []), ...(stack.record?.deferred ?? [])];
  const services = named.length > 0 ? named : all;
  const profiler = new Profiler();
  // What set-up recorded, less why it failed then: this run says its own outcome.
  const { reason: _stale, ...recorded } = stack.record ?? {};
  const record = { ...recorded, project: stack.project.name, files: stack.project.files, runtime: runtime.command };
  let failure: unknown;
  try {
    await writeServicesStatus(stack.gitDir, { ...record, state: 'starting' });
    // Critical services first, so a failing database is reported before its dependents pile up.
    const phases = named.length > 0 || stack.model || !stack.record?.critical ? [services] : [stack.record.critical, stack.record.deferred ?? []];
    for (const phase of phases.filter((p) => p.length > 0)) {
      await profiler.time('services-up', null, () => startServices(runtime, stack.project, phase, { wait: Boolean(args.wait), timeoutMs: waitTimeoutMs(stack.where.config) }));
    }
  } catch (error) {
    failure = error;
  }
  const statuses = await serviceStatuses(runtime, stack.project).catch(() => []);
  const state = failure ? 'failed' : stackState(statuses, services);
  await writeServicesStatus(stack.gitDir, { ...record, state, services: servicesMap(statuses), ...(failure ? { reason: errorMessage(failure) } : {}) });
  await recordStackRun(stack, profiler, { up: services, state }, failure, io.warn);
  if (failure) throw failure;
  if (io.json) io.out(JSON.stringify({ ok: true, project: stack.project.name, state, services: servicesMap(statuses) }));
  else io.log(`${stack.project.name}: ${state} in ${formatMs(profiler.now())} (${Object.entries(servicesMap(statuses)).map(([k, v]) => `${k} ${v}`).join(', ') || 'no containers'})`);
  return ExitCode.ok;
}
