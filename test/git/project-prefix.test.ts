import { cp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { projectPrefix, worktreeProject } from '../../src/git/project-prefix.js';
import { tempDir } from '../helpers.js';

let root: string;
let env: NodeJS.ProcessEnv;
beforeEach(async () => {
  root = await tempDir();
  // A registry of this test's own: the names other tests' repositories claim are not in it.
  env = { XDG_STATE_HOME: join(root, 'state') };
});
afterEach(() => rm(root, { recursive: true, force: true }));

/** A repository's identity as vtree reads it: its git dir and its directory's name. */
async function repoAt(...parts: string[]): Promise<{ commonDir: string; name: string }> {
  const commonDir = join(root, ...parts, '.git');
  await mkdir(commonDir, { recursive: true });
  return { commonDir, name: parts.at(-1)! };
}

describe('projectPrefix: the name a repository\'s Compose projects start with', () => {
  it('is the directory name for the first repository, and a different name for a second one named alike', async () => {
    const first = await repoAt('a', 'app');
    const second = await repoAt('b', 'app');
    expect(await projectPrefix(first, env)).toBe('app');
    const other = await projectPrefix(second, env);
    expect(other).toMatch(/^app-[0-9a-f]{4}$/);
    // Stable for both, whichever asks first from now on.
    expect(await projectPrefix(second, env)).toBe(other);
    expect(await projectPrefix(first, env)).toBe('app');
    expect(await worktreeProject(first, 'feat', undefined, env)).toBe('app-feat');
    expect(await worktreeProject(second, 'feat', undefined, env)).toBe(`${other}-feat`);
  });

  it('keeps a worktree\'s recorded project name', async () => {
    const repo = await repoAt('a', 'app');
    expect(await worktreeProject(repo, 'feat', { services: { project: 'app-feat-old' } }, env)).toBe('app-feat-old');
  });

  it('gives a copied repository (cp -r) its own name, and the original keeps its own', async () => {
    const original = await repoAt('a', 'app');
    expect(await projectPrefix(original, env)).toBe('app');
    await cp(join(root, 'a', 'app'), join(root, 'a', 'app2'), { recursive: true });
    expect(await projectPrefix({ commonDir: join(root, 'a', 'app2', '.git'), name: 'app2' }, env)).toBe('app2');
    await cp(join(root, 'a', 'app'), join(root, 'c', 'app'), { recursive: true });
    expect(await projectPrefix({ commonDir: join(root, 'c', 'app', '.git'), name: 'app' }, env)).toMatch(/^app-[0-9a-f]{4}$/);
    expect(await projectPrefix(original, env)).toBe('app');
  });

  it('follows a repository that moved, and frees the name of one that is gone', async () => {
    const repo = await repoAt('a', 'app');
    expect(await projectPrefix(repo, env)).toBe('app');
    await mkdir(join(root, 'moved'));
    await rename(join(root, 'a', 'app'), join(root, 'moved', 'app'));
    const moved = { commonDir: join(root, 'moved', 'app', '.git'), name: 'app' };
    expect(await projectPrefix(moved, env)).toBe('app');
    await rm(join(root, 'moved'), { recursive: true });
    expect(await projectPrefix(await repoAt('new', 'app'), env)).toBe('app');
  });

  it('survives a torn registry and a torn record', async () => {
    const first = await repoAt('a', 'app');
    const second = await repoAt('b', 'app');
    expect(await projectPrefix(first, env)).toBe('app');
    await writeFile(join(root, 'state', 'vibetrees', 'project-names.json'), '{"app": ');
    await mkdir(join(second.commonDir, 'vibetrees'));
    await writeFile(join(second.commonDir, 'vibetrees', 'project-prefix.json'), '{');
    // The first one's own record still says it holds the name: the second gets another.
    expect(await projectPrefix(first, env)).toBe('app');
    expect(await projectPrefix(second, env)).toMatch(/^app-[0-9a-f]{4}$/);
  });

  it('hands out distinct names to repositories named alike that ask at once', async () => {
    const repos = await Promise.all([1, 2, 3, 4].map((i) => repoAt(`r${i}`, 'app')));
    const names = await Promise.all(repos.map((repo) => projectPrefix(repo, env)));
    expect(new Set(names).size).toBe(4);
    expect(names.filter((n) => n === 'app')).toHaveLength(1);
  });
});
