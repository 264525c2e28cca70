import { ExitCode, InterruptedError } from './errors.js';

/** The signals that stop vtree the way Ctrl-C does: a closed terminal (SIGHUP) too. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The {@link withInterrupts} call running now, which a signal aborts. */
let scope: ((name: NodeJS.Signals) => void) | undefined;
let installed = false;

/**
 * Puts vtree's handlers for SIGINT, SIGTERM and SIGHUP in place. The entry point calls it before
 * loading anything else, so a signal in the first moments (while modules load, before a command
 * has started a rollback scope) is vtree's to handle, never Node's default death. Outside a
 * {@link withInterrupts} scope, and unless the command listens for the signal itself, nothing has
 * been changed yet: the process says so and exits 130.
 */
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const name of SIGNALS) {
    process.on(name, () => {
      if (scope) return scope(name);
      // A command that listens for the signal itself (the stats dashboard) decides what it means.
      if (process.listenerCount(name) > 1) return;
      process.stderr.write(`git vtree: interrupted by ${name} before it changed anything\n`);
      process.exit(ExitCode.interrupted);
    });
  }
}

/**
 * Runs `fn` with a signal that aborts on Ctrl-C (SIGINT), SIGTERM or SIGHUP, so a pipeline can
 * roll back instead of dying half-way. While `fn` runs, further signals only repeat the notice:
 * a second Ctrl-C must not kill the rollback itself. When `fn` fails after an interrupt, the
 * interrupt is the reason, whatever the aborted step said: {@link InterruptedError} (exit 130).
 */
export async function withInterrupts<T>(fn: (signal: AbortSignal) => Promise<T>, notice: (line: string) => void): Promise<T> {
  installSignalHandlers();
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const outer = scope;
  scope = (name) => {
    if (received) {
      notice('still rolling back; please wait');
      return;
    }
    received = name;
    notice(`${name}: stopping and rolling back what this run created`);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  try {
    return await fn(controller.signal);
  } catch (error) {
    throw received ? new InterruptedError(received) : error;
  } finally {
    scope = outer;
  }
}
