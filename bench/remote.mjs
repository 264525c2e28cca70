#!/usr/bin/env node
// `node bench/remote.mjs`: the remote dependency cache against npm on the benchmark fixture. A
// fresh clone's first `git vtree add`, with an empty local cache and the entry in a registry on
// 127.0.0.1, against `git worktree add` + `npm ci` with npm's cache warm and with it empty.
// Alternates the rows, reports medians, ratios and bytes moved; writes bench/results/remote.json.
// It reports; it never fails on a timing. See bench/README.md ("Remote cache").
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareRepo } from './fixture.mjs';
import { runChild, summarize, timeSequence, waitForTaggedProcesses } from './measure.mjs';
import { formatMs } from './report.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = dirname(BENCH_DIR);
const TAG = `VTREE_BENCH_RUN=remote-${process.pid}-${Date.now()}`;

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    registry: { type: 'string', default: '127.0.0.1:5120' },
    'source-files': { type: 'string', default: '2000' },
    fixture: { type: 'string', default: join(BENCH_DIR, 'fixture') },
    'work-dir': { type: 'string', default: join(BENCH_DIR, '.work') },
    out: { type: 'string', default: join(BENCH_DIR, 'results', 'remote.json') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`Usage: node bench/remote.mjs [--runs 5] [--registry 127.0.0.1:5120] [--work-dir DIR] [--fixture DIR] [--out FILE]
  Needs a registry answering at --registry (start one: ../shared/ci/registry.sh 5120) and npm run build.\n`);
  process.exit(0);
}
const runs = Number(flags.runs);
const workDir = resolve(flags['work-dir']);
const log = (line) => process.stderr.write(`${line}\n`);
const [tagName, tagValue] = TAG.split('=');
const env = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && !['INIT_CWD', 'NODE_OPTIONS', 'VTREE_BACKGROUND'].includes(k))),
  PATH: [join(PROJECT_DIR, 'bin'), ...(process.env.PATH ?? '').split(delimiter).filter((p) => p && !/node_modules[\\/]\.bin/.test(p))].join(delimiter),
  [tagName]: tagValue,
};

if (!existsSync(join(PROJECT_DIR, 'dist', 'cli.js'))) throw new Error('run `npm run build` first');
const answering = await fetch(`http://${flags.registry}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
if (!answering) {
  log(`no registry answers at ${flags.registry}: start one with ../shared/ci/registry.sh ${flags.registry.split(':')[1]}`);
  process.exit(1);
}

const repo = await prepareRepo({ fixtureDir: resolve(flags.fixture), workDir, sourceFiles: Number(flags['source-files']), env, tools: {}, log }, 'npm', 'npm');
const remote = `${flags.registry}/vtree-bench/deps`;
const git = (cwd, ...args) => must(runChild({ cmd: 'git', args, cwd, env }), `git ${args.join(' ')}`);

// Warm the registry once, untimed: the main worktree's install, as an entry, pushed.
await git(repo.root, 'config', 'vtree.cache.remote', remote);
try {
  await must(runChild({ cmd: 'git', args: ['vtree', 'cache', 'warm', '--spares', '0'], cwd: repo.root, env }), 'git vtree cache warm');
  const pushed = JSON.parse((await must(runChild({ cmd: 'git', args: ['vtree', 'cache', 'push', '--json'], cwd: repo.root, env }), 'git vtree cache push')).stdout);
  log(`registry ${remote}: ${pushed.entries.map((e) => (e.pushed ? `pushed ${e.key.slice(0, 12)} (${e.bytes} bytes, ${e.ms} ms)` : `has ${e.key.slice(0, 12)}`)).join(', ')}`);
} finally {
  await git(repo.root, 'config', '--unset', 'vtree.cache.remote');
}

const clones = await mkdtemp(join(workDir, 'remote-clones-'));
/** A fresh clone of the benchmark repository: no node_modules, no vtree state. */
async function freshClone(round, id) {
  const dir = join(clones, `${id}-${round}`, 'app');
  await git(workDir, 'clone', '-q', '--no-hardlinks', repo.root, dir);
  await git(dir, 'config', 'vtree.cache.spares', '0');
  return dir;
}
const worktreeAdd = (dir) => ({ cmd: 'git', args: ['worktree', 'add', '--no-track', '-b', 'timed', '--', join(dir, '..', 'wt'), 'HEAD'], cwd: dir, env });

const ROWS = [
  {
    id: 'remote-hit',
    label: 'git vtree add, fresh clone, empty local cache, warm registry',
    async prepare(dir) {
      await git(dir, 'config', 'vtree.cache.remote', remote);
    },
    commands: (dir) => [{ cmd: 'git', args: ['vtree', 'add', '--json', '--no-services', 'timed'], cwd: dir, env }],
  },
  {
    id: 'npm-ci-warm',
    label: 'git worktree add + npm ci, npm cache warm',
    commands: (dir) => [worktreeAdd(dir), { cmd: 'npm', args: ['ci', '--prefer-offline', '--no-audit', '--no-fund'], cwd: join(dir, '..', 'wt'), env }],
  },
  {
    id: 'npm-ci-cold',
    label: 'git worktree add + npm ci, npm cache empty',
    cacheDir: (dir) => join(dir, '..', 'npm-cache'),
    commands: (dir, row) => [worktreeAdd(dir), { cmd: 'npm', args: ['ci', '--no-audit', '--no-fund'], cwd: join(dir, '..', 'wt'), env: { ...env, npm_config_cache: row.cacheDir(dir) } }],
  },
];

const results = new Map(ROWS.map((r) => [r.id, { id: r.id, label: r.label, samples: [], bytes: [], errors: [], facts: null }]));
const loadBefore = loadavg();
for (let round = 0; round < runs + 1; round++) {
  const order = ROWS.map((_, i) => ROWS[(i + round) % ROWS.length]);
  for (const row of order) {
    const result = results.get(row.id);
    const dir = await freshClone(round, row.id);
    await row.prepare?.(dir);
    await waitForTaggedProcesses(TAG, 180_000);
    const timed = await timeSequence(row.commands(dir, row));
    let bytes = null;
    if (timed.ok && row.id === 'remote-hit') {
      const facts = JSON.parse(timed.stdout).facts.deps;
      result.facts = facts;
      if (facts.source !== 'remote') timed.ok = false, (timed.error = `deps came from ${facts.source}, not the registry`);
      bytes = facts.remoteBytes ?? null;
    } else if (timed.ok && row.cacheDir) bytes = await duBytes(join(row.cacheDir(dir), '_cacache'));
    else if (timed.ok) bytes = 0;
    // Round 0 warms the page cache and the registry's disk: not counted.
    if (round > 0) {
      if (timed.ok) result.samples.push(timed.ms), result.bytes.push(bytes);
      else result.errors.push(timed.error);
    }
    log(`round ${round}/${runs}${round === 0 ? ' (warm-up)' : ''} · ${row.id.padEnd(12)} ${timed.ok ? `${(timed.ms / 1000).toFixed(2)} s${bytes ? `, ${mb(bytes)}` : ''}` : `FAILED: ${timed.error}`}`);
    await waitForTaggedProcesses(TAG, 180_000);
    await rm(join(dir, '..'), { recursive: true, force: true });
  }
}
await rm(clones, { recursive: true, force: true });

const rows = [...results.values()].map((r) => ({ ...r, stats: r.samples.length ? summarize(r.samples) : null, medianBytes: r.bytes.length ? summarize(r.bytes).median : null }));
const warm = rows.find((r) => r.id === 'npm-ci-warm')?.stats?.median;
for (const row of rows) row.ratioToNpmCiWarm = row.stats && warm ? row.stats.median / warm : null;
const hit = rows.find((r) => r.id === 'remote-hit');
const target = { target: 'remote hit at most 0.5x npm ci with a warm npm cache', value: hit?.ratioToNpmCiWarm ?? null, status: hit?.ratioToNpmCiWarm == null ? 'not measured' : hit.ratioToNpmCiWarm <= 0.5 ? 'met' : 'NOT MET' };
const lines = [
  `remote cache benchmark · fixture ${resolve(flags.fixture)}, ${repo.sourceFiles} source files · registry ${remote} · ${runs} timed run(s) per row after 1 warm-up · ${cpus().length} cores, load ${loadBefore[0].toFixed(2)}`,
  '',
  `${'row'.padEnd(62)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}  n  ${'x npm ci warm'.padStart(13)}  bytes moved`,
  ...rows.map((r) => `${r.label.padEnd(62)} ${fmt(r.stats?.median)} ${fmt(r.stats?.min)} ${fmt(r.stats?.max)} ${String(r.stats?.n ?? 0).padStart(2)}  ${(r.ratioToNpmCiWarm?.toFixed(2) ?? '-').padStart(13)}  ${r.medianBytes == null ? '-' : r.id === 'npm-ci-warm' ? '0 (npm cache)' : mb(r.medianBytes)}${r.errors.length ? `  (${r.errors.length} failed: ${r.errors[0]})` : ''}`),
  '',
  `Target: ${target.target}: ${target.status}${target.value != null ? ` (${target.value.toFixed(2)}x)` : ''}`,
  hit?.facts ? `remote-hit facts: source=${hit.facts.source} linkMode=${hit.facts.linkMode} files=${hit.facts.files} remoteBytes=${hit.facts.remoteBytes}` : '',
];
process.stdout.write(`${lines.join('\n')}\n`);
await mkdir(dirname(resolve(flags.out)), { recursive: true });
await writeFile(resolve(flags.out), `${JSON.stringify({ schema: 1, startedAt: new Date().toISOString(), registry: remote, runs, loadavgBefore: loadBefore, loadavgAfter: loadavg(), rows, target }, null, 2)}\n`);
process.stdout.write(`\nResults: ${resolve(flags.out)}\n`);

async function must(promise, what) {
  const result = await promise;
  if (result.code !== 0) throw new Error(`${what} failed: ${result.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  return result;
}

/** Bytes of the files under `dir` (what npm downloaded into its empty cache). */
async function duBytes(dir) {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return total;
}

function fmt(ms) {
  return (ms === undefined ? '-' : formatMs(ms)).padStart(8);
}

function mb(bytes) {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}
