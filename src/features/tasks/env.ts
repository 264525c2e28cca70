/** What a project task's environment is made of. */
export interface TaskEnvFacts {
  /** The worktree's Compose project name. */
  project: string;
  mainPath: string;
  path: string;
  slug: string;
  branch?: string;
  /** The worktree's leased ports, by variable. */
  ports?: Readonly<Record<string, number>>;
  /** `COMPOSE_FILE` when vtree generated a Compose override. */
  composeFile?: string;
}

/**
 * The variables a project task sees besides vtree's own environment: the worktree's port
 * variables, `COMPOSE_PROJECT_NAME` (and `COMPOSE_FILE`), so that `docker compose` and the
 * project's scripts reach this worktree's stack, and the `VTREE_*` facts. `ROOT_WORKTREE_PATH`
 * is the main worktree too, as Cursor's worktree set-up commands expect.
 */
export function taskEnv(facts: TaskEnvFacts): Record<string, string> {
  return {
    ...Object.fromEntries(Object.entries(facts.ports ?? {}).map(([name, port]) => [name, String(port)])),
    COMPOSE_PROJECT_NAME: facts.project,
    ...(facts.composeFile ? { COMPOSE_FILE: facts.composeFile } : {}),
    VTREE_PATH: facts.path,
    VTREE_SLUG: facts.slug,
    VTREE_BRANCH: facts.branch ?? '',
    VTREE_MAIN_WORKTREE: facts.mainPath,
    ROOT_WORKTREE_PATH: facts.mainPath,
  };
}
