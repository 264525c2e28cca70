import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assertValidBranchName, planBranch } from '../../src/git/branch.js';
import { resolveRepo } from '../../src/git/repo.js';
import { git, makeRepo } from '../helpers.js';

let repo: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ repo, cleanup } = await makeRepo());
});
afterEach(async () => cleanup());

describe('branch names', () => {
  it.each(['-rf', '--force', 'HEAD', '', 'a..b', 'a b', 'x.lock', 'a~1', 'a:b', 'end/'])('rejects %j', async (name) => {
    await expect(assertValidBranchName(repo, name)).rejects.toThrow(/is not a valid branch name/);
  });

  it.each(['feat/x', 'fé/ü', '$(touch x)'.replace(' ', '_'), "it's"])('accepts %j', async (name) => {
    await expect(assertValidBranchName(repo, name)).resolves.toBeUndefined();
  });
});

describe('planBranch', () => {
  it('tells new, local and ambiguous remote branches apart without changing anything', async () => {
    await git(repo, 'branch', 'local');
    const r = await resolveRepo(repo);
    expect(await planBranch(r, 'local')).toMatchObject({ kind: 'local', branch: 'local' });
    expect(await planBranch(r, 'fresh')).toMatchObject({ kind: 'new', branch: 'fresh', commit: await git(repo, 'rev-parse', 'HEAD') });
    await expect(planBranch(r, 'local', 'main')).rejects.toThrow(/--from only applies to new branches/);
    await git(repo, 'update-ref', 'refs/remotes/one/shared', 'HEAD');
    await git(repo, 'update-ref', 'refs/remotes/two/shared', 'HEAD');
    await expect(planBranch(await resolveRepo(repo), 'shared')).rejects.toThrow(/exists on several remotes \(one\/shared, two\/shared\)/);
    expect(await git(repo, 'branch', '--list', 'fresh', 'shared')).toBe('');
  });
});
