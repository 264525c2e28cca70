/** One port leased to one variable of one worktree. */
export interface PortLease {
  port: number;
  /** The variable it is for (`API_PORT`). */
  variable: string;
  /** Absolute (real) path of the worktree holding it. */
  worktree: string;
  /** The common git dir of the worktree's repository. */
  repo: string;
  /** ISO time it was leased. */
  leasedAt: string;
  /** The process that leased it: while the worktree's set-up is not recorded, the lease dies with it. */
  pid?: number;
}
