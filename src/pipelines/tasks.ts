import { errorMessage, VtreeError } from '../core/errors.js';
import { exists } from '../core/files.js';
import { Profiler } from '../core/profiler.js';
import { waitForCritical, waitTimeoutMs } from '../features/services/stack.js';
import type { TasksJobPlan } from '../features/tasks/feature.js';
import { runOrdered, runTaskCommand } from '../features/tasks/runner.js';
import { TaskStatusWriter } from '../features/tasks/status.js';
import { newRunId } from '../observe/metrics.js';
import { recordRun, toRunRecord } from './record.js';
import { resolveRepoStage } from './repo-stage.js';

/**
 * The body of the detached `project-tasks` job: runs a worktree's background project tasks, each
 * once the tasks it names are done and, where it needs the stack, once the critical services are
 * up; keeps `vtree-tasks.json` current and records its own run (`tasks`, one span per task),
 * linked to the set-up run that started it. One failure does not stop the others.
 */
export async function runTasksJob(plan: TasksJobPlan, log: (line: string) => void): Promise<void> {
  const profiler = new Profiler();
  const writer = await TaskStatusWriter.resume(plan.gitDir);
  // The job claims its tasks: from now on, if this process dies, they read as failed (not pending for ever).
  await writer.updateAll(Object.fromEntries(plan.tasks.map((task) => [task.name, { state: 'pending' as const, pid: process.pid }])));
  const where = await resolveRepoStage(plan.path).catch(() => undefined);
  let services: Promise<void> | undefined;
  const servicesUp = () =>
    (services ??= profiler.time('wait:services-ready', null, async () => {
      await waitForCritical(plan.gitDir, where ? waitTimeoutMs(where.config) : 120_000);
    }));
  const outcomes = await runOrdered(
    plan.tasks.map((task) => ({ ...task, after: task.before })),
    async (task) => {
      if (task.waitsForServices) await servicesUp();
      // `rm` may have removed the worktree meanwhile.
      if (!(await exists(plan.path))) throw new VtreeError('the worktree was removed before this task ran');
      await profiler.time(`task:${task.name}`, null, async (span) => {
        span.set('log', task.log);
        log(`task ${task.name}: ${task.run}`);
        await writer.update(task.name, { state: 'running', startedAt: new Date().toISOString(), pid: process.pid });
        await runTaskCommand(task, { cwd: plan.path, env: plan.env, log: task.log });
      });
    },
  );
  const facts: Record<string, string> = {};
  for (const task of plan.tasks) {
    const outcome = outcomes.get(task.name)!;
    facts[task.name] = outcome.state;
    const endedAt = new Date().toISOString();
    if (outcome.state === 'done') {
      await writer.update(task.name, { state: 'done', endedAt, exitCode: 0 });
      continue;
    }
    const status = (outcome.error as { status?: unknown }).status;
    await writer.update(task.name, { state: outcome.state, endedAt, error: errorMessage(outcome.error), ...(typeof status === 'number' ? { exitCode: status } : {}) });
    log(`task ${task.name} ${outcome.state}: ${errorMessage(outcome.error)}`);
  }
  const failed = plan.tasks.filter((t) => facts[t.name] !== 'done' && !t.optional);
  const error = failed.length > 0 ? new VtreeError(`background task${failed.length > 1 ? 's' : ''} ${failed.map((t) => t.name).join(', ')} did not finish`) : undefined;
  const record = toRunRecord({
    id: newRunId(profiler.startedAt),
    command: 'tasks',
    profiler,
    error,
    linkedTo: plan.linkedTo,
    branch: plan.branch,
    slug: plan.slug,
    path: plan.path,
    facts: { tasks: facts },
  });
  if (where) await recordRun(where, record, log);
  if (error) throw error;
}
