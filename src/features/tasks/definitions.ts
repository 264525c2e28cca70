import { UsageError } from '../../core/errors.js';
import type { Config } from '../../git/config.js';

/** When a project task runs: while a worktree is set up, in `rm` before its stack goes down, or (`seed`) to seed a golden copy of a volume. */
export type ProjectTaskKind = 'task' | 'teardown' | 'seed';

/** One `[vtree "task.<name>"]` (or `[vtree "teardown.<name>"]`) section of the config. */
export interface ProjectTask {
  kind: ProjectTaskKind;
  /** The section's name, lowercased as git config reports it. */
  name: string;
  /** The user's shell command line, run with `sh -c` in the worktree. */
  run: string;
  /** Built-in features or steps, ready points or other tasks of the same kind it runs after. */
  after: string[];
  /** Runs in a detached job after the stack is up instead of before `add` returns. */
  background: boolean;
  /** A failure is a warning, not a failed set-up. */
  optional: boolean;
  /** Defined (wholly or partly) by the committed `.vtreeconfig`: runs only once the user approved it. */
  committed: boolean;
}

/** The keys a task section may have. */
const TASK_KEYS = ['run', 'after', 'background', 'optional'] as const;

/** Task names are file-name and shell safe: they name log files and graph steps. */
const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * The project's tasks of `kind`, from git config and `.vtreeconfig`, in name order. A section
 * without `run`, an unknown key or a name outside `[a-z0-9_-]` is a usage error naming the key.
 */
export function readProjectTasks(config: Config, kind: ProjectTaskKind): ProjectTask[] {
  const prefix = `vtree.${kind}.`;
  return config
    .sections(prefix, TASK_KEYS, kind, NAME, `name the ${kind} with letters, digits, - and _ only`)
    .map(([name, keys]) => {
      const key = (field: string) => `${prefix}${name}.${field}`;
      const run = config.string(key('run'))?.trim();
      if (!run) throw new UsageError(`config ${prefix}${name}: no run = <command>`, `git config ${key('run')} '<command>'`);
      return {
        kind,
        name,
        run,
        after: config.list(key('after')),
        background: kind === 'task' && config.boolean(key('background'), false),
        optional: config.boolean(key('optional'), false),
        committed: keys.some((k) => config.fromTeamFile(k)),
      };
    });
}

/** The definition as approved and hashed: every field that changes what runs, and when. */
export function definitionText(task: ProjectTask): string {
  return JSON.stringify({ kind: task.kind, name: task.name, run: task.run, after: task.after, background: task.background, optional: task.optional });
}
