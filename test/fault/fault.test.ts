import { describe, expect, it } from 'vitest';
// A plain ES module, shared with `npm run fault` (test/fault/run.mjs).
import { formatFigures, runFaultSuite } from './suite.mjs';

describe('fault injection (bounded; `npm run fault` runs it in full)', () => {
  it('rolls back or recovers every interrupted, killed or starved run, and leaves no trace', async () => {
    const figures = await runFaultSuite({ seed: 7, signalTrials: 3, bursts: 1, burstSize: 6, corruptRounds: 1, diskTrials: 3, editTrials: 3, log: () => undefined });
    const report = formatFigures(figures);
    expect(figures.trials, report).toBeGreaterThanOrEqual(9 + 6 + 5 + 3);
    expect(figures.treesChecked, report).toBeGreaterThan(0);
    expect(figures.treesDiffering, report).toBe(0);
    expect(figures.editsSpreadSilently, report).toBe(0);
    expect(figures.notRecovered, report).toBe(0);
    expect(figures.debrisLeft, report).toBe(0);
    expect(figures.duplicatePorts, report).toBe(0);
    expect(figures.writtenOutside, report).toBe(0);
    expect(figures.unhandledExceptions, report).toBe(0);
    expect(figures.problems, report).toEqual([]);
  }, 600_000);
});
