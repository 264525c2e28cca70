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

/** The rows of `git vtree bench --remote`, in the order of its first round. */
export const REMOTE_BENCH_ROWS = ['remote-hit', 'warm-cache', 'cold-cache'] as const;

/** One way `git vtree bench --remote` makes a fresh clone's worktree ready, over its timed rounds. */
export interface RemoteBenchRow extends Omit<BenchSide, 'phases'> {
  id: (typeof REMOTE_BENCH_ROWS)[number];
  /** What is timed, for people. */
  label: string;
  /** Median / the warm-cache row's median; null when either row has no sample. */
  ratio: number | null;
  /** Bytes moved in each timed round counted in `durations`, in the same order. */
  bytes: number[];
  /** Median of `bytes`; null without a sample. */
  medianBytes: number | null;
  /** Why each timed round that failed did; those rounds are in neither `durations` nor `bytes`. */
  errors: string[];
}

/** What `git vtree bench --remote` records in its run's `facts.bench.remote` and prints with `--json`. */
export interface RemoteBenchFacts {
  runs: number;
  /** The commit every clone's worktree was made from. */
  base: string;
  /** The cache key of the lockfile at `base`: the entry the remote-hit row pulls. */
  key: string;
  /** `<registry>/<repository>` of `vtree.cache.remote`. */
  remote: string;
  /** The benchmark pushed the entry before starting (false: the registry had it). */
  pushed: boolean;
  packageManager: string;
  /** The frozen install the warm-cache and cold-cache rows time (`npm ci`). */
  install: string;
  rows: RemoteBenchRow[];
  /** `facts.deps` of the last successful remote-hit `git vtree add` (source, linkMode, files, remoteBytes). */
  hit: Record<string, unknown> | null;
  /** The goal of issue 11: the remote hit at most half a frozen install with a warm cache. */
  target: { target: string; value: number | null; status: 'met' | 'NOT MET' | 'not measured' };
}
