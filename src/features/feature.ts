import type { Config } from '../git/config.js';
import type { Task } from '../core/graph.js';
import type { Repo } from '../git/repo.js';
import type { ClaimedSpare } from '../git/spare-worktree.js';

/** Flags that shape a set-up run (`add`, `setup`, the post-checkout hook). */
export interface SetupOptions {
  /** Restore dependencies (`--no-deps` turns it off). */
  deps: boolean;
  /** Start the Compose stack (`--no-services` turns it off). */
  services: boolean;
  /** Start only these services (and what they depend on): `--services a,b`. */
  servicesScope?: string[];
  /** Wait for critical services before returning (`--wait`). */
  wait: boolean;
  /** Under `--wait`, roll the worktree back when its services do not come up (else it is kept). */
  rollbackOnFailure?: boolean;
  /** `--link-mode`, over config `vtree.linkMode`. */
  linkMode?: string;
}

/** What every task of a set-up run shares. Tasks write their facts under their feature's name. */
export interface SetupShared {
  command: 'add' | 'hook' | 'setup';
  runId: string;
  options: SetupOptions;
  /** Facts recorded in the run's metrics (`deps.source`, `ports`, ...). */
  facts: Record<string, unknown>;
  /** Sections persisted in the worktree's state file (`vtree.json`). */
  state: Record<string, unknown>;
  /** A progress line for the human (stderr; quiet under --json). */
  log(line: string): void;
  /** A warning, shown even under --json (on stderr). */
  warn(line: string): void;
  /**
   * The built-in task names of each feature of the run (empty for a feature switched off), so
   * that the project's own tasks can name a feature in `after`. Filled in by the pipeline.
   */
  featureTasks?: Readonly<Record<string, readonly string[]>>;
}

/** Result of the repository stage. */
export interface RepoStage {
  repo: Repo;
  config: Config;
}

/** Result of the target stage: known before any file is checked out. */
export interface TargetStage {
  branch: string;
  /** Unique among the repository's worktrees; names the Compose project and the state. */
  slug: string;
  /** The worktree's Compose project name, unique on this machine (git/project-prefix.ts). */
  project: string;
  /** Absolute worktree path. */
  path: string;
  /** The commit that is (or will be) checked out. */
  commit: string;
  /**
   * In `add`: the spare worktree renamed onto `path`, which checkout will switch to the branch
   * (its dependencies are already there). Checkout may still fall back to `git worktree add`:
   * {@link CheckoutStage.fromSpare} says what happened.
   */
  spare?: ClaimedSpare;
}

/** Result of the checkout stage: the worktree's files are on disk. */
export interface CheckoutStage {
  path: string;
  /** The worktree's own git dir (`<common>/worktrees/<id>`). */
  gitDir: string;
  /** The worktree is the target stage's spare, switched to the branch (not a fresh checkout). */
  fromSpare?: boolean;
}

/**
 * Names of the tasks that provide each stage in a given pipeline, so that a feature's tasks
 * plug into `add` (where checkout is `git worktree add`) and `setup`/the hook (where the
 * worktree already exists) alike.
 */
export interface Stages {
  repo: string;
  target: string;
  checkout: string;
}

/** What every task of an `rm` run shares. */
export interface RemoveShared {
  runId: string;
  /** `--force`: remove despite local changes. */
  force: boolean;
  /** `--volumes`: also remove the Compose stack's volumes. */
  volumes: boolean;
  facts: Record<string, unknown>;
  log(line: string): void;
  warn(line: string): void;
}

/** Result of the locate stage of `rm`: the worktree being removed. */
export interface RemoveTarget extends RepoStage {
  path: string;
  gitDir: string;
  branch?: string;
  slug: string;
  /** The Compose project name it was set up with (or would have been). */
  project: string;
  /** What vtree recorded when it set the worktree up, if it did. */
  state?: Record<string, unknown>;
}

/**
 * A feature plugs tasks into the set-up graph and, optionally, the teardown graph of `rm`.
 * Features are listed, in order, in `pipelines/features.ts`.
 */
export interface Feature {
  name: string;
  /** Whether the feature takes part in this run (for example `--no-deps`). */
  enabled?(options: SetupOptions): boolean;
  setupTasks(stages: Stages): Task<SetupShared>[];
  /** Tasks run by `rm` before the worktree is removed (their inputs: {@link TeardownStages}). */
  teardownTasks?(stages: TeardownStages): Task<RemoveShared>[];
}

/**
 * The tasks of `rm` a teardown task may depend on; both give the {@link RemoveTarget}. A task that
 * changes anything (stops a stack, releases ports, runs the project's teardown) depends on
 * `cleared`, done once `rm` is sure to go ahead; one that only reads, or whose work its undo takes
 * back, may depend on `located` and so overlap the check for local changes.
 */
export interface TeardownStages {
  /** The worktree is found and its recorded state read. */
  located: string;
  /** It has no local change (or `--force` was given): it will be removed. */
  cleared: string;
}
