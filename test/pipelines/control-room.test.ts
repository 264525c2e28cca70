import { describe, expect, it } from 'vitest';
import { readControlRoom } from '../../src/pipelines/control-room.js';
import { controlRoomHtml } from '../../src/observe/control-room.js';
import { composeAppsForFile, requirePrereq, slowHealthyCompose, vtree } from '../helpers.js';

let env: NodeJS.ProcessEnv;
const makeApp = composeAppsForFile('room', (dirs) => ({ env } = dirs));

describe('readControlRoom: what the dashboard shows of each worktree', () => {
  it('gives a running stack its containers, health, leased port and a URL that answers', async (ctx) => {
    await requirePrereq('docker', ctx);
    const { repo } = await makeApp({ 'compose.yaml': slowHealthyCompose(0) });
    const added = await vtree(repo, ['add', 'stacked', '--wait', '--json'], env);
    expect(added.code, added.stderr).toBe(0);
    const path = JSON.parse(added.stdout).path as string;

    const views = await readControlRoom(repo);
    expect(views.map((v) => v.branch)).toEqual(['main', 'stacked']);
    const view = views.find((v) => v.branch === 'stacked')!;
    const port = view.ports.WEB_PORT!;
    expect(port).toBeGreaterThan(0);
    expect(view).toMatchObject({
      path,
      state: 'ready',
      stack: 'healthy',
      services: [{ service: 'web', state: 'running', health: 'healthy', urls: [{ address: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}`, containerPort: 8080 }] }],
    });
    expect(view.phases.map((p) => [p.name, p.state])).toEqual([['setup', 'done'], ['services', 'done']]);
    expect(view.failure).toBeUndefined();
    expect((await fetch(view.services[0]!.urls[0]!.url)).status).toBeLessThan(500);
    expect(controlRoomHtml(views)).toContain(`<a href="http://127.0.0.1:${port}" target="_blank" rel="noopener noreferrer">127.0.0.1:${port}</a>`);
    expect(controlRoomHtml(views)).toContain('1 container running');
  }, 120_000);
});
