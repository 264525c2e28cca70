import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { vtree } from '../../helpers.js';

/** What `git vtree add --json` says of a run: the facts the dependency tests look at. */
export interface AddResult {
  facts: { deps: Record<string, unknown> };
  path: string;
}

/** Runs `git vtree add` with --json; returns its parsed result (and what it said on stderr). */
export async function add(repo: string, branch: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<AddResult & { stderr: string }> {
  const result = await vtree(repo, ['add', branch, '--json', '--no-services', ...extra], env);
  expect(result.code, result.stderr).toBe(0);
  return { ...(JSON.parse(result.stdout) as AddResult), stderr: result.stderr };
}

/** Polls `check` every 100 ms, for up to a minute. */
export async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** How many names a directory holds (0 when it does not exist). */
export const countIn = (dir: string) => readdir(dir).then((names) => names.length, () => 0);

/** The shared tree snapshot (type, mode, link target, content hash by path). */
export { treeOf } from '../../helpers.js';
