import { UsageError } from './errors.js';

/** `500M`, `2G`, `1.5GB`, `1048576` → bytes; `what` names the flag or key in the error. */
export function parseSize(text: string, what = 'size'): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!match) throw new UsageError(`cannot read ${what} '${text}'`, 'write it like 500M or 2G');
  const power = ' kmgt'.indexOf((match[2] || ' ').toLowerCase());
  return Math.round(Number(match[1]) * 1024 ** power);
}
