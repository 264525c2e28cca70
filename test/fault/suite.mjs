// The fault-injection suite: interrupts, kills, stale locks, corrupt state files, a full disk and
// a kill at every failpoint (core/failpoint.ts: each task boundary of add, setup, rm and the spare
// pool, listed by dist/pipelines/failpoints.js) against the built `bin/git-vtree` on a real repository with an npm dependency. After each trial
// the next command (`add` again, `setup` when add points there, `list`, `stats`...) must find the
// run rolled back or recover from it. `run.mjs` runs it in full; test/fault/fault.test.ts runs a
// bounded form in CI. Everything lives in one sandbox directory (HOME, XDG_STATE_HOME and the npm
// cache too), and whatever appears, changes or vanishes there outside the repository and its
// worktrees directory is counted as written outside.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { appendFile, cp, lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/git-vtree', import.meta.url));
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL'];
/** Exit codes vtree may end with: ok, failed (rolled back), bad input, interrupted (handled). */
const HANDLED_CODES = [0, 1, 2, 130];

/** The seeded app's stack: a busybox service holding the named volume `data`, healthy once it is mounted. */
const SEEDED_COMPOSE = `services:
  db:
    image: vtree-test/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    stop_grace_period: 2s
    healthcheck:
      test: ["CMD", "test", "-d", "/data"]
      interval: 1s
      retries: 30
    volumes: ["data:/data"]
volumes:
  data: {}
`;

/** Seeded PRNG (mulberry32): the same seed gives the same kill points. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs the suite; returns its figures. `failpoints`: `all`, or the names to kill at (none: `[]`);
 * after each kill the worktrees must not be reported ready unless really set up, and the next
 * command must recover. `signalTrials` per signal, `bursts` of `burstSize`
 * concurrent adds against stale locks, each corrupt-file kind `corruptRounds` times, `diskTrials`
 * adds on a nearly full tmpfs (root only; skipped otherwise), `editTrials` adds after an edit
 * made through a link in another worktree's node_modules.
 */
export async function runFaultSuite(options = {}) {
  const o = { seed: 1, failpoints: 'all', signalTrials: 30, bursts: 4, burstSize: 20, corruptRounds: 2, diskTrials: 8, editTrials: 6, log: (line) => process.stderr.write(`${line}\n`), ...options };
  const rand = random(o.seed);
  const box = await realpath(await mkdtemp(join(tmpdir(), 'vtree-fault-')));
  const sandbox = new Sandbox(box, o.log);
  const figures = {
    seed: o.seed,
    trials: 0,
    completedBeforeSignal: 0,
    diedInNodeStartup: 0,
    cleanRollbacks: 0,
    recoveredByNextCommand: 0,
    notRecovered: 0,
    debrisLeft: 0,
    duplicatePorts: 0,
    writtenOutside: 0,
    treesDiffering: 0,
    treesChecked: 0,
    editsSpreadSilently: 0,
    editsReachedOthers: 0,
    unhandledExceptions: 0,
    failpointsTotal: 0,
    failpointsCovered: 0,
    failpointsNotReached: [],
    readyWithoutSetUp: 0,
    byKind: {},
    problems: [],
  };
  const tally = (kind, outcome) => {
    figures.trials++;
    figures.byKind[kind] ??= {};
    figures.byKind[kind][outcome] = (figures.byKind[kind][outcome] ?? 0) + 1;
    if (outcome === 'completed') figures.completedBeforeSignal++;
    else if (outcome === 'rolled back') figures.cleanRollbacks++;
    else if (outcome === 'recovered') figures.recoveredByNextCommand++;
    else figures.notRecovered++;
  };
  const problem = (line) => {
    figures.problems.push(line);
    o.log(`  PROBLEM ${line}`);
  };
  const checkOutput = (what, result, killedBy) => {
    const stack = /^\s+at .+\(?.*:\d+:\d+\)?$/m.test(result.stderr) || /Unhandled|uncaught|EPIPE/i.test(result.stderr);
    const codeOk = HANDLED_CODES.includes(result.code) || (killedBy === 'SIGKILL' && result.signal === 'SIGKILL') || (killedBy === 'startup' && result.signal !== null);
    if (stack || !codeOk) {
      figures.unhandledExceptions++;
      problem(`${what}: exit ${result.code ?? result.signal}${stack ? ' with a stack trace' : ''}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
  };
  try {
    await sandbox.create();
    const before = await sandbox.outsideSnapshot();

    // 1. Signals at random points of `add`.
    const { typical, startup } = await sandbox.typicalAddMs();
    // Under load Node's own start-up is a large share of an add, and a signal then never reaches
    // vtree: so one trial in five counts its kill point from the spawn, the others from the moment
    // vtree's handlers are in place, spread over the rest of an add.
    const span = Math.max(typical - startup, typical / 2) * 1.2;
    o.log(
      `signals: ${o.signalTrials} trials each of ${SIGNALS.join(', ')}: a whole add takes ${Math.round(typical)} ms, vtree's handlers are in place after ${Math.round(startup)} ms; ` +
        `kill points 0-${Math.round(typical * 1.2)} ms after the spawn (1 in 5) or 0-${Math.round(span)} ms after the handlers (4 in 5)`,
    );
    const order = SIGNALS.flatMap((s) => Array.from({ length: o.signalTrials }, (_, i) => [s, i]));
    for (const [signal, i] of order) {
      const branch = `${signal.toLowerCase()}-${i}`;
      const fromSpawn = i % 5 === 0;
      const delay = Math.round(rand() * (fromSpawn ? typical * 1.2 : span));
      const result = await sandbox.vtree(['add', branch, '--no-services'], { killAfterMs: delay, signal, afterHandlers: !fromSpawn });
      // Node's own start-up, before the first line of bin/git-vtree runs, cannot be handled by
      // vtree: a signal then ends the process by Node's default. Such a run did nothing at all.
      // (vtree's handlers never die by the signal's default action, so such a death is that moment.)
      const beforeNode = signal !== 'SIGKILL' && result.signal === signal && result.stderr === '';
      if (beforeNode) figures.diedInNodeStartup++;
      checkOutput(`add ${branch} (${signal} at ${delay} ms)`, result, beforeNode ? 'startup' : signal);
      tally(`add + ${signal}`, await sandbox.settle(branch, result, checkOutput, problem));
    }

    // 1b. A kill (SIGKILL, by vtree itself) at each failpoint in turn.
    const { allFailpoints } = await import('../../dist/pipelines/failpoints.js');
    const all = allFailpoints();
    figures.failpointsTotal = all.length;
    const points = o.failpoints === 'all' ? all : all.filter((p) => o.failpoints.includes(p));
    for (const wanted of o.failpoints === 'all' ? [] : o.failpoints) if (!all.includes(wanted)) problem(`failpoint ${wanted} does not exist`);
    if (points.length > 0) o.log(`failpoints: a kill at each of ${points.length} of ${all.length} (add, setup, rm, spare pool)`);
    for (const [i, point] of points.entries()) {
      const outcome = await sandbox.failpointTrial(point, i, checkOutput, problem);
      if (outcome.reached) figures.failpointsCovered++;
      else {
        figures.failpointsNotReached.push(point);
        problem(`failpoint ${point} was not reached by its scenario`);
      }
      figures.readyWithoutSetUp += outcome.readyWithoutSetUp;
      tally(`failpoint ${point.split(':')[0]}`, outcome.result);
    }

    // 2. Stale locks (a dead owner's, as SIGKILL leaves them) under bursts of concurrent adds.
    o.log(`locks: ${o.bursts} bursts of ${o.burstSize} concurrent adds, each against stale ports and metrics locks`);
    for (let b = 0; b < o.bursts; b++) {
      await sandbox.plantStaleLocks();
      const branches = Array.from({ length: o.burstSize }, (_, i) => `burst-${b}-${i}`);
      const results = await Promise.all(branches.map((branch) => sandbox.vtree(['add', branch, '--no-deps', '--no-services', '--json'])));
      const ports = [];
      for (const [i, result] of results.entries()) {
        checkOutput(`burst add ${branches[i]}`, result);
        if (result.code !== 0) problem(`burst add ${branches[i]} failed: ${result.stderr.trim()}`);
        else ports.push(...Object.values(JSON.parse(result.stdout).facts.ports ?? {}));
        tally('stale locks + burst', result.code === 0 ? 'completed' : 'not recovered');
      }
      const dupes = ports.length - new Set(ports).size;
      if (dupes > 0) problem(`burst ${b}: ${dupes} port(s) handed out twice`);
    }

    // 3. Corrupt state files.
    o.log(`corrupt state: metrics.json, ports.json, meta.json, vtree.json, project-names.json, project-prefix.json, ${o.corruptRounds} round(s) each`);
    for (let r = 0; r < o.corruptRounds; r++) {
      for (const kind of ['metrics.json', 'metrics.json runs', 'ports.json', 'meta.json', 'vtree.json', 'project-names.json', 'project-prefix.json']) {
        const outcome = await sandbox.corruptTrial(kind, r, checkOutput, problem);
        tally(`corrupt ${kind}`, outcome);
      }
    }

    // 4. A full disk: the repository on a small tmpfs.
    if (o.diskTrials > 0) {
      const disk = await sandbox.mountDisk().catch((error) => {
        problem(`full disk: ${error.message.split('\n')[0]}`);
        figures.notRecovered++;
        return null;
      });
      if (disk === null) o.log('full disk: not run');
      else if (!disk) o.log('full disk: skipped (needs root and mount)');
      else {
        o.log(`full disk: ${o.diskTrials} adds on a ${disk.sizeMb} MB tmpfs left with 0-${disk.maxFreeKb} KB free`);
        try {
          for (let i = 0; i < o.diskTrials; i++) {
            const freeKb = Math.round((i / Math.max(1, o.diskTrials - 1)) * disk.maxFreeKb);
            tally('full disk', await sandbox.diskTrial(disk, i, freeKb, checkOutput, problem));
          }
        } finally {
          await sandbox.unmountDisk(disk);
        }
      }
    }

    // Every worktree vtree set up so far (and every spare it keeps) holds what a clean install of
    // the lockfile holds. Checked before the edits below: an edit through a hardlink reaches every
    // worktree sharing that file, which vtree cannot stop (docs/trust.md), only report.
    await sandbox.quiesce();
    const compare = (trees) => {
      for (const { path, differs } of trees) {
        figures.treesChecked++;
        if (differs.length === 0) continue;
        figures.treesDiffering++;
        problem(`tree differs from a clean install: ${path}: ${differs.slice(0, 3).join(', ')}${differs.length > 3 ? ` and ${differs.length - 3} more` : ''}`);
      }
    };
    compare(await sandbox.compareTrees());

    // 5. Edits through a link: a file of one worktree's node_modules (the main one's or one vtree
    // made) changed in place, as people do when they debug a dependency; then an add. The edit
    // must not reach the new worktree, or the add must name the file (never silently), and the
    // new worktree must still equal a clean install.
    if (o.editTrials > 0) {
      o.log(`edits: ${o.editTrials} adds, each after an in-place edit of a dependency file in another worktree`);
      for (let i = 0; i < o.editTrials; i++) {
        const outcome = await sandbox.editTrial(i, rand, checkOutput, problem);
        if (outcome.spread) figures.editsSpreadSilently++;
        figures.editsReachedOthers += outcome.reached?.length ?? 0;
        if (outcome.made) compare(await sandbox.compareTrees([outcome.made]));
        tally('edit through a link', outcome.result);
      }
    }

    // Final: background jobs done, then every figure that must be zero.
    await sandbox.quiesce();
    const list = await sandbox.vtree(['list', '--json']);
    checkOutput('final list', list);
    const debris = await sandbox.debris();
    figures.debrisLeft = debris.length;
    for (const d of debris) problem(`debris left: ${d}`);
    const dupes = await sandbox.duplicatePorts();
    figures.duplicatePorts = dupes.length;
    for (const d of dupes) problem(`duplicate port: ${d}`);
    const after = await sandbox.outsideSnapshot();
    const outside = diffSnapshots(before, after);
    figures.writtenOutside = outside.length;
    for (const d of outside) problem(`written outside: ${d}`);
  } finally {
    await sandbox.destroy();
  }
  return figures;
}

/** Prints the figures as the suite's report. */
export function formatFigures(f) {
  const lines = [
    `fault-injection suite (seed ${f.seed})`,
    `  trials                      ${f.trials}`,
    `  completed before the fault  ${f.completedBeforeSignal}`,
    `  clean rollbacks             ${f.cleanRollbacks}${f.diedInNodeStartup ? ` (${f.diedInNodeStartup} signalled during Node's start-up, before vtree's code ran: nothing to roll back)` : ''}`,
    `  recovered by next command   ${f.recoveredByNextCommand}`,
    `  not recovered               ${f.notRecovered}`,
    `  debris left                 ${f.debrisLeft}`,
    `  duplicate ports             ${f.duplicatePorts}`,
    `  files written outside       ${f.writtenOutside}`,
    `  trees differing from clean  ${f.treesDiffering} (of ${f.treesChecked} worktrees and spares checked against a clean install)`,
    `  edits spread silently       ${f.editsSpreadSilently}`,
    `  edits reaching others       ${f.editsReachedOthers} (worktrees, the main one and spares holding another's in-place edit, default settings)`,
    `  unhandled exceptions        ${f.unhandledExceptions}`,
    `  failpoints covered          ${f.failpointsCovered} of ${f.failpointsTotal} (killed there, then recovered from)`,
    `  ready without being set up  ${f.readyWithoutSetUp} (worktrees list, wait or status called ready after a kill)`,
    '  by kind:',
    ...Object.entries(f.byKind).map(([kind, outcomes]) => `    ${kind.padEnd(26)} ${Object.entries(outcomes).map(([k, v]) => `${k} ${v}`).join(', ')}`),
  ];
  if (f.problems.length > 0) lines.push('  problems:', ...f.problems.map((p) => `    ${p}`));
  return lines.join('\n');
}

function diffSnapshots(before, after) {
  const out = [];
  for (const [path, sig] of after) if (before.get(path) !== sig) out.push(`${before.has(path) ? 'changed' : 'created'} ${path}`);
  for (const path of before.keys()) if (!after.has(path)) out.push(`deleted ${path}`);
  return out;
}

class Sandbox {
  constructor(box, log) {
    this.box = box;
    this.log = log;
    this.app = join(box, 'app');
    this.worktrees = join(box, 'app.worktrees');
    this.state = join(box, 'state');
    this.home = join(box, 'home');
    this.env = {
      ...process.env,
      HOME: this.home,
      XDG_STATE_HOME: this.state,
      npm_config_cache: join(box, 'npm-cache'),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: join(this.home, '.gitconfig'),
      GIT_AUTHOR_NAME: 'Fault',
      GIT_AUTHOR_EMAIL: 'fault@example.com',
      GIT_COMMITTER_NAME: 'Fault',
      GIT_COMMITTER_EMAIL: 'fault@example.com',
    };
    delete this.env.VTREE_BACKGROUND;
    // Config given through the environment (vitest's turns spares off) is not the sandbox's: it has its own.
    for (const key of ['GIT_CONFIG_COUNT', 'GIT_CONFIG_PARAMETERS', ...Object.keys(this.env).filter((k) => /^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(k))]) delete this.env[key];
  }

  git(cwd, ...args) {
    return execFileSync('git', args, { cwd, env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  }

  /** The main worktree: a commit with an npm lockfile, its node_modules installed; a sentinel directory and a HOME beside it. */
  async create() {
    await mkdir(join(this.box, 'sentinel', 'nested'), { recursive: true });
    await writeFile(join(this.box, 'sentinel', 'keep.txt'), 'must not change\n');
    await writeFile(join(this.box, 'sentinel', 'nested', '.env'), 'SECRET=1\n');
    await mkdir(this.home, { recursive: true });
    await writeFile(join(this.home, '.gitconfig'), '');
    this.git(this.box, 'init', '-q', '-b', 'main', 'app');
    await writeFile(join(this.app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { 'is-number': '7.0.0', semver: '7.6.3' } }, null, 2) + '\n');
    await writeFile(join(this.app, '.gitignore'), 'node_modules/\n.env\n');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: this.app, env: this.env, stdio: 'ignore' });
    this.git(this.app, 'add', '-A');
    this.git(this.app, 'commit', '-qm', 'app with an npm lockfile');
    this.git(this.app, 'config', 'vtree.ports.vars', 'PORT API_PORT');
    this.git(this.app, 'config', 'vtree.ports.range', '46000-47999');
    // What a clean install of the lockfile gives: every tree vtree hands out is compared with it.
    const reference = join(this.box, 'clean-install');
    await mkdir(reference);
    for (const file of ['package.json', 'package-lock.json']) await cp(join(this.app, file), join(reference, file));
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: reference, env: this.env, stdio: 'ignore' });
    this.reference = await treeSignature(join(reference, 'node_modules'));
    /** Worktrees whose node_modules the suite itself edited (not compared at the end). */
    this.edited = new Set([this.app]);
    /** Worktrees found really set up after a failpoint trial. */
    this.verified = new Set();
  }

  /** Worktrees of the repository with their vtree state, spares included. */
  async worktreesWithState() {
    const found = [];
    for (const block of this.git(this.app, 'worktree', 'list', '--porcelain').split('\n\n')) {
      const path = /^worktree (.+)$/m.exec(block)?.[1];
      if (!path || path === this.app || !existsSync(path)) continue;
      const gitDir = /^gitdir: (.+)$/m.exec(await readFile(join(path, '.git'), 'utf8').catch(() => ''))?.[1];
      const state = gitDir ? await readFile(join(gitDir, 'vtree.json'), 'utf8').then(JSON.parse, () => undefined) : undefined;
      found.push({ path, state });
    }
    return found;
  }

  /**
   * An in-place edit of a file in another worktree's node_modules (appended to, or overwritten at
   * the same size), then `add`: returns whether the edit reached the new worktree without the
   * add naming the file.
   */
  async editTrial(i, rand, checkOutput, problem) {
    // Worktrees people work in: not the spares, vtree's hidden and locked pool.
    const candidates = [this.app, ...(await this.worktreesWithState()).filter((w) => w.state?.deps && !w.state.spare && !this.edited.has(w.path)).map((w) => w.path)];
    const victim = i % 3 === 0 ? this.app : candidates[1 + Math.floor(rand() * (candidates.length - 1))] ?? this.app;
    const files = [...this.reference].filter(([rel, sig]) => sig.startsWith('f:') && /\.(js|json)$/.test(rel) && !rel.startsWith('.'));
    const [rel] = files[Math.floor(rand() * files.length)];
    const file = join(victim, 'node_modules', rel);
    if (i % 2 === 0) await appendFile(file, `\n// edited in fault trial ${i}\n`);
    else {
      const handle = await open(file, 'r+');
      await handle.write(Buffer.from(`/*${i % 10}*/`), 0, 5, 0); // each trial's own bytes: two edits of one file never read as one
      await handle.close();
    }
    this.edited.add(victim);
    const edited = await readFile(file);
    const branch = `edit-${i}`;
    const result = await this.vtree(['add', branch, '--no-services']);
    checkOutput(`add ${branch} after an edit of ${rel} in ${victim}`, result);
    if (result.code !== 0) {
      problem(`add ${branch} after an edit in ${victim} failed: ${result.stderr.trim().split('\n').join(' | ')}`);
      return { result: 'not recovered', spread: false };
    }
    await this.quiesce();
    const made = (await this.inspect(branch)).path;
    const got = await readFile(join(made, 'node_modules', rel)).catch(() => undefined);
    const spread = got !== undefined && got.equals(edited) && !result.stderr.includes(rel);
    if (spread) problem(`edit spread silently: ${rel} edited in ${victim} reached ${made}`);
    // With default settings no file is shared: the edit is in the victim alone, not in the main
    // worktree, another worktree or a spare (each edit is of a file no earlier trial touched).
    const reached = [];
    for (const other of [this.app, ...(await this.worktreesWithState()).map((w) => w.path)]) {
      if (other === victim || other === made) continue;
      if ((await readFile(join(other, 'node_modules', rel)).catch(() => undefined))?.equals(edited)) reached.push(other);
    }
    if (reached.length > 0) problem(`edit reached others: ${rel} edited in ${victim} is in ${reached.join(', ')}`);
    return { result: 'completed', spread, made, reached };
  }

  /** Every worktree set up with dependencies, and every spare (or only those at `paths`), against the clean install. */
  async compareTrees(paths) {
    const out = [];
    for (const { path, state } of await this.worktreesWithState()) {
      if (!state?.deps || this.edited.has(path) || (paths && !paths.includes(path))) continue;
      const tree = await treeSignature(join(path, 'node_modules'));
      const differs = [];
      for (const [rel, sig] of this.reference) if (tree.get(rel) !== sig) differs.push(tree.has(rel) ? `${rel} changed` : `${rel} missing`);
      for (const rel of tree.keys()) if (!this.reference.has(rel)) differs.push(`${rel} extra`);
      out.push({ path, differs });
    }
    return out;
  }

  /** Runs the built CLI in the main worktree; with `killAfterMs`, sends `signal` then. */
  vtree(args, { killAfterMs, signal, cwd, onSpawn, afterHandlers, env } = {}) {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd: cwd ?? this.app, env: { ...this.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      onSpawn?.(child.pid);
      let stdout = '';
      let stderr = '';
      let closed = false;
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      let timer;
      if (killAfterMs !== undefined) {
        const arm = () => {
          if (!closed) timer = setTimeout(() => child.kill(signal), killAfterMs);
        };
        if (afterHandlers) waitForHandlers(child.pid).then(arm);
        else arm();
      }
      child.on('close', (code, sig) => {
        closed = true;
        clearTimeout(timer);
        resolve({ code, signal: sig, stdout, stderr });
      });
    });
  }

  /**
   * Median of three uninterrupted adds (the span kill points are drawn from), and the longest
   * time from spawn until vtree's signal handlers were in place (SIGHUP, which vtree installs
   * last, appears in the SigCgt mask of /proc/<pid>/status): before that, Node is still starting.
   */
  async typicalAddMs() {
    const times = [];
    let startup = 0;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const running = this.vtree(['add', `warmup-${i}`, '--no-services'], { onSpawn: (pid) => waitForHandlers(pid).then(() => (startup = Math.max(startup, performance.now() - started))) });
      const result = await running;
      if (result.code !== 0) throw new Error(`warm-up add failed: ${result.stderr}`);
      times.push(performance.now() - started);
    }
    return { typical: times.sort((a, b) => a - b)[1], startup };
  }

  async inspect(branch, root = this.app) {
    const listed = this.git(root, 'worktree', 'list', '--porcelain');
    const entry = listed.split('\n\n').find((e) => e.includes(`branch refs/heads/${branch}\n`) || e.endsWith(`branch refs/heads/${branch}`));
    const path = entry ? /^worktree (.+)$/m.exec(entry)[1] : undefined;
    const branchExists = this.git(root, 'branch', '--list', branch) !== '';
    let setUp = false;
    if (path) {
      const gitDir = await readFile(join(path, '.git'), 'utf8').then((t) => /^gitdir: (.+)$/m.exec(t)?.[1], () => undefined);
      setUp = gitDir !== undefined && existsSync(join(gitDir, 'vtree.json')) && existsSync(join(path, 'node_modules', 'is-number', 'package.json'));
    }
    return { path, branchExists, setUp };
  }

  /**
   * Classifies one interrupted add and lets the next command deal with what it left: `completed`
   * (it finished), `rolled back` (nothing left: `add` again succeeds), `recovered` (the next `add`,
   * or the `setup` it points to, finished it), `not recovered`.
   */
  async settle(branch, result, checkOutput, problem) {
    const seen = await this.inspect(branch);
    if (seen.setUp) return 'completed';
    const clean = !seen.path && !seen.branchExists && !existsSync(join(this.worktrees, branch));
    const again = await this.vtree(['add', branch, '--no-services']);
    checkOutput(`add ${branch} again`, again);
    let finished = again.code === 0;
    if (!finished && /never set up/.test(again.stderr) && seen.path) {
      const setup = await this.vtree(['setup', seen.path, '--no-services']);
      checkOutput(`setup ${branch}`, setup);
      finished = setup.code === 0;
    }
    if (finished && !(await this.inspect(branch)).setUp) finished = false;
    if (!finished) {
      problem(`${branch} (${result.code ?? result.signal}) not recovered: ${again.stderr.trim().split('\n').join(' | ')}`);
      return 'not recovered';
    }
    return clean ? 'rolled back' : 'recovered';
  }

  /**
   * Kills vtree at failpoint `point` (VTREE_FAILPOINT) in the scenario that reaches it, checks
   * that no worktree is then reported ready without being set up, and that the next command
   * recovers: `add`/`setup` again finish the worktree (or `add` says to run setup), `rm` again
   * removes it, `cache warm` refills the pool. Returns whether the kill happened there.
   */
  async failpointTrial(point, i, checkOutput, problem) {
    const [graph] = point.split(':');
    if (graph === 'seed') return this.seedFailpointTrial(point, i, checkOutput, problem);
    // Every point a process passes is logged: the kill happened where the log ends with this one.
    const log = join(this.box, 'failpoint.log');
    await rm(log, { force: true });
    const armed = { VTREE_FAILPOINT: point, VTREE_FAILPOINT_LOG: log };
    // rm recycles into the pool only while it has room; the spare job (spare-setup, spares:*) is run in the foreground by `cache warm`.
    const roomy = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'vtree.spares.worktrees', GIT_CONFIG_VALUE_0: '2' };
    const noSpares = { ...roomy, GIT_CONFIG_VALUE_0: '0' };
    await this.quiesce();
    let killed;
    let after;
    const branch = `fp-${i}`;
    if (graph === 'add') {
      // The spare path unless the point is on the plain checkout's.
      killed = await this.vtree(['add', branch], { env: { ...armed, ...(point.endsWith(':checked-out') ? noSpares : {}) } });
      after = async () => this.settle(branch, killed, checkOutput, problem);
    } else if (graph === 'setup') {
      const path = join(this.worktrees, branch);
      this.git(this.app, 'worktree', 'add', '-q', '-b', branch, path);
      killed = await this.vtree(['setup', path], { env: armed });
      after = async () => {
        const again = await this.vtree(['setup', path]);
        checkOutput(`setup ${branch} again`, again);
        if (again.code !== 0 || !(await this.reallySetUp(path)).ok) {
          problem(`setup ${branch} after a kill at ${point} not recovered: ${again.stderr.trim().split('\n').join(' | ')}`);
          return 'not recovered';
        }
        return 'recovered';
      };
    } else if (graph === 'rm') {
      const made = await this.vtree(['add', branch]);
      if (made.code !== 0) problem(`rm trial: add ${branch} failed: ${made.stderr.trim()}`);
      await this.quiesce();
      const recycling = point.startsWith('rm:recycle:') || point.endsWith(':recycle') || i % 2 === 0;
      const { path } = await this.inspect(branch);
      killed = await this.vtree(['rm', branch], { env: { ...armed, ...(recycling ? roomy : {}) } });
      after = async () => {
        await this.quiesce();
        // Still a worktree of its own (recycling detaches it first: by path, not branch).
        const still = path && this.git(this.app, 'worktree', 'list', '--porcelain').split('\n\n').some((b) => b.startsWith(`worktree ${path}\n`) && !/^locked git vtree spare/m.test(b));
        if (still) {
          const again = await this.vtree(['rm', path, '--force']);
          checkOutput(`rm ${branch} again`, again);
          if (again.code !== 0) {
            problem(`rm ${branch} after a kill at ${point} not recovered: ${again.stderr.trim().split('\n').join(' | ')}`);
            return 'not recovered';
          }
        }
        const added = await this.vtree(['add', `${branch}-again`]);
        checkOutput(`add after rm ${branch}`, added);
        if (added.code !== 0) {
          problem(`add after a kill of rm at ${point} failed: ${added.stderr.trim().split('\n').join(' | ')}`);
          return 'not recovered';
        }
        return still ? 'recovered' : 'rolled back';
      };
    } else {
      // The spare pool, run in the foreground by `cache warm`, in the state that reaches the point.
      const step = point.split(':')[1];
      if (step === 'recycle') {
        const made = await this.vtree(['add', branch]);
        if (made.code !== 0) problem(`spare trial: add ${branch} failed: ${made.stderr.trim()}`);
        await this.quiesce();
        // Recycled by `rm` (the pool has room), finished by the spare job it starts: killed there.
        killed = await this.vtree(['rm', branch], { env: { ...armed, ...roomy } });
        if (killed.code !== 0) problem(`spare trial: rm ${branch} failed: ${killed.stderr.trim()}`);
      } else if (step === 'refresh') {
        this.git(this.app, 'commit', '-q', '--allow-empty', '-m', `move main forward (${point})`);
      } else if (step === 'prune') {
        // Nothing to set up: the pass below keeps one spare, prune --spares 0 removes it.
      } else {
        // spares:build:*, spare-setup:*: an empty pool.
        const pruned = await this.vtree(['cache', 'prune', '--spares', '0']);
        if (pruned.code !== 0) problem(`spare trial: cache prune failed: ${pruned.stderr.trim()}`);
      }
      if (step === 'prune') killed = await this.vtree(['cache', 'prune', '--spares', '0'], { env: armed });
      else if (step !== 'recycle') killed = await this.vtree(['cache', 'warm'], { env: armed });
      after = async () => {
        const again = await this.vtree(['cache', 'warm']);
        checkOutput(`cache warm after a kill at ${point}`, again);
        if (again.code !== 0 || !/Spare worktrees: 1\/1 ready/.test(again.stdout)) {
          problem(`cache warm after a kill at ${point} did not refill the pool: ${(again.stdout + again.stderr).trim().split('\n').join(' | ')}`);
          return 'not recovered';
        }
        return 'recovered';
      };
    }
    await this.quiesce();
    const reached = (await readFile(log, 'utf8').catch(() => '')).trimEnd().split('\n').includes(point);
    checkOutput(`${graph} killed at ${point}`, killed, 'SIGKILL');
    const readyWithoutSetUp = await this.readyWithoutSetUp(point, problem);
    const result = reached ? await after() : 'completed';
    // The trial's worktrees go, so that the list each trial checks stays short.
    for (const name of [branch, `${branch}-again`]) {
      const { path } = await this.inspect(name);
      if (path) await this.vtree(['rm', path, '--force']);
    }
    return { reached, readyWithoutSetUp, result };
  }

  /**
   * A second repository whose Compose stack has a seeded volume, for the seed:* failpoints: a
   * busybox service with a named volume `data`, seeded by a file its seed command writes through
   * `docker compose exec`. Made on first use (needs Docker and vtree-test/busybox:latest); its
   * name is this process's, so its Compose projects meet no other run's.
   */
  async seededApp() {
    if (this.seeded) return this.seeded;
    const name = `vtfault${process.pid.toString(36)}`;
    const app = join(this.box, name);
    await mkdir(app, { recursive: true });
    this.git(app, 'init', '-q', '-b', 'main');
    await writeFile(join(app, 'compose.yaml'), SEEDED_COMPOSE);
    await writeFile(join(app, '.gitignore'), '.env\n');
    this.git(app, 'add', '-A');
    this.git(app, 'commit', '-qm', 'app with a seeded volume');
    const config = {
      'vtree.services.trusted': 'true',
      'vtree.services.stopTimeout': '1',
      'vtree.spares.worktrees': '0',
      'vtree.ports.range': '46000-47999',
      'vtree.seed.data.service': 'db',
      'vtree.seed.data.run': "docker compose exec -T db sh -c 'echo seeded > /data/rows'",
    };
    for (const [key, value] of Object.entries(config)) this.git(app, 'config', key, value);
    this.seeded = { name, app, worktrees: join(this.box, `${name}.worktrees`), seeds: join(app, '.git', 'vibetrees', 'cache', 'seeds') };
    return this.seeded;
  }

  /**
   * Kills vtree at a seed failpoint: `seed:clone:*` in an `add` of the seeded app (a golden
   * ready), `seed:build:*` in the golden build the `add` after a miss starts in the background,
   * `seed:spare:*` in the spare (a clone, or a copy where the filesystem cannot clone) the `add` starts. Then: no
   * killed `add`'s worktree, and no worktree whose build died, is called ready; the next command
   * (`add` again or the `setup` it points to, or `rm` of the half-set-up worktree after a kill with
   * its volume made; `git vtree seed`; the next `add`) finishes the job
   * and removes what the dead run left (checked by {@link debris} at the end: clone directories and
   * Docker volumes without a worktree, scratch stacks and temp directories of dead pids).
   */
  async seedFailpointTrial(point, i, checkOutput, problem) {
    const s = await this.seededApp();
    const step = point.split(':')[1];
    const log = join(this.box, 'failpoint.log');
    await rm(log, { force: true });
    const armed = { VTREE_FAILPOINT: point, VTREE_FAILPOINT_LOG: log };
    const branch = `fp-${i}`;
    const here = { cwd: s.app };
    const must = async (what, args, options = here) => {
      const result = await this.vtree(args, options);
      checkOutput(what, result);
      if (result.code !== 0) problem(`${point}: ${what} failed: ${result.stderr.trim().split('\n').join(' | ')}`);
      return result;
    };
    await this.quiesce();
    if (step === 'build') await must('seed prune --all', ['seed', 'prune', '--all']);
    else if (!JSON.parse((await must('seed status', ['seed', 'status', '--json'])).stdout || '{"goldens":[]}').goldens.length) await must('seed', ['seed']);
    // A spare is made after an add that copied, once per golden: the previous trial's taken away.
    if (step === 'spare') await rm(join(s.seeds, 'spares'), { recursive: true, force: true });
    const killed = await this.vtree(['add', branch], { cwd: s.app, env: armed });
    await this.quiesce();
    const reached = (await readFile(log, 'utf8').catch(() => '')).trimEnd().split('\n').includes(point);
    checkOutput(`add killed at ${point}`, killed, 'SIGKILL');
    const { path } = await this.inspect(branch, s.app);
    let readyWithoutSetUp = 0;
    if (path && step !== 'spare') {
      // A worktree whose clone or golden build died is not ready: not set up, or its seed step failed.
      const wait = await this.vtree(['wait', path, '--json', '--timeout', '0'], here);
      if (wait.stdout && JSON.parse(wait.stdout).state === 'ready') {
        readyWithoutSetUp++;
        problem(`after a kill at ${point}: ${path} reported ready by wait`);
      }
    }
    let result = 'completed';
    if (reached) {
      let recovered;
      if (point === 'seed:clone:volume-created') {
        // The user gives up on the half-set-up worktree: rm takes its clone and bound volume along, though nothing recorded them.
        const removed = path ? await must(`rm ${branch}`, ['rm', path, '--force']) : { code: 0 };
        await this.quiesce();
        const left = await this.seedDebris();
        for (const d of left) problem(`after rm of the worktree killed at ${point}: ${d}`);
        recovered = removed.code === 0 && left.length === 0 && (await this.seededClone(s, branch, true)) === 'seeded\n';
      } else if (step === 'clone') {
        const again = await this.vtree(['add', branch], here);
        checkOutput(`add ${branch} again`, again);
        const redo = again.code !== 0 && /never set up/.test(again.stderr) && path ? await must(`setup ${branch}`, ['setup', path]) : again;
        recovered = redo.code === 0 && (await this.seededClone(s, branch)) === 'seeded\n';
        if (!recovered) problem(`${point}: the next add did not give ${branch} its seeded clone: ${redo.stderr.trim().split('\n').join(' | ')}`);
      } else if (step === 'build') {
        recovered = (await must('seed after the killed build', ['seed'], { cwd: path })).code === 0 && (await this.seededClone(s, `${branch}-again`, true)) === 'seeded\n';
      } else {
        // The next add's spare job reclaims the dead copy (debris counts it otherwise).
        recovered = (await must(`add ${branch}-again`, ['add', `${branch}-again`])).code === 0;
      }
      result = recovered ? 'recovered' : 'not recovered';
    }
    await this.quiesce();
    for (const name of [branch, `${branch}-again`]) {
      const found = await this.inspect(name, s.app);
      if (found.path) await this.vtree(['rm', found.path, '--force'], here);
    }
    await this.quiesce();
    return { reached, readyWithoutSetUp, result };
  }

  /** What the seeded file of `branch`'s clone holds (`add` first when `add`), read from the directory its Docker volume binds. */
  async seededClone(s, branch, add = false) {
    if (add && (await this.vtree(['add', branch], { cwd: s.app })).code !== 0) return undefined;
    const { path } = await this.inspect(branch, s.app);
    const project = path && /^COMPOSE_PROJECT_NAME=(.+)$/m.exec(await readFile(join(path, '.env'), 'utf8').catch(() => ''))?.[1];
    if (!project) return undefined;
    return readFile(join(s.seeds, 'volumes', `${project}_data`, 'rows'), 'utf8').catch(() => undefined);
  }

  /** What seed runs left: clones and Docker volumes without a worktree, scratch stacks, temp copies and golden builds of dead pids. */
  async seedDebris() {
    const s = this.seeded;
    if (!s) return [];
    const found = [];
    const live = new Set();
    for (const block of this.git(s.app, 'worktree', 'list', '--porcelain').split('\n\n')) {
      const path = /^worktree (.+)$/m.exec(block)?.[1];
      const project = path && /^COMPOSE_PROJECT_NAME=(.+)$/m.exec(await readFile(join(path, '.env'), 'utf8').catch(() => ''))?.[1];
      if (project) live.add(`${project}_data`);
    }
    for (const name of await readdir(join(s.seeds, 'volumes')).catch(() => [])) if (!live.has(name)) found.push(`${join(s.seeds, 'volumes', name)} (a clone without a worktree)`);
    // vtree's clones are the volumes bound to its clone directories (an empty volume Compose made is the user's: rm keeps it without --volumes).
    const volumes = spawnSync('docker', ['volume', 'ls', '-q'], { encoding: 'utf8' }).stdout.split('\n').filter((v) => v.startsWith(`${s.name}-`));
    for (const volume of volumes) {
      const device = spawnSync('docker', ['volume', 'inspect', '--format', '{{.Options.device}}', volume], { encoding: 'utf8' }).stdout.trim();
      if (!live.has(volume) && device.startsWith(join(s.seeds, 'volumes'))) found.push(`Docker volume ${volume} bound to ${device} (a clone without a worktree)`);
    }
    const projects = spawnSync('docker', ['ps', '-a', '--filter', 'label=com.docker.compose.project', '--format', '{{.Label "com.docker.compose.project"}}'], { encoding: 'utf8' }).stdout.split('\n');
    for (const project of new Set(projects)) {
      const pid = Number(new RegExp(`^${s.name}-seed-data-(\\d+)$`).exec(project)?.[1]);
      if (pid && !alive(pid)) found.push(`scratch stack ${project} of a dead build`);
    }
    for (const dir of [join(s.seeds, 'tmp'), join(s.seeds, 'volumes'), ...(await readdir(join(s.seeds, 'spares')).catch(() => [])).map((n) => join(s.seeds, 'spares', n))]) {
      for (const name of await readdir(dir).catch(() => [])) {
        const pid = Number(/^\.vtree-tmp-(\d+)-/.exec(name)?.[1]);
        if (pid && !alive(pid)) found.push(`${join(dir, name)} (of dead pid ${pid})`);
      }
    }
    return found;
  }

  /**
   * Whether the worktree at `path` is really set up: its own state record (not a spare's), the
   * dependencies in place, not locked, and every port it records leased to it in the registry.
   */
  async reallySetUp(path) {
    const gitDir = /^gitdir: (.+)$/m.exec(await readFile(join(path, '.git'), 'utf8').catch(() => ''))?.[1];
    const state = gitDir ? await readFile(join(gitDir, 'vtree.json'), 'utf8').then(JSON.parse, () => undefined) : undefined;
    if (!state || state.spare !== undefined) return { ok: false, why: 'no set-up record of its own' };
    if (existsSync(join(gitDir, 'locked'))) return { ok: false, why: 'locked' };
    if (!existsSync(join(path, 'node_modules', 'is-number', 'package.json'))) return { ok: false, why: 'no node_modules' };
    const registry = await readFile(join(this.state, 'vibetrees', 'ports.json'), 'utf8').then(JSON.parse, () => ({ leases: {} }));
    const leased = new Set(Object.values(registry.leases).filter((l) => l.worktree === path).map((l) => l.port));
    const ports = Object.values(state.ports ?? {});
    if (ports.length !== 2 || !ports.every((p) => leased.has(p))) return { ok: false, why: `ports ${JSON.stringify(state.ports ?? {})} not all leased to it` };
    return { ok: true };
  }

  /** Worktrees `list`, `wait` or `status` call set up or ready that are not: counted, and each a problem. */
  async readyWithoutSetUp(point, problem) {
    const listed = await this.vtree(['list', '--json']);
    const rows = listed.code === 0 ? JSON.parse(listed.stdout).worktrees : [];
    let count = 0;
    for (const row of rows) {
      if (row.main) continue;
      const claims = [];
      if (row.setUp) claims.push('list: set up');
      // Worktrees found really set up before are asked of `list` only: each trial touches one or two.
      if (this.verified.has(row.path) && (await this.reallySetUp(row.path)).ok) continue;
      const wait = await this.vtree(['wait', row.path, '--json', '--timeout', '0']);
      if (wait.stdout && JSON.parse(wait.stdout).state === 'ready') claims.push('wait: ready');
      const status = await this.vtree(['status', '-w', row.path, '--json']);
      if (status.stdout && JSON.parse(status.stdout).readiness?.state === 'ready') claims.push('status: ready');
      if (claims.length === 0) continue;
      const really = await this.reallySetUp(row.path);
      if (really.ok) {
        this.verified.add(row.path);
        continue;
      }
      count++;
      problem(`after a kill at ${point}: ${row.path} reported ready (${claims.join(', ')}) but ${really.why}`);
    }
    return count;
  }

  /** Lock files naming a dead owner: what a SIGKILL inside a critical section leaves. */
  async plantStaleLocks() {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    for (const lock of [join(this.state, 'vibetrees', 'locks', 'ports.lock'), join(this.app, '.git', 'vibetrees', 'locks', 'metrics.lock')]) {
      await mkdir(join(lock, '..'), { recursive: true });
      await writeFile(lock, `${dead}\n`);
    }
  }

  async corruptTrial(kind, round, checkOutput, problem) {
    const vibetrees = join(this.app, '.git', 'vibetrees');
    const steps = [];
    if (kind === 'metrics.json') {
      await writeFile(join(vibetrees, 'metrics.json'), '{"schema": 1, "runs": [{"id": ');
      steps.push(['add', `corrupt-metrics-${round}`, '--no-services'], ['stats']);
    } else if (kind === 'metrics.json runs') {
      const file = JSON.parse(await readFile(join(vibetrees, 'metrics.json'), 'utf8'));
      file.runs.push(null, { id: 1 }, { ...file.runs.at(-1), spans: 'none' }, { ...file.runs.at(-1), startedAt: 'never' });
      await writeFile(join(vibetrees, 'metrics.json'), JSON.stringify(file));
      steps.push(['stats'], ['stats', '--json']);
    } else if (kind === 'ports.json') {
      await writeFile(join(this.state, 'vibetrees', 'ports.json'), '{ "version": 1, "leases": { "46001": {');
      steps.push(['add', `corrupt-ports-${round}`, '--no-services'], ['ports']);
    } else if (kind === 'meta.json') {
      const entries = await readdir(join(vibetrees, 'cache', 'entries')).catch(() => []);
      if (entries.length === 0) problem('corrupt meta.json: no cache entry to corrupt');
      for (const key of entries) await writeFile(join(vibetrees, 'cache', 'entries', key, 'meta.json'), round % 2 ? '"garbage"' : '{"key": ');
      steps.push(['cache', 'status'], ['cache', 'verify'], ['add', `corrupt-meta-${round}`, '--no-services'], ['cache', 'prune']);
    } else if (kind === 'project-names.json' || kind === 'project-prefix.json') {
      // The names of Compose projects: the machine's claims, or this repository's own record, torn.
      const file = kind === 'project-names.json' ? join(this.state, 'vibetrees', kind) : join(vibetrees, kind);
      await writeFile(file, '{"app": ');
      steps.push(['add', `corrupt-names-${kind.length}-${round}`, '--no-services'], ['list']);
    } else if (kind === 'vtree.json') {
      const branch = `corrupt-state-${round}`;
      const made = await this.vtree(['add', branch, '--no-services']);
      checkOutput(`${kind}: add ${branch}`, made);
      const { path } = await this.inspect(branch);
      if (made.code !== 0 || !path) {
        problem(`corrupt vtree.json: add ${branch} failed: ${made.stderr.trim()}`);
        return 'not recovered';
      }
      const gitDir = /^gitdir: (.+)$/m.exec(await readFile(join(path, '.git'), 'utf8'))[1];
      await writeFile(join(gitDir, 'vtree.json'), '{"branch": ');
      steps.push(['list'], ['list', '--json'], ['setup', path, '--no-services']);
    }
    for (const args of steps) {
      const result = await this.vtree(args);
      checkOutput(`${kind}: ${args.join(' ')}`, result);
      if (result.code !== 0) {
        problem(`corrupt ${kind}: \`git vtree ${args.join(' ')}\` exit ${result.code}: ${result.stderr.trim()}`);
        return 'not recovered';
      }
    }
    return 'recovered';
  }

  /** A tmpfs under the sandbox holding a clone of the repository (with node_modules); undefined when it cannot be mounted. */
  async mountDisk() {
    if (process.getuid?.() !== 0) return undefined;
    const mount = join(this.box, 'disk');
    await mkdir(mount, { recursive: true });
    const sizeMb = 24;
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', mount]).status !== 0) return undefined;
    const app = join(mount, 'app');
    this.git(mount, 'clone', '-q', this.app, app);
    await cp(join(this.app, 'node_modules'), join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    this.git(app, 'config', 'vtree.ports.vars', 'PORT API_PORT');
    this.git(app, 'config', 'vtree.ports.range', '46000-47999');
    // Warm the clone's cache so adds are restores: the interesting failures are mid-copy.
    const warm = await this.vtree(['add', 'disk-warm', '--no-services'], { cwd: app });
    if (warm.code !== 0) throw new Error(`warm-up add on the tmpfs failed: ${warm.stderr}`);
    await this.quiesce();
    return { mount, app, sizeMb, maxFreeKb: 320 };
  }

  async unmountDisk(disk) {
    spawnSync('umount', ['-l', disk.mount]);
    await rm(disk.mount, { recursive: true, force: true });
  }

  /** Fills the tmpfs to `freeKb` free, runs an add: it must succeed, or fail with exit 1 having rolled back. */
  async diskTrial(disk, i, freeKb, checkOutput, problem) {
    const filler = join(disk.mount, 'filler');
    await rm(filler, { force: true });
    const { bavail, bsize } = statfsSync(disk.mount);
    const fill = Math.max(0, bavail * bsize - freeKb * 1024);
    spawnSync('fallocate', ['-l', String(fill), filler]);
    const branch = `disk-${i}`;
    // Copies need room for every file; hardlinks and reflinks only for directories and inodes.
    const mode = i % 2 === 0 ? 'copy' : 'auto';
    const result = await this.vtree(['add', branch, '--no-services', '--link-mode', mode], { cwd: disk.app });
    checkOutput(`add ${branch} with ${freeKb} KB free (${mode})`, result);
    await rm(filler, { force: true });
    await this.quiesce();
    const seen = await this.inspect(branch, disk.app);
    if (result.code === 0) return seen.setUp ? 'completed' : (problem(`disk ${branch}: exit 0 but not set up`), 'not recovered');
    const leftovers = (await readdir(join(disk.mount, 'app.worktrees')).catch(() => [])).filter((n) => n === branch || n.includes(`.${branch}.`));
    const admin = (await readdir(join(disk.app, '.git', 'worktrees')).catch(() => [])).filter((n) => n.startsWith(branch));
    if (result.code !== 1 || seen.path || seen.branchExists || leftovers.length > 0 || admin.length > 0) {
      problem(`disk ${branch} (${freeKb} KB free, exit ${result.code}): not rolled back: ${JSON.stringify({ ...seen, leftovers, admin })} ${result.stderr.trim().split('\n')[0]}`);
      return 'not recovered';
    }
    if (result.stderr.trim().split('\n').filter((l) => l.startsWith('git vtree:')).length !== 1) problem(`disk ${branch}: error is not one line: ${result.stderr.trim()}`);
    return 'rolled back';
  }

  /** Waits (up to 60 s) for vtree's background jobs of this sandbox to finish. */
  async quiesce() {
    for (let i = 0; i < 600; i++) {
      const jobs = spawnSync('pgrep', ['-f', `${BIN} __job`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
      const ours = jobs.filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`XDG_STATE_HOME=${this.state}`);
        } catch {
          return false;
        }
      });
      if (ours.length === 0) return;
      await sleep(100);
    }
  }

  /**
   * What crashed runs left and nothing reclaimed: staging directories, claim markers, temp files
   * and lock files of dead processes, empty directories in the worktrees directory, admin dirs of
   * worktrees whose directory is gone.
   */
  async debris() {
    const found = [];
    const deadPid = (name, pattern) => {
      const pid = Number(pattern.exec(name)?.[1]);
      return Number.isInteger(pid) && pid > 0 && !alive(pid);
    };
    for (const name of await readdir(this.worktrees).catch(() => [])) {
      const path = join(this.worktrees, name);
      if (deadPid(name, /\.vtree-deps\.(\d+)$/) || deadPid(name, /\.vtree-claim\.(\d+)$/)) found.push(path);
      else if ((await lstat(path)).isDirectory() && (await readdir(path)).length === 0) found.push(`${path} (empty)`);
    }
    const vibetrees = join(this.app, '.git', 'vibetrees');
    for (const dir of [vibetrees, join(vibetrees, 'locks'), join(vibetrees, 'cache', 'tmp'), join(this.state, 'vibetrees'), join(this.state, 'vibetrees', 'locks')]) {
      for (const name of await readdir(dir).catch(() => [])) {
        if (deadPid(name, /^\.vtree-tmp-(\d+)-/) || deadPid(name, /\.(\d+)\.[0-9a-f]{8}\.tmp$/) || deadPid(name, /\.(\d+)\.[0-9a-f]+$/)) found.push(join(dir, name));
        if (name.endsWith('.lock')) {
          const text = await readFile(join(dir, name), 'utf8').catch(() => '');
          const pid = Number(/"pid":(\d+)/.exec(text)?.[1] ?? Number.parseInt(text, 10));
          if (Number.isInteger(pid) && !alive(pid)) found.push(`${join(dir, name)} (lock of dead pid ${pid})`);
        }
      }
    }
    for (const id of await readdir(join(this.app, '.git', 'worktrees')).catch(() => [])) {
      const gitdir = await readFile(join(this.app, '.git', 'worktrees', id, 'gitdir'), 'utf8').catch(() => '');
      if (!existsSync(gitdir.trim())) found.push(`.git/worktrees/${id} (its worktree ${gitdir.trim()} is gone)`);
    }
    // Spares a dead pass or `add` left on the way (being built, moved aside, half claimed), and
    // worktrees still locked by a `git worktree add` that is gone.
    const pool = join(this.worktrees, '.vtree-spares');
    for (const block of this.git(this.app, 'worktree', 'list', '--porcelain').split('\n\n')) {
      const path = /^worktree (.+)$/m.exec(block)?.[1];
      const lock = /^locked(?: (.*))?$/m.exec(block);
      if (!path || !lock) continue;
      const spare = (lock[1] ?? '').startsWith('git vtree spare');
      if (spare && !(dirname(path) === pool && !basename(path).startsWith('.'))) found.push(`${path} (a spare left half way)`);
      if (!spare) found.push(`${path} (locked: ${lock[1] ?? ''})`);
    }
    return [...found, ...(await this.seedDebris())];
  }

  /** Ports two worktrees both hold, by their state files and the registry. */
  async duplicatePorts() {
    const holders = new Map();
    const note = (port, who) => holders.set(port, new Set([...(holders.get(port) ?? []), who]));
    for (const id of await readdir(join(this.app, '.git', 'worktrees')).catch(() => [])) {
      const state = await readFile(join(this.app, '.git', 'worktrees', id, 'vtree.json'), 'utf8').then(JSON.parse, () => undefined);
      for (const port of Object.values(state?.ports ?? {})) note(port, state.path);
    }
    const registry = await readFile(join(this.state, 'vibetrees', 'ports.json'), 'utf8').then(JSON.parse, () => ({ leases: {} }));
    for (const lease of Object.values(registry.leases)) {
      const held = holders.get(lease.port);
      if (held && !held.has(lease.worktree)) note(lease.port, `${lease.worktree} (registry)`);
    }
    return [...holders].filter(([, who]) => who.size > 1).map(([port, who]) => `${port}: ${[...who].join(', ')}`);
  }

  /** Every file and directory of the sandbox outside the repository, its worktrees directory and vtree's state directory. */
  async outsideSnapshot() {
    const seeded = `vtfault${process.pid.toString(36)}`;
    const allowed = new Set([this.app, this.worktrees, this.state, join(this.box, 'npm-cache'), join(this.box, 'disk'), join(this.box, 'failpoint.log'), join(this.box, seeded), join(this.box, `${seeded}.worktrees`)]);
    const snapshot = new Map();
    const visit = async (dir) => {
      for (const name of await readdir(dir).catch(() => [])) {
        const path = join(dir, name);
        if (allowed.has(path)) continue;
        const info = await lstat(path);
        snapshot.set(path, info.isDirectory() ? 'dir' : `${info.size}:${info.mtimeMs}:${info.mode}`);
        if (info.isDirectory()) await visit(path);
      }
    };
    await visit(this.box);
    // The tmpfs: only its repository and worktrees directory (and the filler the suite makes) may change.
    const disk = join(this.box, 'disk');
    for (const name of await readdir(disk).catch(() => [])) {
      if (!['app', 'app.worktrees', 'filler', 'lost+found'].includes(name)) snapshot.set(join(disk, name), 'present');
    }
    return snapshot;
  }

  async destroy() {
    await this.quiesce();
    spawnSync('umount', ['-l', join(this.box, 'disk')], { stdio: 'ignore' });
    // The seeded app's worktrees have Compose stacks and volumes: taken down by their project names.
    if (this.seeded) {
      const name = this.seeded.name;
      for (const kind of [['ps', '-a'], ['volume', 'ls']]) {
        const projects = spawnSync('docker', [...kind, '--filter', 'label=com.docker.compose.project', '--format', '{{.Label "com.docker.compose.project"}}'], { encoding: 'utf8' }).stdout.split('\n');
        for (const project of new Set(projects.filter((p) => p.startsWith(`${name}-`)))) spawnSync('docker', ['compose', '-p', project, 'down', '--volumes', '--remove-orphans', '--timeout', '1'], { cwd: this.box, stdio: 'ignore' });
      }
    }
    // The npm app's worktrees have no Compose stacks (no compose file), so plain removal.
    await rm(this.box, { recursive: true, force: true });
  }
}

/** A tree's paths with their kind, mode, size and content hash (files) or target (links). */
async function treeSignature(root) {
  const tree = new Map();
  const visit = async (dir) => {
    for (const name of await readdir(dir).catch(() => [])) {
      const path = join(dir, name);
      const rel = relative(root, path);
      const info = await lstat(path);
      if (info.isSymbolicLink()) tree.set(rel, `l:${await readlink(path)}`);
      else if (info.isDirectory()) {
        tree.set(rel, 'd');
        await visit(path);
      } else tree.set(rel, `f:${(info.mode & 0o111).toString(8)}:${info.size}:${createHash('sha1').update(await readFile(path)).digest('hex')}`);
    }
  };
  await visit(root);
  return tree;
}

async function waitForHandlers(pid) {
  for (;;) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
    if (status === undefined) return;
    if ((BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)/m.exec(status)[1]}`) & 1n) === 1n) return;
    await sleep(1);
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

