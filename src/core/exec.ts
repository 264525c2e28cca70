import { spawn } from 'node:child_process';
import { CommandError } from './errors.js';

/** Options for {@link run}. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, then closed. */
  input?: string;
  signal?: AbortSignal;
  /** Exit codes that are answers, not failures (for example 1 from `git diff --quiet`). */
  okCodes?: readonly number[];
  /** Called with each chunk of stderr as it arrives (progress lines of long installs). */
  onStderr?: (chunk: string) => void;
  /** Let the child inherit stdout/stderr instead of capturing them. */
  inherit?: boolean;
}

/** What a finished subprocess said. */
export interface RunResult {
  stdout: string;
  /** stdout as bytes, for output that mixes headers and binary content (`git cat-file --batch`). */
  stdoutBytes: Buffer;
  stderr: string;
  code: number;
}

/**
 * Runs `command` with an argument vector, never through a shell, so branch names with spaces,
 * quotes, `$()` or leading dashes reach the tool verbatim. Rejects with {@link CommandError}
 * naming the command and its stderr when it exits with a code not in `okCodes` (default [0]).
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const okCodes = options.okCodes ?? [0];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      signal: options.signal,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', options.inherit ? 'inherit' : 'pipe', options.inherit ? 'inherit' : 'pipe'],
    });
    // A child that exits (or is killed by Ctrl-C) before reading its input closes the pipe: the
    // EPIPE that writing then raises is the child's story, told by its exit status below, never an
    // unhandled error event that crashes vtree before it can roll back.
    for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.on('error', () => undefined);
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => chunks.push(d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      options.onStderr?.(d);
    });
    child.on('error', (error) => reject(new CommandError(command, args, null, stderr || error.message, { cause: error })));
    child.on('close', (code, signal) => {
      const status = code ?? (signal ? 128 : 1);
      const stdoutBytes = Buffer.concat(chunks);
      if (okCodes.includes(status)) resolve({ stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr, code: status });
      else reject(new CommandError(command, args, status, stderr || (signal ? `killed by ${signal}` : '')));
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs git with `args` in `cwd` and returns its stdout without the trailing newline. */
export async function git(cwd: string, args: readonly string[], options: Omit<RunOptions, 'cwd'> = {}): Promise<string> {
  const { stdout } = await run('git', args, { ...options, cwd });
  return stdout.replace(/\n$/, '');
}

/** `'it'\''s'`: one word for sh, whatever it contains. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
