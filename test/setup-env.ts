import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Every test, and every process a test starts, keeps its machine-wide state (the port lease
// registry under XDG_STATE_HOME) in a temporary directory, never in the real one.
if (!process.env.VTREE_TEST_STATE) {
  process.env.VTREE_TEST_STATE = mkdtempSync(join(tmpdir(), 'vtree-state-'));
}
process.env.XDG_STATE_HOME = process.env.VTREE_TEST_STATE;

// Spare worktrees off (git config from the environment, `vtree.spares.worktrees 0`) for every
// in-process pipeline and every git it starts; tests of spares turn them back on (helpers.ts).
process.env.GIT_CONFIG_COUNT = '1';
process.env.GIT_CONFIG_KEY_0 = 'vtree.spares.worktrees';
process.env.GIT_CONFIG_VALUE_0 = '0';
