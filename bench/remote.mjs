#!/usr/bin/env node
// `node bench/remote.mjs`: `git vtree bench --remote` on the benchmark fixture. Builds (or reuses)
// the npm benchmark repository, puts its main worktree's install into the cache and pushes it to
// `<registry>/vtree-bench/deps` (untimed), then runs `git vtree bench --remote --json` there, which
// does the measuring (src/pipelines/bench-remote.ts), and prints its rows and writes them to
// bench/results/remote.json. It reports; it never fails on a timing. See bench/README.md ("Remote cache").
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareRepo } from './fixture.mjs';
import { runChild } from './measure.mjs';
import { formatMs } from './report.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = dirname(BENCH_DIR);

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
const workDir = resolve(flags['work-dir']);
const log = (line) => process.stderr.write(`${line}\n`);
const env = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && !['INIT_CWD', 'NODE_OPTIONS', 'VTREE_BACKGROUND'].includes(k))),
  PATH: [join(PROJECT_DIR, 'bin'), ...(process.env.PATH ?? '').split(delimiter).filter((p) => p && !/node_modules[\\/]\.bin/.test(p))].join(delimiter),
};

if (!existsSync(join(PROJECT_DIR, 'dist', 'cli.js'))) throw new Error('run `npm run build` first');
const answering = await fetch(`http://${flags.registry}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
if (!answering) {
  log(`no registry answers at ${flags.registry}: start one with ../shared/ci/registry.sh ${flags.registry.split(':')[1]}`);
  process.exit(1);
}

const repo = await prepareRepo({ fixtureDir: resolve(flags.fixture), workDir, sourceFiles: Number(flags['source-files']), env, tools: {}, log }, 'npm', 'npm');
const remote = `${flags.registry}/vtree-bench/deps`;
const git = (...args) => must(runChild({ cmd: 'git', args, cwd: repo.root, env }), `git ${args.join(' ')}`);
const loadBefore = loadavg();
const startedAt = new Date().toISOString();

// The remote cache is set only for this run: the other benchmarks share the repository.
await git('config', 'vtree.cache.remote', remote);
let bench;
try {
  // Warm the registry, untimed: the main worktree's install, as an entry, pushed.
  await git('vtree', 'cache', 'warm', '--spares', '0');
  const pushed = JSON.parse((await git('vtree', 'cache', 'push', '--json')).stdout);
  log(`registry ${remote}: ${pushed.entries.map((e) => (e.pushed ? `pushed ${e.key.slice(0, 12)} (${e.bytes} bytes, ${e.ms} ms)` : `has ${e.key.slice(0, 12)}`)).join(', ')}`);
  log(`git vtree bench --remote --json --runs ${flags.runs} in ${repo.root}: ${Number(flags.runs) + 1} rounds of 3 fresh clones each, silent until done`);
  bench = await vtreeBenchRemote(Number(flags.runs));
} finally {
  await git('config', '--unset', 'vtree.cache.remote');
}

const hit = bench.result.rows.find((r) => r.id === 'remote-hit');
const lines = [
  `remote cache benchmark · fixture ${resolve(flags.fixture)}, ${repo.sourceFiles} source files · registry ${remote} · ${bench.result.runs} timed run(s) per row after 1 warm-up · ${cpus().length} cores, load ${loadBefore[0].toFixed(2)}`,
  '',
  `${'row'.padEnd(62)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}  n  ${'x warm cache'.padStart(12)}  bytes moved`,
  ...bench.result.rows.map((r) => {
    const measured = r.durations.length > 0;
    const bytes = r.medianBytes === null ? '-' : r.id === 'warm-cache' ? '0 (npm cache)' : mb(r.medianBytes);
    const failed = r.errors.length ? `  (${r.errors.length} failed: ${r.errors[0]})` : '';
    return `${r.label.padEnd(62)} ${fmt(measured ? r.median : undefined)} ${fmt(measured ? r.min : undefined)} ${fmt(measured ? r.max : undefined)} ${String(r.durations.length).padStart(2)}  ${(r.ratio?.toFixed(2) ?? '-').padStart(12)}  ${bytes}${failed}`;
  }),
  '',
  `Target: ${bench.result.target.target}: ${bench.result.target.status}${bench.result.target.value !== null ? ` (${bench.result.target.value.toFixed(2)}x)` : ''}`,
  bench.result.hit ? `remote-hit facts: source=${bench.result.hit.source} linkMode=${bench.result.hit.linkMode} files=${bench.result.hit.files} remoteBytes=${bench.result.hit.remoteBytes}` : `remote-hit: no round pulled from the registry${hit?.errors[0] ? ` (${hit.errors[0]})` : ''}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
await mkdir(dirname(resolve(flags.out)), { recursive: true });
await writeFile(resolve(flags.out), `${JSON.stringify({ schema: 2, startedAt, fixture: resolve(flags.fixture), sourceFiles: repo.sourceFiles, cores: cpus().length, loadavgBefore: loadBefore, loadavgAfter: loadavg(), ...bench.result }, null, 2)}\n`);
process.stdout.write(`\nResults: ${resolve(flags.out)}\n`);
// Exit 1 when a round failed (the rows say which): a failed round is no timing.
process.exitCode = bench.code;

/**
 * `git vtree bench --remote --json --runs <runs>` in the benchmark repository (its warnings and
 * errors pass through to stderr; under --json it prints no progress): its exit code and the JSON
 * it printed, which has the rows with exit 1 too, when only some rounds failed.
 */
function vtreeBenchRemote(runs) {
  return new Promise((resolvePromise, reject) => {
    const args = ['vtree', 'bench', '--remote', '--json', '--runs', String(runs)];
    const child = spawn('git', args, { cwd: repo.root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => {
      // Under --json a failed run prints `{ ok: false, error }` instead of rows (its error is also on stderr, above).
      const result = (() => {
        try {
          return JSON.parse(stdout);
        } catch {
          return undefined;
        }
      })();
      if (Array.isArray(result?.rows)) resolvePromise({ code, result });
      else reject(new Error(`git ${args.join(' ')} exited ${code}: ${result?.error?.message ?? 'without results'}`));
    });
  });
}

async function must(promise, what) {
  const result = await promise;
  if (result.code !== 0) throw new Error(`${what} failed: ${result.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  return result;
}

function fmt(ms) {
  return (ms === undefined ? '-' : formatMs(ms)).padStart(8);
}

function mb(bytes) {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}
