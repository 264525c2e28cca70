import type { Args } from '../cli.js';
import { ExitCode } from '../errors.js';
import { interruptSignal, withInterrupts } from '../interrupt.js';
import { InterruptedError } from '../errors.js';
import { formatMs, type Io } from '../output.js';
import { addWorktree, type AddResult } from '../pipelines/add.js';
import { TaskFailedError } from '../graph.js';

/** `git vtree add <branch>`. */
export default async function add(args: Args, io: Io): Promise<number> {
  const request = {
    cwd: process.cwd(),
    branch: String(args.branch),
    ...(args.from !== undefined ? { from: String(args.from) } : {}),
    ...(args.path !== undefined ? { path: String(args.path) } : {}),
    options: {
      deps: args.deps !== false,
      services: args.services !== false,
      wait: Boolean(args.wait),
      ...(args.linkMode !== undefined ? { linkMode: String(args.linkMode) } : {}),
    },
  };
  let result: AddResult;
  try {
    result = await withInterrupts((signal) => addWorktree(request, io, signal), io.warn);
  } catch (error) {
    const signalName = error instanceof TaskFailedError ? interruptSignal(error.cause) : undefined;
    if (signalName) throw new InterruptedError(signalName);
    throw error;
  }
  if (io.json) {
    io.out(JSON.stringify({ ok: true, ...result }));
    return ExitCode.ok;
  }
  const how = result.branchSource === 'new' ? 'new branch' : result.branchSource === 'remote' ? 'tracking remote branch' : 'existing branch';
  io.log(`Worktree for '${result.branch}' (${how}) ready in ${formatMs(result.duration)}`);
  io.log(`  ${result.steps.map((s) => `${s.name} ${formatMs(s.duration)}${s.ok ? '' : ' (failed)'}`).join(' · ')}`);
  io.out(result.path);
  return ExitCode.ok;
}
