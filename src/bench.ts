/** What `git vtree bench` records in its run's `facts.bench`. */
export interface BenchFacts {
  runs: number;
  before: { median: number; durations: number[]; phases: Record<string, number> };
  vtree: { median: number; durations: number[]; phases: Record<string, number> };
  /** before median / vtree median. */
  speedup: number;
}
