import { InterruptedError } from './errors.js';

/**
 * Runs `fn` with a signal that aborts on Ctrl-C (SIGINT) or SIGTERM, so a pipeline can roll
 * back instead of dying half-way. While `fn` runs, further signals only repeat the notice:
 * a second Ctrl-C must not kill the rollback itself. When `fn` fails after an interrupt, the
 * interrupt is the reason, whatever the aborted step said: {@link InterruptedError} (exit 130).
 */
export async function withInterrupts<T>(fn: (signal: AbortSignal) => Promise<T>, notice: (line: string) => void): Promise<T> {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (name: NodeJS.Signals) => {
    if (received) {
      notice('still rolling back; please wait');
      return;
    }
    received = name;
    notice(`${name}: stopping and rolling back what this run created`);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } catch (error) {
    throw received ? new InterruptedError(received) : error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
