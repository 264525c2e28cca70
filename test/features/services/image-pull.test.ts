import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/core/exec.js';
import type { MetricsFile } from '../../../src/observe/metrics.js';
import type { ServicesStatus } from '../../../src/features/services/stack.js';
import { git, tempDir, vtree } from '../../helpers.js';
import { pushTestImage, requirePrereq, startRegistry } from '../../remote-prereqs.js';

// Image pulls from a real registry (docker-registry on 127.0.0.1 holding the test image), with a
// real Docker engine: the pull runs while git checks out, a pull that succeeds, a missing tag that
// fails with the registry's own words, and a Compose `build:` on a local base image with BuildKit.

const registry = await requirePrereq('docker-registry on 127.0.0.1:5112 with the test image and a Docker engine', async () => {
  execFileSync('docker', ['version'], { stdio: 'ignore', timeout: 10_000 });
  const address = await startRegistry(5112);
  return { address, image: pushTestImage(address, `pull${process.pid}`, 'v1') };
});

let root: string;
const prefix = `vtpull${process.pid.toString(36)}`;
let count = 0;
const env = () => ({ XDG_STATE_HOME: join(root, 'state') });

beforeAll(async () => {
  root = await tempDir('vtree-image-pull-');
});
afterAll(async () => {
  const { stdout } = await run('docker', ['ps', '-a', '--filter', 'label=com.docker.compose.project', '--format', '{{.Label "com.docker.compose.project"}}']);
  const projects = new Set(stdout.split('\n').filter((p) => p.startsWith(prefix)));
  await Promise.all([...projects].map((p) => run('docker', ['compose', '-p', p, 'down', '-v', '--rmi', 'local', '-t', '1'], { cwd: root }).catch(() => undefined)));
  if (registry.ok) await run('docker', ['rmi', registry.value.image]).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

/** A repository whose commit holds `files`, plus `bulk` small files so that checking out takes a while. */
async function makeApp(files: Record<string, string>, bulk = 0): Promise<string> {
  const repo = join(root, `${prefix}r${++count}`);
  await mkdir(join(repo, 'bulk'), { recursive: true });
  await git(repo, 'init', '-q', '-b', 'main');
  for (const [file, text] of Object.entries(files)) await writeFile(join(repo, file), text);
  for (let i = 0; i < bulk; i++) await writeFile(join(repo, 'bulk', `f${i}.txt`), `${i}\n`.repeat(200));
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-qm', 'initial');
  await git(repo, 'config', 'vtree.services.stopTimeout', '1');
  await git(repo, 'config', 'vtree.services.trusted', 'true');
  return repo;
}

async function settled(repo: string, slug: string): Promise<ServicesStatus> {
  for (let i = 0; i < 480; i++) {
    const status = JSON.parse(await readFile(join(repo, '.git', 'worktrees', slug, 'vtree-services.json'), 'utf8')) as ServicesStatus;
    if (status.state !== 'starting') return status;
    await sleep(250);
  }
  throw new Error(`the stack of ${slug} is still starting after two minutes`);
}

async function imageExists(image: string): Promise<boolean> {
  return run('docker', ['image', 'inspect', image]).then(() => true, () => false);
}

describe.skipIf(!registry.ok)(`image pulls from a real registry${registry.ok ? '' : ` (skipped: ${registry.reason})`}`, () => {
  const image = registry.ok ? registry.value.image : '';
  const address = registry.ok ? registry.value.address : '';

  it('the pull starts while git checks out, succeeds, and the stack runs on the pulled image', async () => {
    await run('docker', ['rmi', image]).catch(() => undefined);
    const repo = await makeApp({ 'compose.yaml': `services:\n  app:\n    image: ${image}\n    command: ["sleep", "600"]\n` }, 2000);
    // --wait: the pull is the services-pull span itself, so its overlap with the checkout is on record.
    const added = await vtree(repo, ['add', 'pulled', '--json', '--wait'], env());
    expect(added.code, added.stderr).toBe(0);
    const runs = JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8')).runs as MetricsFile['runs'];
    const spans = runs.at(-1)!.spans;
    const checkout = spans.find((s) => s.name === 'git-worktree-add')!;
    const pull = spans.find((s) => s.name === 'services-pull')!;
    expect(pull.detail).toMatchObject({ missing: [image] });
    expect(pull.start).toBeLessThan(checkout.start + checkout.duration);
    expect(pull.start + pull.duration).toBeGreaterThan(checkout.start);
    expect(await imageExists(image)).toBe(true);
    expect(await settled(repo, 'pulled')).toMatchObject({ state: 'running' });
  }, 180_000);

  it('a missing tag fails with the registry\'s own error, in the stack status, in `status` and in `wait`', async () => {
    const missing = `${address}/vtree-test/pull${process.pid}:no-such-tag`;
    const repo = await makeApp({ 'compose.yaml': `services:\n  app:\n    image: ${missing}\n    command: ["sleep", "600"]\n` });
    const added = await vtree(repo, ['add', 'ghost', '--json'], env());
    expect(added.code, added.stderr).toBe(0);
    const status = await settled(repo, 'ghost');
    expect(status.state).toBe('failed');
    // distribution's own words for an unknown tag.
    expect(status.reason).toMatch(/manifest unknown/);
    const shown = await vtree(join(repo, '..', `${repo.split('/').pop()}.worktrees`, 'ghost'), ['status'], env());
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/failed — .*manifest unknown/);
    const waited = await vtree(repo, ['wait', 'ghost', '--timeout', '60'], env());
    expect(waited.code).toBe(1);
    expect(waited.stderr).toMatch(/manifest unknown/);
  }, 180_000);

  it('a Compose build: on a local base image builds with BuildKit, no registry needed', async () => {
    const repo = await makeApp({
      'compose.yaml': 'services:\n  built:\n    build: .\n    command: ["sleep", "600"]\n',
      Dockerfile: 'FROM vtree-test/busybox:latest\nRUN echo built-by-vtree > /built\n',
    });
    const added = await vtree(repo, ['add', 'built', '--json'], { ...env(), DOCKER_BUILDKIT: '1' });
    expect(added.code, added.stderr).toBe(0);
    const status = await settled(repo, 'built');
    expect(status, JSON.stringify(status)).toMatchObject({ state: 'running' });
    const { stdout } = await run('docker', ['compose', '-p', String(status.project), 'exec', '-T', 'built', 'cat', '/built'], { cwd: root });
    expect(stdout.trim()).toBe('built-by-vtree');
  }, 180_000);
});
