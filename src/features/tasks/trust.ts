import { createHash } from 'node:crypto';
import { readApprovals, recordApprovals } from '../../core/consent.js';
import { definitionText, type ProjectTask } from './definitions.js';

/** Where a committed task stands with the user. */
export type TrustState = 'approved' | 'new' | 'changed';

/**
 * The approval key of a task: a hash of its whole definition and the repository's main worktree
 * path, so that an edited command, or the same text in another clone, needs approving again.
 */
export function trustKey(mainPath: string, task: ProjectTask): string {
  return createHash('sha256').update(mainPath).update('\0').update(definitionText(task)).digest('hex');
}

/**
 * How each task stands: tasks from the user's own git config are always `approved`; a committed
 * one is `approved` when the user approved exactly its text here, `changed` when they approved an
 * earlier text of the same task, else `new`.
 */
export async function trustStates(mainPath: string, tasks: readonly ProjectTask[], env: NodeJS.ProcessEnv = process.env): Promise<Map<ProjectTask, TrustState>> {
  const approved = tasks.some((t) => t.committed) ? await readApprovals(env) : {};
  const approvals = Object.values(approved);
  return new Map(
    tasks.map((task) => {
      if (!task.committed || approved[trustKey(mainPath, task)]) return [task, 'approved'];
      const before = approvals.some((a) => a.repo === mainPath && a.kind === task.kind && a.name === task.name);
      return [task, before ? 'changed' : 'new'];
    }),
  );
}

/** Records the user's approval of `tasks` (as they are now) in the repository at `mainPath`. */
export async function approveTasks(mainPath: string, tasks: readonly ProjectTask[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await recordApprovals(
    tasks.map((task) => ({ key: trustKey(mainPath, task), approval: { repo: mainPath, kind: task.kind, name: task.name, run: task.run } })),
    env,
  );
}
