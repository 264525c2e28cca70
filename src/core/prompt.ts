/**
 * Whether vtree may ask the user a question: stdin and stderr are a terminal, and this is not a
 * background job or a CI run. Hooks, agents and scripts get the non-interactive answer instead.
 */
export function canAsk(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true && !process.env.VTREE_BACKGROUND && !process.env.CI;
}

/** Asks a yes/no question on the terminal (stderr); anything but y/yes is no. */
export async function confirm(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
