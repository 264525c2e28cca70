import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  classifyPort,
  dotenvValue,
  composeFileSettings,
  composeFileValue,
  directorySource,
  discoverCompose,
  objectStoreSource,
  planOverride,
  pulledImages,
  writeOverride,
} from '../../../src/features/services/compose.js';
import { composeArgs, detectComposeRuntime } from '../../../src/features/services/runtime.js';
import { run } from '../../../src/core/exec.js';
import { planStart } from '../../../src/features/services/stack.js';
import { git, requirePrereq, tempDir } from '../../helpers.js';

const noSettings = { configured: [] };

let dir: string;
beforeEach(async () => {
  dir = await tempDir('vtree-compose-');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function files(entries: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(entries)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
}

describe('classifyPort', () => {
  it.each([
    ['3000:3000', { kind: 'literal', hostPort: 3000, containerPort: 3000 }],
    ['127.0.0.1:8080:80', { kind: 'literal', hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80 }],
    ['5353:53/udp', { kind: 'literal', hostPort: 5353, containerPort: 53, protocol: 'udp' }],
    ['${API_PORT:-3000}:3000', { kind: 'variable', variable: 'API_PORT', default: 3000, containerPort: 3000 }],
    ['127.0.0.1:${DB_PORT:-5432}:5432', { kind: 'variable', variable: 'DB_PORT', default: 5432, hostIp: '127.0.0.1' }],
    ['${WEB_PORT}:80', { kind: 'variable', variable: 'WEB_PORT', containerPort: 80 }],
    ['$WEB_PORT:80', { kind: 'variable', variable: 'WEB_PORT', containerPort: 80 }],
    ['[::1]:9000:9000', { kind: 'literal', hostIp: '[::1]', hostPort: 9000 }],
    ['127.0.0.1::5000', { kind: 'ephemeral', containerPort: 5000 }],
    ['6000', { kind: 'ephemeral', containerPort: 6000 }],
    [7000, { kind: 'ephemeral', containerPort: 7000 }],
    ['8000-8010:8000-8010', { kind: 'unmapped' }],
    [{ target: 80, published: 8081, host_ip: '127.0.0.1' }, { kind: 'literal', hostPort: 8081, containerPort: 80, hostIp: '127.0.0.1' }],
    [{ target: 80, published: '${P:-81}' }, { kind: 'variable', variable: 'P', default: 81 }],
  ])('%j', (raw, expected) => {
    expect(classifyPort(raw)).toMatchObject(expected);
  });
});

describe('discoverCompose', () => {
  it('finds no files as "none"', async () => {
    expect(await discoverCompose(directorySource(dir), noSettings)).toMatchObject({ files: [], origin: 'none', services: [] });
  });

  it('reads no compose file through a symlink that leads out of the worktree', async () => {
    const outside = await tempDir('vtree-compose-outside-');
    try {
      await writeFile(join(outside, 'compose.yaml'), 'services: {elsewhere: {image: x}}\n');
      await symlink(join(outside, 'compose.yaml'), join(dir, 'compose.yaml'));
      await symlink(outside, join(dir, 'conf'));
      expect(await discoverCompose(directorySource(dir), noSettings)).toMatchObject({ files: [], origin: 'none', services: [] });
      expect((await discoverCompose(directorySource(dir), { configured: ['conf/compose.yaml'] })).error).toMatch(/conf\/compose.yaml: no such compose file/);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('picks the first main file and the first override variant in Compose order', async () => {
    await files({
      'docker-compose.yml': 'services: {old: {image: x}}\n',
      'compose.yaml': 'services:\n  api:\n    image: a\n    ports: ["3000:3000"]\n',
      'docker-compose.override.yml': 'services: {ignored: {image: y}}\n',
      'compose.override.yaml': 'services:\n  api:\n    ports: ["${DEBUG_PORT:-9229}:9229"]\n    container_name: api\n',
    });
    const model = await discoverCompose(directorySource(dir), noSettings);
    expect(model.files).toEqual(['compose.yaml', 'compose.override.yaml']);
    expect(model.services.map((s) => s.name)).toEqual(['api']);
    expect(model.services[0]).toMatchObject({ containerName: 'api', ports: [{ kind: 'literal' }, { kind: 'variable' }] });
    expect(model.portVars).toEqual([
      { name: 'VTREE_PORT_API_3000', service: 'api', containerPort: 3000, default: 3000 },
      { name: 'DEBUG_PORT', service: 'api', containerPort: 9229, default: 9229 },
    ]);
  });

  it('follows vtree.compose.files over COMPOSE_FILE over the default names', async () => {
    await files({
      'compose.yaml': 'services: {a: {image: a}}\n',
      'deploy/dev.yaml': 'services: {b: {image: b, ports: ["${B_PORT:-1}:1"]}}\n',
      'deploy/extra.yaml': 'services: {c: {image: c}}\n',
      '.env': 'FOO=1\nCOMPOSE_FILE="deploy/dev.yaml:deploy/extra.yaml"\n',
    });
    const fromDotenv = await composeFileSettings([], dir, {});
    expect(fromDotenv.composeFileVariable).toBe('deploy/dev.yaml:deploy/extra.yaml');
    expect((await discoverCompose(directorySource(dir), fromDotenv)).files).toEqual(['deploy/dev.yaml', 'deploy/extra.yaml']);
    const fromEnv = await composeFileSettings([], dir, { COMPOSE_FILE: 'deploy/extra.yaml' });
    expect((await discoverCompose(directorySource(dir), fromEnv)).services.map((s) => s.name)).toEqual(['c']);
    const configured = await composeFileSettings(['deploy/dev.yaml'], dir, { COMPOSE_FILE: 'deploy/extra.yaml' });
    expect((await discoverCompose(directorySource(dir), configured)).portVars.map((v) => v.name)).toEqual(['B_PORT']);
    const missing = await discoverCompose(directorySource(dir), { configured: ['nope.yaml'] });
    expect(missing.error).toMatch(/nope\.yaml: no such compose file \(set by vtree\.compose\.files\)/);
  });

  it('takes COMPOSE_FILE from a worktree .env without vtree\'s own generated override', async () => {
    await files({ 'compose.yaml': 'services: {a: {image: a}}\n' });
    const value = dotenvValue('A=1\nexport COMPOSE_FILE=compose.yaml:/r/.git/worktrees/x/vtree-compose.override.yaml\n', 'COMPOSE_FILE');
    expect(value).toBe('compose.yaml:/r/.git/worktrees/x/vtree-compose.override.yaml');
    const model = await discoverCompose(directorySource(dir), { configured: [], composeFileVariable: value! });
    expect(model).toMatchObject({ files: ['compose.yaml'], origin: 'COMPOSE_FILE' });
    expect(model.error).toBeUndefined();
  });

  it('reads the files of a commit from the object store, not the checkout', async () => {
    await files({ 'compose.yml': 'services:\n  web:\n    image: w\n    ports: ["80:80"]\n' });
    await git(dir, 'init', '-q', '-b', 'main');
    await git(dir, 'add', '.');
    await git(dir, 'commit', '-qm', 'c');
    const commit = await git(dir, 'rev-parse', 'HEAD');
    await rm(join(dir, 'compose.yml'));
    const model = await discoverCompose(objectStoreSource(dir, commit), noSettings);
    expect(model.files).toEqual(['compose.yml']);
    expect(model.portVars.map((v) => v.name)).toEqual(['VTREE_PORT_WEB_80']);
  });

  it('reports a broken file in one line instead of throwing', async () => {
    await files({ 'compose.yaml': 'services:\n  web: [\n' });
    const model = await discoverCompose(directorySource(dir), noSettings);
    expect(model.error).toMatch(/^compose\.yaml is not valid YAML: .+/);
    expect(model.error).not.toContain('\n');
    await files({ 'compose.yaml': '- just\n- a list\n' });
    expect((await discoverCompose(directorySource(dir), noSettings)).error).toMatch(/not a Compose file/);
  });

  it('caches parsed models by the files\' content', async () => {
    const cache = join(dir, 'cache');
    await files({ 'compose.yaml': 'services: {a: {image: a, ports: ["1000:1000"]}}\n' });
    const first = await discoverCompose(directorySource(dir), noSettings, cache);
    const [entry] = await readdir(cache);
    // Mark the cached model: a hit returns the mark, so the file was not parsed again.
    await writeFile(join(cache, entry!), JSON.stringify({ ...first, portVars: [{ name: 'FROM_CACHE', service: 'a', containerPort: 1 }] }));
    expect((await discoverCompose(directorySource(dir), noSettings, cache)).portVars[0]!.name).toBe('FROM_CACHE');
    await files({ 'compose.yaml': 'services: {a: {image: a, ports: ["2000:2000"]}}\n' });
    expect((await discoverCompose(directorySource(dir), noSettings, cache)).portVars[0]!.name).toBe('VTREE_PORT_A_2000');
    expect(await readdir(cache)).toHaveLength(2);
  });

  it('resolves YAML merge keys as Compose does', async () => {
    await files({ 'compose.yaml': 'x-base: &base\n  image: b\n  ports: ["5000:5000"]\nservices:\n  one:\n    <<: *base\n' });
    const model = await discoverCompose(directorySource(dir), noSettings);
    expect(model.services[0]).toMatchObject({ name: 'one', image: 'b', ports: [{ kind: 'literal', hostPort: 5000 }] });
    expect(pulledImages(model)).toEqual(['b']);
  });
});

describe('planOverride', () => {
  const compose = [
    'services:',
    '  web:',
    '    image: w',
    '    container_name: web',
    '    ports: ["127.0.0.1:3000:3000", "${ADMIN_PORT:-3001}:3001", {target: 80, published: 8080}]',
    '  db:',
    '    image: d',
    '    ports: ["127.0.0.1:${DB_PORT:-5432}:5432"]',
    '    volumes: [data:/var/lib/data, shared:/shared]',
    'volumes:',
    '  data: {}',
    '  shared: {name: team-shared}',
    '  outside: {external: true, name: company-wide}',
    '',
  ].join('\n');

  it('remaps literal ports and container names, scopes fixed volume names, leaves variables to .env', async () => {
    await files({ 'compose.yaml': compose });
    const model = await discoverCompose(directorySource(dir), noSettings);
    const plan = planOverride(model, 'app-feat', { VTREE_PORT_WEB_3000: 23000, VTREE_PORT_WEB_80: 23080, DB_PORT: 25432 });
    expect(plan).toMatchObject({ remappedPorts: 2, containerNames: 1, fixedNames: 1, unmapped: [] });
    const override = parse(plan.yaml!, { logLevel: 'error' });
    expect(override.services.web.ports).toEqual(['127.0.0.1:${VTREE_PORT_WEB_3000:-23000}:3000', '${ADMIN_PORT:-3001}:3001', { target: 80, published: '${VTREE_PORT_WEB_80:-23080}' }]);
    expect(override.services.web.container_name).toBe('app-feat-web');
    expect(override.services.web.networks.default.aliases).toEqual(['web']);
    expect(override.services.db).toBeUndefined();
    expect(override.volumes).toEqual({ shared: { name: 'app-feat_team-shared' } });
  });

  it('publishes on an ephemeral port when no lease exists, and writes nothing when nothing collides', async () => {
    await files({ 'compose.yaml': 'services: {a: {image: a, ports: ["127.0.0.1:3000:3000", "4000:4000"]}}\n' });
    const plan = planOverride(await discoverCompose(directorySource(dir), noSettings), 'p', {});
    expect(parse(plan.yaml!, { logLevel: 'error' }).services.a.ports).toEqual(['127.0.0.1::3000', '4000']);
    await files({ 'compose.yaml': 'services: {a: {image: a, ports: ["${A:-1}:1"]}}\n' });
    expect(planOverride(await discoverCompose(directorySource(dir), noSettings), 'p', {}).yaml).toBeUndefined();
  });

  it('is understood by the real Compose: one port per entry, the new name, the old one an alias', async (context) => {
    await requirePrereq('docker', context);
    await files({ 'compose.yaml': compose });
    const model = await discoverCompose(directorySource(dir), noSettings);
    const gitDir = join(dir, 'gitdir');
    const override = await writeOverride(gitDir, planOverride(model, 'app-feat', { VTREE_PORT_WEB_3000: 23000, VTREE_PORT_WEB_80: 23080 }).yaml);
    const runtime = { name: 'docker compose', command: ['docker', 'compose'], engine: 'docker' as const, version: '2' };
    const project = { dir, name: 'app-feat', files: ['compose.yaml', override!], env: { DB_PORT: '25432' } };
    const { stdout } = await run('docker', composeArgs(runtime, project, ['config', '--format', 'json']), { cwd: dir, env: { ...process.env, ...project.env } });
    const config = JSON.parse(stdout);
    expect(config.services.web.container_name).toBe('app-feat-web');
    expect(config.services.web.ports.map((p: { published: string }) => p.published).sort()).toEqual(['23000', '23080', '3001']);
    expect(config.services.web.networks.default.aliases).toEqual(['web']);
    expect(config.services.db.ports[0].published).toBe('25432');
    expect(config.volumes.data.name).toBe('app-feat_data');
    expect(config.volumes.shared.name).toBe('app-feat_team-shared');
    expect(composeFileValue(['compose.yaml'], override, ':')).toBe(`compose.yaml:${override}`);
  });
});

describe('planStart', () => {
  const model = (services: Record<string, { dependsOn?: string[]; profiles?: string[] }>) =>
    ({
      files: ['compose.yaml'],
      origin: 'default',
      portVars: [],
      fixedNames: [],
      services: Object.entries(services).map(([name, s]) => ({ name, build: false, dependsOn: s.dependsOn ?? [], profiles: s.profiles ?? [], ownNetworks: false, ports: [] })),
    }) as const;

  it('starts what others depend on first, then the rest; profiled services stay off', () => {
    const m = model({ db: {}, cache: {}, api: { dependsOn: ['db'] }, worker: { dependsOn: ['cache'] }, debug: { profiles: ['debug'] } });
    expect(planStart({ ...m, services: [...m.services] }, [])).toEqual({ critical: ['db', 'cache'], deferred: ['api', 'worker'] });
  });

  it('starts everything at once when nothing depends on anything, and honours vtree.services.critical', () => {
    const m = model({ web: {}, db: {} });
    expect(planStart({ ...m, services: [...m.services] }, [])).toEqual({ critical: ['web', 'db'], deferred: [] });
    expect(planStart({ ...m, services: [...m.services] }, ['db', 'unknown'])).toEqual({ critical: ['db'], deferred: ['web'] });
  });
});

describe('detectComposeRuntime', () => {
  it('says in one line that a configured command does not run', async () => {
    const detection = await detectComposeRuntime('no-such-compose-binary up');
    expect(detection).toEqual({ missing: "vtree.compose.command 'no-such-compose-binary up' does not run" });
  });

  it('remembers the Compose it found, and still asks the engine every time', async (context) => {
    await requirePrereq('docker', context);
    const cache = join(dir, 'runtime.json');
    const first = await detectComposeRuntime(undefined, process.env, cache);
    if (!('runtime' in first)) throw new Error(`no engine: ${first.missing}`);
    const saved = JSON.parse(await readFile(cache, 'utf8'));
    await writeFile(cache, JSON.stringify({ ...saved, runtime: { ...saved.runtime, version: 'from-cache' } }));
    expect(await detectComposeRuntime(undefined, process.env, cache)).toMatchObject({ runtime: { version: 'from-cache' } });
    const dead = await detectComposeRuntime(undefined, { ...process.env, DOCKER_HOST: `unix://${join(dir, 'dead.sock')}` }, cache);
    expect(dead).toMatchObject({ missing: expect.stringMatching(/^no container engine answers/) });
  });

  it('asks again once a Compose executable is installed, upgraded or removed, whatever the age of what it remembers', async (context) => {
    await requirePrereq('docker', context);
    const bin = join(dir, 'bin-fingerprint');
    await mkdir(bin, { recursive: true });
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const cache = join(dir, 'runtime-fingerprint.json');
    const remembered = async () => {
      const first = await detectComposeRuntime(undefined, env, cache);
      if (!('runtime' in first)) throw new Error(`no engine: ${first.missing}`);
      const saved = JSON.parse(await readFile(cache, 'utf8'));
      await writeFile(cache, JSON.stringify({ ...saved, runtime: { ...saved.runtime, version: 'from-cache' } }));
    };
    await remembered();
    expect(await detectComposeRuntime(undefined, env, cache)).toMatchObject({ runtime: { version: 'from-cache' } });
    // A podman-compose appears on PATH: the candidates are asked again, and Docker's Compose still wins.
    await writeFile(join(bin, 'podman-compose'), '#!/bin/sh\necho "podman-compose version 1.0.6"\n', { mode: 0o755 });
    expect(await detectComposeRuntime(undefined, env, cache)).toMatchObject({ runtime: { engine: 'docker', version: expect.stringMatching(/^\d/) } });
    await remembered();
    // It is upgraded (another file at the same path), then removed: asked again each time.
    await writeFile(join(bin, 'podman-compose'), '#!/bin/sh\necho "podman-compose version 1.1.0, a longer line"\n', { mode: 0o755 });
    expect(await detectComposeRuntime(undefined, env, cache)).not.toMatchObject({ runtime: { version: 'from-cache' } });
    await remembered();
    await rm(join(bin, 'podman-compose'));
    expect(await detectComposeRuntime(undefined, env, cache)).not.toMatchObject({ runtime: { version: 'from-cache' } });
  });

  it('runs docker-compose directly when it is the same Compose v2 as the docker plugin, and not when it is another Compose', async (context) => {
    await requirePrereq('docker', context);
    const plugin = await run('docker', ['compose', 'version']);
    const standalone = await run('docker-compose', ['version']).catch(() => undefined);
    if (!standalone || standalone.stdout !== plugin.stdout) return context.skip();
    expect(await detectComposeRuntime(undefined)).toMatchObject({ runtime: { name: 'docker-compose', command: ['docker-compose'], engine: 'docker' } });
    // A Compose v1 (or any other version) first on PATH is not the plugin: `docker compose` stays.
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'docker-compose'), '#!/bin/sh\necho "docker-compose version 1.29.2, build unknown"\n', { mode: 0o755 });
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    expect(await detectComposeRuntime(undefined, env)).toMatchObject({ runtime: { name: 'docker compose', command: ['docker', 'compose'] } });
  });

  it('respects DOCKER_HOST: a dead socket is no engine, in one line', async (context) => {
    await requirePrereq('docker', context);
    const detection = await detectComposeRuntime(undefined, { ...process.env, DOCKER_HOST: `unix://${join(dir, 'dead.sock')}` });
    expect('missing' in detection && detection.missing).toMatch(/^no container engine answers \(.*dead\.sock.*\)$/);
  });
});
