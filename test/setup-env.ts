import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Every test, and every process a test starts, keeps its machine-wide state (the port lease
// registry under XDG_STATE_HOME) in a temporary directory, never in the real one.
if (!process.env.VTREE_TEST_STATE) {
  process.env.VTREE_TEST_STATE = mkdtempSync(join(tmpdir(), 'vtree-state-'));
}
process.env.XDG_STATE_HOME = process.env.VTREE_TEST_STATE;
