import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CommandError, errorMessage, UsageError, VtreeError } from '../core/errors.js';
import { formatMs } from '../core/output.js';
import { git, run } from '../core/exec.js';
import { exists } from '../core/files.js';
import { removingDir } from '../core/paths.js';
import { ENTRY_BIN } from '../core/package-root.js';
import { newRunId } from '../observe/metrics.js';
import { recordRun, toRunRecord } from './record.js';
import { resolveRepoStage } from './repo-stage.js';
import { percentile, Profiler, type Span } from '../core/profiler.js';
import type { BenchFacts, BenchSide } from '../observe/bench-facts.js';
import type { RepoStage } from '../features/feature.js';

/** A `bench` request. */
export interface BenchRequest {
  cwd: string;
  runs: number;
  keep: boolean;
  log(line: string): void;
  warn(line: string): void;
  signal?: AbortSignal;
}

/** Result of {@link runBench}: the facts plus where they were recorded. */
export interface BenchResult extends BenchFacts {
  runId: string;
  repository: string;
}

/** Compose files `docker compose` finds by itself, in its own order of preference. */
const COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'] as const;

/** The phase of `git vtree add` outside its own run: starting Node, loading vtree, exiting. */
const NODE_OVERHEAD = 'node start-up + exit';

/** The post-checkout hook stands aside, so "before" is a plain `git worktree add`. */
export const PLAIN_GIT_ENV = { ...process.env, VTREE_SKIP_HOOK: '1' };

/** The CLI entry of this very installation, run as a subprocess the way a user runs it. */
const VTREE_BIN = ENTRY_BIN;

/** How "before" makes a worktree ready: found once, used for every run. */
interface BeforePlan {
  install: { command: string; args: string[] } | null;
  composeEngine: boolean;
}

/** One worktree the benchmark made, and how to take it away again. */
interface Made {
  way: 'before' | 'vtree';
  path: string;
  branch: string;
  /** Compose project "before" started, to bring down. */
  composeProject?: string;
  /** `git vtree add` left its Compose stack starting in the background. */
  stackStarting?: boolean;
  removed?: boolean;
}

/** What every benchmark starts from. */
export interface BenchStart {
  where: RepoStage;
  /** The worktree the benchmark runs in. */
  root: string;
  /** The commit it measures (HEAD there). */
  base: string;
  profiler: Profiler;
  runId: string;
  /** Its scratch directory: `<repo>.vtree-bench-<runId>` beside the main worktree, removed at the end. */
  benchDir: string;
}

/**
 * Checks `runs`, finds the repository around `cwd` and its HEAD, and names the run and its
 * scratch directory. `command` is the command line the hints suggest.
 */
export async function startBench(cwd: string, runs: number, command = 'git vtree bench'): Promise<BenchStart> {
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be a whole number, at least 1, not '${runs}'`, `${command} --runs 3`);
  const where = await resolveRepoStage(cwd);
  const root = where.repo.toplevel ?? where.repo.mainPath;
  const base = await git(root, ['rev-parse', '--verify', 'HEAD^{commit}']).catch((error) => {
    throw new UsageError(`${root} has no commit to make worktrees from`, `commit something first, then run \`${command}\``, { cause: error });
  });
  const profiler = new Profiler();
  const runId = newRunId(profiler.startedAt);
  return { where, root, base, profiler, runId, benchDir: join(dirname(where.repo.mainPath), `${where.repo.name}.vtree-bench-${runId}`) };
}

/**
 * `git vtree bench`: on the user's own repository, alternately makes a worktree the way it is
 * done by hand ("before": `git worktree add`, then the package manager's install, then
 * `docker compose up -d` when there is a compose file and an engine, one after the other) and
 * with `git vtree add`, `runs` times each, removing each worktree again unless `keep`. Records
 * one `bench` run in metrics.json whose spans are the measured runs and their phases.
 */
export async function runBench(request: BenchRequest): Promise<BenchResult> {
  const { where, root, base, profiler, runId, benchDir } = await startBench(request.cwd, request.runs);
  const plan = await planBefore(root, request.signal);
  // Both ways would start the repository's stack: only once the user trusts it (else neither does).
  if (plan.composeEngine && (await firstExisting(root, COMPOSE_FILES))) {
    const [{ composeFileSettings, directorySource, discoverCompose }, { stackConsent }] = await Promise.all([import('../features/services/compose.js'), import('../features/services/consent.js')]);
    const model = await discoverCompose(directorySource(root), await composeFileSettings(where.config.list('vtree.compose.files'), root));
    const consent = await stackConsent(where.repo.mainPath, model, where.config, { dir: root, interactive: true });
    if (!consent.allowed) {
      request.warn(`services: not started by either way — ${consent.refused}; review and approve it with: git vtree trust`);
      plan.composeEngine = false;
    }
  }
  // Both ways install (vtree's first add at least): the repository's own install scripts run only once the user approved them.
  if (plan.install) {
    const [{ commitFiles, detectProject }, { installConsent }] = await Promise.all([import('../features/deps/package-manager.js'), import('../features/deps/consent.js')]);
    const project = await detectProject(commitFiles(root, base));
    const { refused } = project ? await installConsent(where.repo.mainPath, project, where.config, { interactive: true }) : {};
    if (refused) throw new UsageError(`the benchmark installs the dependencies, and ${refused}`, 'review and approve them with: git vtree trust, then run git vtree bench again');
  }
  const made: Made[] = [];
  const before: Array<{ duration: number; phases: Map<string, number> }> = [];
  const vtree: Array<{ duration: number; phases: Map<string, number>; depsSource?: string }> = [];
  const vtreeSteps: Array<{ parent: number; shift: number; steps: AddStep[] }> = [];
  let failure: unknown;
  let facts: BenchFacts | undefined;

  request.log(`Benchmarking ${root}: ${request.runs} run(s) each way, alternating; before = git worktree add${plan.install ? ` + ${commandLine(plan.install)}` : ''}${plan.composeEngine && (await firstExisting(root, COMPOSE_FILES)) ? ' + docker compose up -d' : ''}`);
  try {
    for (let i = 1; i <= request.runs; i++) {
      // Alternate which way goes first, so a cache warming up or a noisy neighbour favours neither.
      const order = i % 2 === 1 ? (['before', 'vtree'] as const) : (['vtree', 'before'] as const);
      for (const way of order) {
        request.signal?.throwIfAborted();
        const target: Made = { way, path: join(benchDir, `${way}-${i}`), branch: `vtree-bench/${runId}/${way}-${i}` };
        made.push(target);
        if (way === 'before') {
          before.push(await profiler.time('bench:before', null, (span) => timeBefore(profiler, span.id, target, root, base, plan, request.signal)));
        } else {
          const result = await profiler.time('bench:vtree', null, async (span) => {
            const measured = await timeVtree(profiler, target, base, root);
            vtreeSteps.push({ parent: span.id, shift: measured.shift, steps: measured.steps });
            if (measured.depsSource) span.set('deps', measured.depsSource);
            return measured;
          });
          vtree.push(result);
        }
        request.log(`  run ${i} ${way === 'before' ? 'before       ' : 'git vtree add'} ${formatMs((way === 'before' ? before : vtree).at(-1)!.duration)}`);
        if (!request.keep) {
          await profiler.time('bench:cleanup', null, () => removeMade(target, root, where.repo.commonDir));
          target.removed = true;
        }
      }
    }
    const vtreeSide = side(vtree);
    const beforeSide = side(before);
    facts = {
      runs: request.runs,
      base,
      install: plan.install ? commandLine(plan.install) : null,
      compose: made.some((m) => m.composeProject !== undefined),
      before: beforeSide,
      vtree: { ...vtreeSide, depsSources: vtree.map((v) => v.depsSource ?? 'none') },
      speedup: vtreeSide.median > 0 ? Math.round((beforeSide.median / vtreeSide.median) * 100) / 100 : 0,
      kept: request.keep ? made.map((m) => m.path) : [],
    };
  } catch (error) {
    if (!request.keep) await cleanUpAfterFailure(made, root, where.repo.commonDir, request.warn);
    // After Ctrl-C, the interruption is what happened, not how the aborted subprocess ended. Asked
    // after the cleanup: a child the same Ctrl-C killed can be seen to die before this process's
    // own handler has run.
    failure = request.signal?.aborted ? request.signal.reason : error;
  } finally {
    if (!request.keep) await rm(benchDir, { recursive: true, force: true }).catch(() => undefined);
  }

  const record = toRunRecord({ id: runId, command: 'bench', profiler, error: failure, facts: facts ? { bench: facts } : {} });
  record.spans.push(...childSpans(record.spans, vtreeSteps));
  await recordRun(where, record, request.warn);
  if (failure !== undefined) throw failure;
  return { runId, repository: root, ...facts! };
}

/** Finds the package manager (package-manager-detector, loaded only here) and a Docker engine. */
async function planBefore(root: string, signal?: AbortSignal): Promise<BeforePlan> {
  let install: BeforePlan['install'] = null;
  if (await exists(join(root, 'package.json'))) {
    const { detect, resolveCommand } = await import('package-manager-detector');
    const found = await detect({ cwd: root, stopDir: root });
    const resolved = resolveCommand(found?.agent ?? 'npm', 'install', []);
    if (resolved) install = { command: resolved.command, args: resolved.args };
    if (install) await requireRunnable(install.command, 'git vtree bench', signal);
  }
  const composeEngine = await run('docker', ['compose', 'version'], { signal: anySignal(signal, 10_000) })
    .then(() => run('docker', ['info', '--format', '{{.ServerVersion}}'], { signal: anySignal(signal, 10_000) }))
    .then(
      () => true,
      () => false,
    );
  return { install, composeEngine };
}

/** Refuses to start a benchmark whose installs would all fail: `command` (a package manager) does not run here. */
export async function requireRunnable(command: string, bench: string, signal?: AbortSignal): Promise<void> {
  await run(command, ['--version'], { signal }).catch((error) => {
    throw new UsageError(`${command} is not runnable here (${errorMessage(error)}), so the benchmark cannot install`, `install ${command}, then run \`${bench}\` again`);
  });
}

/**
 * "before": each step waits for the previous one, as when typed by hand. Subprocesses get no
 * abort signal: Ctrl-C in a terminal reaches them too and they stop themselves; killing them from
 * here would leave them still writing while the clean-up deletes. A pending Ctrl-C is honoured
 * between steps.
 */
async function timeBefore(profiler: Profiler, parent: number, target: Made, root: string, base: string, plan: BeforePlan, signal?: AbortSignal) {
  const started = performance.now();
  const phases = new Map<string, number>();
  const phase = async (name: string, fn: () => Promise<unknown>) => {
    const t = performance.now();
    await profiler.time(`bench:before:${name}`, parent, fn);
    phases.set(name, round(performance.now() - t));
  };
  // git creates the missing parent directories of the path itself.
  await phase('git worktree add', () => git(root, ['worktree', 'add', '-b', target.branch, '--', target.path, base], { env: PLAIN_GIT_ENV }));
  if (plan.install && (await exists(join(target.path, 'package.json')))) {
    const { command, args } = plan.install;
    signal?.throwIfAborted();
    await phase(commandLine(plan.install), () => run(command, args, { cwd: target.path }));
  }
  const composeFile = plan.composeEngine ? await firstExisting(target.path, COMPOSE_FILES) : undefined;
  if (composeFile) {
    target.composeProject = composeProjectName(target.branch);
    const project = target.composeProject;
    await phase('docker compose up -d', () =>
      run('docker', ['compose', '-p', project, 'up', '-d'], { cwd: target.path }).catch((error) => {
        throw new VtreeError(`"before" could not start its Compose stack: ${errorMessage(error)}`, 'free the ports it needs (for example `docker compose down` in the main worktree), then run `git vtree bench` again', { cause: error });
      }),
    );
  }
  return { duration: round(performance.now() - started), phases };
}

/** "git vtree add": wall clock of the child process, its own steps, and Node's share (start-up and exit). */
async function timeVtree(profiler: Profiler, target: Made, base: string, root: string) {
  const started = performance.now();
  const output = await addWithVtree(target, base, root);
  target.stackStarting = output.stackStarting;
  const wall = performance.now() - started;
  const overhead = Math.max(0, wall - output.duration);
  const phases = new Map(output.steps.map((s) => [s.name, s.duration]));
  phases.set(NODE_OVERHEAD, round(overhead));
  return {
    duration: round(wall),
    phases,
    steps: output.steps,
    // Where the child's step offsets start on the bench's clock: its own clock starts once Node has
    // loaded it, so the overhead is put before them (exit is short).
    shift: profiler.now() - wall + overhead,
    ...(output.depsSource ? { depsSource: output.depsSource } : {}),
  };
}

/** One top-level step of `git vtree add --json`. */
interface AddStep {
  name: string;
  start: number;
  duration: number;
  ok: boolean;
}

/** `git vtree add` as the user runs it: a new process of this installation. */
async function addWithVtree(target: Made, base: string, root: string): Promise<{ duration: number; steps: AddStep[]; depsSource?: string; stackStarting: boolean }> {
  const stdout = await runVtree(['add', target.branch, '--from', base, '--path', target.path, '--json'], root);
  const result = JSON.parse(stdout) as { duration: number; steps: AddStep[]; facts?: { deps?: { source?: unknown }; services?: { project?: unknown } } };
  const source = result.facts?.deps?.source;
  return {
    duration: result.duration,
    steps: result.steps,
    // A project name means a stack was handed to a background job; `status` says when it is done.
    stackStarting: typeof result.facts?.services?.project === 'string',
    ...(typeof source === 'string' ? { depsSource: source } : {}),
  };
}

/**
 * Waits (up to a minute) until the stack `git vtree add` started in the background has settled,
 * so that removing the worktree right away cannot race its start and leave containers behind.
 */
async function waitForStack(path: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const stdout = await runVtree(['status', '--json'], path).catch(() => '');
    const state = (JSON.parse(stdout || '{}') as { state?: string }).state;
    if (state !== 'starting') return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Runs this installation's `git vtree <args>`; a failure names the subcommand and its own message. */
export async function runVtree(args: string[], cwd: string): Promise<string> {
  try {
    return (await run(process.execPath, [VTREE_BIN, ...args], { cwd })).stdout;
  } catch (error) {
    const said = error instanceof CommandError ? error.stderr.trim().split('\n')[0]?.replace(/^git vtree: /, '') : undefined;
    throw new VtreeError(`git vtree ${args[0]} failed during the benchmark: ${said || errorMessage(error)}`, `run \`git vtree ${args[0]}\` by hand in ${cwd} to see why`, { cause: error });
  }
}

/**
 * Waits (up to two minutes) until the background `stack-down` job `git vtree rm` run `runId`
 * started is done (its record in `removing/` gone). Without this the stack would still be stopping
 * during the next measurement, which it would slow down, and after the benchmark returned.
 */
async function waitForRemoval(commonDir: string, runId: string, log: string): Promise<void> {
  const { removals } = await import('../features/services/removals.js');
  const record = join(removingDir(commonDir), `${runId}.json`);
  const deadline = performance.now() + 120_000;
  while (await exists(record)) {
    const removal = (await removals(commonDir)).find((r) => r.log === log);
    if (removal?.state === 'stalled') throw new VtreeError(`the stack of ${removal.path} was not taken down: its stack-down job stopped part way (log: ${log})`, 'git vtree prune finishes it');
    if (performance.now() > deadline) throw new VtreeError(`the stack of a removed bench worktree is still stopping after two minutes (log: ${log})`, 'git vtree list shows it until it is down; git vtree prune reclaims it if it stalls');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Takes away what one run made: its Compose stack and volumes, worktree and branch. For vtree's
 * worktree that includes waiting for the stack `rm` hands to a background job, as "before" waits
 * for its `docker compose down`.
 */
async function removeMade(target: Made, root: string, commonDir: string): Promise<void> {
  if (target.way === 'vtree') {
    if (target.stackStarting) await waitForStack(target.path);
    const removed = JSON.parse(await runVtree(['rm', target.path, '--force', '--delete-branch', '--volumes', '--json'], root)) as { runId?: unknown; stackLog?: unknown };
    if (typeof removed.runId === 'string' && typeof removed.stackLog === 'string') await waitForRemoval(commonDir, removed.runId, removed.stackLog);
    return;
  }
  if (target.composeProject) await run('docker', ['compose', '-p', target.composeProject, 'down', '--volumes', '--remove-orphans'], { cwd: target.path });
  await git(root, ['worktree', 'remove', '--force', '--force', '--', target.path]);
  await git(root, ['branch', '-D', '--', target.branch]);
}

/**
 * After a failure or Ctrl-C: removes what exists of every worktree made. A worktree a killed
 * subprocess left half-made or half-removed is deleted directly and pruned from git's list.
 */
async function cleanUpAfterFailure(made: readonly Made[], root: string, commonDir: string, warn: (line: string) => void): Promise<void> {
  for (const target of made.filter((m) => !m.removed)) {
    try {
      await removeMade(target, root, commonDir);
    } catch {
      try {
        await rm(target.path, { recursive: true, force: true });
        await forgetWorktree(commonDir, target.path);
        await git(root, ['branch', '-D', '--', target.branch], { okCodes: [0, 1] });
      } catch (error) {
        warn(`could not remove ${target.path} (branch ${target.branch}): ${errorMessage(error)}`);
      }
    }
  }
}

/**
 * Drops git's record of the worktree at `path` (its `worktrees/<id>` directory, found by the
 * `gitdir` file pointing into `path`) once the directory is gone. Unlike `git worktree prune`, it
 * leaves alone the user's other worktrees whose directories are missing (an unmounted disk).
 */
async function forgetWorktree(commonDir: string, path: string): Promise<void> {
  const admin = join(commonDir, 'worktrees');
  for (const id of await readdir(admin).catch(() => [] as string[])) {
    const gitdir = await readFile(join(admin, id, 'gitdir'), 'utf8').catch(() => '');
    if (gitdir.trim() === join(path, '.git')) await rm(join(admin, id), { recursive: true, force: true });
  }
}

/** The bench run's spans for the steps each `git vtree add` child reported, nested under its span. */
function childSpans(spans: readonly Span[], children: ReadonlyArray<{ parent: number; shift: number; steps: AddStep[] }>): Span[] {
  let nextId = Math.max(0, ...spans.map((s) => s.id)) + 1;
  return children.flatMap(({ parent, shift, steps }) =>
    steps.map((step) => ({ id: nextId++, parent, name: `bench:vtree:${step.name}`, start: round(shift + step.start), duration: step.duration, ok: step.ok })),
  );
}

/** Median, min and max of `durations` (ms; all 0 when there are none), and the durations. */
export function timings(durations: number[]): Omit<BenchSide, 'phases'> {
  const sorted = [...durations].sort((a, b) => a - b);
  return { median: percentile(sorted, 50), min: sorted[0] ?? 0, max: sorted.at(-1) ?? 0, durations };
}

function side(measured: ReadonlyArray<{ duration: number; phases: Map<string, number> }>): BenchSide {
  const names = [...new Set(measured.flatMap((m) => [...m.phases.keys()]))];
  return {
    ...timings(measured.map((m) => m.duration)),
    phases: names.map((name) => ({
      name,
      median: percentile(
        measured.flatMap((m) => (m.phases.has(name) ? [m.phases.get(name)!] : [])).sort((a, b) => a - b),
        50,
      ),
    })),
  };
}

async function firstExisting(dir: string, names: readonly string[]): Promise<string | undefined> {
  for (const name of names) if (await exists(join(dir, name))) return name;
  return undefined;
}

/** A Compose project name (lowercase letters, digits, dashes) for a bench branch. */
function composeProjectName(branch: string): string {
  return branch.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

function anySignal(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  return signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
}

/** `npm ci`: a command and its arguments as one would type them. */
export function commandLine(command: { command: string; args: string[] }): string {
  return [command.command, ...command.args].join(' ');
}

/** Milliseconds to the microsecond, as metrics keep them. */
export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
