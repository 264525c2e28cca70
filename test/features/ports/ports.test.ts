import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { leasePorts, listLeases, parsePortRange, preferredPort, pruneLeases, releasePorts, restoreLeases, type PortRange } from '../../../src/features/ports/registry.js';
import { portsLockPath, portsRegistryPath } from '../../../src/core/paths.js';
import { Config } from '../../../src/git/config.js';
import { run } from '../../../src/core/exec.js';
import { runGraph, TaskFailedError, type Task } from '../../../src/core/graph.js';
import type { RemoveShared, SetupShared, Stages } from '../../../src/features/feature.js';
import { Profiler } from '../../../src/core/profiler.js';
import { portsFeature } from '../../../src/features/ports/feature.js';
import { git, makeRepo, requirePrereq, tempDir, vtree } from '../../helpers.js';

let state: string;
let work: string;
const savedXdg = process.env.XDG_STATE_HOME;

beforeAll(async () => {
  // Never touch the real machine-wide registry.
  state = await tempDir('vtree-state-');
  work = await tempDir('vtree-ports-');
  process.env.XDG_STATE_HOME = state;
});
afterAll(async () => {
  if (savedXdg === undefined) delete process.env.XDG_STATE_HOME;
  else process.env.XDG_STATE_HOME = savedXdg;
  await rm(state, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  await rm(join(state, 'vibetrees'), { recursive: true, force: true });
});

async function worktreeDir(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

function listen(port: number, host = '127.0.0.1'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port }, () => resolve(server));
  });
}

async function registry(): Promise<{ leases: Record<string, { variable: string; worktree: string }> }> {
  return JSON.parse(await readFile(portsRegistryPath(), 'utf8'));
}

/** A range no other test or service on this machine is likely to use. */
const RANGE: PortRange = { first: 41000, last: 41999 };

describe('port ranges and preferred ports', () => {
  it('parses vtree.ports.range and rejects nonsense with the key in the message', () => {
    expect(parsePortRange('20000-29999')).toEqual({ first: 20000, last: 29999 });
    expect(parsePortRange(' 3000 - 3000 ')).toEqual({ first: 3000, last: 3000 });
    for (const bad of ['20000', '30000-20000', '80-90', '20000-70000', 'a-b']) {
      expect(() => parsePortRange(bad)).toThrow(/vtree\.ports\.range/);
    }
  });

  it('derives a stable port in range from the worktree and variable', () => {
    const a = preferredPort('/w/app.worktrees/feat-x', 'API_PORT', RANGE);
    expect(preferredPort('/w/app.worktrees/feat-x', 'API_PORT', RANGE)).toBe(a);
    expect(a).toBeGreaterThanOrEqual(RANGE.first);
    expect(a).toBeLessThanOrEqual(RANGE.last);
    const others = ['DB_PORT', 'WEB_PORT', 'PORT', 'VITE_PORT'].map((v) => preferredPort('/w/app.worktrees/feat-x', v, RANGE));
    expect(new Set([a, ...others]).size).toBeGreaterThan(1);
  });
});

describe('leasePorts', () => {
  it('leases distinct ports, keeps them on a re-run, and writes the registry under XDG_STATE_HOME', async () => {
    const holder = { worktree: await worktreeDir('a'), repo: '/repo/.git' };
    const first = await leasePorts(holder, ['API_PORT', 'DB_PORT', 'WEB_PORT'], RANGE);
    expect(Object.keys(first.ports).sort()).toEqual(['API_PORT', 'DB_PORT', 'WEB_PORT']);
    expect(new Set(Object.values(first.ports)).size).toBe(3);
    expect(first.created).toHaveLength(3);
    expect(first.ports.API_PORT).toBe(preferredPort(holder.worktree, 'API_PORT', RANGE));
    expect(existsSync(join(state, 'vibetrees', 'ports.json'))).toBe(true);

    const again = await leasePorts(holder, ['API_PORT', 'DB_PORT', 'WEB_PORT', 'EXTRA_PORT'], RANGE);
    expect(again.kept).toBe(3);
    expect(again.created.map((l) => l.variable)).toEqual(['EXTRA_PORT']);
    expect(again.ports).toMatchObject(first.ports);
    expect(Object.keys((await registry()).leases)).toHaveLength(4);
  });

  it('skips a port another process is listening on', async () => {
    const holder = { worktree: await worktreeDir('busy'), repo: '/repo/.git' };
    const preferred = preferredPort(holder.worktree, 'API_PORT', RANGE);
    const server = await listen(preferred);
    try {
      const outcome = await leasePorts(holder, ['API_PORT'], RANGE);
      expect(outcome.busy).toContain(preferred);
      expect(outcome.ports.API_PORT).not.toBe(preferred);
      expect(outcome.ports.API_PORT).toBe(preferred === RANGE.last ? RANGE.first : preferred + 1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('skips a port a server listens on at ::1 only (localhost dev servers)', async (ctx) => {
    const holder = { worktree: await worktreeDir('busy6'), repo: '/repo/.git' };
    const preferred = preferredPort(holder.worktree, 'VITE_PORT', RANGE);
    const server = await listen(preferred, '::1').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT') return undefined;
      throw error;
    });
    if (!server) return ctx.skip('this machine has no IPv6 loopback');
    try {
      const outcome = await leasePorts(holder, ['VITE_PORT'], RANGE);
      expect(outcome.busy).toEqual([preferred]);
      expect(outcome.ports.VITE_PORT).not.toBe(preferred);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('skips a port a Docker container publishes', async (ctx) => {
    const { image } = await requirePrereq('docker', ctx);
    const holder = { worktree: await worktreeDir('docker'), repo: '/repo/.git' };
    const preferred = preferredPort(holder.worktree, 'DB_PORT', RANGE);
    const { stdout } = await run('docker', ['run', '-d', '--rm', '-p', `${preferred}:80`, image, 'sleep', '60']);
    const container = stdout.trim();
    try {
      const outcome = await leasePorts(holder, ['DB_PORT'], RANGE);
      expect(outcome.busy).toEqual([preferred]);
      expect(outcome.ports.DB_PORT).not.toBe(preferred);
    } finally {
      await run('docker', ['rm', '-f', container]);
    }
  });

  it('fails with a hint when the range is exhausted', async () => {
    const one: PortRange = { first: 41500, last: 41500 };
    await leasePorts({ worktree: await worktreeDir('one'), repo: '/r' }, ['A'], one);
    await expect(leasePorts({ worktree: await worktreeDir('two'), repo: '/r' }, ['A'], one)).rejects.toThrow(/no free port left in 41500-41500/);
  });

  it('reclaims the leases of worktrees whose directory is gone', async () => {
    const one: PortRange = { first: 41600, last: 41600 };
    const gone = await worktreeDir('gone');
    await leasePorts({ worktree: gone, repo: '/r' }, ['A'], one);
    await rm(gone, { recursive: true });
    expect((await listLeases()).map((l) => l.stale)).toEqual([true]);
    const next = await leasePorts({ worktree: await worktreeDir('next'), repo: '/r' }, ['A'], one);
    expect(next.ports.A).toBe(41600);
    expect(next.reclaimed.map((l) => l.worktree)).toEqual([gone]);
    expect(Object.values((await registry()).leases).map((l) => l.worktree)).toEqual([join(work, 'next')]);
  });

  it('releases a worktree’s leases (all or some) and restores them', async () => {
    const holder = { worktree: await worktreeDir('rel'), repo: '/repo/.git' };
    const other = { worktree: await worktreeDir('other'), repo: '/repo/.git' };
    const mine = await leasePorts(holder, ['A', 'B'], RANGE);
    await leasePorts(other, ['A'], RANGE);
    const some = await releasePorts(holder, [mine.ports.A!]);
    expect(some.map((l) => l.variable)).toEqual(['A']);
    const rest = await releasePorts(holder);
    expect(rest.map((l) => l.variable)).toEqual(['B']);
    expect((await listLeases()).map((l) => l.worktree)).toEqual([other.worktree]);
    await restoreLeases([...some, ...rest]);
    expect((await listLeases()).filter((l) => l.worktree === holder.worktree)).toHaveLength(2);
  });

  it('releases asked for at once (prune removing several worktrees) each take their own leases and no other', async () => {
    const holders = await Promise.all(['c1', 'c2', 'c3', 'c4', 'c5'].map(async (name) => ({ worktree: await worktreeDir(name), repo: '/repo/.git' })));
    const kept = { worktree: await worktreeDir('kept'), repo: '/repo/.git' };
    for (const holder of [...holders, kept]) await leasePorts(holder, ['A', 'B'], RANGE);
    const released = await Promise.all(holders.map((holder, i) => releasePorts(holder, i === 0 ? [] : undefined)));
    expect(released.map((leases) => leases.length)).toEqual([0, 2, 2, 2, 2]);
    released.forEach((leases, i) => expect(new Set(leases.map((l) => l.worktree))).toEqual(new Set(i === 0 ? [] : [holders[i]!.worktree])));
    expect((await listLeases()).map((l) => l.worktree).sort()).toEqual([holders[0]!.worktree, holders[0]!.worktree, kept.worktree, kept.worktree].sort());
  });

  it('rebuilds a corrupt registry from the worktrees’ state files, keeping live leases and the corrupt copy', async () => {
    // A repository whose worktree `kept` recorded its ports in vtree.json, as `add` does.
    const common = join(work, 'rebuild-repo', '.git');
    const kept = await worktreeDir('kept');
    await mkdir(join(common, 'worktrees', 'kept'), { recursive: true });
    await writeFile(join(common, 'worktrees', 'kept', 'vtree.json'), JSON.stringify({ branch: 'kept', slug: 'kept', path: kept, createdAt: '2026-01-01T00:00:00.000Z', createdBy: 'add', runId: 'r', ports: { A: 41500, B: 41501 } }));
    // A lease of a worktree whose directory is gone is not rebuilt.
    await mkdir(join(common, 'worktrees', 'gone'), { recursive: true });
    await writeFile(join(common, 'worktrees', 'gone', 'vtree.json'), JSON.stringify({ branch: 'gone', slug: 'gone', path: join(work, 'gone'), createdAt: '', createdBy: 'add', runId: 'r', ports: { A: 41502 } }));
    await mkdir(join(state, 'vibetrees'), { recursive: true });
    const torn = `{ "version": 1, "leases": { "41500": { "port": 41500, "variable": "A", "worktree": "${kept}", "repo": "${common}"`;
    await writeFile(portsRegistryPath(), torn);
    const warnings: string[] = [];
    // Another repository's worktree asks: the corrupt text still names `common`, so its leases survive.
    const newcomer = await worktreeDir('newcomer');
    const outcome = await leasePorts({ worktree: newcomer, repo: '/r' }, ['A', 'B', 'C'], { first: 41500, last: 41504 }, { warn: (l) => warnings.push(l) });
    expect(Object.values(outcome.ports).sort()).toEqual([41502, 41503, 41504]);
    expect(warnings.join('\n')).toMatch(/port registry .*ports\.json was corrupt: rebuilt 2 lease\(s\).*kept as .*ports\.json\.corrupt-/);
    const leases = await listLeases();
    expect(leases.filter((l) => l.worktree === kept).map((l) => [l.variable, l.port])).toEqual([['A', 41500], ['B', 41501]]);
    const copies = (await readdir(join(state, 'vibetrees'))).filter((f) => f.startsWith('ports.json.corrupt-'));
    expect(copies).toHaveLength(1);
    expect(await readFile(join(state, 'vibetrees', copies[0]!), 'utf8')).toBe(torn);
  });

  it('rebuilds a registry with an unknown layout when it is listed', async () => {
    await mkdir(join(state, 'vibetrees'), { recursive: true });
    await writeFile(portsRegistryPath(), '{ "leases": [1, 2] }');
    const warnings: string[] = [];
    expect(await listLeases({ warn: (l) => warnings.push(l) })).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(await readFile(portsRegistryPath(), 'utf8'))).toEqual({ version: 1, leases: {} });
  });

  it('prunes stale leases on request', async () => {
    const gone = await worktreeDir('pruned');
    await leasePorts({ worktree: gone, repo: '/r' }, ['A', 'B'], RANGE);
    await rm(gone, { recursive: true });
    expect((await pruneLeases()).map((l) => l.variable).sort()).toEqual(['A', 'B']);
    expect(await listLeases()).toEqual([]);
  });
});

describe('concurrent leasing', () => {
  it('never hands out one port twice across processes racing for a narrow range', async () => {
    await raceForPorts(8, ['API_PORT', 'DB_PORT', 'WEB_PORT'], 0);
  });

  it('never hands out one port twice when the racers find a stale lock a killed run left', async () => {
    // What SIGKILL leaves: a lock naming a dead pid. Every racer sees it at once; breaking it
    // must let exactly one of them in (the old check-then-rm let several in: duplicate ports).
    for (let round = 0; round < 3; round++) {
      await rm(join(state, 'vibetrees'), { recursive: true, force: true });
      await mkdir(dirname(portsLockPath()), { recursive: true });
      await writeFile(portsLockPath(), `${2 ** 22 + 1}\n`);
      await raceForPorts(12, ['API_PORT', 'DB_PORT'], 6);
      expect(existsSync(portsLockPath())).toBe(false);
    }
  });

  /** `count` processes lease `variables` each from 30 ports, starting within `staggerMs` of one instant. */
  async function raceForPorts(count: number, variables: string[], staggerMs: number): Promise<void> {
    const entry = fileURLToPath(new URL('../../../dist/features/ports/registry.js', import.meta.url));
    expect(existsSync(entry), 'dist/features/ports/registry.js is missing: run `npx tsc -p tsconfig.json` first').toBe(true);
    // 24 ports from 30: preferred ports collide, so only the lock keeps them apart.
    const startAt = Date.now() + 1500;
    const script = `
      const { leasePorts } = await import(${JSON.stringify(entry)});
      const { mkdirSync } = await import('node:fs');
      const dir = process.argv[1];
      mkdirSync(dir, { recursive: true });
      await new Promise((r) => setTimeout(r, ${startAt} + Number(process.argv[2]) - Date.now()));
      const out = await leasePorts({ worktree: dir, repo: '/race/.git' }, ${JSON.stringify(variables)}, { first: 42000, last: 42029 });
      process.stdout.write(JSON.stringify(out.ports));
    `;
    const runs = Array.from({ length: count }, (_, i) =>
      new Promise<Record<string, number>>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, join(work, `race-${i}`), String(staggerMs ? i % staggerMs : 0)], { env: { ...process.env, XDG_STATE_HOME: state } });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child ${i} exited ${code}: ${err}`))));
      }),
    );
    const results = await Promise.all(runs);
    const ports = results.flatMap((r) => Object.values(r));
    expect(ports).toHaveLength(count * variables.length);
    expect(new Set(ports).size).toBe(count * variables.length);
    // Every lease reached the registry: no process overwrote another's write.
    const leased = Object.keys((await registry()).leases).map(Number).sort();
    expect(leased).toEqual([...ports].sort());
  }
});

describe('git vtree add / ports / rm', () => {
  let repo: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ repo, cleanup } = await makeRepo({ 'README.md': '# app\n', '.gitignore': '.env\n' }));
    await git(repo, 'config', 'vtree.ports.vars', 'PORT VITE_PORT');
    await git(repo, 'config', 'vtree.ports.range', '43000-43099');
  });
  afterEach(async () => cleanup());

  it('five concurrent adds get distinct ports; ports lists them; rm releases them', async () => {
    const env = { XDG_STATE_HOME: state };
    const branches = ['one', 'two', 'three', 'four', 'five'];
    const adds = await Promise.all(branches.map((b) => vtree(repo, ['add', b, '--no-deps', '--no-services', '--json'], env)));
    for (const add of adds) expect(add.code, add.stderr).toBe(0);
    const results = adds.map((a) => JSON.parse(a.stdout) as { path: string; facts: { ports: Record<string, number> } });
    const ports = results.flatMap((r) => Object.values(r.facts.ports));
    expect(ports).toHaveLength(10);
    expect(new Set(ports).size).toBe(10);
    for (const r of results) {
      const dotenv = await readFile(join(r.path, '.env'), 'utf8');
      expect(dotenv).toContain(`PORT=${r.facts.ports.PORT}\n`);
      expect(dotenv).toContain(`VITE_PORT=${r.facts.ports.VITE_PORT}\n`);
    }

    const listed = await vtree(repo, ['ports', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const { leases } = JSON.parse(listed.stdout) as { leases: Array<{ port: number; worktree: string; variable: string; stale: boolean }> };
    expect(leases.map((l) => l.port).sort()).toEqual([...ports].sort());
    const human = await vtree(repo, ['ports'], env);
    expect(human.stdout).toContain('VITE_PORT');
    expect(human.stdout).toContain(results[0]!.path);

    const list = await vtree(repo, ['list', '--json'], env);
    const rows = (JSON.parse(list.stdout) as { worktrees: Array<{ path: string; ports?: Record<string, number> }> }).worktrees;
    expect(rows.find((w) => w.path === results[0]!.path)?.ports).toEqual(results[0]!.facts.ports);

    const removed = await vtree(repo, ['rm', 'one', '--force'], env);
    expect(removed.code, removed.stderr).toBe(0);
    const after = JSON.parse((await vtree(repo, ['ports', '--json'], env)).stdout) as { leases: Array<{ worktree: string }> };
    expect(after.leases).toHaveLength(8);
    expect(after.leases.some((l) => l.worktree === results[0]!.path)).toBe(false);
  });

  it('skips a port another process listens on, and gives a re-created worktree its ports back', async () => {
    const env = { XDG_STATE_HOME: state };
    const path = join(dirname(repo), 'app.worktrees', 'again');
    const range = parsePortRange('43000-43099');
    const preferred = preferredPort(path, 'PORT', range);
    const server = await listen(preferred);
    let first: Record<string, number>;
    try {
      const add = await vtree(repo, ['add', 'again', '--no-deps', '--no-services', '--json'], env);
      expect(add.code, add.stderr).toBe(0);
      first = (JSON.parse(add.stdout) as { facts: { ports: Record<string, number> } }).facts.ports;
      expect(first.PORT).not.toBe(preferred);
      expect(first.VITE_PORT).toBe(preferredPort(path, 'VITE_PORT', range));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect((await vtree(repo, ['rm', 'again', '--force'], env)).code).toBe(0);
    const again = await vtree(repo, ['add', 'again', '--no-deps', '--no-services', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    const second = (JSON.parse(again.stdout) as { facts: { ports: Record<string, number> } }).facts.ports;
    // The preferred port is free now, so PORT gets it; VITE_PORT is the same as before.
    expect(second).toEqual({ PORT: preferred, VITE_PORT: first.VITE_PORT });
  });
});

describe('the ports task', () => {
  const stages: Stages = { repo: 'repo', target: 'target', checkout: 'checkout' };
  const shared = () => ({ command: 'add', runId: 'r', options: { deps: false, services: false, wait: false }, facts: {}, state: {}, log: () => undefined, warn: () => undefined }) as SetupShared;

  function graph(worktree: string, config: Record<string, string>, extra: Task<SetupShared>[] = []): Task<SetupShared>[] {
    const values = new Map(Object.entries(config).map(([k, v]) => [k.toLowerCase(), [v]]));
    return [
      { name: 'repo', run: async () => ({ repo: { commonDir: '/task/.git', name: 'app' }, config: new Config(values) }) },
      { name: 'target', deps: ['repo'], run: async () => ({ branch: 'b', slug: 'b', path: worktree, commit: 'c' }) },
      ...portsFeature.setupTasks(stages),
      ...extra,
    ];
  }

  it('leases the union of compose-discover and vtree.ports.vars and records them', async () => {
    const dir = await worktreeDir('task');
    const discover: Task<SetupShared> = { name: 'compose-discover', deps: ['target'], run: async () => ({ files: ['compose.yaml'], portVars: [{ name: 'API_PORT', service: 'api', containerPort: 3000 }] }) };
    const ctx = shared();
    const results = await runGraph(graph(dir, { 'vtree.ports.vars': 'PORT, API_PORT', 'vtree.ports.range': '41000-41999' }, [discover]), { shared: ctx, profiler: new Profiler() });
    const ports = results.get('ports') as Record<string, number>;
    expect(Object.keys(ports).sort()).toEqual(['API_PORT', 'PORT']);
    expect(ctx.state.ports).toEqual(ports);
    expect(JSON.parse(JSON.stringify(ctx.facts.ports))).toEqual(ports);
  });

  it('gives back only the ports this run leased when a later task fails', async () => {
    const dir = await worktreeDir('undo');
    const kept = await leasePorts({ worktree: dir, repo: '/task/.git' }, ['PORT'], RANGE);
    const boom: Task<SetupShared> = { name: 'boom', after: ['ports'], run: async () => { throw new Error('boom'); } };
    await expect(runGraph(graph(dir, { 'vtree.ports.vars': 'PORT VITE_PORT', 'vtree.ports.range': '41000-41999' }, [boom]), { shared: shared(), profiler: new Profiler() })).rejects.toThrow('boom');
    const left = await listLeases();
    expect(left.map((l) => [l.variable, l.port])).toEqual([['PORT', kept.ports.PORT]]);
  });

  it('rejects a bad vtree.ports.range as a usage error', async () => {
    const dir = await worktreeDir('badrange');
    const failure = await runGraph(graph(dir, { 'vtree.ports.vars': 'PORT', 'vtree.ports.range': '80-90' }), { shared: shared(), profiler: new Profiler() }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TaskFailedError);
    expect((failure as TaskFailedError).exitCode).toBe(2);
    expect((failure as Error).message).toMatch(/vtree\.ports\.range must be/);
  });

  it('rm releases the worktree’s leases, and gives them back when a later step fails', async () => {
    const dir = await worktreeDir('teardown');
    const holder = { worktree: dir, repo: '/task/.git' };
    const held = await leasePorts(holder, ['A', 'B'], RANGE);
    const removeShared = { runId: 'r', force: false, volumes: false, facts: {} as Record<string, unknown>, log: () => undefined, warn: () => undefined };
    const locate: Task<RemoveShared> = { name: 'locate', run: async () => ({ path: dir, repo: { commonDir: '/task/.git' }, slug: 's' }) };
    const teardown = portsFeature.teardownTasks!({ located: 'locate', cleared: 'locate' });
    const seen: number[] = [];
    const fail: Task<RemoveShared> = {
      name: 'git-worktree-remove',
      after: teardown.map((t) => t.name),
      run: async () => {
        seen.push((await listLeases()).length);
        throw new Error('worktree is locked');
      },
    };
    await expect(runGraph([locate, ...teardown, fail], { shared: removeShared, profiler: new Profiler() })).rejects.toThrow('worktree is locked');
    expect(seen).toEqual([0]);
    expect(Object.fromEntries((await listLeases()).map((l) => [l.variable, l.port]))).toEqual(held.ports);
    await runGraph([locate, ...teardown], { shared: removeShared, profiler: new Profiler() });
    expect(await listLeases()).toEqual([]);
    expect(removeShared.facts.portsReleased).toBe(2);
  });

  it('rejects a vtree.ports.vars entry that is not a variable name', async () => {
    const dir = await worktreeDir('bad');
    await expect(runGraph(graph(dir, { 'vtree.ports.vars': 'PORT 9LIVES' }), { shared: shared(), profiler: new Profiler() })).rejects.toThrow(/'9LIVES' is not a variable name/);
  });
});
