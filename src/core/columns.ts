/**
 * Rows of text as left-aligned columns two spaces apart, as `git worktree list` prints: for the
 * commands whose start-up counts (`list`), which should not load a table library to print.
 */
export function formatColumns(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}
