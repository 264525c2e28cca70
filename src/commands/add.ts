import type { Args } from './spec.js';
import { setupOptionsFrom } from './spec.js';
import { ExitCode } from '../core/errors.js';
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
