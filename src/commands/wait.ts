import type { Args } from './spec.js';
import { durationMs } from '../core/duration.js';
import { ExitCode, UsageError } from '../core/errors.js';
import { withInterrupts } from '../core/interrupt.js';
import type { Io } from '../core/output.js';
import type { Phase, Readiness } from '../pipelines/readiness.js';

/** Default of `--timeout`, in seconds. */
export const DEFAULT_WAIT_S = 600;

/**
 * `git vtree wait [worktree] [--timeout s] [--json]`: blocks until everything the worktree's
 * set-up started is done (its background dependency work, its Compose stack, its project tasks),
 * then prints what an agent needs: the path, each published service's URL, the `.env` variables
 * vtree set. Exit 1 with the failing step and its last log lines, or when the timeout passes.
 */
export default async function wait(args: Args, io: Io): Promise<number> {
  const timeoutMs = parseTimeout(args.timeout);
  const { locateWorktree, readyFacts, waitUntilReady } = await import('../pipelines/readiness.js');
  const where = await locateWorktree(process.cwd(), args.worktree === undefined ? undefined : String(args.worktree));
  const readiness = await withInterrupts(
    (signal) => waitUntilReady(where.path, where.gitDir, where.main, { timeoutMs, signal, onChange: (p) => io.log(`  ${p.name}: ${p.state}${p.detail && p.state !== 'done' && p.state !== 'failed' ? ` (${p.detail})` : ''}`) }),
    io.warn,
  );
  for (const phase of readiness.phases) if (phase.state === 'failed' && !phase.blocking) io.warn(`${phase.name}: ${phase.detail}${phase.log ? ` (log: ${phase.log})` : ''}`);
  const facts = readiness.state === 'ready' ? await readyFacts(readiness) : undefined;
  const pending = readiness.phases.filter((p) => p.state === 'pending' || p.state === 'running').map((p) => p.name);
  if (io.json) {
    io.out(JSON.stringify({ ok: readiness.state === 'ready', ...summary(readiness), ...(facts ?? {}), ...(readiness.state === 'pending' ? { timedOut: true, pending } : {}) }));
    return readiness.state === 'ready' ? ExitCode.ok : ExitCode.failed;
  }
  if (readiness.state === 'failed') {
    process.stderr.write(`git vtree: ${failureText(readiness.failed!)}\n`);
    return ExitCode.failed;
  }
  if (readiness.state === 'pending') {
    process.stderr.write(`git vtree: ${readiness.path} is not ready after ${Math.round(timeoutMs / 1000)} s: still waiting for ${pending.join(', ')}\nhint: git vtree status --json\n`);
    return ExitCode.failed;
  }
  io.out(`path: ${readiness.path}`);
  for (const s of facts!.services) io.out(`service ${s.service}: ${s.url} (container port ${s.containerPort})`);
  for (const [name, value] of Object.entries(facts!.env)) io.out(`env ${name}=${value}`);
  return ExitCode.ok;
}

/** The JSON fields `wait`, `status` and the MCP tools share. */
export function summary(readiness: Readiness): Record<string, unknown> {
  return {
    state: readiness.state,
    path: readiness.path,
    ...(readiness.branch ? { branch: readiness.branch } : {}),
    phases: readiness.phases,
    ...(readiness.failed ? { failed: readiness.failed } : {}),
  };
}

/** One failing phase as the user sees it: what failed, why, its last log lines, where to look. */
export function failureText(phase: Phase): string {
  const lines = [`${phase.name} failed: ${phase.detail ?? 'see its log'}`];
  if (phase.lastLines?.length) lines.push(...phase.lastLines.map((l) => `  | ${l}`));
  if (phase.log) lines.push(`  log: ${phase.log}`);
  // The setup phase's detail already names its next command.
  if (phase.name === 'services') lines.push('hint: git vtree logs --job');
  return lines.join('\n');
}

function parseTimeout(value: unknown): number {
  if (value === undefined) return DEFAULT_WAIT_S * 1000;
  const text = String(value);
  const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : durationMs(text);
  if (ms === undefined) throw new UsageError(`--timeout ${text}: give seconds (90) or a duration (90s, 5m)`, 'git vtree wait --timeout 300');
  return ms;
}
