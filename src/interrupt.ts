/**
 * Runs `fn` with a signal that aborts on Ctrl-C (SIGINT) or SIGTERM, so a pipeline can roll
 * back instead of dying half-way. While `fn` runs, further signals only repeat the notice:
 * a second Ctrl-C must not kill the rollback itself.
 */
export async function withInterrupts<T>(fn: (signal: AbortSignal) => Promise<T>, notice: (line: string) => void): Promise<T> {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      notice('still rolling back; please wait');
      return;
    }
    notice(`${name}: stopping and rolling back what this run created`);
    controller.abort(Object.assign(new Error(`interrupted by ${name}`), { signalName: name }));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The signal name when `error` is the abort reason {@link withInterrupts} set. */
export function interruptSignal(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { signalName?: string }).signalName : undefined;
}
