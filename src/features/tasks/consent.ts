import { askConsent, TRUST_COMMAND } from '../../core/consent.js';
import { TEAM_CONFIG_FILE } from '../../git/config.js';
import type { ProjectTask } from './definitions.js';
import { approveTasks, trustStates, type TrustState } from './trust.js';

/** Which of a run's tasks may run, and which wait for the user's approval. */
export interface Consent {
  runnable: ProjectTask[];
  unapproved: ProjectTask[];
}

/** How a task is shown for approval: its section and its command, as the committed file has them. */
export function describeTask(task: ProjectTask, state?: TrustState): string[] {
  const flags = [task.background ? 'background' : '', task.optional ? 'optional' : '', task.after.length > 0 ? `after ${task.after.join(' ')}` : ''].filter(Boolean);
  return [
    `[vtree "${task.kind}.${task.name}"]${state === 'changed' ? ' (changed since you approved it)' : ''}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`,
    ...task.run.split('\n').map((line) => `    ${line}`),
  ];
}

/**
 * Splits `tasks` into those that may run and those the user has not approved. Tasks from the
 * user's own git config run; a committed one runs when the user approved exactly its text, or
 * approves it now when vtree may ask (`interactive` and a terminal). Otherwise it is skipped, and
 * `warn` says so in one line naming the command that approves it.
 */
export async function consent(mainPath: string, tasks: readonly ProjectTask[], interactive: boolean, io: { warn(line: string): void }): Promise<Consent> {
  const states = await trustStates(mainPath, tasks);
  let unapproved = tasks.filter((t) => states.get(t) !== 'approved');
  if (unapproved.length > 0) {
    const lines = [`${TEAM_CONFIG_FILE} in ${mainPath} asks to run:`, ...unapproved.flatMap((task) => describeTask(task, states.get(task)))];
    if (await askConsent(interactive, lines, 'Run these commands (now and whenever a worktree of this repository is set up)?')) {
      await approveTasks(mainPath, unapproved);
      unapproved = [];
    }
  }
  if (unapproved.length > 0) {
    const changed = unapproved.some((t) => states.get(t) === 'changed') ? ', or changed since you approved them' : '';
    io.warn(`skipped ${unapproved.map((t) => `${t.kind} ${t.name}`).join(', ')} from ${TEAM_CONFIG_FILE}: not approved on this machine${changed}; review and approve with: ${TRUST_COMMAND}`);
  }
  return { runnable: tasks.filter((t) => !unapproved.includes(t)), unapproved };
}
