import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, composeAppsForFile, git, removalsDone, requirePrereq, testEnv, vtree } from '../helpers.js';

const execFileAsync = promisify(execFile);

let root: string;
let env: NodeJS.ProcessEnv;
/** A repository whose first commit holds `files`; its name prefixes its Compose projects (scratch ones too). */
const makeApp = composeAppsForFile('seed', (dirs) => ({ root, env } = dirs));

/** Cache directories made on the loop-mounted filesystems, removed after the file's tests. */
const cacheDirs: string[] = [];
afterAll(async () => {
  await Promise.all(cacheDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/**
 * A stack with one Postgres service on `${DB_PORT}`, healthy once it accepts connections, its data
 * in the named volume `pgdata`; `stopSignal` replaces the image's SIGINT (a fast shutdown).
 */
function compose(image: string, stopSignal?: string): string {
  return [
    'services:',
    '  db:',
    `    image: ${image}`,
    ...(stopSignal ? [`    stop_signal: ${stopSignal}`] : []),
    '    ports: ["127.0.0.1:${DB_PORT:-5432}:5432"]',
    '    stop_grace_period: 30s',
    '    healthcheck:',
    '      test: ["CMD", "/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1", "-U", "postgres"]',
    '      interval: 1s',
    '      retries: 120',
    '    volumes: ["pgdata:/var/lib/postgresql/data"]',
    'volumes:',
    '  pgdata: {}',
    '',
  ].join('\n');
}

const SEED_SQL = "create table fruit(name text);\ninsert into fruit values ('apple'), ('pear'), ('plum');\n";
/** The project's seed command: psql on the host, at the port of the stack it is given. */
const SEED_RUN = 'psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $DB_PORT -U postgres -f seed.sql';

async function app(image: string, cacheDir: string, stopSignal?: string): Promise<string> {
  const { repo } = await makeApp({ 'compose.yaml': compose(image, stopSignal), 'seed.sql': SEED_SQL, '.gitignore': '.env\n' });
  await git(repo, 'config', 'vtree.cacheDir', cacheDir);
  return repo;
}

async function declareSeed(repo: string): Promise<void> {
  await git(repo, 'config', 'vtree.seed.pgdata.service', 'db');
  await git(repo, 'config', 'vtree.seed.pgdata.run', SEED_RUN);
  await git(repo, 'config', 'vtree.seed.pgdata.inputs', 'seed.sql');
}

/** `select <sql>` in the worktree's database, through the port in its `.env`. */
async function query(worktree: string, sql: string): Promise<string> {
  const port = /^DB_PORT=(\d+)$/m.exec(await readFile(join(worktree, '.env'), 'utf8'))?.[1];
  const { stdout } = await execFileAsync('psql', ['-h', '127.0.0.1', '-p', port!, '-U', 'postgres', '-tAc', sql]);
  return stdout.trim();
}

async function addWaiting(repo: string, branch: string): Promise<{ path: string; stderr: string; facts: { seed?: Array<Record<string, unknown>> }; steps: Array<{ name: string; detail?: Record<string, number> }> }> {
  const added = await vtree(repo, ['add', branch, '--wait', '--json'], env);
  expect(added.code, added.stderr).toBe(0);
  const json = JSON.parse(added.stdout);
  return { path: json.path, stderr: added.stderr, facts: json.facts, steps: json.steps };
}

interface Golden {
  volume: string;
  key: string;
  createdAt: string;
  lastUsedAt: string;
  bytes: number;
  dir: string;
  users: string[];
}

async function goldens(repo: string): Promise<Golden[]> {
  const status = await vtree(repo, ['seed', 'status', '--json'], env);
  expect(status.code, status.stderr).toBe(0);
  return JSON.parse(status.stdout).goldens;
}

async function volumeExists(name: string): Promise<boolean> {
  return execFileAsync('docker', ['volume', 'inspect', name]).then(
    () => true,
    () => false,
  );
}

describe('seeded volumes (issue 21)', () => {
  it('on XFS: a miss builds the golden in the background; the next add gets a reflink clone with the seeded rows, isolated from the golden and other worktrees; rm removes it', async (ctx) => {
    const { image } = await requirePrereq('postgres', ctx);
    const { mount } = await requirePrereq('xfs', ctx);
    const cacheDir = await mkdtemp(join(mount, 'vtree-seed-cache-'));
    cacheDirs.push(cacheDir);
    // Stopped with SIGTERM, Postgres's smart shutdown: it waits for open sessions (used below).
    const repo = await app(image, cacheDir, 'SIGTERM');
    await declareSeed(repo);

    // First worktree: no golden for this commit yet. Its volume starts empty, and the golden builds in the background.
    const first = await addWaiting(repo, 'first');
    expect(first.facts.seed).toEqual([expect.objectContaining({ volume: 'pgdata', state: 'building' })]);
    expect(await query(first.path, "select count(*) from pg_tables where tablename = 'fruit'")).toBe('0');
    let built: Golden[] = [];
    for (let i = 0; i < 240 && built.length === 0; i++) {
      built = await goldens(repo);
      if (built.length === 0) await sleep(500);
    }
    expect(built).toHaveLength(1);
    const golden = built[0]!;
    expect(golden.volume).toBe('pgdata');
    // The scratch project is gone, its Docker volume too (the data stays in the cache).
    const { stdout: left } = await execFileAsync('docker', ['ps', '-a', '--filter', 'label=com.docker.compose.service=db', '--format', '{{.Label "com.docker.compose.project"}}']);
    expect(left.split('\n').filter((p) => p.includes('-seed-'))).toEqual([]);

    // Debris of a run killed between cloning and creating the volume: replaced, not merged into.
    const debris = join(cacheDir, 'seeds', 'volumes', `${basename(repo)}-second_pgdata`);
    await mkdir(debris, { recursive: true });
    await writeFile(join(debris, 'left-by-a-killed-add'), '');

    // Second worktree: a reflink clone of the golden, adopted by Compose as the stack's own volume.
    const second = await addWaiting(repo, 'second');
    expect(existsSync(join(debris, 'left-by-a-killed-add'))).toBe(false);
    expect(existsSync(join(debris, 'PG_VERSION'))).toBe(true);
    expect(second.stderr).not.toMatch(/already exists but was not created by Docker Compose/);
    expect(second.facts.seed).toEqual([expect.objectContaining({ volume: 'pgdata', key: golden.key, state: 'cloned', mode: 'reflink' })]);
    expect(await query(second.path, 'select string_agg(name, \',\' order by name) from fruit')).toBe('apple,pear,plum');
    const volume = `${(await readFile(join(second.path, '.env'), 'utf8')).match(/^COMPOSE_PROJECT_NAME=(.+)$/m)![1]}_pgdata`;
    const { stdout: labels } = await execFileAsync('docker', ['volume', 'inspect', '--format', '{{json .Labels}}', volume]);
    expect(JSON.parse(labels)).toMatchObject({ 'com.docker.compose.volume': 'pgdata' });
    expect((await goldens(repo))[0]!.users).toEqual([second.path]);
    // The clone counts as a use of the golden, for cache prune's least-recently-used order.
    expect(Date.parse((await goldens(repo))[0]!.lastUsedAt)).toBeGreaterThan(Date.parse(golden.createdAt));
    // status (and the MCP status tool, which is status --json) and list say which golden it got.
    const status = JSON.parse((await vtree(second.path, ['status', '--json'], env)).stdout);
    expect(status.seed).toEqual([expect.objectContaining({ volume: 'pgdata', state: 'cloned', key: golden.key, mode: 'reflink', bytes: golden.bytes })]);
    expect(status.readiness.phases).toContainEqual(expect.objectContaining({ name: 'seed pgdata', state: 'done' }));
    const rows = JSON.parse((await vtree(repo, ['list', '--json'], env)).stdout).worktrees as Array<{ path: string; seed?: unknown }>;
    expect(rows.find((r) => r.path === second.path)?.seed).toEqual([expect.objectContaining({ volume: 'pgdata', state: 'cloned', key: golden.key, mode: 'reflink' })]);
    expect(rows.find((r) => r.path === first.path)?.seed).toEqual([expect.objectContaining({ volume: 'pgdata', state: 'building' })]);

    // The second add cloned in the foreground, so a reflink spare is made ahead, in a directory with
    // the clones' extent hint; the third add renames it into place.
    const spares = join(cacheDir, 'seeds', 'spares', `pgdata-${golden.key}`);
    const ready = async () => (await readdir(spares).catch(() => [] as string[])).filter((n) => n.startsWith('ready-'));
    for (let i = 0; i < 240 && (await ready()).length === 0; i++) await sleep(250);
    const [spare] = await ready();
    expect(spare).toMatch(/^ready-reflink-/);
    const { stdout: spareHint } = await execFileAsync('xfs_io', ['-c', 'cowextsize', spares]);
    expect(spareHint).toMatch(/^\[8192\]/);

    // A write in the second worktree's database reaches neither the golden nor a third worktree.
    await query(second.path, "insert into fruit values ('kiwi')");
    const third = await addWaiting(repo, 'third');
    expect(third.facts.seed).toEqual([expect.objectContaining({ state: 'cloned', mode: 'reflink' })]);
    expect((await ready()).includes(spare!)).toBe(false);
    expect(await query(third.path, 'select count(*) from fruit')).toBe('3');
    expect(await query(second.path, 'select count(*) from fruit')).toBe('4');
    // The clone is a consistent database (heap and indexes), and XFS gives its clones the small copy-on-write extent hint.
    const project = (await readFile(join(second.path, '.env'), 'utf8')).match(/^COMPOSE_PROJECT_NAME=(.+)$/m)![1];
    const { stdout: container } = await execFileAsync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'label=com.docker.compose.service=db']);
    await execFileAsync('docker', ['exec', container.trim(), '/usr/lib/postgresql/15/bin/pg_amcheck', '-h', '127.0.0.1', '-U', 'postgres', '--heapallindexed', '--install-missing', 'postgres']);
    const { stdout: hint } = await execFileAsync('xfs_io', ['-c', 'cowextsize', join(cacheDir, 'seeds', 'volumes')]);
    expect(hint).toMatch(/^\[8192\]/);

    // Set up without its stack (--no-services), the worktree gets its clone from `up`, which starts it:
    // the seeded rows, not a database Compose made empty. rm takes the clone though set-up recorded none.
    const later = await vtree(repo, ['add', 'later', '--no-services', '--json'], env);
    expect(later.code, later.stderr).toBe(0);
    const laterPath = JSON.parse(later.stdout).path as string;
    const up = await vtree(laterPath, ['up', '--wait'], env);
    expect(up.code, up.stderr).toBe(0);
    expect(await query(laterPath, 'select count(*) from fruit')).toBe('3');
    expect(JSON.parse((await vtree(laterPath, ['status', '--json'], env)).stdout).seed).toEqual([expect.objectContaining({ volume: 'pgdata', state: 'cloned', key: golden.key })]);
    const laterVolume = `${(await readFile(join(laterPath, '.env'), 'utf8')).match(/^COMPOSE_PROJECT_NAME=(.+)$/m)![1]}_pgdata`;
    expect((await vtree(repo, ['rm', 'later'], env)).code).toBe(0);
    await removalsDone(repo);
    expect(await volumeExists(laterVolume)).toBe(false);
    expect(existsSync(join(cacheDir, 'seeds', 'volumes', laterVolume))).toBe(false);

    // rm removes the clone: the Docker volume and its directory; the golden stays. The stack stops in
    // rm's background job, and the clone goes in that job once its containers are gone.
    // An open session keeps Postgres from stopping (a smart shutdown waits for it) until Docker kills
    // it after the stop timeout, 5 s: rm's job is surely still at work when the new add looks.
    const session = spawn('psql', ['-h', '127.0.0.1', '-p', /^DB_PORT=(\d+)$/m.exec(await readFile(join(second.path, '.env'), 'utf8'))![1]!, '-U', 'postgres', '-c', 'select pg_sleep(300)'], { stdio: 'ignore' });
    for (let i = 0; i < 100 && (await query(second.path, "select count(*) from pg_stat_activity where query like '%pg_sleep(300)%' and pid <> pg_backend_pid()")) === '0'; i++) await sleep(100);
    await git(repo, 'config', 'vtree.services.stopTimeout', '5');
    const removed = await vtree(repo, ['rm', 'second'], env);
    await git(repo, 'config', 'vtree.services.stopTimeout', '1');
    expect(removed.code, removed.stderr).toBe(0);
    // The branch again at once (an agent's retry): the same Compose project, while rm's job still
    // stops the old stack. The new worktree waits for it, then gets a fresh clone the job does not
    // take: the seeded rows, not the removed worktree's, and not an empty database.
    const readded = await addWaiting(repo, 'second');
    session.kill();
    await removalsDone(repo);
    expect(await volumeExists(volume)).toBe(true);
    expect(await query(readded.path, 'select count(*) from fruit')).toBe('3');
    expect(readded.facts.seed).toEqual([expect.objectContaining({ state: 'cloned', mode: 'reflink' })]);
    expect(readded.steps.find((step) => step.name === 'previous-stack')?.detail?.waitedMs).toBeGreaterThan(0);
    expect((await vtree(repo, ['rm', 'second'], env)).code).toBe(0);
    await removalsDone(repo);
    expect(await volumeExists(volume)).toBe(false);
    expect(existsSync(join(cacheDir, 'seeds', 'volumes', volume))).toBe(false);
    expect(existsSync(join(golden.dir, 'data', 'PG_VERSION'))).toBe(true);

    // Set up again, the third worktree keeps its clone, data and all, and rm still knows it is vtree's to remove.
    const again = await vtree(third.path, ['setup', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(await query(third.path, 'select count(*) from fruit')).toBe('3');
    const thirdVolume = `${(await readFile(join(third.path, '.env'), 'utf8')).match(/^COMPOSE_PROJECT_NAME=(.+)$/m)![1]}_pgdata`;
    expect(JSON.parse((await vtree(third.path, ['status', '--json'], env)).stdout).seed).toEqual([expect.objectContaining({ state: 'cloned', key: golden.key })]);
    expect((await vtree(repo, ['rm', 'third'], env)).code).toBe(0);
    await removalsDone(repo);
    expect(await volumeExists(thirdVolume)).toBe(false);
    expect(existsSync(join(cacheDir, 'seeds', 'volumes', thirdVolume))).toBe(false);
  }, 300_000);

  it('any volume: a Redis append-only file seeded once into a btrfs subvolume, each worktree a snapshot of its own', async (ctx) => {
    const { image } = await requirePrereq('redis', ctx);
    const { mount } = await requirePrereq('btrfs', ctx);
    const cacheDir = await mkdtemp(join(mount, 'vtree-seed-cache-'));
    cacheDirs.push(cacheDir);
    const redisCompose = [
      'services:',
      '  cache:',
      `    image: ${image}`,
      '    ports: ["127.0.0.1:${CACHE_PORT:-6379}:6379"]',
      '    healthcheck:',
      '      test: ["CMD", "redis-cli", "ping"]',
      '      interval: 1s',
      '      retries: 60',
      '    volumes: ["cachedata:/data"]',
      'volumes:',
      '  cachedata: {}',
      '',
    ].join('\n');
    const { repo } = await makeApp({ 'compose.yaml': redisCompose, '.gitignore': '.env\n' });
    await git(repo, 'config', 'vtree.cacheDir', cacheDir);
    await git(repo, 'config', 'vtree.seed.cachedata.service', 'cache');
    // On the host, with the scratch stack's environment: Compose finds the scratch project by COMPOSE_PROJECT_NAME.
    await git(repo, 'config', 'vtree.seed.cachedata.run', 'docker compose exec -T cache redis-cli set fruit apple');
    const seeded = await vtree(repo, ['seed', '--json'], env);
    expect(seeded.code, seeded.stderr).toBe(0);

    const redis = async (worktree: string, ...command: string[]) => {
      const project = (await readFile(join(worktree, '.env'), 'utf8')).match(/^COMPOSE_PROJECT_NAME=(.+)$/m)![1];
      const { stdout: container } = await execFileAsync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'label=com.docker.compose.service=cache']);
      return (await execFileAsync('docker', ['exec', container.trim(), 'redis-cli', ...command])).stdout.trim();
    };
    const one = await addWaiting(repo, 'one');
    expect(one.facts.seed).toEqual([expect.objectContaining({ volume: 'cachedata', state: 'cloned', mode: 'snapshot' })]);
    expect(await redis(one.path, 'get', 'fruit')).toBe('apple');
    await redis(one.path, 'set', 'fruit', 'pear');
    const two = await addWaiting(repo, 'two');
    expect(await redis(two.path, 'get', 'fruit')).toBe('apple');
    expect(await redis(one.path, 'get', 'fruit')).toBe('pear');
  }, 300_000);

  it('a build killed part way (SIGKILL) leaves nothing published, and the next build removes its scratch stack and directory', async (ctx) => {
    const { image } = await requirePrereq('postgres', ctx);
    const cacheDir = join(root, 'cache-killed');
    const repo = await app(image, cacheDir);
    await git(repo, 'config', 'vtree.seed.pgdata.service', 'db');
    await git(repo, 'config', 'vtree.seed.pgdata.run', 'touch seeding-started; sleep 120');
    const build = spawn(process.execPath, [BIN, 'seed'], { cwd: repo, env: testEnv(env), stdio: 'ignore' });
    for (let i = 0; i < 480 && !existsSync(join(repo, 'seeding-started')); i++) await sleep(250);
    expect(existsSync(join(repo, 'seeding-started'))).toBe(true);
    const scratch = `${basename(repo)}-seed-pgdata-${build.pid}`;
    const projects = async () => (await execFileAsync('docker', ['ps', '-a', '--filter', 'label=com.docker.compose.project', '--format', '{{.Label "com.docker.compose.project"}}'])).stdout.split('\n');
    expect(await projects()).toContain(scratch);
    build.kill('SIGKILL');
    await new Promise((resolve) => build.once('exit', resolve));
    expect(await goldens(repo)).toEqual([]);
    expect((await readdir(join(cacheDir, 'seeds', 'tmp'))).filter((name) => name.includes(`-${build.pid}-`))).toHaveLength(1);

    await git(repo, 'config', 'vtree.seed.pgdata.run', SEED_RUN);
    await git(repo, 'config', 'vtree.seed.pgdata.inputs', 'seed.sql');
    const next = await vtree(repo, ['seed', '--json'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(await projects()).not.toContain(scratch);
    expect((await readdir(join(cacheDir, 'seeds', 'tmp'))).filter((name) => name.includes(`-${build.pid}-`))).toEqual([]);
    expect(await goldens(repo)).toHaveLength(1);
  }, 300_000);

  it('a stack not trusted on this machine gets no scratch stack: git vtree seed builds no golden and says why', async (ctx) => {
    const { image } = await requirePrereq('postgres', ctx);
    const repo = await app(image, join(root, 'cache-untrusted'));
    await declareSeed(repo);
    // The seed command is the user's own (git config); the Compose files came with the clone and are not trusted.
    await git(repo, 'config', 'vtree.services.trusted', 'false');
    const refused = await vtree(repo, ['seed', '--json'], env);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).volumes).toEqual([expect.objectContaining({ volume: 'pgdata', built: false, skipped: expect.stringMatching(/not trusted on this machine/) })]);
    expect(refused.stderr).toMatch(/git vtree trust/);
    const { stdout: scratch } = await execFileAsync('docker', ['ps', '-a', '--filter', 'label=com.docker.compose.service=db', '--format', '{{.Label "com.docker.compose.project"}}']);
    expect(scratch.split('\n').filter((p) => p.startsWith(`${basename(repo)}-seed-`))).toEqual([]);
    expect(await goldens(repo)).toEqual([]);
  }, 300_000);

  it('a failed seed fails only the data step: the worktree is kept, wait names the command and its log', async (ctx) => {
    const { image } = await requirePrereq('postgres', ctx);
    const repo = await app(image, join(root, 'cache-failing'));
    await git(repo, 'config', 'vtree.seed.pgdata.service', 'db');
    await git(repo, 'config', 'vtree.seed.pgdata.run', 'echo applying 0001_init; echo relation already exists >&2; exit 3');
    const added = await vtree(repo, ['add', 'failing', '--json'], env);
    expect(added.code, added.stderr).toBe(0);
    const { path } = JSON.parse(added.stdout);
    const waited = await vtree(path, ['wait', '--timeout', '240'], env);
    expect(waited.code).toBe(1);
    expect(waited.stderr).toContain("seed pgdata failed: 'echo applying 0001_init; echo relation already exists >&2; exit 3' exited with 3");
    expect(waited.stderr).toContain('relation already exists');
    expect(existsSync(join(path, 'compose.yaml'))).toBe(true);
    const status = JSON.parse((await vtree(path, ['status', '--json'], env)).stdout);
    expect(status.seed).toEqual([expect.objectContaining({ volume: 'pgdata', state: 'failed', log: expect.stringMatching(/seed-.*\.log$/) })]);
    expect(await goldens(repo)).toEqual([]);
  }, 300_000);

  it('a branch with a new migration gets the nearest older golden brought up to date by the update command, while its own golden builds', async (ctx) => {
    const { image } = await requirePrereq('postgres', ctx);
    // The project's idempotent migrate: applies the migrations not yet recorded, as db:migrate tools do.
    const apply = [
      'set -e',
      'psql="psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $DB_PORT -U postgres"',
      '$psql -c "create table if not exists schema_migrations(name text primary key)"',
      'for f in migrations/*.sql; do',
      '  n=$(basename "$f")',
      '  if [ -z "$($psql -tAc "select 1 from schema_migrations where name = \'$n\'")" ]; then $psql -f "$f" -c "insert into schema_migrations values (\'$n\')"; fi',
      'done',
      '',
    ].join('\n');
    const { repo } = await makeApp({ 'compose.yaml': compose(image), 'migrations/001.sql': SEED_SQL, 'apply.sh': apply, '.gitignore': '.env\n' });
    await git(repo, 'config', 'vtree.cacheDir', join(root, 'cache-update'));
    await git(repo, 'config', 'vtree.seed.pgdata.service', 'db');
    await git(repo, 'config', 'vtree.seed.pgdata.run', 'sh apply.sh');
    await git(repo, 'config', 'vtree.seed.pgdata.update', 'sh apply.sh');
    await git(repo, 'config', 'vtree.seed.pgdata.inputs', 'migrations apply.sh');
    const seeded = await vtree(repo, ['seed', '--json'], env);
    expect(seeded.code, seeded.stderr).toBe(0);
    const older = JSON.parse(seeded.stdout).volumes[0].key as string;

    await writeFile(join(repo, 'migrations', '002.sql'), "create table colour(name text);\ninsert into colour values ('red');\n");
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'migration 002');
    const added = await vtree(repo, ['add', 'next', '--json'], env);
    expect(added.code, added.stderr).toBe(0);
    const { path, facts } = JSON.parse(added.stdout);
    expect(facts.seed).toEqual([expect.objectContaining({ volume: 'pgdata', state: 'updating' })]);
    const waited = await vtree(path, ['wait', '--timeout', '240'], env);
    expect(waited.code, waited.stderr).toBe(0);
    expect(await query(path, 'select (select count(*) from fruit) || \'/\' || (select count(*) from colour)')).toBe('3/1');
    const status = JSON.parse((await vtree(path, ['status', '--json'], env)).stdout);
    expect(status.seed).toEqual([expect.objectContaining({ state: 'cloned', base: older, command: 'sh apply.sh' })]);
    expect(status.seed[0].key).not.toBe(older);

    // The new key's own golden builds after the update, for the next worktree.
    let keys: string[] = [];
    for (let i = 0; i < 240 && keys.length < 2; i++) {
      keys = (await goldens(repo)).map((g) => g.key);
      if (keys.length < 2) await sleep(500);
    }
    expect(keys).toContain(status.seed[0].key);
  }, 300_000);

  it('cache prune drops goldens least recently used first, like dependency entries: unused past --older-than, then until --max-size; a golden a worktree has the key of, or was cloned from, only with --include-used', async () => {
    const { repo } = await makeApp({ 'README.md': '# app\n' });
    const cacheDir = join(root, 'cache-lru');
    await git(repo, 'config', 'vtree.cacheDir', cacheDir);
    const { goldenTempDir, publishGolden } = await import('../../src/features/seed/store.js');
    const { writeSeedStatus } = await import('../../src/features/seed/status.js');
    const publish = async (key: string, lastUsedDaysAgo: number) => {
      const temp = await goldenTempDir(cacheDir, 'pgdata');
      await writeFile(join(temp, 'data', 'PG_VERSION'), '15\n');
      const golden = await publishGolden(temp, cacheDir, { volume: 'pgdata', service: 'db', key, image: 'postgres', imageId: 'sha256:1', run: 'seed', commit: 'c0ffee', createdAt: new Date().toISOString(), bytes: 1000, buildMs: 1 });
      const when = new Date(Date.now() - lastUsedDaysAgo * 86_400_000);
      await utimes(golden.dir, when, when);
      return golden.dir;
    };
    const stale = await publish('a'.repeat(32), 40);
    const cloned = await publish('b'.repeat(32), 40);
    const recent = await publish('c'.repeat(32), 1);
    // A worktree whose commit's key has no golden got a clone of the 'b' golden (brought up to date by its update command).
    await git(repo, 'worktree', 'add', '-q', '-b', 'feature', join(root, 'lru-feature'));
    await writeSeedStatus(join(repo, '.git', 'worktrees', 'lru-feature'), { volume: 'pgdata', key: 'd'.repeat(32), state: 'cloned', base: 'b'.repeat(32) });
    const prune = async (...args: string[]) => {
      const result = await vtree(repo, ['cache', 'prune', ...args, '--json'], env);
      expect(result.code, result.stderr).toBe(0);
      return (JSON.parse(result.stdout).goldensDropped as Array<{ key: string }>).map((g) => g.key[0]);
    };

    expect(await prune()).toEqual([]);
    expect(await prune('--older-than', '30d')).toEqual(['a']);
    expect([existsSync(stale), existsSync(cloned), existsSync(recent)]).toEqual([false, true, true]);
    expect(await prune('--max-size', '0')).toEqual(['c']);
    expect(existsSync(join(cloned, 'data', 'PG_VERSION'))).toBe(true);
    expect(await prune('--max-size', '0', '--include-used')).toEqual(['b']);
    expect(await goldens(repo)).toEqual([]);
  });

  it('on ext4: git vtree seed builds the golden in the foreground, add copies it; a committed seed command runs only once trusted; bench --data times both ways; a spare copy made ahead makes the next add a rename; the key follows the committed inputs; prune keeps the newest', async (ctx) => {
    const { image } = await requirePrereq('postgres', ctx);
    const cacheDir = join(root, 'cache-ext4');
    const repo = await app(image, cacheDir);
    // Declared by the committed .vtreeconfig: a command the clone brought, not yet approved here.
    await writeFile(join(repo, '.vtreeconfig'), `[vtree "seed.pgdata"]\n\tservice = db\n\trun = ${SEED_RUN}\n\tinputs = seed.sql\n`);
    await git(repo, 'add', '.vtreeconfig');
    await git(repo, 'commit', '-qm', 'seed config');

    const refused = await vtree(repo, ['seed', '--json'], env);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).volumes).toEqual([expect.objectContaining({ volume: 'pgdata', built: false, skipped: expect.stringMatching(/not approved/) })]);
    expect(refused.stderr).toMatch(/git vtree trust/);
    expect(await goldens(repo)).toEqual([]);

    const listed = await vtree(repo, ['trust', '--json'], env);
    expect(JSON.parse(listed.stdout).tasks).toEqual([expect.objectContaining({ kind: 'seed', name: 'pgdata', run: SEED_RUN, state: 'new' })]);
    expect((await vtree(repo, ['trust', '--yes'], env)).code).toBe(0);
    const seeded = await vtree(repo, ['seed', '--json'], env);
    expect(seeded.code, seeded.stderr).toBe(0);
    const [built] = JSON.parse(seeded.stdout).volumes;
    expect(built).toMatchObject({ volume: 'pgdata', built: true });

    // bench --data: migrate + seed on an empty volume against a clone of the golden, each in a scratch stack it removes.
    const bench = await vtree(repo, ['bench', '--data', '--runs', '1', '--json'], env);
    expect(bench.code, bench.stderr).toBe(0);
    const measured = JSON.parse(bench.stdout);
    expect(measured).toMatchObject({ volume: 'pgdata', key: built.key, runs: 1, mode: 'copy' });
    expect(measured.rows.map((r: { id: string; durations: number[] }) => [r.id, r.durations.length])).toEqual([['seed', 1], ['clone', 1]]);
    const { stdout: scratch } = await execFileAsync('docker', ['ps', '-a', '--filter', 'label=com.docker.compose.service=db', '--format', '{{.Label "com.docker.compose.project"}}']);
    expect(scratch.split('\n').filter((p) => p.startsWith(`${basename(repo)}-seed-`))).toEqual([]);

    const worktree = await addWaiting(repo, 'copied');
    expect(worktree.facts.seed).toEqual([expect.objectContaining({ key: built.key, state: 'cloned', mode: 'copy' })]);
    expect(await query(worktree.path, 'select count(*) from fruit')).toBe('3');
    // ext4 cannot clone: a spare copy is made in the background, and the next add renames it into place.
    const spares = join(cacheDir, 'seeds', 'spares', `pgdata-${built.key}`);
    const ready = async () => (await readdir(spares).catch(() => [] as string[])).filter((n) => n.startsWith('ready-'));
    for (let i = 0; i < 240 && (await ready()).length === 0; i++) await sleep(250);
    expect(await ready()).toHaveLength(1);
    const spared = await addWaiting(repo, 'spared');
    expect(spared.facts.seed).toEqual([expect.objectContaining({ key: built.key, state: 'cloned', mode: 'spare' })]);
    expect(await query(spared.path, 'select count(*) from fruit')).toBe('3');

    // Asked again: the golden is there. A changed input makes a new key: a miss.
    const again = await vtree(repo, ['seed', '--json'], env);
    expect(JSON.parse(again.stdout).volumes[0]).toMatchObject({ key: built.key, built: false });
    await writeFile(join(repo, 'seed.sql'), `${SEED_SQL}insert into fruit values ('fig');\n`);
    await git(repo, 'commit', '-qam', 'one more fruit');
    const changed = await addWaiting(repo, 'changed');
    expect(changed.facts.seed).toEqual([expect.objectContaining({ state: 'building' })]);
    expect((changed.facts.seed![0] as { key: string }).key).not.toBe(built.key);
    // The new key's golden builds in the background, beside the old one.
    let keys: string[] = [];
    for (let i = 0; i < 240 && keys.length < 2; i++) {
      keys = (await goldens(repo)).map((g) => g.key);
      if (keys.length < 2) await sleep(500);
    }
    expect(keys.sort()).toEqual([built.key, (changed.facts.seed![0] as { key: string }).key].sort());
    const pruned = await vtree(repo, ['seed', 'prune', '--json'], env);
    expect(JSON.parse(pruned.stdout).pruned).toEqual([expect.objectContaining({ key: built.key })]);
    const copiedVolume = `${(await readFile(join(worktree.path, '.env'), 'utf8')).match(/^COMPOSE_PROJECT_NAME=(.+)$/m)![1]}_pgdata`;
    expect(await volumeExists(copiedVolume)).toBe(true);
    const removed = await vtree(repo, ['rm', 'copied'], env);
    expect(removed.code, removed.stderr).toBe(0);
    await removalsDone(repo);
    expect(await volumeExists(copiedVolume)).toBe(false);
    expect(existsSync(join(cacheDir, 'seeds', 'volumes', copiedVolume))).toBe(false);
  }, 300_000);
});
