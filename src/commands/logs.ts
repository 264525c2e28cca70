import { readFile } from 'node:fs/promises';
import type { Args } from './spec.js';
import { ExitCode, VtreeError } from '../core/errors.js';
import type { Io } from '../core/output.js';

/** `git vtree logs [services..] [-w <worktree>] [-f] [--tail n] [--job]`: Compose's logs, or the start job's. */
export default async function logs(args: Args, io: Io): Promise<number> {
  const { locateStack, requireComposeFiles, stackRuntime } = await import('../pipelines/services.js');
  const stack = await locateStack(process.cwd(), args.worktree as string | undefined);
  if (args.job) {
    const log = stack.status?.log ?? stack.record?.log;
    if (!log) throw new VtreeError(`no background job started the stack of ${stack.path}`, 'git vtree status');
    io.out(await readFile(log, 'utf8'));
    return ExitCode.ok;
  }
  requireComposeFiles(stack);
  const [{ runCompose }, { serviceStatuses }] = await Promise.all([import('../features/services/runtime.js'), import('../features/services/stack.js')]);
  const runtime = await stackRuntime(stack);
  const services = ((args.services as string[] | undefined) ?? []).map(String);
  // Compose prints nothing for a service without a container: the job that was to start it says why.
  const statuses = await serviceStatuses(runtime, stack.project);
  const uncreated = services.length > 0 ? services.filter((name) => !statuses.some((s) => s.service === name)) : statuses.length === 0 ? ['the stack'] : [];
  if (uncreated.length > 0 && uncreated.length === Math.max(services.length, 1)) {
    const log = stack.status?.log ?? stack.record?.log;
    const why = stack.status?.reason ? ` (${stack.status.reason})` : '';
    if (!log) throw new VtreeError(`no container of ${uncreated.join(', ')} was ever created${why}`, 'git vtree up --wait');
    io.warn(`no container of ${uncreated.join(', ')} was created${why}; the log of the job that started the stack, ${log}:`);
    io.out(await readFile(log, 'utf8'));
    return ExitCode.ok;
  }
  const options = [...(args.follow ? ['--follow'] : []), ...(args.tail !== undefined ? ['--tail', String(args.tail)] : [])];
  await runCompose(runtime, stack.project, ['logs', ...options, ...services], { inherit: true });
  return ExitCode.ok;
}
