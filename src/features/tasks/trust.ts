import { approveTexts, textStates, type AskedText, type TrustState } from '../../core/consent.js';
import { definitionText, type ProjectTask } from './definitions.js';

export type { TrustState };

/** A committed task as the trust store knows it: its whole definition is what is approved. */
function asked(task: ProjectTask): AskedText {
  return { kind: task.kind, name: task.name, text: definitionText(task), run: task.run };
}

/**
 * How each task stands: tasks from the user's own git config are always `approved`; a committed
 * one is `approved` when the user approved exactly its text here, `changed` when they approved an
 * earlier text of the same task, else `new`.
 */
export async function trustStates(mainPath: string, tasks: readonly ProjectTask[], env: NodeJS.ProcessEnv = process.env): Promise<Map<ProjectTask, TrustState>> {
  const committed = tasks.filter((t) => t.committed);
  const states = await textStates(mainPath, committed.map(asked), env);
  return new Map(tasks.map((task) => [task, task.committed ? states[committed.indexOf(task)]! : 'approved']));
}

/** Records the user's approval of `tasks` (as they are now) in the repository at `mainPath`. */
export async function approveTasks(mainPath: string, tasks: readonly ProjectTask[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await approveTexts(mainPath, tasks.map(asked), env);
}
