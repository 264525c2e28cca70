import { worktreeGitDir } from '../git/worktree-state.js';
import type { WorktreeView } from '../observe/control-room.js';
import { listWorktreesWithState } from './list.js';
import { containerUrls, readReadiness, stackContainers } from './readiness.js';

/**
 * What the dashboard shows of each worktree (spares left out): `list`'s row, the readiness phases
 * `wait` and `status` read, and its stack's containers from the engine. All worktrees are read
 * concurrently; nothing is changed.
 */
export async function readControlRoom(cwd: string): Promise<WorktreeView[]> {
  const rows = await listWorktreesWithState(cwd);
  return Promise.all(
    rows.map(async (row): Promise<WorktreeView> => {
      const view: WorktreeView = { path: row.path, main: row.main, state: 'ready', phases: [], services: [], ports: row.ports ?? {} };
      if (row.branch) view.branch = row.branch;
      if (row.createdAt) view.createdAt = row.createdAt;
      if (row.deps) view.deps = row.deps;
      if (row.services) view.stack = row.services;
      if (row.prunable) return { ...view, state: 'failed', failure: { phase: 'worktree', detail: 'its directory is gone; run: git worktree prune', lastLines: [] } };
      const readiness = await readReadiness(row.path, await worktreeGitDir(row.path), row.main);
      view.state = readiness.state;
      view.phases = readiness.phases.map((p) => ({ name: p.name, state: p.state, ...(p.detail ? { detail: p.detail } : {}) }));
      const failed = readiness.failed ?? [...readiness.phases].reverse().find((p) => p.state === 'failed');
      if (failed) view.failure = { phase: failed.name, ...(failed.detail ? { detail: failed.detail } : {}), ...(failed.log ? { log: failed.log } : {}), lastLines: failed.lastLines ?? [] };
      view.services = (await stackContainers(readiness)).map((c) => ({
        service: c.service,
        state: c.state,
        ...(c.health ? { health: c.health } : {}),
        ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
        urls: containerUrls(c).map((u) => ({ address: u.address, url: u.url, containerPort: u.containerPort })),
      }));
      return view;
    }),
  );
}
