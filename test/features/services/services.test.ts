import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../../src/core/exec.js';
import type { MetricsFile } from '../../../src/observe/metrics.js';
import { missingImages, readServicesStatus, writeServicesStatus, type ServicesStatus } from '../../../src/features/services/stack.js';
import { composeAppsForFile, git, removalsDone, requirePrereq, testEnv, vtree, type VtreeResult } from '../../helpers.js';

const execFileAsync = promisify(execFile);

/** The runs of `command` in the repository's metrics, newest first. */
async function readWorktreeRuns(repo: string, command: string): Promise<MetricsFile['runs']> {
  const file = join(repo, '.git', 'vibetrees', 'metrics.json');
  return (JSON.parse(await readFile(file, 'utf8')) as MetricsFile).runs.filter((r) => r.command === command);
}

const FIXTURE_COMPOSE = new URL('../../../bench/fixture/compose.yaml', import.meta.url);

let root: string;
let env: NodeJS.ProcessEnv;
/** A new repository whose first commit holds `files`; its name prefixes its Compose projects, so cleanup finds exactly what these tests made. */
const makeApp = composeAppsForFile('svc', (dirs) => ({ root, env } = dirs));

async function fixtureApp(): Promise<{ repo: string; name: string }> {
  return makeApp({ 'compose.yaml': await readFile(FIXTURE_COMPOSE, 'utf8'), 'README.md': '# fixture\n' });
}

interface Added extends VtreeResult {
  json: { ok: boolean; runId: string; path: string; slug: string; facts: { ports?: Record<string, number>; services?: Record<string, unknown> } };
  /** When the command had returned (ms since the epoch). */
  returnedAt: number;
}

async function add(repo: string, branch: string, flags: string[] = [], extraEnv: NodeJS.ProcessEnv = {}): Promise<Added> {
  const result = await vtree(repo, ['add', branch, '--json', ...flags], { ...env, ...extraEnv });
  const returnedAt = Date.now();
  expect(result.code, result.stderr).toBe(0);
  return { ...result, returnedAt, json: JSON.parse(result.stdout) };
}

function gitDirOf(repo: string, slug: string): string {
  return join(repo, '.git', 'worktrees', slug);
}

async function servicesStatus(repo: string, slug: string): Promise<ServicesStatus> {
  return JSON.parse(await readFile(join(gitDirOf(repo, slug), 'vtree-services.json'), 'utf8')) as ServicesStatus;
}

/** Waits (up to a minute) until the background job has settled the stack; returns its status. */
async function settled(repo: string, slug: string): Promise<ServicesStatus> {
  for (let i = 0; i < 240; i++) {
    const status = await servicesStatus(repo, slug);
    if (status.state !== 'starting') return status;
    await sleep(250);
  }
  throw new Error(`the stack of ${slug} is still starting after a minute`);
}

async function httpGet(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/`);
  return response.text();
}

async function containers(project: string, all = true): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', ...(all ? ['-a'] : []), '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}']);
  return stdout.split('\n').filter(Boolean).sort();
}

async function networks(project: string): Promise<string[]> {
  const { stdout } = await run('docker', ['network', 'ls', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Name}}']);
  return stdout.split('\n').filter(Boolean);
}

/** The lines of stderr that talk about services. */
function servicesLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /services?:/.test(l));
}

describe('the live status file', () => {
  it('reads a start job that died, or never started, as failed', async () => {
    const gitDir = join(root, 'status-gitdir');
    await mkdir(gitDir, { recursive: true });
    await writeServicesStatus(gitDir, { state: 'starting', project: 'p', log: '/x.log' });
    expect(await readServicesStatus(gitDir)).toMatchObject({ state: 'starting' });
    const file = join(gitDir, 'vtree-services.json');
    const written = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...written, updatedAt: new Date(Date.now() - 120_000).toISOString() }));
    expect(await readServicesStatus(gitDir)).toMatchObject({ state: 'failed', reason: 'the background job did not start; see /x.log' });
    // A pid that is gone: a process that exits at once gives one.
    const dead = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['-e', '0']);
      child.on('exit', () => resolve(child.pid!));
    });
    await writeServicesStatus(gitDir, { state: 'starting', project: 'p', pid: dead });
    expect(await readServicesStatus(gitDir)).toMatchObject({ state: 'failed', reason: `the process starting the stack (pid ${dead}) ended before it was up` });
    await writeServicesStatus(gitDir, { state: 'starting', project: 'p', pid: process.pid });
    expect(await readServicesStatus(gitDir)).toMatchObject({ state: 'starting' });
  });
});

describe('without a usable stack the worktree is still made, with one line saying why', () => {
  it('no compose file: services "none"', async () => {
    const { repo } = await makeApp({ 'README.md': 'no compose\n' });
    const result = await vtree(repo, ['add', 'plain'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(servicesLines(result.stderr)).toEqual(['services: none (no compose file)']);
    expect(await servicesStatus(repo, 'plain')).toMatchObject({ state: 'none', reason: 'no compose file' });
    expect(existsSync(join(result.stdout.trim(), 'README.md'))).toBe(true);
    const up = await vtree(repo, ['up', '-w', 'plain'], env);
    expect(up.code).toBe(1);
    expect(up.stderr).toBe(`git vtree: no compose file in ${result.stdout.trim()}\nhint: add compose.yaml (or set vtree.compose.files), then run: git vtree up\n`);
    const status = await vtree(repo, ['status', '-w', 'plain', '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'none', reason: 'no compose file', services: [] });
  });

  it('no engine (DOCKER_HOST at a dead socket): services "none", no stack trace', async () => {
    const { repo } = await fixtureApp();
    const result = await vtree(repo, ['add', 'dead', '--wait'], { ...env, DOCKER_HOST: `unix://${join(root, 'dead.sock')}` });
    expect(result.code, result.stderr).toBe(0);
    const lines = servicesLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warning: services: none — (no container engine answers \(.*dead\.sock.*\)|no Compose found)/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await servicesStatus(repo, 'dead')).toMatchObject({ state: 'none' });
    expect(existsSync(join(result.stdout.trim(), 'compose.yaml'))).toBe(true);
    // The worktree keeps what it needs to start the stack later with `git vtree up`.
    const state = JSON.parse(await readFile(join(gitDirOf(repo, 'dead'), 'vtree.json'), 'utf8'));
    expect(state.services).toMatchObject({ state: 'none', files: ['compose.yaml'] });
  });

  it('a compose file that is not valid YAML: one line naming the file, services "failed"', async () => {
    const { repo } = await makeApp({ 'compose.yaml': 'services:\n  web: [\n' });
    const result = await vtree(repo, ['add', 'broken'], env);
    expect(result.code, result.stderr).toBe(0);
    const lines = servicesLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warning: services: not started — compose\.yaml is not valid YAML: .+ at line \d+/);
    expect(await servicesStatus(repo, 'broken')).toMatchObject({ state: 'failed' });
    expect(existsSync(join(result.stdout.trim(), 'compose.yaml'))).toBe(true);
  });
});

describe('the Compose stack of each worktree (real Docker)', () => {
  beforeEach(async (ctx) => {
    await requirePrereq('docker', ctx);
  });

  it('two, then five worktrees created at once get distinct ports, all run at once, each answers on its own port', async () => {
    const { repo, name } = await fixtureApp();
    const first = await Promise.all(['c1', 'c2'].map((b) => add(repo, b)));
    const second = await Promise.all(['c3', 'c4', 'c5', 'c6', 'c7'].map((b) => add(repo, b)));
    const added = [...first, ...second];
    const ports = added.map((a) => a.json.facts.ports!);
    for (const p of ports) expect(Object.keys(p).sort()).toEqual(['API_PORT', 'CACHE_PORT', 'DB_PORT']);
    const all = ports.flatMap((p) => Object.values(p));
    expect(new Set(all).size).toBe(all.length);

    for (const a of added) expect(await settled(repo, a.json.slug), a.json.slug).toMatchObject({ state: 'healthy' });
    // All seven stacks at once: 4 containers each, all running now.
    for (const a of added) expect(await containers(`${name}-${a.json.slug}`, false)).toHaveLength(4);
    for (const p of ports) {
      for (const port of Object.values(p)) expect(await httpGet(port)).toBe('ok\n');
    }
    // The .env block that plain `docker compose` reads inside the worktree names the same ports.
    const dotenv = await readFile(join(added[0]!.json.path, '.env'), 'utf8');
    expect(dotenv).toContain(`API_PORT=${ports[0]!.API_PORT}`);
    expect(dotenv).toContain(`COMPOSE_PROJECT_NAME=${name}-c1`);
  });

  it('deferred services reach running without add waiting for them; the job is a linked run in metrics', async () => {
    const { repo, name } = await fixtureApp();
    const added = await add(repo, 'lazy');
    expect(added.json.facts.services).toMatchObject({ critical: ['db', 'cache'], deferred: ['api', 'worker'] });
    const status = await settled(repo, 'lazy');
    expect(status).toMatchObject({ state: 'healthy', services: { api: 'running', worker: 'running', db: 'healthy', cache: 'running' } });
    // api waits for db to be healthy, so it can only have been created after add returned.
    const { stdout } = await run('docker', ['inspect', '--format', '{{.Created}}', `${name}-lazy-api-1`]);
    expect(Date.parse(stdout.trim())).toBeGreaterThan(added.returnedAt);
    expect(await httpGet(added.json.facts.ports!.API_PORT!)).toBe('ok\n');

    // The job records its run just after it settles the status.
    let job: MetricsFile['runs'][number] | undefined;
    for (let i = 0; i < 100 && !job; i++) {
      const metrics = JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8')) as MetricsFile;
      job = metrics.runs.find((r) => r.command === 'services' && r.linkedTo === added.json.runId);
      if (!job) await sleep(100);
    }
    expect(job).toMatchObject({ ok: true, slug: 'lazy', facts: { services: { state: 'healthy' } } });
    expect(job!.spans.map((s) => s.name)).toEqual(expect.arrayContaining(['services-critical', 'services-deferred']));
    const log = await readFile(status.log!, 'utf8');
    expect(log).toMatch(/starting critical services: db cache[\s\S]*starting deferred services: api worker/);
  });

  it('--wait returns only when the critical service answers', async () => {
    const { repo } = await fixtureApp();
    const added = await add(repo, 'waited', ['--wait']);
    // No retry: db (critical, with a healthcheck) must answer the moment add has returned.
    expect(await httpGet(added.json.facts.ports!.DB_PORT!)).toBe('ok\n');
    expect((await servicesStatus(repo, 'waited')).services).toMatchObject({ db: 'healthy', cache: 'running' });
    expect(await settled(repo, 'waited')).toMatchObject({ state: 'healthy' });
  });

  it('--wait --rollback-on-failure fails with the service\'s own error and rolls back the worktree and its stack', async () => {
    const compose = [
      'services:',
      '  db:',
      '    image: vtree-test/busybox:latest',
      '    command: ["sh", "-c", "echo FATAL: data directory is corrupt >&2; exit 3"]',
      // A database's healthcheck, as real ones have: without one, "up" is a process running for a
      // second, and under CI's load the engine may not see this one exit within that second.
      '    healthcheck: { test: ["CMD", "true"], interval: 1s }',
      '  api:',
      '    image: vtree-test/busybox:latest',
      '    command: ["sleep", "600"]',
      '    depends_on: [db]',
      '',
    ].join('\n');
    const { repo, name } = await makeApp({ 'compose.yaml': compose });
    const result = await vtree(repo, ['add', 'doomed', '--wait', '--rollback-on-failure'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/db exited \(3\)/);
    expect(result.stderr).toContain('FATAL: data directory is corrupt');
    expect(result.stderr).toMatch(/hint: git vtree logs db/);
    expect(await git(repo, 'worktree', 'list')).not.toContain('doomed');
    expect(await containers(`${name}-doomed`)).toEqual([]);

    // Without it, the worktree (whose files and dependencies are fine) stays, and add says how to retry.
    const kept = await vtree(repo, ['add', 'kept', '--wait'], env);
    expect(kept.code).toBe(1);
    expect(kept.stderr).toContain('FATAL: data directory is corrupt');
    expect(kept.stderr).toMatch(/services did not come up: .*db exited \(3\).*; the worktree is kept at .*kept\nhint: fix it, then run: git vtree up --wait -w kept \(or remove it: git vtree rm kept\)/);
    expect(kept.stdout.trim()).toMatch(/kept$/);
    expect(await git(repo, 'worktree', 'list')).toContain('kept');
    expect((await servicesStatus(repo, 'kept')).state).toBe('failed');
    // The next command in that worktree names the failure once.
    const next = await vtree(kept.stdout.trim(), ['ports'], env);
    expect(next.stderr).toMatch(/^git vtree: the set-up of this worktree failed: services: .*db exited \(3\)/m);
    expect((await vtree(kept.stdout.trim(), ['ports'], env)).stderr).not.toMatch(/set-up failed/);
    const listed = await vtree(repo, ['list'], env);
    expect(listed.stdout).toMatch(/! failed/);
    expect((await vtree(repo, ['rm', 'kept', '--force'], env)).code).toBe(0);
    // rm hands the stack to its background job: gone once that is done.
    await removalsDone(repo);
    expect(await containers(`${name}-kept`)).toEqual([]);
  });

  it('a literal "3000:3000" and a container_name run in two worktrees at once', async () => {
    const compose = [
      'services:',
      '  web:',
      '    image: vtree-test/busybox:latest',
      '    container_name: shopweb',
      '    command: ["httpd", "-f", "-p", "3000", "-h", "/www"]',
      '    ports: ["127.0.0.1:3000:3000"]',
      '',
    ].join('\n');
    const { repo, name } = await makeApp({ 'docker-compose.yml': compose });
    const [a, b] = await Promise.all([add(repo, 'one', ['--wait']), add(repo, 'two', ['--wait'])]);
    const portA = a!.json.facts.ports!.VTREE_PORT_WEB_3000!;
    const portB = b!.json.facts.ports!.VTREE_PORT_WEB_3000!;
    expect(portA).not.toBe(portB);
    expect(await httpGet(portA)).toBe('ok\n');
    expect(await httpGet(portB)).toBe('ok\n');
    expect(await containers(`${name}-one`, false)).toEqual([`${name}-one-web`]);
    expect(await containers(`${name}-two`, false)).toEqual([`${name}-two-web`]);
    // Plain `docker compose` inside the worktree finds the same stack through the .env block.
    const { stdout } = await run('docker', ['compose', 'ps', '--format', '{{.Name}} {{.Ports}}'], { cwd: a!.json.path });
    expect(stdout.trim()).toBe(`${name}-one-web 127.0.0.1:${portA}->3000/tcp`);
    expect(await git(a!.json.path, 'status', '--porcelain')).toBe('');
  });

  it('vtree.services.start: none starts nothing from the hook (and rm skips compose down), critical only the critical services; --services a scope', async () => {
    const { repo, name } = await fixtureApp();
    expect((await vtree(repo, ['hooks', 'install'], env)).code).toBe(0);
    await git(repo, 'config', 'vtree.services.start', 'none');
    await execFileAsync('git', ['worktree', 'add', '-q', '-b', 'quiet', join(root, `${name}-quiet`)], { cwd: repo, env: testEnv(env) });
    expect(await readWorktreeRuns(repo, 'hook')).toHaveLength(1);
    expect(await servicesStatus(repo, `${name}-quiet`)).toMatchObject({ state: 'none', reason: 'not started (vtree.services.start = none)' });
    expect(await containers(`${name}-${name}-quiet`)).toEqual([]);
    const removed = await vtree(repo, ['rm', 'quiet'], env);
    expect(removed.code, removed.stderr).toBe(0);
    const down = (await readWorktreeRuns(repo, 'rm'))[0]!.spans.find((s) => s.name === 'services-down');
    expect(down?.detail).toMatchObject({ skipped: 'nothing of the stack on the engine' });

    await git(repo, 'config', 'vtree.services.start', 'critical');
    const critical = await add(repo, 'critical');
    expect((await settled(repo, 'critical')).state).toMatch(/running|healthy/);
    expect(await containers(`${name}-critical`)).toEqual([`${name}-critical-cache-1`, `${name}-critical-db-1`]);

    // A scope wins over the setting: exactly those services (and what they depend on).
    const scoped = await add(repo, 'scoped', ['--services', 'cache']);
    expect((await settled(repo, 'scoped')).state).toMatch(/running|healthy/);
    expect(await containers(`${name}-scoped`)).toEqual([`${name}-scoped-cache-1`]);
    expect(critical.json.path).not.toBe(scoped.json.path);
  });

  it('up, down, status and logs act on a named worktree', async () => {
    const { repo, name } = await fixtureApp();
    await add(repo, 'ops', ['--no-services']);
    expect(await containers(`${name}-ops`)).toEqual([]);
    const up = await vtree(repo, ['up', '-w', 'ops', '--wait', '--json'], env);
    expect(up.code, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ ok: true, project: `${name}-ops`, state: 'healthy' });
    const status = await vtree(repo, ['status', '-w', 'ops', '--json'], env);
    const parsed = JSON.parse(status.stdout);
    expect(parsed).toMatchObject({ project: `${name}-ops`, state: 'healthy' });
    expect(parsed.services.map((s: { service: string }) => s.service)).toEqual(['api', 'cache', 'db', 'worker']);
    const logs = await vtree(repo, ['logs', '-w', 'ops', 'db', '--tail', '5'], env);
    expect(logs.code, logs.stderr).toBe(0);
    const down = await vtree(repo, ['down', '-w', 'ops'], env);
    expect(down.code, down.stderr).toBe(0);
    expect(await containers(`${name}-ops`)).toEqual([]);
    expect(await servicesStatus(repo, 'ops')).toMatchObject({ state: 'stopped' });
    const list = await vtree(repo, ['list', '--json'], env);
    expect(JSON.parse(list.stdout).worktrees.find((w: { branch?: string }) => w.branch === 'ops')).toMatchObject({ services: 'stopped' });
  });

  it('two clones named alike: a branch of the same name gets its own stack and volume in each, and rm in one leaves the other', async () => {
    const compose = ['services:', '  box:', '    image: vtree-test/busybox:latest', '    command: ["sleep", "600"]', '    volumes: [data:/data]', 'volumes:', '  data: {}', ''].join('\n');
    const { repo, name } = await makeApp({ 'compose.yaml': compose });
    // A second clone of the project in a directory of the same name, as an agent makes one.
    const twin = join(root, 'twin', name);
    await git(root, 'clone', '-q', repo, twin);
    for (const [key, value] of [['vtree.services.stopTimeout', '1'], ['vtree.services.trusted', 'true']]) await git(twin, 'config', key!, value!);
    await add(repo, 'feat', ['--wait']);
    const twinAdded = await add(twin, 'feat', ['--wait']);
    const ours = (await servicesStatus(repo, 'feat')).project!;
    const theirs = (await servicesStatus(twin, 'feat')).project!;
    expect(ours).toBe(`${name}-feat`);
    expect(theirs).toMatch(new RegExp(`^${name}-[0-9a-f]{4}-feat$`));
    const [box] = await containers(ours, false);
    const [twinBox] = await containers(theirs, false);
    expect(box).toBeDefined();
    expect(twinBox).toBeDefined();
    // Data written in one worktree's database is not in the other's.
    await run('docker', ['exec', box!, 'sh', '-c', 'echo ours > /data/row']);
    expect(await run('docker', ['exec', twinBox!, 'cat', '/data/row']).catch((error: unknown) => error)).toBeInstanceOf(Error);
    // The twin's .env block names its own project: plain `docker compose` there reaches only its stack.
    expect(await readFile(join(twinAdded.json.path, '.env'), 'utf8')).toContain(`COMPOSE_PROJECT_NAME=${theirs}\n`);
    expect((await vtree(repo, ['rm', 'feat', '--volumes'], env)).code).toBe(0);
    await removalsDone(repo);
    expect(await containers(ours)).toEqual([]);
    expect(await containers(theirs, false)).toEqual([twinBox]);
    expect((await run('docker', ['volume', 'ls', '--format', '{{.Name}}'])).stdout.split('\n')).toContain(`${theirs}_data`);
  });

  it('rm stops the stack first: no container, network or lease is left; volumes only go with --volumes', async () => {
    const compose = await readFile(FIXTURE_COMPOSE, 'utf8');
    const withVolume = compose.replace('  cache:\n', '    volumes: [data:/data]\n  cache:\n') + 'volumes:\n  data: {}\n';
    const { repo, name } = await makeApp({ 'compose.yaml': withVolume });
    const [kept, gone] = await Promise.all([add(repo, 'kept'), add(repo, 'gone')]);
    for (const slug of ['kept', 'gone']) expect(await settled(repo, slug)).toMatchObject({ state: 'healthy' });
    expect(await containers(`${name}-kept`)).toHaveLength(4);

    for (const [slug, flags] of [['kept', []], ['gone', ['--volumes']]] as const) {
      const result = await vtree(repo, ['rm', slug, ...flags], env);
      expect(result.code, result.stderr).toBe(0);
      // The stack stops in a background job after rm returns (docs/day-two.md).
      await removalsDone(repo);
      expect(await containers(`${name}-${slug}`)).toEqual([]);
      expect(await networks(`${name}-${slug}`)).toEqual([]);
    }
    const volumes = (await run('docker', ['volume', 'ls', '--format', '{{.Name}}'])).stdout.split('\n');
    expect(volumes).toContain(`${name}-kept_data`);
    expect(volumes).not.toContain(`${name}-gone_data`);
    const registry = JSON.parse(await readFile(join(env.XDG_STATE_HOME!, 'vibetrees', 'ports.json'), 'utf8')) as { leases: Record<string, { worktree: string }> };
    const held = Object.values(registry.leases).map((l) => l.worktree);
    expect(held).not.toContain(kept.json.path);
    expect(held).not.toContain(gone.json.path);
  });

  it('missing images start pulling while git checks out; a pull that fails leaves the stack "failed" with the reason', async () => {
    expect(await missingImages('docker', ['vtree-test/busybox:latest', 'vtree-test/busybox', 'docker.io/vtree-test/busybox', '127.0.0.1:1/vtree-missing:1'])).toEqual(['127.0.0.1:1/vtree-missing:1']);
    // A registry on a closed local port: the pull fails at once, and only 127.0.0.1 is contacted.
    const { repo } = await makeApp({ 'compose.yaml': 'services:\n  ghost:\n    image: 127.0.0.1:1/vtree-missing:1\n' });
    const added = await add(repo, 'ghost');
    // The add's own run: a background job it started may have recorded its run after it.
    const recorded = JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8')).runs as Array<{ command: string; spans: Array<{ name: string; detail: { log: string } }> }>;
    const pull = recorded.filter((r) => r.command === 'add').at(-1)!.spans.find((s) => s.name === 'services-pull')!;
    expect(pull.detail).toMatchObject({ missing: ['127.0.0.1:1/vtree-missing:1'] });
    const status = await settled(repo, 'ghost');
    // The pull job reports the failed pull as its own failure.
    for (let i = 0; i < 100 && !(await readFile(pull.detail.log, 'utf8')).includes('could not pull'); i++) await sleep(100);
    expect(await readFile(pull.detail.log, 'utf8')).toMatch(/pulling 127\.0\.0\.1:1\/vtree-missing:1\nfailed to pull 127\.0\.0\.1:1\/vtree-missing:1: [\s\S]*git vtree: could not pull 127\.0\.0\.1:1\/vtree-missing:1/);
    const runs = JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8')).runs as MetricsFile['runs'];
    const pullRun = runs.find((r) => r.linkedTo === added.json.runId && r.spans.some((s) => s.name === 'image-pull'));
    expect(pullRun).toMatchObject({ command: 'services', ok: false, facts: { services: { pulled: [], failedPulls: ['127.0.0.1:1/vtree-missing:1'] } } });
    // `logs` of a service whose container was never created prints the start job's log.
    const logs = await vtree(added.json.path, ['logs', 'ghost'], env);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stderr).toMatch(/no container of ghost was created \(.*127\.0\.0\.1:1.*\); the log of the job that started the stack/);
    expect(logs.stdout).toMatch(/services-up started/);
    expect(status.state).toBe('failed');
    expect(status.reason).toMatch(/127\.0\.0\.1:1/);
    expect(existsSync(join(added.json.path, 'compose.yaml'))).toBe(true);
  });

  it('rm right after add ends the start job: no stack comes up behind the removed worktree', async () => {
    const { repo, name } = await fixtureApp();
    const added = await add(repo, 'brief');
    expect((await servicesStatus(repo, 'brief')).state).toBe('starting');
    const removed = await vtree(repo, ['rm', 'brief'], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(existsSync(added.json.path)).toBe(false);
    // Had the job survived, it would bring up the deferred services within seconds.
    for (let i = 0; i < 12; i++) {
      expect(await containers(`${name}-brief`)).toEqual([]);
      await sleep(250);
    }
    expect(await networks(`${name}-brief`)).toEqual([]);
  });

  it('down right after add ends the start under way: the status names the start\'s process group at once, and nothing comes up behind down', async () => {
    const { repo, name } = await fixtureApp();
    const added = await add(repo, 'halt');
    const status = await servicesStatus(repo, 'halt');
    expect(status.state).toBe('starting');
    // The shell running Compose's `up`, which becomes the job: its group is Compose's too.
    expect(await readFile(`/proc/${status.pid}/cmdline`, 'utf8')).toContain('services-up');
    const stopped = await vtree(added.json.path, ['down'], env);
    expect(stopped.code, stopped.stderr).toBe(0);
    // Had the `up` under way survived, its containers would appear within seconds.
    for (let i = 0; i < 12; i++) {
      expect(await containers(`${name}-halt`)).toEqual([]);
      await sleep(250);
    }
    expect((await servicesStatus(repo, 'halt')).state).toBe('stopped');
    expect((await vtree(repo, ['rm', 'halt', '--force'], env)).code).toBe(0);
  });

  it('a compose file Compose rejects: one line, services "failed", the worktree kept (--wait)', async () => {
    const { repo } = await makeApp({ 'compose.yaml': 'services:\n  web:\n    image: vtree-test/busybox:latest\n    ports: "not a list"\n' });
    const result = await vtree(repo, ['add', 'invalid', '--wait'], env);
    expect(result.code, result.stderr).toBe(0);
    const lines = servicesLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warning: services: not started — .*ports/);
    expect(await servicesStatus(repo, 'invalid')).toMatchObject({ state: 'failed' });
    expect(existsSync(join(result.stdout.trim(), 'compose.yaml'))).toBe(true);
  });
});

// A moved fixture would make the tests above test a different app.
it('uses the fixture app of the issue, whose ports are variables with defaults', async () => {
  expect(await readFile(FIXTURE_COMPOSE, 'utf8')).toContain('${API_PORT:-3000}');
});
