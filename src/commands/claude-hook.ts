import type { Args } from './spec.js';
import { ExitCode, UsageError } from '../core/errors.js';
import { withInterrupts } from '../core/interrupt.js';
import type { Io } from '../core/output.js';
import type { ClaudeHookPayload } from '../pipelines/claude-hook.js';

/** How long the payload may take to arrive on stdin. */
const PAYLOAD_TIMEOUT_MS = 30_000;

/**
 * `git vtree claude-hook create|remove`: Claude Code's `WorktreeCreate` and `WorktreeRemove`
 * command hooks (`git vtree init --claude` configures them). Reads the JSON payload on stdin;
 * `create` prints the new worktree's absolute path as its only stdout line, everything else goes
 * to stderr. A non-zero exit makes Claude Code fail the creation (and only log a failed removal).
 */
export default async function claudeHook(args: Args, io: Io): Promise<number> {
  const payload = await readPayload(process.stdin);
  const event = String(args.event);
  const { claudeCreate, claudeRemove } = await import('../pipelines/claude-hook.js');
  // Progress to stderr whatever the flags: stdout belongs to Claude Code.
  const reporter = { log: (line: string) => process.stderr.write(`${line}\n`), warn: io.warn };
  if (event === 'create') {
    const path = await withInterrupts((signal) => claudeCreate(payload, reporter, { deps: true, services: true, wait: false }, signal), io.warn);
    io.out(path);
  } else {
    const removed = await withInterrupts((signal) => claudeRemove(payload, reporter, signal), io.warn);
    if (removed) reporter.log(`git vtree: removed worktree ${removed}`);
  }
  return ExitCode.ok;
}

/**
 * The first JSON object on `input`: parsed as soon as it is complete, without waiting for EOF
 * (a caller may keep the pipe open), and refused when it is not an object.
 */
export async function readPayload(input: NodeJS.ReadableStream): Promise<ClaudeHookPayload> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (error?: Error, payload?: ClaudeHookPayload) => {
      clearTimeout(timer);
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.removeListener('error', onError);
      if ('pause' in input) input.pause();
      if (error) reject(error);
      else resolve(payload!);
    };
    const tryParse = (final: boolean) => {
      try {
        const value: unknown = JSON.parse(text);
        if (typeof value !== 'object' || value === null || Array.isArray(value)) return finish(new UsageError('the hook payload on stdin is not a JSON object'));
        finish(undefined, value as ClaudeHookPayload);
      } catch {
        if (final) finish(new UsageError(text.trim() === '' ? 'no hook payload on stdin (Claude Code sends one JSON object)' : 'the hook payload on stdin is not valid JSON', 'see docs/agents.md'));
      }
    };
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      if (text.trimEnd().endsWith('}')) tryParse(false);
    };
    const onEnd = () => tryParse(true);
    const onError = (error: Error) => finish(error);
    const timer = setTimeout(() => tryParse(true), PAYLOAD_TIMEOUT_MS);
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
  });
}
