import { describe, expect, it } from 'vitest';
import { Config } from '../../../src/git/config.js';
import { readSeedSpecs } from '../../../src/features/seed/definitions.js';

function config(values: Record<string, string>, team: string[] = []): Config {
  return new Config(new Map(Object.entries(values).map(([k, v]) => [k, [v]])), new Set(team));
}

describe('readSeedSpecs', () => {
  it('reads each [vtree "seed.<volume>"] section, and marks one the committed file defines', () => {
    const specs = readSeedSpecs(
      config(
        { 'vtree.seed.pgdata.service': 'db', 'vtree.seed.pgdata.run': 'npm run db:setup', 'vtree.seed.pgdata.inputs': 'prisma/migrations prisma/seed.ts', 'vtree.seed.pgdata.update': 'npm run db:migrate', 'vtree.seed.cache.service': 'redis', 'vtree.seed.cache.run': 'make redis-seed' },
        ['vtree.seed.pgdata.run'],
      ),
    );
    expect(specs).toEqual([
      { volume: 'cache', service: 'redis', run: 'make redis-seed', inputs: [], committed: false },
      { volume: 'pgdata', service: 'db', run: 'npm run db:setup', inputs: ['prisma/migrations', 'prisma/seed.ts'], update: 'npm run db:migrate', committed: true },
    ]);
  });

  it('refuses a section without service or run, an unknown key, and inputs outside the repository, naming the key', () => {
    expect(() => readSeedSpecs(config({ 'vtree.seed.pgdata.run': 'x' }))).toThrow(/vtree.seed.pgdata: no service/);
    expect(() => readSeedSpecs(config({ 'vtree.seed.pgdata.service': 'db' }))).toThrow(/vtree.seed.pgdata: no run/);
    expect(() => readSeedSpecs(config({ 'vtree.seed.pgdata.image': 'x' }))).toThrow(/vtree.seed.pgdata.image: a seed section takes service, run, inputs, update/);
    expect(() => readSeedSpecs(config({ 'vtree.seed.pgdata.service': 'db', 'vtree.seed.pgdata.run': 'x', 'vtree.seed.pgdata.inputs': '../secrets' }))).toThrow(/'..\/secrets' is not a path inside the repository/);
    expect(() => readSeedSpecs(config({ 'vtree.seed.a/b.service': 'db' }))).toThrow(/name the section after the Compose volume/);
  });
});
