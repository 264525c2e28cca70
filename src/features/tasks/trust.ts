import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from '../../core/files.js';
import { withLock } from '../../core/lock.js';
import { machineStateDir, trustStorePath } from '../../core/paths.js';
import { definitionText, type ProjectTask } from './definitions.js';

/** One approval: exactly this definition, in the repository whose main worktree is `repo`. */
interface Approval {
  repo: string;
  kind: ProjectTask['kind'];
  name: string;
  run: string;
  approvedAt: string;
}

/** The machine-wide trust store, by approval key. */
interface TrustStore {
  approved: Record<string, Approval>;
}

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
  const store = tasks.some((t) => t.committed) ? await readStore(env) : { approved: {} };
  const approvals = Object.values(store.approved);
  return new Map(
    tasks.map((task) => {
      if (!task.committed || store.approved[trustKey(mainPath, task)]) return [task, 'approved'];
      const before = approvals.some((a) => a.repo === mainPath && a.kind === task.kind && a.name === task.name);
      return [task, before ? 'changed' : 'new'];
    }),
  );
}

/** Records the user's approval of `tasks` (as they are now) in the repository at `mainPath`. */
export async function approveTasks(mainPath: string, tasks: readonly ProjectTask[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (tasks.length === 0) return;
  await withLock(join(machineStateDir(env), 'locks', 'trust.lock'), async () => {
    const store = await readStore(env);
    const approvedAt = new Date().toISOString();
    for (const task of tasks) {
      // An approval of an earlier text of the same task is superseded, not kept beside it.
      for (const [key, old] of Object.entries(store.approved)) {
        if (old.repo === mainPath && old.kind === task.kind && old.name === task.name) delete store.approved[key];
      }
      store.approved[trustKey(mainPath, task)] = { repo: mainPath, kind: task.kind, name: task.name, run: task.run, approvedAt };
    }
    await writeFileAtomic(trustStorePath(env), JSON.stringify(store, null, 2) + '\n', { mode: 0o600 });
  });
}

async function readStore(env: NodeJS.ProcessEnv): Promise<TrustStore> {
  // A damaged store approves nothing; approving again rewrites it.
  const store = await readJsonFile<TrustStore>(trustStorePath(env)).catch(() => undefined);
  return store && typeof store.approved === 'object' && store.approved !== null ? store : { approved: {} };
}
