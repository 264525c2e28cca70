import { readJsonFile, writeFileAtomic } from '../../core/files.js';
import { tasksStatusPath } from '../../core/paths.js';
import { jobGone } from '../../core/pid.js';

/** Where one project task stands. */
export type TaskState = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

/** One task's entry in `vtree-tasks.json`. */
export interface TaskStatus {
  state: TaskState;
  /** Its log file (empty when it never ran). */
  log: string;
  /** Runs in the background job. */
  background?: boolean;
  startedAt?: string;
  endedAt?: string;
  exitCode?: number;
  /** Why it failed or was skipped, in one line. */
  error?: string;
  /** The process that runs it (pending: that will run it), while it is pending or running. */
  pid?: number;
}

/** The worktree's `vtree-tasks.json`: its project tasks' live state, for `wait`, `status` and `list`. */
export interface TasksStatus {
  tasks: Record<string, TaskStatus>;
  updatedAt: string;
}

/**
 * The worktree's task status file, if a set-up run wrote one. A task pending or running in a
 * process that has ended (a SIGKILL, a crash of the background job) reads as `failed`, with the
 * reason: nothing will ever finish it, and `wait` must not wait for it until its timeout.
 */
export async function readTasksStatus(worktreeGitDir: string): Promise<TasksStatus | undefined> {
  const status = await readJsonFile<TasksStatus>(tasksStatusPath(worktreeGitDir)).catch(() => undefined);
  if (!status?.tasks || typeof status.tasks !== 'object') return status;
  const tasks: Record<string, TaskStatus> = {};
  for (const [name, task] of Object.entries(status.tasks)) tasks[name] = orphaned(task, status.updatedAt) ?? task;
  return { ...status, tasks };
}

function orphaned(task: TaskStatus, updatedAt: string): TaskStatus | undefined {
  if (task.state !== 'pending' && task.state !== 'running') return undefined;
  const see = task.log ? `; see ${task.log}` : '';
  // Only a background task waits for a process to claim it (the job, with its pid); a foreground one has its pid from the start.
  if (task.pid === undefined && !task.background) return undefined;
  const gone = jobGone(task.pid, updatedAt);
  if (gone === 'ended') return { ...task, state: 'failed', error: `the process running it (pid ${task.pid}) ended before it finished${see}` };
  if (gone === 'never started') return { ...task, state: 'failed', error: `the background job did not start${see}` };
  return undefined;
}

/**
 * Keeps one worktree's `vtree-tasks.json` current for the tasks of one process: every change is
 * merged into what is known and the whole file is rewritten atomically, one write at a time, so
 * that concurrent tasks never tear it and a reader never sees half of it.
 */
export class TaskStatusWriter {
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly gitDir: string,
    private readonly tasks: Record<string, TaskStatus>,
  ) {}

  /** Starts from the file as it is (the background job continues what the set-up run wrote). */
  static async resume(gitDir: string): Promise<TaskStatusWriter> {
    return new TaskStatusWriter(gitDir, (await readTasksStatus(gitDir))?.tasks ?? {});
  }

  /** Merges `change` into task `name`'s entry and writes the file. */
  update(name: string, change: Partial<TaskStatus> & { state: TaskState }): Promise<void> {
    return this.updateAll({ [name]: change });
  }

  /** Merges each change into its task's entry and writes the file once. */
  updateAll(changes: Record<string, Partial<TaskStatus> & { state: TaskState }>): Promise<void> {
    for (const [name, change] of Object.entries(changes)) this.tasks[name] = { log: '', ...this.tasks[name], ...change };
    const snapshot = JSON.stringify({ tasks: this.tasks, updatedAt: new Date().toISOString() } satisfies TasksStatus, null, 2) + '\n';
    this.writing = this.writing.catch(() => undefined).then(() => writeFileAtomic(tasksStatusPath(this.gitDir), snapshot, { durable: false }));
    return this.writing;
  }
}
