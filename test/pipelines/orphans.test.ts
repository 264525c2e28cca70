import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { composeAppsForFile, git, removalsDone, requirePrereq, slowHealthyCompose, vtree } from '../helpers.js';

const execFileAsync = promisify(execFile);

let env: NodeJS.ProcessEnv;
const makeApp = composeAppsForFile('orph', (dirs) => ({ env } = dirs));

beforeEach(async (ctx) => {
  await requirePrereq('docker', ctx);
});

/** A worktree with its stack up and WEB_PORT leased, then removed by plain git behind vtree's back. */
async function orphaned(branch: string): Promise<{ repo: string; path: string; slug: string; port: number; project: string }> {
  const { repo } = await makeApp({ 'compose.yaml': slowHealthyCompose(0), '.gitignore': '.env\n' });
  const added = await vtree(repo, ['add', branch, '--wait', '--json'], env);
  expect(added.code, added.stderr).toBe(0);
  const { path, slug, facts } = JSON.parse(added.stdout) as { path: string; slug: string; facts: { ports: Record<string, number> } };
  const port = facts.ports.WEB_PORT!;
  const { stdout: project } = await execFileAsync('docker', ['ps', '--filter', `publish=${port}`, '--format', '{{.Label "com.docker.compose.project"}}']);
  expect(project.trim()).not.toBe('');
  await git(repo, 'worktree', 'remove', '--force', path);
  expect(existsSync(path)).toBe(false);
  return { repo, path, slug, port, project: project.trim() };
}

async function containersOf(project: string): Promise<string> {
  return (await execFileAsync('docker', ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`])).stdout.trim();
}

async function leased(repo: string, port: number): Promise<boolean> {
  const result = await vtree(repo, ['ports', '--json'], env);
  return (JSON.parse(result.stdout) as { leases: Array<{ port: number }> }).leases.some((l) => l.port === port);
}

describe('worktrees removed by plain git (orphans)', () => {
  it('ports --prune keeps the lease a running container still publishes; list marks the orphan; down -w stops its stack and frees it', async () => {
    const { repo, path, slug, port, project } = await orphaned('plain');
    const pruned = await vtree(repo, ['ports', '--prune', '--json'], env);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect((JSON.parse(pruned.stdout) as { pruned: Array<{ port: number }> }).pruned.map((l) => l.port)).not.toContain(port);
    expect(await leased(repo, port)).toBe(true);

    const listed = await vtree(repo, ['list', '--json'], env);
    const orphans = (JSON.parse(listed.stdout) as { orphans: Array<{ path: string; project?: string; running: number; leases: Array<{ port: number }> }> }).orphans;
    expect(orphans).toEqual([expect.objectContaining({ path, project, running: 1, leases: [expect.objectContaining({ port })] })]);
    const text = await vtree(repo, ['list'], env);
    expect(text.stderr).toContain(`orphan: ${path}: removed outside vtree; still holds stack ${project} (1/1 running), ports WEB_PORT=${port}: git vtree rm ${slug}`);
    // --fast asks the engine only because the lease of the vanished worktree hints at an orphan: the same finding.
    const fast = JSON.parse((await vtree(repo, ['list', '--fast', '--json'], env)).stdout) as { orphans: unknown[] };
    expect(fast.orphans).toEqual(orphans);

    const down = await vtree(repo, ['down', '-w', slug], env);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toMatch(new RegExp(`stopped stack ${project}, freed port\\(s\\) ${port}`));
    expect(await containersOf(project)).toBe('');
    expect(await leased(repo, port)).toBe(false);
    expect(JSON.parse((await vtree(repo, ['list', '--json'], env)).stdout).orphans).toEqual([]);
  });

  it('rm <slug> reclaims an orphan in the background; a name that matches nothing is still refused', async () => {
    const { repo, slug, port, project } = await orphaned('gone-by-git');
    const removed = await vtree(repo, ['rm', slug, '--json'], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ ok: true, orphan: { stopping: { project } } });
    await removalsDone(repo);
    expect(await containersOf(project)).toBe('');
    expect(await leased(repo, port)).toBe(false);
    const unknown = await vtree(repo, ['rm', 'no-such-thing'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no worktree of this repository matches 'no-such-thing'/);
  });

  it('prune hands the stack of an orphan to a background job that stops it, then frees its lease', async () => {
    const { repo, path, port, project } = await orphaned('pruned-by-git');
    const listed = await vtree(repo, ['prune', '--json'], env);
    expect(JSON.parse(listed.stdout).orphans).toEqual([expect.objectContaining({ path, project })]);
    const pruned = await vtree(repo, ['prune', '--yes'], env);
    expect(pruned.code, pruned.stderr).toBe(0);
    // Handed to the background, as rm does: the orphan is no longer listed while its stack stops.
    expect(JSON.parse((await vtree(repo, ['list', '--json'], env)).stdout).orphans).toEqual([]);
    await removalsDone(repo);
    expect(await containersOf(project)).toBe('');
    expect(await leased(repo, port)).toBe(false);
  });
});
