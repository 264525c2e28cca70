import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { seedKey } from '../../../src/features/seed/store.js';
import { git, makeRepo } from '../../helpers.js';

const spec = { volume: 'pgdata', service: 'db', run: 'npm run db:setup', inputs: ['db/migrations', 'db/seed.sql'], committed: false };

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('seedKey', () => {
  it('changes with the committed content of the inputs, the image id and the run text, and with nothing else', async () => {
    const made = await makeRepo();
    cleanup = made.cleanup;
    const { repo } = made;
    await mkdir(join(repo, 'db', 'migrations'), { recursive: true });
    await writeFile(join(repo, 'db', 'seed.sql'), 'insert 1\n');
    await writeFile(join(repo, 'db', 'migrations', '001.sql'), 'create table t\n');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'migration');
    const first = await git(repo, 'rev-parse', 'HEAD');
    const base = await seedKey(repo, first, spec, 'sha256:aaa');
    expect(base.inputs).toEqual([expect.stringMatching(/^100644 [0-9a-f]{40} db\/migrations\/001.sql$/), expect.stringMatching(/ db\/seed.sql$/)]);

    // An edit outside the inputs, or an uncommitted one, keeps the key.
    await writeFile(join(repo, 'README.md'), '# changed\n');
    await git(repo, 'commit', '-qam', 'readme');
    await writeFile(join(repo, 'db', 'seed.sql'), 'uncommitted\n');
    const readme = await git(repo, 'rev-parse', 'HEAD');
    expect((await seedKey(repo, readme, spec, 'sha256:aaa')).key).toBe(base.key);

    expect((await seedKey(repo, first, spec, 'sha256:bbb')).key).not.toBe(base.key);
    expect((await seedKey(repo, first, { ...spec, run: 'npm run db:seed' }, 'sha256:aaa')).key).not.toBe(base.key);
    await writeFile(join(repo, 'db', 'migrations', '002.sql'), 'alter table t\n');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'second migration');
    expect((await seedKey(repo, await git(repo, 'rev-parse', 'HEAD'), spec, 'sha256:aaa')).key).not.toBe(base.key);
  });
});
