// The shape of what `git vtree bench` records, kept here so that stats can read it without the bench.

/** Timings of one way of making a worktree, over every measured run (ms, wall clock). */
export interface BenchSide {
  median: number;
  min: number;
  max: number;
  durations: number[];
  /** Median of each phase, in the order the phases ran. */
  phases: Array<{ name: string; median: number }>;
}

/** What `git vtree bench` records in its run's `facts.bench` and prints with `--json`. */
export interface BenchFacts {
  runs: number;
  /** The commit every worktree was made from. */
  base: string;
  /** The "before" install command line, or null when the repository has no package.json. */
  install: string | null;
  /** Whether "before" ran `docker compose up -d` (a compose file and a Docker engine were there). */
  compose: boolean;
  before: BenchSide;
  vtree: BenchSide & { depsSources: string[] };
  /** before median / vtree median. */
  speedup: number;
  /** Worktrees left in place by `--keep`. */
  kept: string[];
}
