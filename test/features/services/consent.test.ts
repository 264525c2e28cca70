import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../../src/core/exec.js';
import { directorySource, discoverCompose } from '../../../src/features/services/compose.js';
import { judgeHostAccess } from '../../../src/features/services/consent.js';
import { composeAppsForFile, git, mcpTool, onTerminal, probePrereq, tempDir, testEnv, vtree, type VtreeResult } from '../../helpers.js';

// A cloned repository's Compose stack runs as root on the host: it starts only once the user
// trusts it (`git vtree trust`), through every entry point that starts a stack.

const docker = await probePrereq('docker');

let root: string;
let env: NodeJS.ProcessEnv;
const makeRepo = composeAppsForFile('cst', (dirs) => ({ root, env } = dirs));

/** A stack that mounts the host's root and writes a file in `out` through it, then exits 0. */
function hostileCompose(out: string, extra = ''): string {
  return `services:\n  evil:\n    image: vtree-test/busybox:latest\n    command: ["sh", "-c", "touch /host${out}/pwned"]\n    volumes: ["/:/host"]\n${extra}`;
}

/** A repository with the hostile stack whose stacks the user has not trusted (unlike the other test files'). */
async function hostileRepo(): Promise<{ repo: string; name: string; out: string }> {
  const made = await makeRepo({ 'README.md': '# app\n' });
  const out = join(root, `${made.name}-outside`);
  await mkdir(out, { recursive: true });
  await writeFile(join(made.repo, 'compose.yaml'), hostileCompose(out));
  await git(made.repo, 'add', '-A');
  await git(made.repo, 'commit', '-qm', 'stack');
  await git(made.repo, 'config', '--unset', 'vtree.services.trusted');
  return { ...made, out };
}

async function containers(project: string): Promise<string> {
  return (await run('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}'])).stdout.trim();
}

async function servicesRecord(repo: string, slug: string): Promise<{ state?: string; reason?: string }> {
  return JSON.parse(await readFile(join(repo, '.git', 'worktrees', slug, 'vtree-services.json'), 'utf8')) as { state?: string; reason?: string };
}

/** The one refusal line, and nothing outside written, no container of the stack. */
async function expectRefused(result: VtreeResult, out: string, project: string): Promise<void> {
  expect(result.code, result.stderr).toBe(0);
  const lines = result.stderr.split('\n').filter((l) => l.includes('git vtree trust'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/services: not started — the Compose stack of this repository is not trusted on this machine; review and approve it with: git vtree trust/);
  expect(await readdir(out)).toEqual([]);
  expect(await containers(project)).toBe('');
}

function claudeCreate(cwd: string, payload: unknown): Promise<VtreeResult> {
  return vtree(cwd, ['claude-hook', 'create'], env, JSON.stringify(payload));
}

describe('the Compose stack needs the user’s trust', () => {
  it.skipIf(!docker.ok)(
    'a hostile stack (volumes ["/:/host"]) is not started by add, setup, the post-checkout hook, up, MCP create or the Claude hook; after trust --yes it starts',
    async () => {
      const { repo, name, out } = await hostileRepo();

      await expectRefused(await vtree(repo, ['add', 'via-add', '--wait'], env), out, `${name}-via-add`);
      expect(await servicesRecord(repo, 'via-add')).toMatchObject({ state: 'none', reason: 'not trusted (git vtree trust)' });

      await git(repo, 'worktree', 'add', '-q', '-b', 'via-setup', join(root, `${name}.worktrees`, 'via-setup'));
      await expectRefused(await vtree(repo, ['setup', 'via-setup', '--wait'], env), out, `${name}-via-setup`);

      // `up`, an explicit command, refuses without a terminal and names the command that approves.
      const up = await vtree(join(root, `${name}.worktrees`, 'via-add'), ['up', '--wait'], env);
      expect(up.code).toBe(1);
      expect(up.stderr).toMatch(/not trusted on this machine[\s\S]*git vtree trust/);
      expect(await readdir(out)).toEqual([]);

      // The post-checkout hook: a plain `git worktree add`.
      expect((await vtree(repo, ['hooks', 'install'], env)).code).toBe(0);
      await run('git', ['worktree', 'add', '-q', '-b', 'via-hook', join(root, `${name}.worktrees`, 'via-hook')], { cwd: repo, env: testEnv(env) });
      expect(await servicesRecord(repo, 'via-hook')).toMatchObject({ state: 'none', reason: 'not trusted (git vtree trust)' });
      expect(await vtree(repo, ['hooks', 'uninstall'], env)).toMatchObject({ code: 0 });

      const claude = await claudeCreate(repo, { hook_event_name: 'WorktreeCreate', cwd: repo, name: 'via-claude' });
      expect(claude.code, claude.stderr).toBe(0);
      expect(claude.stderr).toMatch(/not trusted on this machine; review and approve it with: git vtree trust/);
      expect(await servicesRecord(repo, 'worktree-via-claude')).toMatchObject({ reason: 'not trusted (git vtree trust)' });

      const created = await mcpTool(repo, env, 'create', { branch: 'via-mcp' });
      expect(created.isError ?? false).toBe(false);
      // The warning reaches the agent.
      expect(JSON.stringify(created.content)).toMatch(/not trusted on this machine/);
      expect(await servicesRecord(repo, 'via-mcp')).toMatchObject({ reason: 'not trusted (git vtree trust)' });
      for (const slug of ['via-hook', 'worktree-via-claude', 'via-mcp']) expect(await containers(`${name}-${slug}`)).toBe('');
      expect(await readdir(out)).toEqual([]);

      // `trust` shows the services, their images and the host access, and approves it.
      const shown = await vtree(repo, ['trust', '--json'], env);
      expect(shown.code).toBe(1);
      expect(JSON.parse(shown.stdout)).toMatchObject({ ok: false, stack: { services: [{ name: 'evil', image: 'vtree-test/busybox:latest' }], hostAccess: ['evil: bind mount /:/host'], state: 'new' } });
      expect((await vtree(repo, ['trust', '--yes'], env)).code).toBe(0);
      const trusted = await vtree(repo, ['add', 'trusted', '--wait'], env);
      expect(trusted.code, trusted.stderr).toBe(0);
      expect(existsSync(join(out, 'pwned'))).toBe(true);

      // A change that adds host access asks again; one that adds none does not.
      await writeFile(join(repo, 'compose.yaml'), hostileCompose(out, '  more:\n    image: vtree-test/busybox:latest\n    command: ["true"]\n'));
      await git(repo, 'commit', '-qam', 'another service, no host access');
      expect((await vtree(repo, ['add', 'more', '--wait'], env)).stderr).not.toMatch(/git vtree trust/);
      await writeFile(join(repo, 'compose.yaml'), hostileCompose(out, '    privileged: true\n    network_mode: host\n'));
      await git(repo, 'commit', '-qam', 'privileged');
      const more = await vtree(repo, ['add', 'privileged', '--wait'], env);
      expect(more.code, more.stderr).toBe(0);
      expect(more.stderr).toMatch(/asks for host access you have not approved \(evil: host network; evil: privileged\); review and approve it with: git vtree trust/);
      expect(await containers(`${name}-privileged`)).toBe('');
    },
    240_000,
  );

  it.skipIf(!docker.ok)('on a terminal, add and up ask: y approves the stack (trust.json), n refuses it', async () => {
    const made = await makeRepo({ 'compose.yaml': 'services:\n  box:\n    image: vtree-test/busybox:latest\n    command: ["true"]\n    privileged: true\n' });
    await git(made.repo, 'config', '--unset', 'vtree.services.trusted');
    const refused = await onTerminal(made.repo, 'add a --wait', 'n\n', env);
    expect(refused.stdout).toMatch(/box: privileged[\s\S]*Start this stack .*\[y\/N\]/);
    expect(refused.stdout).toMatch(/not trusted on this machine; review and approve it with: git vtree trust/);
    expect(await containers(`${made.name}-a`)).toBe('');
    const up = await onTerminal(join(root, `${made.name}.worktrees`, 'a'), 'up --wait', 'y\n', env);
    expect(up.code, up.stdout).toBe(0);
    expect(up.stdout).toMatch(/Start this stack/);
    expect(await containers(`${made.name}-a`)).not.toBe('');
    const store = JSON.parse(await readFile(join(env.XDG_STATE_HOME!, 'vibetrees', 'trust.json'), 'utf8')) as { approved: Record<string, { repo: string; kind: string; hostAccess: string[] }> };
    expect(Object.values(store.approved)).toContainEqual(expect.objectContaining({ repo: made.repo, kind: 'stack', hostAccess: ['box: privileged'] }));
  });

  it('the user’s own git config (vtree.services.trusted) needs no approval; the committed file cannot set it', async () => {
    const { repo } = await hostileRepo();
    await writeFile(join(repo, '.vtreeconfig'), '[vtree "services"]\n\ttrusted = true\n');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'team config');
    const committed = JSON.parse((await vtree(repo, ['trust', '--json'], env)).stdout) as { stack: { state: string } };
    expect(committed.stack.state).toBe('new');
    await git(repo, 'config', 'vtree.services.trusted', 'true');
    const own = await vtree(repo, ['trust'], env);
    expect(own.code).toBe(0);
    expect(own.stderr + own.stdout).toMatch(/the Compose stack \(vtree.services.trusted in your git config\): approved/);
  });
});

describe('host access of a stack', () => {
  it('counts flags, paths that lead outside on disk (symlinks included), the Docker socket and what it cannot judge', async () => {
    const dir = await tempDir('vtree-host-access-');
    try {
      await mkdir(join(dir, 'data'));
      await symlink('/etc', join(dir, 'out'));
      await writeFile(
        join(dir, 'compose.yaml'),
        [
          'include: [other/compose.yaml]',
          'services:',
          '  web:',
          '    image: vtree-test/busybox:latest',
          '    build: .',
          '    env_file: [.env, ../secrets.env]',
          '    volumes: ["./data:/data", "named:/n", "./out/x:/x", "/var/run/docker.sock:/s", "${HOME}/.ssh:/k", {type: bind, source: /srv, target: /srv}, {type: volume, source: v, target: /v}]',
          '    privileged: true',
          '    network_mode: host',
          '    pid: host',
          '    cap_add: [SYS_ADMIN]',
          '    devices: ["/dev/kvm:/dev/kvm"]',
          '    security_opt: ["seccomp:unconfined"]',
          '  db:',
          '    image: postgres:16',
          '    volumes: ["db:/var/lib/postgresql/data"]',
          '  sly:',
          '    image: vtree-test/busybox:latest',
          '    privileged: ${PRIV:-true}',
          '    network_mode: "container:other"',
          '    volumes: ["${EVIL}"]',
          '    volumes_from: ["container:c", "web"]',
          '    build: {context: ., ssh: [default], additional_contexts: {up: ..}}',
          'volumes:',
          '  named: {}',
          '  host: {driver_opts: {type: none, o: bind, device: /mnt}}',
          'secrets:',
          '  key: {file: /root/key}',
          '',
        ].join('\n'),
      );
      const model = await discoverCompose(directorySource(dir), { configured: [] });
      const onDisk = await judgeHostAccess(model, dir);
      expect(onDisk).toEqual(
        [
          '(top level): include other/compose.yaml',
          '(top level): secret key from /root/key',
          '(top level): volume host on /mnt',
          'sly: bind mount ${EVIL}',
          'sly: build context ..',
          'sly: build with the host ssh agent or keys',
          'sly: network_mode container:other',
          'sly: privileged (${PRIV:-true})',
          'sly: volumes from container:c',
          'web: bind mount ${HOME}/.ssh:/k',
          'web: bind mount ./out/x:/x',
          'web: bind mount /srv:/srv',
          'web: bind mount /var/run/docker.sock:/s (the Docker socket)',
          'web: capability SYS_ADMIN',
          'web: device /dev/kvm:/dev/kvm',
          'web: env file ../secrets.env',
          'web: host network',
          'web: host pid namespace',
          'web: privileged',
          'web: security option seccomp:unconfined',
        ].sort(),
      );
      // Before checkout (no directory) paths are judged by their letters: the symlink is not seen yet.
      expect(await judgeHostAccess(model)).toEqual(onDisk.filter((line) => !line.includes('./out/x')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
