import { describe, expect, it } from 'vitest';
import { controlRoomHtml, type WorktreeView } from '../../src/observe/control-room.js';

const HOSTILE: WorktreeView = {
  path: '/repo.worktrees/<img src=x onerror=alert(1)>',
  branch: 'feat/<script>alert(1)</script>',
  main: false,
  state: 'failed',
  phases: [{ name: 'task "x"', state: 'failed', detail: '</td><b>boom</b>' }],
  services: [{ service: 'web<i>', state: 'exited', exitCode: 1, urls: [] }],
  ports: { 'A<B': 1 },
  failure: { phase: 'task "x"', detail: 'exited with code 1', log: "/l/'quote'.log", lastLines: ['<hr>', 'plain'] },
};

describe('controlRoomHtml', () => {
  it('escapes every value a worktree, its branch or its task output supplies', () => {
    const html = controlRoomHtml([HOSTILE]);
    for (const raw of ['<script>', '<img', '<b>boom', '<i>', 'A<B', '<hr>', "'quote'"]) expect(html).not.toContain(raw);
    expect(html).toContain('feat/&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('<pre>&lt;hr&gt;\nplain</pre>');
    expect(html).toContain('web&lt;i&gt; <b>exited · exit 1</b>');
  });

  it('counts the worktrees by state, and is self-contained (the page runs its source text)', () => {
    const ready: WorktreeView = { path: '/r', branch: 'main', main: true, state: 'ready', phases: [], services: [], ports: {} };
    expect(controlRoomHtml([ready, HOSTILE])).toContain('<p class="summary" id="worktrees-summary">2 worktrees · 1 ready · 1 failed · 0 containers running</p>');
    // What the page does with it: a copy made from its source text must draw the same.
    const copy = new Function(`return (${controlRoomHtml.toString()})`)() as typeof controlRoomHtml;
    expect(copy([ready, HOSTILE])).toBe(controlRoomHtml([ready, HOSTILE]));
  });
});
