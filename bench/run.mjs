#!/usr/bin/env node
// `npm run bench`: git vtree add against git, npm, pnpm and bun on the benchmark fixture.
// Alternates the rows round-robin, several runs each from the same starting state, prints
// medians and ratios and writes everything to bench/results/latest.json. See bench/README.md.
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, arch, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { copyRepo, fixtureHasLockfile, prepareRepo } from './fixture.mjs';
import { benchEnv, runChild, summarize, timeSequence, waitForTaggedProcesses } from './measure.mjs';
import { addRatios, depsOutcome, describeDeps, evaluateTargets, renderReport } from './report.mjs';
import { applyConfig, clearVtreeState, nodeModulesEntries, removeRunWorktrees } from './repo-state.mjs';
import { prepareTools } from './tools.mjs';
import { BASE_VARIANTS, DAY_TWO_VARIANTS, linkModeVariants, LIST_VARIANTS, LIST_WORKTREES, REPOS, runTarget, SPARE_VARIANTS, STARTUP_VARIANTS } from './variants.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = dirname(BENCH_DIR);
/** What of the project a run of git-vtree needs; copied once per invocation (see snapshotBuild). */
const BUILD_PARTS = ['package.json', 'bin', 'dist', 'hooks', 'completions'];
/** Environment variable every process the benchmark starts carries (see waitForTaggedProcesses). */
const TAG_NAME = 'VTREE_BENCH_RUN';
/** How long background jobs of one run may take before the next run starts anyway. */
const BACKGROUND_TIMEOUT_MS = 180_000;

const HELP = `Usage: npm run bench -- [options]      (or: node bench/run.mjs [options] after npm run build)

  --runs N           timed runs of each row, alternating (default 5)
  --mode-runs N      at most N timed runs of each --link-mode row (default 3)
  --quick            1 run of each row (plus the warm-up)
  --warmup N         untimed warm-up rounds before the timed ones (default 1, at least 1)
  --only IDS         comma-separated row ids (see bench/README.md), e.g. worktree,vtree-hit;
                     \`spares\` stands for the rows of issue 12 (spare worktrees, rm, list)
  --source-files N   generated source files in the benchmark repositories (default 2000)
  --fixture DIR      package.json + lockfiles to build from (default bench/fixture)
  --work-dir DIR     where the benchmark repositories live (default bench/.work)
  --tools-dir DIR    private npm prefix for pnpm and bun (default bench/.tools)
  --no-tools         do not install pnpm or bun (their rows say "not available")
  --out FILE         JSON results (default bench/results/latest.json)
  --build DIR        measure the build in DIR (a checkout of this project with dist/ built)
                     instead of this one: two versions side by side with one harness
`;

/** What `--only spares` stands for: every row of issue 12. */
const SPARE_IDS = ['worktree', 'node+worktree', ...SPARE_VARIANTS.map((v) => v.id), ...LIST_VARIANTS.map((v) => v.id)];

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string' },
    'mode-runs': { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    warmup: { type: 'string', default: '1' },
    only: { type: 'string' },
    'source-files': { type: 'string', default: '2000' },
    fixture: { type: 'string', default: join(BENCH_DIR, 'fixture') },
    'work-dir': { type: 'string', default: join(BENCH_DIR, '.work') },
    'tools-dir': { type: 'string', default: join(BENCH_DIR, '.tools') },
    'no-tools': { type: 'boolean', default: false },
    out: { type: 'string', default: join(BENCH_DIR, 'results', 'latest.json') },
    build: { type: 'string', default: PROJECT_DIR },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const options = {
  runs: positiveInt('--runs', flags.runs ?? (flags.quick ? '1' : '5')),
  modeRuns: positiveInt('--mode-runs', flags['mode-runs']),
  warmup: Math.max(1, positiveInt('--warmup', flags.warmup, true)),
  sourceFiles: positiveInt('--source-files', flags['source-files']),
  fixtureDir: resolve(flags.fixture),
  workDir: resolve(flags['work-dir']),
  toolsDir: resolve(flags['tools-dir']),
  installTools: !flags['no-tools'],
  out: resolve(flags.out),
  build: resolve(flags.build),
  only: flags.only ? new Set(flags.only.split(',').map((s) => s.trim()).filter(Boolean).flatMap((id) => (id === 'spares' ? [...SPARE_IDS] : [id]))) : null,
};

const log = (line) => process.stderr.write(`${line}\n`);
const startedAt = new Date();
const benchStart = performance.now();
const warnings = [];
/** Top-level node_modules entries of each repository's main worktree: what a complete restore has. */
const mainEntries = new Map();
const tag = `${TAG_NAME}=${process.pid}-${Date.now()}`;

if (!existsSync(join(options.build, 'dist', 'cli.js'))) fail(`${join(options.build, 'dist', 'cli.js')} is missing: run \`npm run build\` first (npm run bench does).`);
if (!existsSync(join(options.fixtureDir, 'package.json'))) fail(`no package.json in the fixture ${options.fixtureDir}`);
const buildDir = await snapshotBuild(join(options.workDir, 'vtree-build'));
const VTREE_BIN = join(buildDir, 'bin', 'git-vtree');
const env = benchEnv(tag, join(buildDir, 'bin'));
const vtreeVersion = await checkVtree();
const loadBefore = loadavg();

const tools = await prepareTools({ toolsDir: options.toolsDir, env, install: options.installTools, log });
const ctx = { repos: {}, tools, env, workDir: options.workDir, vtreeBin: VTREE_BIN, tag };
const linkModes = await offeredLinkModes();
const variants = [...BASE_VARIANTS, ...linkModeVariants(linkModes), ...SPARE_VARIANTS, ...DAY_TWO_VARIANTS].filter((v) => !options.only || options.only.has(v.id));
const listVariants = LIST_VARIANTS.filter((v) => !options.only || options.only.has(v.id));
await prepareRepos(new Set(['npm', ...variants.map((v) => v.repo)]));

/** @type {Map<string, import('./report.mjs').RowResult>} */
const results = new Map(variants.map((v) => [v.id, newRow(v)]));
const active = variants.filter((v) => {
  const reason = 'reason' in ctx.repos[v.repo] ? ctx.repos[v.repo].reason : v.unavailable?.(ctx);
  if (reason) Object.assign(results.get(v.id), { status: 'not available', reason });
  return !reason;
});

const rss = await mkdtemp(join(tmpdir(), 'vtree-bench-rss-'));
const rounds = options.warmup + options.runs;
for (let round = 0; round < rounds; round++) {
  const warmup = round < options.warmup;
  // Rotate the order every round, so no row always runs right after the same neighbour.
  const order = active.map((_, i) => active[(i + round) % active.length]);
  for (const variant of order) {
    const row = results.get(variant.id);
    // Tool rows skip the warm-up: building the repositories warmed npm's, pnpm's and bun's
    // caches, and npm's warm-up alone would add half a minute.
    if (warmup ? variant.group === 'tool' : row.runs.filter((r) => !r.warmup).length >= runsOf(variant)) continue;
    // Peak memory is taken in the first warm-up run (its time is not used): a preloaded module
    // makes every vtree process write its own max RSS when it exits.
    const probe = warmup && round === 0 && variant.group === 'vtree';
    const run = await runOnce(variant, probe ? { ...ctx, env: { ...env, ...rssProbeEnv(rss) } } : ctx);
    if (probe) row.maxRssMb = run.ok ? await readPeakRss(rss) : null;
    row.runs.push({ round, warmup, ...run });
    log(`round ${round + 1}/${rounds}${warmup ? ' (warm-up)' : ''} · ${variant.id.padEnd(16)} ${run.ok ? `${(run.ms / 1000).toFixed(2)} s` : `FAILED: ${run.error}`}`);
  }
}
await rm(rss, { recursive: true, force: true });

const startup = await measureStartup();
const lists = listVariants.length ? await measureList() : [];
const rows = [...results.values()].map(finishRow);
const reference = addRatios(rows);
const targets = evaluateTargets(rows, startup, lists);
const npmRepo = /** @type {import('./fixture.mjs').BenchRepo} */ (ctx.repos.npm);
const heading =
  `git vtree benchmark · ${npmRepo.sourceFiles} source files, node_modules with ${mainEntries.get('npm')} top-level entries · ` +
  `${options.runs} timed run(s) per row, alternating, after ${options.warmup} warm-up round(s) · ${cpus().length} cores, load ${loadBefore[0].toFixed(2)}`;
const report = {
  schema: 1,
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  durationMs: performance.now() - benchStart,
  options: { ...options, only: options.only ? [...options.only] : null },
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    memoryMb: Math.round(totalmem() / 2 ** 20),
    platform: platform(),
    arch: arch(),
    loadavgBefore: loadBefore,
    loadavgAfter: loadavg(),
  },
  versions: { vtree: vtreeVersion, node: process.versions.node, git: await versionOf('git'), npm: await versionOf('npm'), pnpm: tools.pnpm.version ?? null, bun: tools.bun.version ?? null },
  vtreeBuild: buildDir,
  repos: Object.fromEntries(Object.entries(ctx.repos).map(([name, repo]) => [name, 'reason' in repo ? { reason: repo.reason } : { root: repo.root, reused: repo.reused }])),
  linkModes,
  reference,
  rows,
  startup,
  lists,
  targets,
  warnings,
};
process.stdout.write(`${renderReport({ rows, startup, targets, reference, heading, lists })}\n`);
if (warnings.length) process.stdout.write(`\n${warnings.length} warning(s), first: ${warnings[0]}\n`);
await mkdir(dirname(options.out), { recursive: true });
await writeFile(options.out, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`\nResults: ${options.out} (took ${(report.durationMs / 60_000).toFixed(1)} min)\n`);

/**
 * One run of `variant` from its starting state: prepare (untimed), the timed commands, what the
 * run left (untimed), then back to the starting state and no background job left running.
 * @param {import('./variants.mjs').Variant} variant
 * @param {import('./variants.mjs').BenchContext} context
 */
async function runOnce(variant, context) {
  const repo = /** @type {import('./fixture.mjs').BenchRepo} */ (context.repos[variant.repo]);
  const target = runTarget(variant, repo);
  let timed;
  try {
    await variant.prepare?.(context, repo, target);
    await waitForTaggedProcesses(tag, BACKGROUND_TIMEOUT_MS);
    timed = await timeSequence(variant.commands(context, repo, target));
  } catch (error) {
    timed = { ms: 0, ok: false, stdout: '', error: `preparing the run: ${error.message}` };
  }
  const run = { ms: timed.ms, ok: timed.ok, ...(timed.error ? { error: timed.error } : {}) };
  if (variant.group === 'rm' && timed.ok) {
    try {
      run.outcome = JSON.parse(timed.stdout).recycled ? 'recycled' : 'removed';
    } catch {
      warnings.push(`${variant.id}: git vtree rm --json printed no JSON`);
    }
  }
  try {
    await variant.cleanup?.(context, repo, target);
  } catch (error) {
    warnings.push(`${variant.id}: cleaning up after the run: ${error.message}`);
  }
  let path = target.path;
  if (variant.group === 'vtree' && timed.ok) {
    try {
      const json = JSON.parse(timed.stdout);
      path = json.path ?? path;
      Object.assign(run, { facts: json.facts ?? {}, steps: (json.steps ?? []).map(({ name, duration, ok, detail }) => ({ name, duration, ok, ...(detail ? { detail } : {}) })) });
    } catch {
      warnings.push(`${variant.id}: git vtree add --json printed no JSON`);
    }
  }
  run.nodeModules = await nodeModulesEntries(path);
  warnings.push(...(await removeRunWorktrees(repo, context.env, { viaVtree: variant.group === 'vtree' })).map((w) => `${variant.id}: ${w}`));
  const waited = await waitForTaggedProcesses(tag, BACKGROUND_TIMEOUT_MS);
  if (waited.timedOut) warnings.push(`${variant.id}: background jobs still running after ${BACKGROUND_TIMEOUT_MS / 1000} s`);
  run.backgroundMs = Math.round(waited.waitedMs);
  return run;
}

/** `node -e 0` against `git-vtree --version` (directly and through git), alternating. */
async function measureStartup() {
  const cwd = /** @type {import('./fixture.mjs').BenchRepo} */ (ctx.repos.npm).root;
  const rows = await timeAlternating(STARTUP_VARIANTS, (v) => [v.command(ctx, cwd)], 'startup');
  const node = rows.find((r) => r.id === 'node-e0')?.stats?.median;
  for (const row of rows) row.ratioToNode = row.stats && node ? row.stats.median / node : null;
  return rows;
}

/**
 * `git vtree list` against `git worktree list` (alone and after `node -e 0`) in a small
 * repository with {@link LIST_WORKTREES} worktrees made by `git vtree add`, alternating.
 */
async function measureList() {
  const cwd = await listRepo();
  const rows = await timeAlternating(listVariants, (v) => v.command(ctx, cwd), 'list');
  for (const row of rows) {
    const ref = rows.find((r) => r.id === listVariants.find((v) => v.id === row.id)?.ref)?.stats?.median;
    row.ratioToWorktree = row.stats && ref ? row.stats.median / ref : null;
  }
  return rows;
}

/**
 * Times quick commands (milliseconds each) alternately: one warm-up round, then
 * max(5, 4 × --runs) rounds; one row of statistics per variant.
 * @template {{ id: string, label: string }} V
 * @param {V[]} variants
 * @param {(variant: V) => import('./measure.mjs').Command[]} commandsOf
 * @param {string} group
 */
async function timeAlternating(variants, commandsOf, group) {
  const count = Math.max(5, options.runs * 4);
  const samples = new Map(variants.map((v) => [v.id, []]));
  const errors = new Map(variants.map((v) => [v.id, []]));
  for (let round = 0; round < count + 1; round++) {
    for (const variant of variants) {
      const timed = await timeSequence(commandsOf(variant));
      if (round === 0) continue; // warm-up
      if (timed.ok) samples.get(variant.id).push(timed.ms);
      else errors.get(variant.id).push(timed.error);
    }
  }
  return variants.map((v) => {
    const s = samples.get(v.id);
    const e = errors.get(v.id);
    return { id: v.id, label: v.label, group, status: s.length ? 'measured' : 'failed', ...(s.length ? {} : { reason: e[0] }), samples: s, stats: s.length ? summarize(s) : null, failures: e.length, errors: e.slice(0, 3) };
  });
}

/** The repository of the list rows: 20 files, {@link LIST_WORKTREES} worktrees set up by vtree (reused while complete). */
async function listRepo() {
  const root = join(options.workDir, 'list', 'app');
  const sh = (args, cwd = root) => runChild({ cmd: 'git', args, cwd, env });
  const listed = existsSync(root) ? (await sh(['worktree', 'list', '--porcelain'])).stdout.split('\n\n').filter((b) => b.trim()).length : 0;
  if (listed === LIST_WORKTREES + 1) return root;
  log(`building the list benchmark repository (${LIST_WORKTREES} worktrees)...`);
  await rm(join(options.workDir, 'list'), { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  for (let i = 0; i < 20; i++) await writeFile(join(root, `file-${i}.txt`), `${i}\n`);
  await writeFile(join(root, '.gitignore'), '.env\n');
  const identity = ['-c', 'user.name=vtree bench', '-c', 'user.email=bench@localhost'];
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], [...identity, 'commit', '-qm', 'list benchmark'], ['config', 'vtree.spares.worktrees', '0']]) {
    const done = await sh(args);
    if (done.code !== 0) fail(`building the list repository: git ${args.join(' ')}: ${done.stderr.trim()}`);
  }
  for (let i = 0; i < LIST_WORKTREES; i++) {
    const made = await sh(['vtree', 'add', '--json', '--no-services', `list-${String(i).padStart(2, '0')}`]);
    if (made.code !== 0) fail(`building the list repository: git vtree add: ${made.stderr.trim().split('\n').at(-1)}`);
  }
  return root;
}

/** Timed runs `variant` gets: every row `--runs`, link-mode rows at most `--mode-runs`. */
function runsOf(variant) {
  return variant.linkMode ? Math.min(options.runs, options.modeRuns) : options.runs;
}

/** Environment that preloads bench/rss-probe.mjs into every Node.js process, writing to `dir`. */
function rssProbeEnv(dir) {
  return { VTREE_BENCH_RSS_DIR: dir, NODE_OPTIONS: `--import=${pathToFileURL(join(BENCH_DIR, 'rss-probe.mjs')).href}` };
}

/**
 * Peak RSS in MB of the `git vtree add` process itself (not its git or npm children, not its
 * background jobs) from the records bench/rss-probe.mjs left in `dir`, which it then empties.
 */
async function readPeakRss(dir) {
  const files = await readdir(dir);
  const probes = await Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8'))));
  await Promise.all(files.map((f) => rm(join(dir, f), { force: true })));
  const own = probes.filter((p) => String(p.argv[0]).endsWith('git-vtree') && p.argv.includes('add') && !p.argv.includes('__job'));
  return own.length ? Math.max(...own.map((p) => p.maxRssKb)) / 1024 : null;
}

/** Builds or reuses the repositories `names`, resets them to a clean starting state. */
async function prepareRepos(names) {
  const build = { fixtureDir: options.fixtureDir, workDir: options.workDir, sourceFiles: options.sourceFiles, env, tools, log };
  await mkdir(options.workDir, { recursive: true });
  for (const name of Object.keys(REPOS).filter((n) => names.has(n))) {
    const spec = REPOS[name];
    try {
      if (spec.copyOf) ctx.repos[name] = await copyRepo(build, /** @type {any} */ (ctx.repos[spec.copyOf]), name);
      else if (!fixtureHasLockfile(options.fixtureDir, spec.manager)) ctx.repos[name] = { reason: `the fixture has no ${spec.manager} lockfile` };
      else if (spec.manager !== 'npm' && 'reason' in tools[spec.manager]) ctx.repos[name] = { reason: `${spec.manager} not available: ${tools[spec.manager].reason}` };
      else ctx.repos[name] = await prepareRepo(spec.sourceFiles ? { ...build, sourceFiles: spec.sourceFiles } : build, name, spec.manager);
    } catch (error) {
      if (name === 'npm') fail(`could not build the npm benchmark repository: ${String(error.stderr ?? error.message).trim().split('\n').slice(-12).join('\n')}`);
      ctx.repos[name] = { reason: `could not build: ${String(error.stderr ?? error.message).trim().split('\n').at(-1)}` };
      continue;
    }
    const repo = ctx.repos[name];
    if ('reason' in repo) continue;
    // Each invocation starts from the same state: no worktrees (not even spare ones), no vtree cache, known config.
    warnings.push(...(await removeRunWorktrees(repo, env, { viaVtree: false, spares: true })));
    await clearVtreeState(repo, env);
    await applyConfig(repo, env, spec.config);
    mainEntries.set(name, await nodeModulesEntries(repo.root));
  }
}

/** The `--link-mode` choices `git vtree add -h` lists (none when the flag does not exist). */
async function offeredLinkModes() {
  const { stdout } = await runChild({ cmd: VTREE_BIN, args: ['add', '-h'], cwd: PROJECT_DIR, env });
  // yargs may wrap the choices onto the next line: take the first list after the flag.
  const after = stdout.includes('--link-mode') ? stdout.slice(stdout.indexOf('--link-mode')).split(/\n\s+-/)[0] : '';
  const choices = after.match(/\[choices: ([^\]]+)\]/)?.[1] ?? '';
  return [...choices.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

/**
 * A copy of the project's build (bin/, dist/, package.json, ...; node_modules linked) made when
 * the benchmark starts, so every row of one table measures the same build even when someone
 * rebuilds dist/ in the checkout meanwhile.
 */
async function snapshotBuild(dir) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const part of BUILD_PARTS.filter((p) => existsSync(join(options.build, p)))) {
    await cp(join(options.build, part), join(dir, part), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }
  const modules = existsSync(join(options.build, 'node_modules')) ? options.build : PROJECT_DIR;
  await symlink(join(modules, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** Checks that `git vtree` resolves to this project's bin/git-vtree and returns its version. */
async function checkVtree() {
  const { version } = JSON.parse(readFileSync(join(PROJECT_DIR, 'package.json'), 'utf8'));
  const result = await runChild({ cmd: 'git', args: ['vtree', '--version'], cwd: PROJECT_DIR, env });
  if (result.code !== 0 || !result.stdout.includes(version)) fail(`git vtree --version did not answer ${version} from ${VTREE_BIN}: ${result.stderr || result.stdout}`);
  const add = await runChild({ cmd: 'git', args: ['vtree', 'add', '-h'], cwd: PROJECT_DIR, env });
  if (add.code !== 0) fail(`the build does not load (git vtree add -h): ${add.stderr.trim().split('\n')[0]}`);
  return version;
}

function newRow(variant) {
  const { id, label, group, repo, what, expect, linkMode, ref } = variant;
  return { id, label, group, repo, what, ...(expect ? { expect } : {}), ...(linkMode ? { linkMode } : {}), ...(ref ? { ref } : {}), status: 'measured', samples: [], stats: null, failures: 0, errors: [], ratioToWorktree: null, ratioToVtree: null, depsRestored: null, observed: '', steps: {}, maxRssMb: null, runs: [] };
}

/** Statistics over the timed (non-warm-up) runs, and what the vtree runs did. */
function finishRow(row) {
  if (row.status === 'not available') return row;
  const timed = row.runs.filter((r) => !r.warmup);
  const ok = timed.filter((r) => r.ok);
  row.samples = ok.map((r) => r.ms);
  row.failures = timed.length - ok.length;
  row.errors = [...new Set(timed.filter((r) => !r.ok).map((r) => r.error))].slice(0, 3);
  row.stats = ok.length ? summarize(row.samples) : null;
  if (!ok.length) Object.assign(row, { status: 'failed', reason: row.errors[0] ?? 'no run' });
  const main = mainEntriesOf(row.repo);
  const restored = ok.map((r) => r.nodeModules !== null && (main === null || r.nodeModules >= main));
  if (row.group === 'vtree' && ok.length) {
    row.depsRestored = restored.every(Boolean);
    const outcomes = ok.map((r) => depsOutcome(r.facts));
    row.outcomes = Object.fromEntries([...new Set(outcomes)].map((o) => [String(o), outcomes.filter((x) => x === o).length]));
    row.asExpected = !row.expect || outcomes.includes(undefined) ? null : outcomes.every((o) => o === row.expect);
    const last = ok.at(-1);
    const linkMode = /** @type {any} */ (last.facts?.deps)?.linkMode;
    row.observedLinkMode = typeof linkMode === 'string' ? linkMode : null;
    const notes = [
      row.depsRestored ? '' : ` · node_modules missing or incomplete in ${restored.filter((r) => !r).length}/${ok.length} runs`,
      row.asExpected === false ? ` · expected ${row.expect}, got ${Object.entries(row.outcomes).map(([o, n]) => `${o} ×${n}`).join(', ')}` : '',
    ];
    row.observed = `${describeDeps(last.facts, last.steps ?? [])}${notes.join('')}`;
    const names = [...new Set(ok.flatMap((r) => (r.steps ?? []).map((s) => s.name)))];
    row.steps = Object.fromEntries(names.map((name) => [name, summarize(ok.flatMap((r) => (r.steps ?? []).filter((s) => s.name === name).map((s) => s.duration))).median]));
  } else if (row.group === 'rm' && ok.length) {
    const outcomes = ok.map((r) => r.outcome);
    row.outcomes = Object.fromEntries([...new Set(outcomes)].map((o) => [String(o), outcomes.filter((x) => x === o).length]));
    row.asExpected = outcomes.every((o) => o === row.expect);
    row.observed = Object.entries(row.outcomes).map(([o, n]) => `${o} ×${n}`).join(', ');
  } else if (ok.length) {
    row.observed = ok.every((r) => r.nodeModules === null) ? 'no node_modules' : `node_modules: ${ok.at(-1).nodeModules} entries`;
  }
  return row;
}

function mainEntriesOf(repoName) {
  return mainEntries.get(repoName) ?? null;
}

async function versionOf(cmd) {
  const result = await runChild({ cmd, args: ['--version'], cwd: PROJECT_DIR, env });
  return result.code === 0 ? result.stdout.trim() : null;
}

function positiveInt(flag, raw, allowZero = false) {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) fail(`${flag} must be a whole number${allowZero ? '' : ' ≥ 1'}, not '${raw}'`);
  return value;
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}
