import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/core/exec.js';
import { writeFileAtomic } from '../../src/core/files.js';
import { composeAppsForFile, requirePrereq, git, vtree, slowHealthyCompose } from '../helpers.js';

let root: string;
let env: NodeJS.ProcessEnv;
/** A repository whose first commit holds `files`; its name prefixes its Compose projects. */
const makeApp = composeAppsForFile('wait', (dirs) => ({ root, env } = dirs));

describe('git vtree wait: project tasks (vtree-tasks.json)', () => {
  it('waits for a running task, fails with a failed task and its last lines, and status --json reports the same phases', async () => {
    const { repo } = await makeApp({ 'README.md': '# app\n' });
    const added = await vtree(repo, ['add', 'tasks', '--json'], env);
    expect(added.code, added.stderr).toBe(0);
    const path = JSON.parse(added.stdout).path as string;
    const gitDir = join(repo, '.git', 'worktrees', 'tasks');
    const log = join(root, 'migrate.log');
    // Replaced in one step, as vtree's task job writes it: `wait` polls every 50 ms and must not read it half-written.
    const tasks = (state: string, extra: Record<string, unknown> = {}) =>
      writeFileAtomic(join(gitDir, 'vtree-tasks.json'), JSON.stringify({ tasks: { migrate: { state, log, startedAt: new Date().toISOString(), ...extra } }, updatedAt: new Date().toISOString() }));

    await tasks('running');
    const timedOut = await vtree(path, ['wait', '--timeout', '1', '--json'], env);
    expect(timedOut.code).toBe(1);
    expect(JSON.parse(timedOut.stdout)).toMatchObject({ ok: false, state: 'pending', timedOut: true, pending: ['task migrate'] });
    const status = await vtree(path, ['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).readiness).toMatchObject({ state: 'pending', phases: expect.arrayContaining([expect.objectContaining({ name: 'task migrate', state: 'running', log })]) });

    // Finishing while wait waits: wait returns ready.
    const waiting = vtree(repo, ['wait', 'tasks', '--timeout', '60'], env);
    await new Promise((r) => setTimeout(r, 1000));
    await tasks('done', { endedAt: new Date().toISOString(), exitCode: 0 });
    const ready = await waiting;
    expect(ready.code, ready.stderr).toBe(0);
    expect(ready.stdout.split('\n')[0]).toBe(`path: ${path}`);
    expect(ready.stderr).toMatch(/task migrate: done/);

    await writeFile(log, 'applying 0001_init\nERROR: relation "users" already exists\n');
    await tasks('failed', { exitCode: 3, error: 'npm run db:migrate exited with code 3' });
    const failed = await vtree(repo, ['wait', 'tasks'], env);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('git vtree: task migrate failed: npm run db:migrate exited with code 3');
    expect(failed.stderr).toContain('| ERROR: relation "users" already exists');
    expect(failed.stdout).toBe('');
  });

  it('waits for the background job that caches a fresh install of the worktree', async () => {
    const { repo } = await makeApp({
      '.gitignore': 'node_modules\n',
      'package.json': JSON.stringify({ name: 'app', version: '1.0.0', dependencies: { dep: 'file:./dep' } }),
      'package-lock.json': JSON.stringify({
        name: 'app',
        version: '1.0.0',
        lockfileVersion: 3,
        requires: true,
        packages: { '': { name: 'app', version: '1.0.0', dependencies: { dep: 'file:./dep' } }, dep: { version: '1.0.0' }, 'node_modules/dep': { resolved: 'dep', link: true } },
      }),
      'dep/package.json': JSON.stringify({ name: 'dep', version: '1.0.0' }),
    });
    const added = await vtree(repo, ['add', 'fresh', '--json'], env);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout).facts.deps).toMatchObject({ source: 'miss' });
    const waited = await vtree(repo, ['wait', 'fresh', '--json'], env);
    expect(waited.code, waited.stderr).toBe(0);
    const deps = (JSON.parse(waited.stdout).phases as Array<{ name: string; state: string; log: string }>).find((p) => p.name === 'deps');
    expect(deps).toMatchObject({ state: 'done', log: expect.stringMatching(/cache-snapshot-.*\.log$/) });
    expect(await readFile(deps!.log, 'utf8')).toMatch(/cache-snapshot finished in/);
  });

  it('says so, at once, for a worktree vtree never set up', async () => {
    const { repo } = await makeApp({ 'README.md': '# app\n' });
    const wt = join(root, 'plain-old');
    await git(repo, 'worktree', 'add', '-q', '-b', 'plain-old', wt);
    // Older than the grace a set-up in progress gets.
    const old = new Date(Date.now() - 10 * 60_000);
    await run('touch', ['-d', old.toISOString(), join(repo, '.git', 'worktrees', 'plain-old', 'HEAD')]);
    const result = await vtree(wt, ['wait', '--json'], env);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, state: 'failed', failed: { name: 'setup', detail: expect.stringMatching(/never set this worktree up; run: git vtree setup/) } });
  });
});

describe('git vtree wait: the Compose stack', () => {
  beforeEach(async (ctx) => {
    await requirePrereq('docker', ctx);
  });
  it('returns once a service with a healthcheck is healthy, with its URL and the .env block', async () => {
    // Healthy only after a few seconds: wait must not return before.
    const compose = slowHealthyCompose(3);
    const { repo, name } = await makeApp({ 'compose.yaml': compose, '.gitignore': '.env\n' });
    const added = await vtree(repo, ['add', 'slow', '--json'], env);
    expect(added.code, added.stderr).toBe(0);
    const { path, facts } = JSON.parse(added.stdout) as { path: string; facts: { ports: Record<string, number> } };
    const port = facts.ports.WEB_PORT!;

    const waited = await vtree(repo, ['wait', 'slow', '--json'], env);
    expect(waited.code, waited.stderr).toBe(0);
    const ready = JSON.parse(waited.stdout);
    expect(ready).toMatchObject({
      ok: true,
      state: 'ready',
      path,
      services: [{ service: 'web', containerPort: 8080, address: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}` }],
      env: { COMPOSE_PROJECT_NAME: `${name}-slow`, WEB_PORT: String(port) },
    });
    expect(ready.phases).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'services', state: 'done', detail: 'healthy' })]));
    // No retry: healthy means it answers now.
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok\n');
    const { stdout: health } = await run('docker', ['inspect', '--format', '{{.State.Health.Status}}', `${name}-slow-web-1`]);
    expect(health.trim()).toBe('healthy');
  });

  it('believes the engine once every service is healthy there, without waiting for the start job to say so', async () => {
    const { repo } = await makeApp({ 'compose.yaml': slowHealthyCompose(1), '.gitignore': '.env\n' });
    const added = await vtree(repo, ['add', 'frozen', '--json'], env);
    expect(added.code, added.stderr).toBe(0);
    const statusFile = join(repo, '.git', 'worktrees', 'frozen', 'vtree-services.json');
    // The start job writes its pid first: freeze it there, so that only the engine can tell.
    let pid: number | undefined;
    for (let i = 0; i < 1200 && pid === undefined; i++) {
      pid = (JSON.parse(await readFile(statusFile, 'utf8')) as { pid?: number }).pid;
      if (pid === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGSTOP');
    try {
      const waited = await vtree(repo, ['wait', 'frozen', '--json', '--timeout', '120'], env);
      expect(waited.code, waited.stderr).toBe(0);
      expect(JSON.parse(waited.stdout).phases).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'services', state: 'done', detail: 'healthy' })]));
      // The job, frozen, has not said so.
      expect(JSON.parse(await readFile(statusFile, 'utf8'))).toMatchObject({ state: 'starting' });
    } finally {
      process.kill(pid!, 'SIGCONT');
    }
  });

  it("fails with the service's own error when it cannot start (an image that does not exist)", async () => {
    const compose = ['services:', '  db:', '    image: 127.0.0.1:1/vtree-missing:1', '  api:', '    image: vtree-test/busybox:latest', '    command: ["sleep", "600"]', '    depends_on: [db]', ''].join('\n');
    const { repo } = await makeApp({ 'compose.yaml': compose });
    const added = await vtree(repo, ['add', 'broken'], env);
    // The worktree is made; the stack fails in the background.
    expect(added.code, added.stderr).toBe(0);
    const waited = await vtree(repo, ['wait', 'broken', '--timeout', '300'], env);
    expect(waited.code).toBe(1);
    expect(waited.stdout).toBe('');
    expect(waited.stderr).toMatch(/^git vtree: services failed: services did not come up: .*db/m);
    // The engine's own words about the image it could not get.
    expect(waited.stderr).toMatch(/services failed: .*127\.0\.0\.1:1.*connection refused/);
    expect(waited.stderr).toMatch(/log: .*services-up-.*\.log/);
    expect(waited.stderr).toContain('hint: git vtree logs --job');
    const json = JSON.parse((await vtree(repo, ['wait', 'broken', '--json'], env)).stdout);
    expect(json).toMatchObject({ ok: false, state: 'failed', failed: { name: 'services', state: 'failed' } });
    expect(json.failed.lastLines.length).toBeGreaterThan(0);
  });
});
