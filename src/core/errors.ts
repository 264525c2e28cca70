/**
 * The few error types a user ever sees. Each carries one line saying what failed and where,
 * and optionally the next command to run. Only `cli.ts` turns them into output and exit codes.
 */

/** Exit codes, documented in README.md ("Exit codes"). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  interrupted: 130,
} as const;

/** An error meant for the user: `message` is one line, `hint` the next thing to try. */
export class VtreeError extends Error {
  readonly exitCode: number = ExitCode.failed;
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input: a flag, a branch name, a path. Nothing was changed. */
export class UsageError extends VtreeError {
  override readonly exitCode: number = ExitCode.usage;
}

/** A subprocess (git, docker, a package manager) exited non-zero or could not start. */
export class CommandError extends VtreeError {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly exitStatus: number | null,
    readonly stderr: string,
    options?: { cause?: unknown; hint?: string },
  ) {
    const detail = lastLines(stderr) || (exitStatus === null ? 'could not start' : `exit code ${exitStatus}`);
    super(`${command} ${args[0] ?? ''}`.trim() + ` failed: ${detail}`, options?.hint, options);
  }
}

/** The user pressed Ctrl-C (or the process got SIGTERM); what this run created was rolled back. */
export class InterruptedError extends VtreeError {
  override readonly exitCode: number = ExitCode.interrupted;
  constructor(signal: string) {
    super(`interrupted by ${signal}; rolled back what this run created`);
  }
}

/** A short, single-line summary of a tool's stderr: git prefixes its real complaint with "fatal:". */
function lastLines(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const fatal = lines.find((l) => l.startsWith('fatal:') || l.startsWith('error:'));
  return (fatal ?? lines.at(-1) ?? '').slice(0, 500);
}

/** The message of anything thrown, for metrics and one-line output. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
