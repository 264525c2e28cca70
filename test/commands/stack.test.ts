import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { composeAppsForFile, requirePrereq, vtree } from '../helpers.js';

const execFileAsync = promisify(execFile);
const RUNTIME_MODULE = fileURLToPath(new URL('../../dist/features/services/runtime.js', import.meta.url));

let env: NodeJS.ProcessEnv;
const makeApp = composeAppsForFile('stk', (dirs) => ({ env } = dirs));

/** `talk` prints a line and stays up; `quiet` stays up and prints nothing. */
const COMPOSE = [
  'services:',
  '  talk:',
  '    image: vtree-test/busybox:latest',
  '    command: ["sh", "-c", "echo hello from talk; exec sleep 600"]',
  '  quiet:',
  '    image: vtree-test/busybox:latest',
  '    command: ["sleep", "600"]',
  '',
].join('\n');

/** A worktree `branch` of a new app, with its stack up (started by `up`, not by `add`). */
async function upApp(branch: string, compose = COMPOSE): Promise<{ repo: string; path: string }> {
  const { repo } = await makeApp({ 'compose.yaml': compose });
  const added = await vtree(repo, ['add', branch, '--no-services'], env);
  expect(added.code, added.stderr).toBe(0);
  return { repo, path: added.stdout.trim() };
}

describe('the stack commands (real Docker)', () => {
  beforeEach(async (ctx) => {
    await requirePrereq('docker', ctx);
  });

  it('logs: names are services of the stack, never flags (no follow unless --follow); a service with no output is said so', async () => {
    const { repo } = await upApp('logs');
    const up = await vtree(repo, ['up', '-w', 'logs', '--wait'], env);
    expect(up.code, up.stderr).toBe(0);

    const talk = await vtree(repo, ['logs', '-w', 'logs', 'talk'], env);
    expect(talk.code, talk.stderr).toBe(0);
    expect(talk.stdout).toContain('hello from talk');
    expect(talk.stderr).not.toMatch(/no log output/);

    const quiet = await vtree(repo, ['logs', '-w', 'logs', 'quiet'], env);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toMatch(/^warning: no log output from quiet$/m);

    // What the MCP `logs` tool passes for services ["talk", "-f"]: refused at once instead of following forever.
    const flag = await vtree(repo, ['logs', '--worktree=logs', '--tail=100', '--', 'talk', '-f'], env);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/no service '-f' in the stack of .* \(its services: .*talk.*\)/);
    const unknown = await vtree(repo, ['logs', '-w', 'logs', 'nope'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no service 'nope'/);
  });

  it('status: no stale engine error after up succeeded; "services stopped" after down', async () => {
    const { repo } = await upApp('stale');
    // The first start fails (no engine at DOCKER_HOST): its reason is recorded.
    const failed = await vtree(repo, ['up', '-w', 'stale'], { ...env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    expect(failed.code).not.toBe(0);
    const up = await vtree(repo, ['up', '-w', 'stale', '--wait'], env);
    expect(up.code, up.stderr).toBe(0);
    const status = await vtree(repo, ['status', '-w', 'stale', '--json'], env);
    const parsed = JSON.parse(status.stdout) as { state: string; reason?: string; engine?: string };
    expect(parsed.state).toMatch(/running|healthy/);
    expect(parsed.reason).toBeUndefined();
    expect(parsed.engine).toBeUndefined();
    expect((await vtree(repo, ['status', '-w', 'stale'], env)).stdout).not.toMatch(/nonexistent|engine|answers/);

    expect((await vtree(repo, ['down', '-w', 'stale'], env)).code).toBe(0);
    const after = await vtree(repo, ['status', '-w', 'stale'], env);
    expect(after.stdout).toMatch(/^set-up: .*services stopped/m);
    expect(after.stdout).not.toMatch(/services skipped/);
  });

  it('an image that cannot be pulled: the hint does not send you to the logs of a container never created', async () => {
    const { repo } = await upApp('ghost', 'services:\n  ghost:\n    image: 127.0.0.1:1/vtree-missing:1\n');
    const up = await vtree(repo, ['up', '-w', 'ghost', '--wait'], env);
    expect(up.code).toBe(1);
    expect(up.stderr).toMatch(/ghost not created/);
    expect(up.stderr).not.toMatch(/git vtree logs ghost/);
    expect(up.stderr).toMatch(/^hint: no container was created: fix what Compose said, then run: git vtree up --wait$/m);
  });

  it('a user outside the docker group gets one line saying what to do', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip(); // runs the probe as another user
    const script = `import(${JSON.stringify(RUNTIME_MODULE)}).then((m) => m.detectComposeRuntime(undefined)).then((r) => console.log(JSON.stringify(r)))`;
    const { stdout } = await execFileAsync('runuser', ['-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' } });
    const detection = JSON.parse(stdout) as { missing?: string };
    expect(detection.missing).toMatch(/this user may not use the Docker socket \(permission denied\): join the docker group .* or set DOCKER_HOST/);
    expect(detection.missing).not.toMatch(/dial unix|http:/);
  });
});
