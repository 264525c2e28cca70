import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
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

/** Every entry of a tree: type, mode, symlink target and content hash, by relative path. */
export async function treeOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (rel: string) => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const info = await lstat(join(dir, path));
      if (info.isSymbolicLink()) out[path] = `link ${await readlink(join(dir, path))}`;
      else if (info.isDirectory()) {
        out[path] = `dir`;
        await visit(path);
      } else out[path] = `file ${(info.mode & 0o7777).toString(8)} ${createHash('sha1').update(await readFile(join(dir, path))).digest('hex')}`;
    }
  };
  await visit('');
  return out;
}
