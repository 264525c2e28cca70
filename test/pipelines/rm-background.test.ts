import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { composeAppsForFile, git, removalsDone, requirePrereq, slowHealthyCompose, vtree } from '../helpers.js';

const execFileAsync = promisify(execFile);

let env: NodeJS.ProcessEnv;
const makeApp = composeAppsForFile('rmbg', (dirs) => ({ env } = dirs));

beforeEach(async (ctx) => {
  await requirePrereq('docker', ctx);
});

async function containers(project: string, all = true): Promise<string[]> {
  const { stdout } = await execFileAsync('docker', ['ps', ...(all ? ['-a'] : []), '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`]);
  return stdout.split('\n').filter(Boolean);
}

async function leases(repo: string): Promise<Array<{ port: number; worktree: string }>> {
  return JSON.parse((await vtree(repo, ['ports', '--json'], env)).stdout).leases;
}

describe('rm with a running stack', () => {
  it('returns before the stack is down; list and status say removing; a new add of the branch is not refused: it starts its stack once the old one is down, and keeps its own stack, network and ports', async () => {
    const { repo } = await makeApp({ 'compose.yaml': slowHealthyCompose(0), '.gitignore': '.env\n' });
    // httpd as pid 1 ignores SIGTERM: stopping it takes the whole stop timeout.
    await git(repo, 'config', 'vtree.services.stopTimeout', '6');
    const first = await vtree(repo, ['add', 'feat', '--wait', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    const { path, facts } = JSON.parse(first.stdout) as { path: string; facts: { ports: { WEB_PORT: number } } };
    const oldPort = facts.ports.WEB_PORT;
    const { stdout: projectOut } = await execFileAsync('docker', ['ps', '--filter', `publish=${oldPort}`, '--format', '{{.Label "com.docker.compose.project"}}']);
    const project = projectOut.trim();
    const oldContainers = await containers(project);
    expect(oldContainers).toHaveLength(1);

    const removed = await vtree(repo, ['rm', 'feat', '--json'], env);
    expect(removed.code, removed.stderr).toBe(0);
    const result = JSON.parse(removed.stdout) as { stackLog: string; backgroundLog: string };
    // One detached job for the stack and the files.
    expect(result.backgroundLog).toBe(result.stackLog);
    // Gone from git and from disk at once, while its container is still stopping.
    expect(await git(repo, 'worktree', 'list', '--porcelain')).not.toContain(path);
    expect(existsSync(path)).toBe(false);
    expect(await containers(project, false)).toEqual(oldContainers);
    const listed = JSON.parse((await vtree(repo, ['list', '--json'], env)).stdout) as { removing: Array<{ path: string; state: string }>; orphans: unknown[] };
    expect(listed.removing).toEqual([expect.objectContaining({ path, state: 'removing' })]);
    expect(listed.orphans).toEqual([]);
    const status = await vtree(repo, ['status', '-w', 'feat'], env);
    expect(status.stdout).toContain(`${path}: removing (stack ${project} stopping in the background`);
    // The port stays leased (to the removal) while the old container holds it.
    expect((await leases(repo)).find((l) => l.port === oldPort)?.worktree).toMatch(/ \(removing .+\)$/);

    const again = await vtree(repo, ['add', 'feat', '--wait', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    const newPort = (JSON.parse(again.stdout) as { facts: { ports: { WEB_PORT: number } } }).facts.ports.WEB_PORT;
    expect(newPort).not.toBe(oldPort);

    await removalsDone(repo);
    expect(await readFile(result.stackLog, 'utf8')).toMatch(/trash deleted[\s\S]*stack-down finished/);
    expect(await readdir(join(repo, '.git', 'vibetrees', 'trash')).catch(() => [])).toEqual([]);
    const now = await containers(project);
    expect(now.some((id) => oldContainers.includes(id))).toBe(false);
    expect(await containers(project, false)).toHaveLength(1);
    // The job took the old project's network before the new stack made its own of the same name.
    const { stdout: networks } = await execFileAsync('docker', ['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]);
    expect(networks.split('\n').filter(Boolean)).toHaveLength(1);
    const after = await leases(repo);
    expect(after.map((l) => l.port)).toEqual([newPort]);
    expect(await (await fetch(`http://127.0.0.1:${newPort}/`).catch(() => undefined))?.status).toBeDefined();
    expect(JSON.parse((await vtree(repo, ['list', '--json'], env)).stdout).removing).toEqual([]);
  });
});
