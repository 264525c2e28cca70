import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { goldenDir, removeGolden, seedKey, takeSpare, type Golden } from '../../../src/features/seed/store.js';
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

describe('removeGolden', () => {
  it('never deletes inside a spare an add takes meanwhile: a spare taken is whole, or none is taken', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'vtree-prune-'));
    cleanup = () => rm(cacheDir, { recursive: true, force: true });
    const files = 200;
    const spares = join(cacheDir, 'seeds', 'spares', 'pgdata-k1');
    let whole = 0;
    for (let round = 0; round < 16; round++) {
      const golden = { volume: 'pgdata', key: 'k1', dir: goldenDir(cacheDir, 'pgdata', 'k1') } as Golden;
      await mkdir(join(golden.dir, 'data'), { recursive: true });
      for (const spare of ['ready-copy-1', 'ready-copy-2', 'ready-copy-3']) {
        await mkdir(join(spares, spare), { recursive: true });
        await Promise.all(Array.from({ length: files }, (_, i) => writeFile(join(spares, spare, `f${i}`), 'x')));
      }
      const to = join(cacheDir, `taken-${round}`);
      // The add reaches for a spare as the prune starts (round 0), or 1-15 ms into it, as a second process would.
      const reach = round === 0 ? takeSpare(cacheDir, 'pgdata', 'k1', to) : new Promise((r) => setTimeout(r, round)).then(() => takeSpare(cacheDir, 'pgdata', 'k1', to));
      const [, taken] = await Promise.all([removeGolden(cacheDir, golden), reach]);
      if (taken) whole++;
      expect(taken ? (await readdir(to)).length : 'none taken').toBe(taken ? files : 'none taken');
      expect(await readdir(join(cacheDir, 'seeds', 'spares')).catch(() => [])).toEqual([]);
      await rm(spares, { recursive: true, force: true });
    }
    // Both sides of the race were run: a spare taken before the prune got to it is whole.
    expect(whole).toBeGreaterThan(0);
  });
});
