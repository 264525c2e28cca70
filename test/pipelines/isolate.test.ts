import { appendFile, link, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryDir, openEntry } from '../../src/features/deps/cache.js';
import { run } from '../../src/core/exec.js';
import { readWorktreeState, worktreeGitDir, writeWorktreeState } from '../../src/git/worktree-state.js';
import { BIN, git, tempDir, testEnv, vtree } from '../helpers.js';
import { add, installedRepoIn, waitFor } from '../features/deps/deps-helpers.js';

// The isolate-deps job end to end (docs/trust.md, isolation): a file edited through a link before
// its copy was made stays edited in that worktree only, the entry is dropped, and the edit is
// not told only to a log: `cache verify` names the worktree and `--repair` re-installs it.

const INDEX = 'node_modules/is-number/index.js';
let fixture: string;
const cleanups: string[] = [];

beforeAll(async () => {
  fixture = await tempDir('vtree-isolate-job-fixture-');
  cleanups.push(fixture);
  await writeFile(join(fixture, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { 'is-number': '7.0.0' } }, null, 2) + '\n');
  await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: fixture });
}, 120_000);
afterAll(async () => {
  await Promise.all(cleanups.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 })));
});

describe('isolate-deps', () => {
  it('an edit made through the link before the copy: kept in that worktree only, the entry dropped, named by cache verify and re-installed by --repair', async () => {
    const parent = await tempDir('vtree-isolate-job-');
    cleanups.push(parent);
    const { repo } = await installedRepoIn(parent, 'repo-', fixture);
    const cache = join(repo, '.git/vibetrees/cache');
    await git(repo, 'config', 'vtree.cache.spares', '0');
    const seeded = await add(repo, 'seeded');
    const key = seeded.facts.deps.key as string;
    await waitFor('the entry', async () => (await openEntry(cache, key)) !== undefined);
    const hit = await add(repo, 'hit');
    expect(await vtree(repo, ['wait', 'hit'])).toMatchObject({ code: 0 });

    // The moment before the copy: the worktree's file is the entry's again, and someone edits it through the link.
    const clean = await readFile(join(repo, INDEX), 'utf8');
    const entryFile = join(entryDir(cache, key), 'tree', INDEX);
    await unlink(join(hit.path, INDEX));
    await link(entryFile, join(hit.path, INDEX));
    await appendFile(join(hit.path, INDEX), '// debugging in hit\n');
    const gitDir = await worktreeGitDir(hit.path);
    const state = (await readWorktreeState(gitDir))!;
    await writeWorktreeState(gitDir, { ...state, deps: { ...(state.deps as object), isolation: { state: 'pending', since: new Date().toISOString() } } });
    const job = await run(process.execPath, [BIN, '__job', 'isolate-deps', cache, key, hit.path, 'test-run'], { cwd: repo, env: testEnv(), okCodes: [0] });
    expect(job.stderr).toContain(`${INDEX} edited in place through a hardlink before its copy was made`);

    expect(await readFile(join(hit.path, INDEX), 'utf8')).toMatch(/debugging in hit/);
    for (const other of [repo, seeded.path]) expect(await readFile(join(other, INDEX), 'utf8')).toBe(clean);
    expect(await openEntry(cache, key)).toBeUndefined();
    const after = (await readWorktreeState(gitDir))!.deps as { edited?: string[]; isolation?: { state: string; sharedMs?: number } };
    expect(after).toMatchObject({ edited: [INDEX], isolation: { state: 'done', sharedMs: expect.any(Number) } });

    // Never a start for another worktree: with no other install left, the next add installs afresh.
    for (const tree of [repo, seeded.path]) await rename(join(tree, 'node_modules'), join(tree, 'node_modules.aside'));
    const next = await add(repo, 'next');
    expect(next.facts.deps.from).not.toBe(hit.path);
    expect(next.facts.deps.source).toBe('miss');
    expect(await readFile(join(next.path, INDEX), 'utf8')).toBe(clean);
    for (const tree of [repo, seeded.path]) await rename(join(tree, 'node_modules.aside'), join(tree, 'node_modules'));

    const dry = await vtree(repo, ['cache', 'verify', '--dry-run', '--json']);
    expect(dry.code).toBe(1);
    expect(JSON.parse(dry.stdout).trees).toEqual([expect.objectContaining({ path: hit.path, files: [INDEX] })]);
    const repaired = await vtree(repo, ['cache', 'verify', '--repair', '--json']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(JSON.parse(repaired.stdout).trees).toEqual([expect.objectContaining({ path: hit.path, repaired: true })]);
    expect(await readFile(join(hit.path, INDEX), 'utf8')).toBe(clean);
    expect(((await readWorktreeState(gitDir))!.deps as { edited?: string[] }).edited).toBeUndefined();
    const again = await vtree(repo, ['cache', 'verify', '--dry-run', '--json']);
    expect(again.code, again.stdout).toBe(0);
  }, 180_000);
});
