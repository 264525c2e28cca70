import { readFile } from 'node:fs/promises';
import type { Args } from './spec.js';
import { ExitCode, UsageError, VtreeError } from '../core/errors.js';
import type { ComposeRuntime } from '../features/services/runtime.js';
import type { Stack } from '../pipelines/services.js';
import type { Io } from '../core/output.js';

/**
 * `git vtree logs [services..] [-w <worktree>] [-f] [--tail n] [--job]`: Compose's logs, or the start job's.
 * Names are checked against the stack's services; only `-f`/`--follow` follows.
 */
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
  if (services.length > 0) await requireServices(runtime, stack, services);
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
  const options = args.tail !== undefined ? ['--tail', String(args.tail)] : [];
  // Follows only when told to by this command's own flag: a name is never passed where Compose reads flags.
  if (args.follow) {
    await runCompose(runtime, stack.project, ['logs', '--follow', ...options, '--', ...services], { inherit: true });
    return ExitCode.ok;
  }
  const { stdout, stderr } = await runCompose(runtime, stack.project, ['logs', '--no-color', ...options, '--', ...services]);
  if (stdout) io.out(stdout);
  if (stderr.trim()) process.stderr.write(stderr);
  // Compose prints nothing at all for a service that printed nothing: say so.
  const wanted = services.length > 0 ? services : [...new Set(statuses.map((s) => s.service))];
  // Compose decorates even --no-color output with terminal control sequences.
  const lines = stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split('\n');
  const silent = wanted.filter((name) => !lines.some((line) => line.startsWith(`${name}-`) || line.startsWith(`${name} `)));
  if (silent.length > 0) io.warn(`no log output from ${silent.join(', ')}${args.tail !== undefined ? ` in its last ${String(args.tail)} lines` : ''}`);
  return ExitCode.ok;
}

/** Refuses a name that is not a service of the stack (a flag among the names included), listing those it has. */
async function requireServices(runtime: ComposeRuntime, stack: Stack, services: readonly string[]): Promise<void> {
  const { runCompose } = await import('../features/services/runtime.js');
  const { stdout } = await runCompose(runtime, stack.project, ['config', '--services']);
  const known = stdout.split('\n').map((line) => line.trim()).filter(Boolean);
  const unknown = services.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new UsageError(`no service ${unknown.map((name) => `'${name}'`).join(', ')} in the stack of ${stack.path} (its services: ${known.join(', ') || 'none'})`, `git vtree logs ${known[0] ?? '<service>'} [--follow]`);
  }
}
