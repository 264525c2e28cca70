import { describe, expect, it } from 'vitest';
import { requirePrereq } from '../helpers.js';
// A plain ES module, shared with `npm run fault` (test/fault/run.mjs).
import { formatFigures, runFaultSuite } from './suite.mjs';

/**
 * One failpoint per crash window that matters, of each graph: a kill is deterministic (the
 * process kills itself there), so these trials always exercise the same windows. `npm run
 * fault` kills at every failpoint, and at random times.
 */
const FAILPOINTS = [
  'add:git-worktree-add:spare-switched',
  'add:before:write-state',
  'setup:after:ports',
  'rm:after:release-ports',
  'rm:recycle:locked',
  'spare-setup:after:deps-restore',
  'spares:refresh:moved-away',
  'spares:recycle:cleaned',
];

/**
 * Every point inside the seed steps (src/features/seed/failpoints.ts), in a second repository
 * whose stack has a seeded volume. `seed:spare:copied` is reached only where the temp directory's
 * filesystem cannot clone (a spare copy is made only there).
 */
const SEED_FAILPOINTS = ['seed:clone:copied', 'seed:clone:volume-created', 'seed:build:started', 'seed:build:seeded', 'seed:build:stopped', 'seed:spare:copied'];

describe('fault injection (bounded; `npm run fault` runs it in full)', () => {
  it('rolls back or recovers every killed or starved run, never calls a half-set-up worktree ready, and leaves no trace', async () => {
    const figures = await runFaultSuite({ seed: 7, failpoints: FAILPOINTS, signalTrials: 0, bursts: 1, burstSize: 6, corruptRounds: 1, diskTrials: 3, editTrials: 3, log: () => undefined });
    const report = formatFigures(figures);
    expect(figures.trials, report).toBeGreaterThanOrEqual(FAILPOINTS.length + 6 + 5 + 3);
    expect(figures.failpointsCovered, report).toBe(FAILPOINTS.length);
    expect(figures.failpointsTotal, report).toBeGreaterThan(100);
    expect(figures.treesChecked, report).toBeGreaterThan(0);
    expect(figures.treesDiffering, report).toBe(0);
    expect(figures.editsSpreadSilently, report).toBe(0);
    expect(figures.editsReachedOthers, report).toBe(0);
    expect(figures.duplicatePorts, report).toBe(0);
    expectNothingLeftBroken(figures, report);
  }, 600_000);

  it('seed: a kill inside a clone, a golden build or a spare copy leaves no worktree called ready, and the next command finishes it and leaves no clone, volume, scratch stack or temp copy behind', async (ctx) => {
    await requirePrereq('docker', ctx);
    const figures = await runFaultSuite({ seed: 7, failpoints: SEED_FAILPOINTS, signalTrials: 0, bursts: 0, burstSize: 0, corruptRounds: 0, diskTrials: 0, editTrials: 0, log: () => undefined });
    const report = formatFigures(figures);
    expect(figures.failpointsCovered, report).toBe(SEED_FAILPOINTS.length);
    expectNothingLeftBroken(figures, report);
  }, 600_000);
});

/** What every form of the suite must count zero of: half-set-up worktrees called ready, unrecovered runs, debris, writes outside, crashes. */
function expectNothingLeftBroken(figures: Awaited<ReturnType<typeof runFaultSuite>>, report: string): void {
  expect(figures.readyWithoutSetUp, report).toBe(0);
  expect(figures.notRecovered, report).toBe(0);
  expect(figures.debrisLeft, report).toBe(0);
  expect(figures.writtenOutside, report).toBe(0);
  expect(figures.unhandledExceptions, report).toBe(0);
  expect(figures.problems, report).toEqual([]);
}
