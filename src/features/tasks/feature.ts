import { errorMessage, UsageError, VtreeError } from '../../core/errors.js';
import { validateGraph, type Task } from '../../core/graph.js';
import { formatMs } from '../../core/output.js';
import type { CheckoutStage, Feature, RemoveShared, RemoveTarget, RepoStage, SetupShared, Stages, TargetStage } from '../feature.js';
import type { ProjectTask } from './definitions.js';
import type { TaskStatusWriter } from './status.js';

/** The step that reads the project's tasks and asks for consent; it adds one step per task. */
export const TASKS_PLAN = 'tasks-plan';

/** The step that writes every task's first state to `vtree-tasks.json`. */
const TASKS_START = 'tasks-start';

/** The step that hands the background tasks to their detached job. */
const TASKS_BACKGROUND = 'tasks-background';

/** The step of `rm` that runs the teardown tasks, before the stack goes down. */
export const TASKS_TEARDOWN = 'tasks-teardown';

/** The services feature's ready point "critical services up" (a name, not an import: features stand alone). */
const SERVICES_READY = 'services-ready';

/** Words in `after` that mean "once the critical services are up". */
const READY_WORDS = new Set([SERVICES_READY, 'services-critical', 'services-healthy', 'services']);

/** The graph step of project task `name`. */
export function taskNode(name: string): string {
  return `task:${name}`;
}

/** A task with what it runs after, resolved. */
interface Planned {
  task: ProjectTask;
  /** Foreground: graph steps. Background: other background tasks. */
  after: string[];
  /** Background: waits for the stack (its own `after`, or none given). */
  waitsForServices: boolean;
}

/** What `tasks-plan` found. */
interface TasksPlan {
  foreground: Planned[];
  background: Planned[];
  skipped: Array<{ task: ProjectTask; reason: string }>;
  /** Made by `tasks-start`, shared by every task step of the run. */
  writer?: TaskStatusWriter;
}

/** A background task as its job runs it. */
export interface BackgroundTask extends ProjectTask {
  /** Its log file. */
  log: string;
  /** Background tasks it runs after. */
  before: string[];
  waitsForServices: boolean;
}

/** What the detached `project-tasks` job is asked to do: one JSON argument. */
export interface TasksJobPlan {
  commonDir: string;
  gitDir: string;
  path: string;
  branch: string;
  slug: string;
  /** The run that started the job; the job's own run links to it. */
  linkedTo: string;
  env: Record<string, string>;
  tasks: BackgroundTask[];
}

/**
 * The project's own set-up steps (`[vtree "task.<name>"]`: `run`, `after`, `background`,
 * `optional`), each a step of the same graph as the built-in ones, and its teardown steps
 * (`[vtree "teardown.<name>"]`), run by `rm` before the stack goes down. Tasks from the
 * committed `.vtreeconfig` run only once the user approved their text (`git vtree trust`).
 */
export const tasksFeature: Feature = {
  name: 'tasks',
  setupTasks: (stages) => [
    {
      name: TASKS_PLAN,
      deps: [stages.repo],
      async run({ shared, span }, deps): Promise<TasksPlan> {
        const { repo, config } = deps[stages.repo] as RepoStage;
        // Most repositories have no tasks: they pay for one look at the config, no module load.
        if (config.keys('vtree.task.').length === 0) return { foreground: [], background: [], skipped: [] };
        const { readProjectTasks } = await import('./definitions.js');
        const all = readProjectTasks(config, 'task');
        span.set('tasks', all.length);
        const { consent } = await import('./consent.js');
        const { unapproved } = await consent(repo.mainPath, all, shared.command !== 'hook', shared);
        const plan = planTasks(all, unapproved, shared.featureTasks ?? {});
        span.set('foreground', plan.foreground.length);
        span.set('background', plan.background.length);
        if (plan.skipped.length > 0) span.set('skipped', plan.skipped.length);
        return plan;
      },
      expand: (result) => {
        const plan = result as TasksPlan;
        if (plan.foreground.length + plan.background.length + plan.skipped.length === 0) return [];
        return [
          startStep(stages, plan),
          ...plan.foreground.map((planned) => foregroundStep(stages, plan, planned)),
          ...(plan.background.length > 0 ? [backgroundStep(stages, plan)] : []),
        ];
      },
    },
  ],
  teardownTasks: ({ cleared }) => [
    {
      name: TASKS_TEARDOWN,
      deps: [cleared],
      async run({ shared, span, profiler, signal }, deps) {
        const target = deps[cleared] as RemoveTarget;
        if (target.config.keys('vtree.teardown.').length === 0) return;
        const { readProjectTasks } = await import('./definitions.js');
        const all = readProjectTasks(target.config, 'teardown');
        span.set('tasks', all.length);
        const [{ consent }, { runOrdered, runTaskCommand }, { taskEnv }, { taskLogPath }] = await Promise.all([
          import('./consent.js'),
          import('./runner.js'),
          import('./env.js'),
          import('../../core/paths.js'),
        ]);
        checkCycles(all.map((task) => ({ name: task.name, after: task.after })));
        const { runnable } = await consent(target.repo.mainPath, all, true, shared);
        const env = taskEnv({
          project: target.project,
          mainPath: target.repo.mainPath,
          path: target.path,
          slug: target.slug,
          ...(target.branch ? { branch: target.branch } : {}),
          ...(target.state?.ports ? { ports: target.state.ports as Record<string, number> } : {}),
        });
        const outcomes = await runOrdered(
          runnable.map((task) => ({ ...task, after: task.after })),
          (task) =>
            profiler.time(taskNode(task.name), span.id, async (sub) => {
              const log = taskLogPath(target.repo.commonDir, task.name, shared.runId);
              sub.set('log', log);
              shared.log(`teardown ${task.name}: ${firstLine(task.run)}`);
              await runTaskCommand(task, { cwd: target.path, env, log, signal });
            }),
        );
        const failed = runnable.filter((task) => outcomes.get(task.name)?.state !== 'done');
        shared.facts.teardown = Object.fromEntries([...outcomes].map(([name, o]) => [name, o.state]));
        // Under --force the user asked for the worktree to go whatever happens: failures are warnings.
        const blocking = failed.filter((task) => !task.optional && !shared.force);
        for (const task of failed.filter((t) => !blocking.includes(t))) shared.warn(`teardown ${task.name}: ${outcomeError(outcomes.get(task.name))} (ignored)`);
        if (blocking.length > 0) {
          const first = blocking[0]!;
          throw new VtreeError(`teardown ${first.name}: ${outcomeError(outcomes.get(first.name))}`, `fix it (or mark it optional = true), then run: git vtree rm ${target.branch ?? target.slug}`);
        }
      },
    } satisfies Task<RemoveShared>,
  ],
};

/**
 * Resolves each task's `after` into graph steps (foreground) or background tasks, and skips what
 * cannot run: unapproved tasks and those after a skipped one. No `after` means after every
 * built-in step of the run (background tasks: after the stack is up too).
 */
function planTasks(all: readonly ProjectTask[], unapproved: readonly ProjectTask[], featureTasks: Readonly<Record<string, readonly string[]>>): TasksPlan {
  const byName = new Map(all.map((t) => [t.name, t]));
  const builtins = Object.values(featureTasks).flat().filter((name) => name !== SERVICES_READY);
  const skipped = new Map<string, string>(unapproved.map((t) => [t.name, 'not approved (git vtree trust)']));
  const planned: Planned[] = [];
  for (const task of all) {
    const after = new Set<string>();
    let waitsForServices = task.after.length === 0;
    for (const word of task.after.length > 0 ? task.after : builtins) {
      const other = byName.get(word);
      if (other && other !== task) {
        if (other.background && !task.background) {
          throw new UsageError(`config vtree.task.${task.name}.after: ${word} runs in the background, after the set-up this task is part of`, `git config vtree.task.${task.name}.background true`);
        }
        if (!other.background && task.background) continue; // done before the job starts
        after.add(task.background ? word : taskNode(word));
      } else if (READY_WORDS.has(word)) {
        waitsForServices = true;
        if (!task.background) after.add(SERVICES_READY);
      } else if (featureTasks[word]) {
        if (!task.background) for (const name of featureTasks[word]!) after.add(name);
      } else if (builtins.includes(word)) {
        if (!task.background) after.add(word);
      } else {
        const features = Object.keys(featureTasks).join(', ');
        throw new UsageError(`config vtree.task.${task.name}.after: '${word}' is not a feature (${features}), a ready point (services-ready) or a task`, `git config vtree.task.${task.name}.after '<names>'`);
      }
    }
    planned.push({ task, after: [...after], waitsForServices });
  }
  checkCycles(planned.map((p) => ({ name: p.task.name, after: p.after.map((a) => a.replace(/^task:/, '')) })));
  // A task after a skipped one is skipped too, however deep.
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of planned) {
      if (skipped.has(p.task.name)) continue;
      const blocker = p.after.map((a) => a.replace(/^task:/, '')).find((a) => skipped.has(a));
      if (blocker !== undefined) {
        skipped.set(p.task.name, `runs after ${blocker}, which was skipped`);
        changed = true;
      }
    }
  }
  const runnable = planned.filter((p) => !skipped.has(p.task.name));
  return {
    foreground: runnable.filter((p) => !p.task.background),
    background: runnable.filter((p) => p.task.background),
    skipped: [...skipped].map(([name, reason]) => ({ task: byName.get(name)!, reason })),
  };
}

/** Throws naming the cycle when tasks run after each other in a circle. */
function checkCycles(items: ReadonlyArray<{ name: string; after: readonly string[] }>): void {
  const names = new Set(items.map((i) => i.name));
  try {
    validateGraph(items.map((i) => ({ name: i.name, deps: i.after.filter((a) => names.has(a)), run: async () => undefined })));
  } catch (error) {
    throw new UsageError(`config vtree tasks: ${errorMessage(error).replace(/^task graph: /, '')}`, 'change their `after` so that they do not wait for each other');
  }
}

/** `tasks-start`: every task's first state in `vtree-tasks.json`, before any of them runs. */
function startStep(stages: Stages, plan: TasksPlan): Task<SetupShared> {
  return {
    name: TASKS_START,
    deps: [stages.checkout, TASKS_PLAN],
    async run(_ctx, deps) {
      const { gitDir } = deps[stages.checkout] as CheckoutStage;
      const { TaskStatusWriter } = await import('./status.js');
      const writer = new TaskStatusWriter(gitDir, {});
      plan.writer = writer;
      await writer.updateAll(
        Object.fromEntries([
          ...plan.skipped.map(({ task, reason }) => [task.name, { state: 'skipped' as const, error: reason, ...(task.background ? { background: true } : {}) }]),
          // Foreground tasks are this process's to run; background ones the job's, which claims them with its pid.
          ...plan.foreground.map(({ task }) => [task.name, { state: 'pending' as const, pid: process.pid }]),
          ...plan.background.map(({ task }) => [task.name, { state: 'pending' as const, background: true }]),
        ]),
      );
    },
  };
}

/** The environment facts every task step of a set-up run reads from its dependencies. */
function envFacts(stages: Stages, deps: Readonly<Record<string, unknown>>) {
  const { repo } = deps[stages.repo] as RepoStage;
  const target = deps[stages.target] as TargetStage;
  const override = deps['compose-override'] as { composeFile?: string } | undefined;
  return {
    project: target.project,
    mainPath: repo.mainPath,
    path: target.path,
    slug: target.slug,
    branch: target.branch,
    ports: (deps.ports as Record<string, number> | undefined) ?? {},
    ...(override?.composeFile ? { composeFile: override.composeFile } : {}),
  };
}

/** One foreground task: a step of the set-up graph; a failure fails the run (a warning when optional). */
function foregroundStep(stages: Stages, plan: TasksPlan, { task, after }: Planned): Task<SetupShared> {
  return {
    name: taskNode(task.name),
    deps: [stages.repo, stages.target, stages.checkout, TASKS_START],
    // Ports and the Compose override are in every task's environment.
    after: [...after, 'ports', 'compose-override'],
    async run({ shared, span, profiler, signal }, deps) {
      const { repo } = deps[stages.repo] as RepoStage;
      const { path } = deps[stages.checkout] as CheckoutStage;
      const [{ runTaskCommand }, { taskEnv }, { taskLogPath }] = await Promise.all([import('./runner.js'), import('./env.js'), import('../../core/paths.js')]);
      const log = taskLogPath(repo.commonDir, task.name, shared.runId);
      const writer = plan.writer!;
      const ready = deps[SERVICES_READY] as { wait(signal: AbortSignal): Promise<void> } | undefined;
      if (ready) {
        await profiler.time(`wait:${SERVICES_READY}`, span.id, () => ready.wait(signal)).catch(async (error: unknown) => {
          // The stack it needs did not come up: it never ran, and says why.
          await writer.update(task.name, { state: 'skipped', error: errorMessage(error) });
          throw error;
        });
      }
      const startedAt = new Date();
      span.set('log', log);
      await writer.update(task.name, { state: 'running', log, startedAt: startedAt.toISOString(), pid: process.pid });
      shared.log(`task ${task.name}: ${firstLine(task.run)}`);
      const progress = progressLine(task.name);
      try {
        await runTaskCommand(task, { cwd: path, env: taskEnv(envFacts(stages, deps)), log, signal, ...(progress ? { onLine: progress.show } : {}) });
      } catch (error) {
        progress?.clear();
        const status = (error as { status?: unknown }).status;
        await writer.update(task.name, { state: 'failed', endedAt: new Date().toISOString(), error: errorMessage(error), ...(typeof status === 'number' ? { exitCode: status } : {}) });
        if (!task.optional || signal.aborted) throw error;
        span.set('failed', errorMessage(error));
        shared.warn(`(optional) ${errorMessage(error)}; its log: ${log}`);
        return;
      }
      progress?.clear();
      await writer.update(task.name, { state: 'done', endedAt: new Date().toISOString(), exitCode: 0 });
      shared.log(`task ${task.name}: done in ${formatMs(Date.now() - startedAt.getTime())}`);
    },
  };
}

/**
 * Hands the background tasks to the detached `project-tasks` job, after every foreground task
 * and the start of the stack: the job waits for the stack where a task needs it.
 */
function backgroundStep(stages: Stages, plan: TasksPlan): Task<SetupShared> {
  return {
    name: TASKS_BACKGROUND,
    deps: [stages.repo, stages.target, stages.checkout, TASKS_START],
    after: [...plan.foreground.map((p) => taskNode(p.task.name)), 'services-start', 'ports', 'compose-override'],
    async run({ shared, span }, deps) {
      const { repo } = deps[stages.repo] as RepoStage;
      const target = deps[stages.target] as TargetStage;
      const { gitDir, path } = deps[stages.checkout] as CheckoutStage;
      const [{ startBackgroundJob }, { taskEnv }, { taskLogPath }] = await Promise.all([import('../../core/background.js'), import('./env.js'), import('../../core/paths.js')]);
      const tasks: BackgroundTask[] = plan.background.map(({ task, after, waitsForServices }) => ({ ...task, log: taskLogPath(repo.commonDir, task.name, shared.runId), before: after, waitsForServices }));
      await plan.writer!.updateAll(Object.fromEntries(tasks.map((task) => [task.name, { state: 'pending' as const, background: true, log: task.log }])));
      const job: TasksJobPlan = { commonDir: repo.commonDir, gitDir, path, branch: target.branch, slug: target.slug, linkedTo: shared.runId, env: taskEnv(envFacts(stages, deps)), tasks };
      const log = await startBackgroundJob({ job: 'project-tasks', id: shared.runId, commonDir: repo.commonDir, args: [JSON.stringify(job)], cwd: path });
      span.set('log', log);
      shared.log(`tasks: ${tasks.map((t) => t.name).join(', ')} in the background (git vtree status)`);
    },
  };
}

function outcomeError(outcome: { state: string; error?: unknown } | undefined): string {
  return outcome && 'error' in outcome ? errorMessage(outcome.error) : 'did not run';
}

function firstLine(text: string): string {
  const [first = '', ...rest] = text.split('\n');
  return rest.length > 0 ? `${first} ...` : first;
}

/** On a terminal, one line that shows the latest output of the running tasks, rewritten in place. */
function progressLine(name: string): { show(line: string): void; clear(): void } | undefined {
  if (process.stderr.isTTY !== true || process.env.VTREE_BACKGROUND) return undefined;
  const width = Math.max(20, (process.stderr.columns || 80) - 1);
  return {
    show: (line) => void process.stderr.write(`\r\x1b[K${`task ${name}: ${line}`.slice(0, width)}`),
    clear: () => void process.stderr.write('\r\x1b[K'),
  };
}
