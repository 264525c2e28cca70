#!/usr/bin/env node
// `npm run bench:data`: issue 21's targets for seeded volumes, measured on a large Postgres
// (pgbench -i -s N plus two indexes) on XFS, btrfs and ext4 loop filesystems this script makes,
// mounts and removes again. Alternating runs, medians; a table of every target, met or not, and
// the figures as JSON in bench/results/. See bench/README.md ("npm run bench:data").
import { existsSync, statfsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { benchEnv, runChild, summarize, waitForTaggedProcesses } from './measure.mjs';
import { formatMs } from './report.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = dirname(BENCH_DIR);
const IMAGE = 'vtree-test/postgres:15';
const PG_BIN = '/usr/lib/postgresql/15/bin';
const FILESYSTEMS = ['xfs', 'btrfs', 'ext4'];
/** Filesystems that clone (XFS by reflink, btrfs by snapshot); ext4 gets a spare copy made ahead of time. */
const CLONING = new Set(['xfs', 'btrfs']);
/** How long the background jobs of one run (stack down, spare copy, a golden build) may take before the next starts anyway. */
const BACKGROUND_TIMEOUT_MS = 30 * 60_000;

const HELP = `Usage: npm run bench:data -- [options]   (root; or: node bench/data.mjs after npm run build)

  --scale N          pgbench scale of the seeded database (default 70: ~1.1 GB of data, 2.1 GB on disk)
  --runs N           alternating timed runs of each row (default 3)
  --clones N         worktrees cloned, written to (pgbench -T) and checked with pg_amcheck (default 20)
  --write-seconds N  pgbench -T in a clone (default 10)
  --fs LIST          filesystems, comma-separated, of ${FILESYSTEMS.join(',')} (default all)
  --size SIZE        size of each sparse loop image under /var/tmp (default 16G)
  --quick            a smoke run: --scale 2 --runs 1 --clones 2
  --json             print the results as JSON instead of the table
  --out FILE         JSON results (default bench/results/data-<time>.json)
`;

const { values: flags } = parseArgs({
  options: {
    scale: { type: 'string' },
    runs: { type: 'string' },
    clones: { type: 'string' },
    'write-seconds': { type: 'string', default: '10' },
    fs: { type: 'string', default: FILESYSTEMS.join(',') },
    size: { type: 'string', default: '16G' },
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const options = {
  scale: positiveInt('--scale', flags.scale ?? (flags.quick ? '2' : '70')),
  runs: positiveInt('--runs', flags.runs ?? (flags.quick ? '1' : '3')),
  clones: positiveInt('--clones', flags.clones ?? (flags.quick ? '2' : '20')),
  writeSeconds: positiveInt('--write-seconds', flags['write-seconds']),
  filesystems: flags.fs.split(',').map((s) => s.trim()).filter(Boolean),
  size: flags.size,
  out: resolve(flags.out ?? join(BENCH_DIR, 'results', `data-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)),
};
for (const fs of options.filesystems) if (!FILESYSTEMS.includes(fs)) fail(`--fs: unknown filesystem ${fs} (one of ${FILESYSTEMS.join(', ')})`);

const log = (line) => process.stderr.write(`${line}\n`);
const tag = `VTREE_BENCH_RUN=data-${process.pid}-${Date.now()}`;
const env = { ...benchEnv(tag, join(PROJECT_DIR, 'bin')), GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.com' };
/** Rows of pgbench_accounts a seeded database has: what the first query must answer. */
const ACCOUNTS = options.scale * 100_000;
/** The project's seed command: pgbench's tables, then its migrations (two indexes). */
const SEED_RUN = `pgbench -i -q -s ${options.scale} -h 127.0.0.1 -p "$DB_PORT" -U postgres postgres && sh migrate.sh`;

/** Cleanups of what is mounted and started, run at the end, on failure and on a signal. */
const cleanups = new Map();
async function cleanAll() {
  for (const [name, clean] of [...cleanups].reverse()) {
    await clean().catch((error) => log(`cleanup of ${name}: ${error.message}`));
    cleanups.delete(name);
  }
}
/** Runs one cleanup now (and not again at the end). */
async function release(name) {
  const clean = cleanups.get(name);
  cleanups.delete(name);
  await clean?.();
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanAll().finally(() => process.exit(130));
  });
}

await checkPrerequisites();
const composeVersion = (await must('docker', ['compose', 'version', '--short'], PROJECT_DIR)).trim();
const startedAt = new Date();
const results = [];
try {
  for (const fs of options.filesystems) results.push(await benchFilesystem(fs));
} finally {
  await cleanAll();
}
const targets = evaluateTargets(results);
const report = { startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), options, composeVersion, results, targets };
await mkdir(dirname(options.out), { recursive: true });
await writeFile(options.out, JSON.stringify(report, null, 2) + '\n');
if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
else process.stdout.write(render(results, targets) + '\n');
log(`results: ${options.out}`);

/**
 * Everything measured on one filesystem: a loop image of its own, a repository on it whose cache
 * (`vtree.cacheDir`) is there too, the golden built once, then alternating runs of migrate + seed
 * against the seeded add, the branch with one migration, and (where it clones) the many clones.
 */
async function benchFilesystem(fs) {
  const mount = `/mnt/vtree-bench-${fs}`;
  const image = `/var/tmp/vtree-bench-${fs}.img`;
  const name = `vtdata-${fs}`;
  const repo = join(mount, name);
  await unmountLoop(mount, image, name);
  cleanups.set(fs, () => unmountLoop(mount, image, name));
  await mountLoop(fs, image, mount);
  log(`${fs}: ${mount} (${options.size} sparse image ${image})`);
  const cacheDir = join(mount, 'cache');
  await makeRepo(repo, cacheDir);

  log(`${fs}: building the golden (pgbench -i -s ${options.scale} + two indexes)`);
  const seed = await runOk('git', ['vtree', 'seed', '--json'], repo);
  const [golden] = JSON.parse(await must('git', ['vtree', 'seed', 'status', '--json'], repo)).goldens;
  if (!golden) throw new Error(`${fs}: git vtree seed built no golden: ${seed.stdout}`);
  const result = {
    fs,
    golden: { key: golden.key, bytes: golden.bytes, buildMs: golden.buildMs, diskBytes: await allocatedBytes(join(golden.dir, 'data')) },
    seedRuns: [],
    clonedRuns: [],
    floorRuns: [],
    updateRuns: [],
  };
  const goldenSum = await checksum(join(golden.dir, 'data'));

  if (!CLONING.has(fs)) {
    // The first add of a key on ext4 copies in the foreground and starts making the spare the timed runs take.
    const first = await seededAdd(repo, mount, 'first-copy', { writes: false });
    result.foregroundCopy = first;
    await removeWorktree(repo, 'first-copy');
  }
  for (let round = 0; round < options.runs; round++) {
    const sides = ['seed', 'cloned', 'floor'];
    for (const side of [...sides.slice(round % 3), ...sides.slice(0, round % 3)]) {
      if (side === 'floor') {
        result.floorRuns.push(await floorRun(repo, mount, join(golden.dir, 'data'), fs, round + 1));
        log(`${fs}: round ${round + 1}/${options.runs}: no vtree, data ready + docker compose up ${formatMs(result.floorRuns.at(-1).firstQueryMs)}`);
        continue;
      }
      const branch = `${side}-${round + 1}`;
      if (side === 'seed') result.seedRuns.push(await scratchAdd(repo, mount, branch));
      else {
        if (!CLONING.has(fs)) result.spareBytes = await spareBytes(cacheDir);
        result.clonedRuns.push(await seededAdd(repo, mount, branch, { writes: true }));
      }
      await removeWorktree(repo, branch);
      // The seeded empty volume is the user's to rm (kept): deleted now, so runs do not pile up copies of the data.
      if (side === 'seed') await release(`volume ${name}-${branch}_pgdata`);
      const row = (side === 'seed' ? result.seedRuns : result.clonedRuns).at(-1);
      log(`${fs}: round ${round + 1}/${options.runs}: ${side === 'seed' ? 'migrate + seed' : 'seeded add'} ${formatMs(row.firstQueryMs)}`);
    }
  }
  for (let round = 0; round < options.runs; round++) {
    result.updateRuns.push(await updateAdd(repo, cacheDir, golden.key));
    log(`${fs}: round ${round + 1}/${options.runs}: branch with one migration ${formatMs(result.updateRuns.at(-1).firstQueryMs)}`);
  }
  if (CLONING.has(fs)) result.clones = await manyClones(repo, mount);
  result.goldenUnchanged = (await checksum(join(golden.dir, 'data'))) === goldenSum;
  result.summary = {
    seed: summarize(result.seedRuns.map((r) => r.firstQueryMs)),
    cloned: summarize(result.clonedRuns.map((r) => r.firstQueryMs)),
    floor: summarize(result.floorRuns.map((r) => r.firstQueryMs)),
    cloneStep: summarize(result.clonedRuns.map((r) => r.cloneStepMs)),
    diskBytes: median(result.clonedRuns.map((r) => r.diskBytes)),
    diskAfterWritesBytes: median(result.clonedRuns.map((r) => r.diskAfterWritesBytes)),
    update: summarize(result.updateRuns.map((r) => r.firstQueryMs)),
  };
  await unmountLoop(mount, image, name);
  cleanups.delete(fs);
  return result;
}

/** The throwaway project: Postgres with a healthcheck on a named volume, a seed section whose run is pgbench -i plus the migrations (two indexes). */
async function makeRepo(repo, cacheDir) {
  await mkdir(join(repo, 'migrations'), { recursive: true });
  const files = {
    'compose.yaml': [
      'services:',
      '  db:',
      `    image: ${IMAGE}`,
      '    ports: ["127.0.0.1:${DB_PORT:-5432}:5432"]',
      '    stop_grace_period: 120s',
      '    healthcheck:',
      `      test: ["CMD", "${PG_BIN}/pg_isready", "-h", "127.0.0.1", "-U", "postgres"]`,
      // docs/data.md's advice: a quick check while the server starts, a slow one after, so the
      // check (a process run in the container) does not tax the first queries.
      '      interval: 10s',
      '      start_period: 60s',
      '      start_interval: 200ms',
      '    volumes: ["pgdata:/var/lib/postgresql/data"]',
      'volumes:',
      '  pgdata: {}',
      '',
    ].join('\n'),
    // The project's migration runner: applies each migrations/*.sql not yet recorded, in name order.
    'migrate.sh': [
      'set -e',
      'psql_() { psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$DB_PORT" -U postgres "$@" postgres; }',
      "psql_ -c 'create table if not exists schema_migrations (name text primary key)'",
      'for f in migrations/*.sql; do',
      '  n=$(basename "$f")',
      `  if [ -z "$(psql_ -tAc "select 1 from schema_migrations where name = '$n'")" ]; then psql_ -f "$f" && psql_ -c "insert into schema_migrations values ('$n')"; fi`,
      'done',
      '',
    ].join('\n'),
    'migrations/001_indexes.sql': 'create index pgbench_accounts_bid on pgbench_accounts (bid);\ncreate index pgbench_accounts_abalance on pgbench_accounts (abalance);\n',
    '.gitignore': '.env\n',
  };
  for (const [file, text] of Object.entries(files)) await writeFile(join(repo, file), text);
  const git = (...args) => must('git', args, repo);
  await git('init', '-q', '-b', 'main');
  await git('add', '-A');
  await git('commit', '-qm', 'app with a seeded database');
  // A branch adding one migration: its inputs differ, so it gets main's golden plus `update`.
  await git('checkout', '-q', '-b', 'one-migration');
  await writeFile(join(repo, 'migrations', '002_note.sql'), 'alter table pgbench_branches add column note text;\n');
  await git('add', '-A');
  await git('commit', '-qm', 'one migration');
  await git('checkout', '-q', 'main');
  const config = {
    'vtree.cacheDir': cacheDir,
    // The user's own git config: the stack and the seed command are theirs, so consented.
    'vtree.services.trusted': 'true',
    'vtree.services.stopTimeout': '5',
    // Spare worktrees are issue 12's subject; here every add checks out, so the rows differ only in the data step.
    'vtree.spares.worktrees': '0',
    'vtree.seed.pgdata.service': 'db',
    'vtree.seed.pgdata.run': SEED_RUN,
    'vtree.seed.pgdata.inputs': 'migrations migrate.sh',
    'vtree.seed.pgdata.update': 'sh migrate.sh',
  };
  for (const [key, value] of Object.entries(config)) await git('config', key, value);
}

/**
 * Migrate + seed in a new worktree: its volume an empty directory on the same filesystem (bound
 * and labelled as vtree binds a clone, so vtree keeps it and Compose adopts it), then `add`,
 * `wait`, the seed command, until the first query answers with the seeded rows.
 */
async function scratchAdd(repo, mount, branch) {
  const project = `${repoName(repo)}-${branch}`;
  const dockerVolume = `${project}_pgdata`;
  const dir = join(mount, 'empty-volumes', dockerVolume);
  await mkdir(dir, { recursive: true });
  await must('docker', ['volume', 'create', '--driver', 'local', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${dir}`, '--label', `com.docker.compose.project=${project}`, '--label', 'com.docker.compose.volume=pgdata', '--label', `com.docker.compose.version=${composeVersion}`, dockerVolume], repo);
  cleanups.set(`volume ${dockerVolume}`, async () => {
    await runChild({ cmd: 'docker', args: ['volume', 'rm', '-f', dockerVolume], cwd: repo, env });
    await rm(dir, { recursive: true, force: true });
  });
  const before = await usedBytes(mount);
  const started = performance.now();
  const add = JSON.parse((await runOk('git', ['vtree', 'add', branch, '--json'], repo)).stdout);
  await runOk('git', ['vtree', 'wait', branch], repo);
  const port = await dbPort(add.path);
  await runOk('sh', ['-c', SEED_RUN], add.path, { DB_PORT: port });
  await firstAnswer(port, 'select count(*) from pgbench_accounts', String(ACCOUNTS));
  const firstQueryMs = performance.now() - started;
  const state = add.facts?.seed?.[0]?.state;
  if (state !== 'kept') throw new Error(`migrate + seed row: vtree did not keep the empty volume (seed state ${state})`);
  return { firstQueryMs, diskBytes: (await usedBytes(mount)) - before };
}

/**
 * The floor, without vtree: the golden's data already cloned (XFS, btrfs) or copied ahead (ext4,
 * as a spare is), then what is left to any tool using Compose: the clone (or a rename), a labelled
 * volume on it, `docker compose up -d` in the main worktree on a port of its own, until the
 * first query answers. What vtree adds is the seeded add's time less this one.
 */
async function floorRun(repo, mount, goldenData, fs, round) {
  const project = `${repoName(repo)}-floor-${round}`;
  const dockerVolume = `${project}_pgdata`;
  const dir = join(mount, 'floor-volumes', dockerVolume);
  await mkdir(dirname(dir), { recursive: true });
  const ready = `${dir}.ready`;
  if (!CLONING.has(fs)) await must('cp', ['-a', goldenData, ready], repo);
  const port = String(19500 + round);
  cleanups.set(`floor ${project}`, async () => {
    await runChild({ cmd: 'docker', args: ['compose', '-p', project, 'down', '--volumes', '--timeout', '5'], cwd: repo, env });
    await rm(dir, { recursive: true, force: true });
    await rm(ready, { recursive: true, force: true });
  });
  const started = performance.now();
  if (CLONING.has(fs)) await must('cp', ['-a', '--reflink=always', goldenData, dir], repo);
  else await must('mv', [ready, dir], repo);
  await must('docker', ['volume', 'create', '--driver', 'local', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${dir}`, '--label', `com.docker.compose.project=${project}`, '--label', 'com.docker.compose.volume=pgdata', '--label', `com.docker.compose.version=${composeVersion}`, dockerVolume], repo);
  await must('docker', ['compose', '-p', project, 'up', '-d', 'db'], repo, { DB_PORT: port });
  await firstAnswer(port, 'select count(*) from pgbench_accounts', String(ACCOUNTS));
  const firstQueryMs = performance.now() - started;
  await release(`floor ${project}`);
  return { firstQueryMs };
}

/**
 * The seeded add: `git vtree add` + `git vtree wait` until the first query answers with the
 * seeded rows; the clone step from the add's spans in metrics.json; the disk it took; with
 * `writes`, pgbench -T in it and the disk after a checkpoint.
 */
async function seededAdd(repo, mount, branch, { writes }) {
  const before = await usedBytes(mount);
  const started = performance.now();
  const add = JSON.parse((await runOk('git', ['vtree', 'add', branch, '--json'], repo)).stdout);
  await runOk('git', ['vtree', 'wait', branch], repo);
  const port = await dbPort(add.path);
  await firstAnswer(port, 'select count(*) from pgbench_accounts', String(ACCOUNTS));
  const firstQueryMs = performance.now() - started;
  const seed = add.facts?.seed?.[0] ?? {};
  if (seed.state !== 'cloned') throw new Error(`seeded add of ${branch}: the volume was not cloned (seed state ${seed.state})`);
  const row = { firstQueryMs, mode: seed.mode, cloneStepMs: await addSpan(repo, branch, 'seed-volumes'), diskBytes: (await usedBytes(mount)) - before };
  if (writes) {
    await pgbenchWrites(port, add.path);
    row.diskAfterWritesBytes = (await usedBytes(mount)) - before;
  }
  return row;
}

/**
 * A branch adding one migration: `add` clones main's golden (its own key has none) and the
 * `update` command applies the migration; timed until the migration's table answers. The golden
 * the background job builds for the branch afterwards is deleted, so every run takes this path.
 */
async function updateAdd(repo, cacheDir, mainKey) {
  const started = performance.now();
  const add = JSON.parse((await runOk('git', ['vtree', 'add', 'one-migration', '--json'], repo)).stdout);
  await runOk('git', ['vtree', 'wait', 'one-migration'], repo);
  const port = await dbPort(add.path);
  await firstAnswer(port, 'select count(*) from schema_migrations', '2');
  const firstQueryMs = performance.now() - started;
  const seed = add.facts?.seed?.[0] ?? {};
  if (seed.state !== 'updating') throw new Error(`branch with one migration: expected a clone of an older golden brought up to date, got seed state ${seed.state}`);
  // The branch's own golden builds in the background, in the worktree: let it finish before rm.
  await settle();
  await removeWorktree(repo, 'one-migration', { keepBranch: true });
  const { goldens } = JSON.parse(await must('git', ['vtree', 'seed', 'status', '--json'], repo));
  for (const g of goldens.filter((g) => g.key !== mainKey)) await rm(g.dir, { recursive: true, force: true });
  return { firstQueryMs, mode: seed.mode };
}

/** `clones` worktrees, each written to by pgbench -T then checked by pg_amcheck --heapallindexed; their stacks stopped after. */
async function manyClones(repo, mount) {
  const before = await usedBytes(mount);
  const checks = [];
  const branches = Array.from({ length: options.clones }, (_, i) => `clone-${i + 1}`);
  for (const branch of branches) {
    const add = JSON.parse((await runOk('git', ['vtree', 'add', branch, '--json'], repo)).stdout);
    await runOk('git', ['vtree', 'wait', branch], repo);
    await pgbenchWrites(await dbPort(add.path), add.path);
    const container = (await must('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${repoName(repo)}-${branch}`, '--filter', 'label=com.docker.compose.service=db'], repo)).trim();
    const check = await runChild({ cmd: 'docker', args: ['exec', container, `${PG_BIN}/pg_amcheck`, '-h', '127.0.0.1', '-U', 'postgres', '--heapallindexed', '--install-missing', 'postgres'], cwd: repo, env });
    checks.push({ branch, ok: check.code === 0, ...(check.code === 0 ? {} : { error: check.stderr.trim().split('\n').slice(-3).join(' | ') }) });
    log(`clones: ${branch}: pg_amcheck ${check.code === 0 ? 'passed' : 'FAILED'}`);
    // Stopped, not removed, so twenty Postgres servers do not run at once; the clone stays.
    await must('git', ['vtree', 'down'], add.path);
  }
  const diskBytes = (await usedBytes(mount)) - before;
  for (const branch of branches) await removeWorktree(repo, branch);
  return { count: branches.length, passed: checks.filter((c) => c.ok).length, checks, diskBytes };
}

/** pgbench's TPC-B-like writes for `writeSeconds`, then a checkpoint, so what it changed is on disk. */
async function pgbenchWrites(port, cwd) {
  await must('pgbench', ['-n', '-c', '2', '-T', String(options.writeSeconds), '-h', '127.0.0.1', '-p', port, '-U', 'postgres', 'postgres'], cwd);
  await must('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-c', 'checkpoint', 'postgres'], cwd);
}

async function removeWorktree(repo, branch, { keepBranch = false } = {}) {
  await must('git', ['vtree', 'rm', branch, '--force', ...(keepBranch ? [] : ['--delete-branch'])], repo);
  await settle();
}

/** Waits until no background job of this benchmark runs (stack down, a spare copy, a golden build). */
async function settle() {
  const waited = await waitForTaggedProcesses(tag, BACKGROUND_TIMEOUT_MS);
  if (waited.timedOut) log('background jobs still running after the timeout; going on');
}

/** Polls the first query until it answers `expected`: the moment the worktree's data is there. */
async function firstAnswer(port, sql, expected) {
  const deadline = performance.now() + 600_000;
  let last = '';
  while (performance.now() < deadline) {
    const answer = await runChild({ cmd: 'psql', args: ['-X', '-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-tAc', sql, 'postgres'], cwd: PROJECT_DIR, env });
    last = answer.code === 0 ? answer.stdout.trim() : answer.stderr.trim();
    if (answer.code === 0 && last === expected) return;
    await sleep(20);
  }
  throw new Error(`'${sql}' on port ${port} did not answer ${expected} (last: ${last})`);
}

/** Duration of the top-level span `name` of the newest `add` run of `branch` in metrics.json. */
async function addSpan(repo, branch, name) {
  const metrics = JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8'));
  const run = metrics.runs.filter((r) => r.command === 'add' && r.branch === branch).at(-1);
  return run?.spans.find((s) => s.name === name && s.parent === null)?.duration ?? null;
}

async function dbPort(worktree) {
  const port = /^DB_PORT=(\d+)$/m.exec(await readFile(join(worktree, '.env'), 'utf8'))?.[1];
  if (!port) throw new Error(`no DB_PORT in ${worktree}/.env`);
  return port;
}

/** Bytes of the ready spare copies on ext4 (allocated blocks): what each ready copy costs. */
async function spareBytes(cacheDir) {
  const dir = join(cacheDir, 'seeds', 'spares');
  const out = await runChild({ cmd: 'sh', args: ['-c', 'for d in */ready-*; do du -s --block-size=1 "$d"; done', 'spares'], cwd: dir, env });
  const sizes = out.stdout.split('\n').filter(Boolean).map((line) => Number(line.split('\t')[0]));
  return sizes.length ? Math.max(...sizes) : null;
}

async function allocatedBytes(dir) {
  return Number((await must('du', ['-s', '--block-size=1', dir], PROJECT_DIR)).split('\t')[0]);
}

/** A hash of every file of the golden's data (path and content): equal before and after means nothing wrote to it. */
async function checksum(dir) {
  return (await must('sh', ['-c', 'find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum'], dir)).split(' ')[0];
}

/** Used bytes of the filesystem at `mount`, after its dirty data is written (delayed allocation counts then). */
async function usedBytes(mount) {
  await must('sync', ['-f', mount], PROJECT_DIR);
  const s = statfsSync(mount);
  return (s.blocks - s.bfree) * s.bsize;
}

async function mountLoop(fs, image, mount) {
  await rm(image, { force: true });
  await must('truncate', ['-s', options.size, image], PROJECT_DIR);
  const mkfs = { xfs: ['mkfs.xfs', ['-q', '-m', 'reflink=1', image]], btrfs: ['mkfs.btrfs', ['-q', image]], ext4: ['mkfs.ext4', ['-q', '-F', image]] }[fs];
  await must(mkfs[0], mkfs[1], PROJECT_DIR);
  await mkdir(mount, { recursive: true });
  await must('mount', ['-o', 'loop', image, mount], PROJECT_DIR);
}

/** Takes down what a run on `mount` left (stacks of the repository `name`, their volumes), unmounts it and deletes its image. */
async function unmountLoop(mount, image, name) {
  const listed = await Promise.all(
    [['ps', '-a'], ['volume', 'ls']].map((kind) => runChild({ cmd: 'docker', args: [...kind, '--filter', 'label=com.docker.compose.project', '--format', '{{.Label "com.docker.compose.project"}}'], cwd: PROJECT_DIR, env })),
  );
  const projects = [...new Set(listed.flatMap((l) => l.stdout.split('\n')))].filter((p) => p.startsWith(`${name}-`));
  for (const project of projects) await runChild({ cmd: 'docker', args: ['compose', '-p', project, 'down', '--volumes', '--remove-orphans', '--timeout', '1'], cwd: PROJECT_DIR, env });
  const volumes = (await runChild({ cmd: 'docker', args: ['volume', 'ls', '-q'], cwd: PROJECT_DIR, env })).stdout.split('\n').filter((v) => v.startsWith(`${name}-`));
  if (volumes.length) await runChild({ cmd: 'docker', args: ['volume', 'rm', '-f', ...volumes], cwd: PROJECT_DIR, env });
  await waitForTaggedProcesses(tag, 60_000);
  if ((await runChild({ cmd: 'mountpoint', args: ['-q', mount], cwd: PROJECT_DIR, env })).code === 0) {
    const umount = await runChild({ cmd: 'umount', args: [mount], cwd: PROJECT_DIR, env });
    if (umount.code !== 0) await runChild({ cmd: 'umount', args: ['-l', mount], cwd: PROJECT_DIR, env });
  }
  await rm(image, { force: true });
  await rm(mount, { recursive: true, force: true }).catch(() => undefined);
}

async function checkPrerequisites() {
  if (process.getuid?.() !== 0) fail('npm run bench:data mounts loop filesystems: run it as root');
  if (!existsSync(join(PROJECT_DIR, 'dist', 'cli.js'))) fail('dist/ is missing: run npm run build first (npm run bench:data does)');
  const missing = [];
  for (const [cmd, args] of [['psql', ['--version']], ['pgbench', ['--version']], ['mkfs.xfs', ['-V']], ['mkfs.btrfs', ['--version']], ['mkfs.ext4', ['-V']], ['docker', ['image', 'inspect', IMAGE]]]) {
    if ((await runChild({ cmd, args, cwd: PROJECT_DIR, env })).code !== 0) missing.push(cmd === 'docker' ? `the image ${IMAGE}` : cmd);
  }
  if (missing.length) fail(`missing: ${missing.join(', ')}; run: bash test/prereqs/install.sh`);
}

/** The targets of issue 21, each met, not met or not measured, per filesystem. */
function evaluateTargets(results) {
  const targets = [];
  const add = (fs, target, measured, met, detail = '') => targets.push({ fs, target, measured, status: met === null ? 'not measured' : met ? 'met' : 'not met', detail });
  for (const r of results) {
    const s = r.summary;
    const speedup = s.seed.median / s.cloned.median;
    const how = CLONING.has(r.fs) ? `${r.clonedRuns[0]?.mode ?? 'clone'}` : 'spare copy ready';
    add(r.fs, `seeded add + wait → first query ≤ 1.5 s (${how})`, formatMs(s.cloned.median), s.cloned.median <= 1500, `the same without vtree (data ready, docker compose up): ${formatMs(s.floor.median)}`);
    add(r.fs, '≥ 10× faster than migrate + seed in a new worktree', `${speedup.toFixed(1)}× (${formatMs(s.seed.median)})`, speedup >= 10);
    if (CLONING.has(r.fs)) {
      add(r.fs, 'clone step (seed-volumes span of add) ≤ 0.3 s', formatMs(s.cloneStep.median), s.cloneStep.median <= 300);
      add(r.fs, 'extra disk per worktree ≤ 50 MB', mb(s.diskBytes), s.diskBytes <= 50e6);
      add(r.fs, `extra disk after pgbench -T ${options.writeSeconds} ≤ 150 MB${r.fs === 'xfs' ? ' (cowextsize 8k)' : ' (reported)'}`, mb(s.diskAfterWritesBytes), r.fs === 'xfs' ? s.diskAfterWritesBytes <= 150e6 : null);
      add(r.fs, `${r.clones.count} clones after pgbench -T ${options.writeSeconds} pass pg_amcheck --heapallindexed`, `${r.clones.passed}/${r.clones.count}`, r.clones.passed === r.clones.count);
    } else {
      add(r.fs, 'disk each ready spare copy costs (reported)', mb(r.spareBytes), null, `no spare: foreground cp -a ${formatMs(r.foregroundCopy.firstQueryMs)}; extra disk per worktree at its first answer ${mb(s.diskBytes)} (the next spare being copied meanwhile)`);
    }
    add(r.fs, "golden's checksum unchanged afterwards", r.goldenUnchanged ? 'unchanged' : 'CHANGED', r.goldenUnchanged);
    add(r.fs, 'branch adding one migration: add + wait ≤ 3 s', `${formatMs(s.update.median)} (full seed ${formatMs(s.seed.median)})`, s.update.median <= 3000);
  }
  return targets;
}

function render(results, targets) {
  const out = [`git vtree, seeded volumes (issue 21): Postgres 15, pgbench -i -s ${options.scale} + two indexes, ${options.runs} alternating run(s), medians`, ''];
  const rows = new Table({ head: ['fs', 'row', 'median', 'min', 'max', 'n'], colAligns: ['left', 'left', 'right', 'right', 'right', 'right'], style: { head: [], border: [], compact: true } });
  for (const r of results) {
    out.push(`${r.fs}: golden ${mb(r.golden.bytes)} (${mb(r.golden.diskBytes)} on disk), built in ${formatMs(r.golden.buildMs)}`);
    for (const [label, s] of [
      ['migrate + seed in a new worktree → first query', r.summary.seed],
      [`seeded add + wait → first query (${r.clonedRuns[0]?.mode})`, r.summary.cloned],
      [`no vtree: ${CLONING.has(r.fs) ? 'cp --reflink' : 'copy ready, mv'} + volume + docker compose up → first query`, r.summary.floor],
      ['clone step (seed-volumes)', r.summary.cloneStep],
      ['branch with one migration: add + wait → migrated', r.summary.update],
    ]) rows.push([r.fs, label, formatMs(s.median), formatMs(s.min), formatMs(s.max), String(s.n)]);
  }
  out.push('', rows.toString(), '');
  const table = new Table({ head: ['fs', 'target', 'measured', ''], style: { head: [], border: [], compact: true }, wordWrap: true });
  for (const t of targets) table.push([t.fs, t.target + (t.detail ? `\n${t.detail}` : ''), t.measured, t.status === 'met' ? 'met' : t.status === 'not met' ? 'NOT MET' : '–']);
  out.push('Targets (issue 21):', table.toString());
  return out.join('\n');
}

/** `runOk`, its output only. */
async function must(cmd, args, cwd, extra = {}) {
  return (await runOk(cmd, args, cwd, extra)).stdout;
}

/** Runs a command with the benchmark's environment (and `extra`); fails naming it. */
async function runOk(cmd, args, cwd, extra = {}) {
  const result = await runChild({ cmd, args, cwd, env: { ...env, ...extra } });
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited with ${result.code}: ${(result.stderr || result.stdout).trim().split('\n').slice(-4).join(' | ')}`);
  return result;
}

function repoName(repo) {
  return repo.split('/').at(-1);
}

function median(values) {
  const present = values.filter((v) => typeof v === 'number');
  return present.length ? summarize(present).median : null;
}

function mb(bytes) {
  return bytes === null || bytes === undefined ? '–' : `${(bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)} MB`;
}

function positiveInt(flag, raw) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) fail(`${flag}: not a positive integer: ${raw}`);
  return n;
}

function fail(message) {
  process.stderr.write(`bench:data: ${message}\n`);
  process.exit(2);
}
