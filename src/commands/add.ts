import type { Args } from './spec.js';
import { setupOptionsFrom } from './spec.js';
import { ExitCode, VtreeError } from '../core/errors.js';
import { withInterrupts } from '../core/interrupt.js';
import { formatMs, type Io } from '../core/output.js';
import { addWorktree } from '../pipelines/add.js';

/** `git vtree add <branch>`. */
export default async function add(args: Args, io: Io): Promise<number> {
  const request = {
    cwd: process.cwd(),
    branch: String(args.branch),
    ...(args.from !== undefined ? { from: String(args.from) } : {}),
    ...(args.path !== undefined ? { path: String(args.path) } : {}),
    options: setupOptionsFrom(args),
  };
  const result = await withInterrupts((signal) => addWorktree(request, io, signal), io.warn);
  const services = result.facts.services as { notUp?: boolean; reason?: string } | undefined;
  // --wait promised running services: the worktree is kept, but the command says it failed.
  const failure = services?.notUp ? servicesFailure(result.path, result.branch, services.reason) : undefined;
  if (io.json) {
    io.out(JSON.stringify({ ok: !failure, ...result, ...(failure ? { error: failure.message, hint: failure.hint } : {}) }));
    return failure ? ExitCode.failed : ExitCode.ok;
  }
  if (failure) {
    io.out(result.path);
    throw failure;
  }
  const how = result.branchSource === 'new' ? 'new branch' : result.branchSource === 'remote' ? 'tracking remote branch' : 'existing branch';
  io.log(`Worktree for '${result.branch}' (${how}) ready in ${formatMs(result.duration)}`);
  io.log(`  ${result.steps.map((s) => `${s.name} ${formatMs(s.duration)}${s.ok ? '' : ' (failed)'}`).join(' · ')}`);
  io.out(result.path);
  return ExitCode.ok;
}

/** `--wait` and the services did not come up: what failed, that the worktree stays, and how to retry. */
export function servicesFailure(path: string, branch: string, reason: string | undefined): VtreeError {
  return new VtreeError(
    `services did not come up${reason ? `: ${reason}` : ''}; the worktree is kept at ${path}`,
    `fix it, then run: git vtree up --wait -w ${branch} (or remove it: git vtree rm ${branch})`,
  );
}
