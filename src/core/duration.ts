import { UsageError } from './errors.js';

/** Milliseconds per unit; `m` is minutes, as in `30m`. */
const UNITS = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const satisfies Record<string, number>;

/** `90s`, `30m`, `12h`, `7d`, `2w` (also `ms`, `min`) → milliseconds; undefined for anything else. */
export function durationMs(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)\s*$/i.exec(text);
  return match ? Number(match[1]) * UNITS[match[2]!.toLowerCase() as keyof typeof UNITS] : undefined;
}

/** {@link durationMs}, or a usage error naming `what` (a flag or key). */
export function parseDuration(text: string, what = 'duration'): number {
  const ms = durationMs(text);
  if (ms === undefined) throw new UsageError(`cannot read ${what} '${text}'`, 'write it like 30d, 12h or 2w');
  return ms;
}
