import { describe, expect, it } from 'vitest';
import { allFailpoints } from '../../src/pipelines/failpoints.js';

describe('allFailpoints', () => {
  it('lists both boundaries of every task of add, setup, rm and the spare set-up, and the points inside steps', () => {
    const points = allFailpoints();
    expect(new Set(points).size).toBe(points.length);
    for (const graph of ['add', 'setup', 'rm', 'spare-setup']) {
      const tasks = points.filter((p) => p.startsWith(`${graph}:before:`)).map((p) => p.slice(`${graph}:before:`.length));
      expect(tasks.length, graph).toBeGreaterThan(3);
      for (const task of tasks) expect(points, `${graph} ${task}`).toContain(`${graph}:after:${task}`);
    }
    expect(points).toEqual(expect.arrayContaining(['add:before:git-worktree-add', 'add:after:write-state', 'rm:before:recycle', 'setup:after:ports', 'spare-setup:after:deps-restore']));
    expect(points).toEqual(expect.arrayContaining(['add:git-worktree-add:spare-switched', 'rm:recycle:locked', 'spares:build:checked-out', 'spares:refresh:moved-away', 'spares:prune:moved-away']));
  });
});
