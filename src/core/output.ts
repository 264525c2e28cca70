import { CommandError, VtreeError } from './errors.js';
import { TaskFailedError } from './graph.js';

/** How a command talks to the user: progress and warnings go to stderr, results to stdout. */
export interface Io {
  /** Machine-readable output requested: stdout carries one JSON document and nothing else. */
  json: boolean;
  verbose: boolean;
  /** A progress line (stderr); silent under --json. */
  log(line: string): void;
  /** A warning (stderr), shown under --json too. */
  warn(line: string): void;
  /** Result text (stdout). */
  out(text: string): void;
}

/** The standard {@link Io} over the process's streams. */
export function consoleIo(options: { json?: boolean; verbose?: boolean }): Io {
  const json = options.json ?? false;
  return {
    json,
    verbose: options.verbose ?? false,
    log: (line) => {
      if (!json) process.stderr.write(`${line}\n`);
    },
    warn: (line) => process.stderr.write(`warning: ${line}\n`),
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  };
}

/**
 * Formats an error for the user: one line saying what failed, then the next command to try.
 * Stack traces and subprocess stderr only with --verbose.
 */
export function formatError(error: unknown, verbose: boolean): string {
  const lines = [`git vtree: ${oneLine(error instanceof Error ? error.message : String(error))}`];
  const hint = error instanceof VtreeError ? error.hint : undefined;
  // The failing task's name is vtree's own vocabulary, not the user's: only --verbose shows it.
  if (error instanceof TaskFailedError && error.undoFailures.length > 0) lines.push(`could not roll back: ${error.undoFailures.join('; ')}`);
  if (hint) lines.push(`hint: ${hint}`);
  if (verbose) {
    if (error instanceof TaskFailedError) lines.push(`failed step: ${error.task}`);
    const root = error instanceof TaskFailedError ? error.cause : error;
    if (root instanceof CommandError && root.stderr) lines.push(root.stderr.trimEnd());
    if (root instanceof Error && root.stack) lines.push(root.stack);
  } else if (!(error instanceof VtreeError)) {
    lines.push('(run again with --verbose for details)');
  }
  return lines.join('\n');
}

/**
 * The `--json` document of a failed command: `{ ok: false, error: { message, hint?, kind, exitCode } }`,
 * `kind` the error's class (`UsageError` for bad input, `CommandError` for a failed subprocess,
 * `InterruptedError`, `VtreeError`, else `Error`), the cause's when a pipeline step failed.
 */
export function jsonError(error: unknown, exitCode: number): { ok: false; error: { message: string; hint?: string; kind: string; exitCode: number } } {
  const root = error instanceof TaskFailedError && error.cause instanceof Error ? error.cause : error;
  const hint = error instanceof VtreeError ? error.hint : undefined;
  return {
    ok: false,
    error: {
      message: oneLine(error instanceof Error ? error.message : String(error)),
      ...(hint ? { hint } : {}),
      kind: root instanceof VtreeError || root instanceof Error ? root.name : 'Error',
      exitCode,
    },
  };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** `1234.5` → `1.23 s`, `87.2` → `87 ms`. */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/** `512` → `512 B`, `35_100_000` → `33.5 MB` (powers of 1024). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
