import { existsSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeEach, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/core/exec.js';
import { BIN, probePrereq, removalsDone, requirePrereq, git, otherRepository, tempDir, testEnv, slowHealthyCompose } from '../helpers.js';

// For cleanup only; the tests themselves require Docker through requirePrereq.
const docker = (await probePrereq('docker')).ok;

let root: string;
let repo: string;
const name = `vtmcp${process.pid.toString(36)}`;

beforeAll(async () => {
  root = await tempDir('vtree-mcp-');
  repo = join(root, name);
  await mkdir(repo);
  await git(repo, 'init', '-q', '-b', 'main');
  const compose = slowHealthyCompose(2);
  await writeFile(join(repo, 'compose.yaml'), compose);
  await writeFile(join(repo, '.gitignore'), '.env\n');
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-qm', 'initial');
  await git(repo, 'config', 'vtree.services.stopTimeout', '1');
  await git(repo, 'config', 'vtree.services.trusted', 'true');
});
afterAll(async () => {
  if (docker) await run('docker', ['compose', '-p', `${name}-agent-task`, 'down', '-v', '-t', '1'], { cwd: root }).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

/** The tool's JSON answer (structured content), failing the test with its text when it is an error. */
function answer(result: unknown): Record<string, unknown> {
  const call = result as CallToolResult;
  const text = call.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
  expect(call.isError ?? false, text).toBe(false);
  return call.structuredContent as Record<string, unknown>;
}

describe('git vtree mcp', () => {
  beforeEach(async (ctx) => {
    await requirePrereq('docker', ctx);
  });
  it('an MCP client (the official SDK, over stdio) creates a worktree, waits until it is ready, reads its status and removes it', async () => {
    const client = new Client({ name: 'vtree-test', version: '1.0.0' });
    const env = Object.fromEntries(Object.entries(testEnv({ XDG_STATE_HOME: join(root, 'state') })).filter((e): e is [string, string] => e[1] !== undefined));
    const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp'], cwd: repo, env, stderr: 'pipe' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['create', 'exec', 'list', 'logs', 'remove', 'status', 'wait']);

      const created = answer(await client.callTool({ name: 'create', arguments: { branch: 'agent/task' } }));
      const path = created.path as string;
      expect(created).toMatchObject({ ok: true, branch: 'agent/task', slug: 'agent-task' });
      expect(existsSync(join(path, 'compose.yaml'))).toBe(true);

      const listed = answer(await client.callTool({ name: 'list', arguments: {} }));
      expect((listed.worktrees as Array<{ path: string; setUp: boolean }>).find((w) => w.path === path)).toMatchObject({ setUp: true });

      const ready = answer(await client.callTool({ name: 'wait', arguments: { worktree: 'agent/task', timeout: 120 } }));
      const port = (ready.env as Record<string, string>).WEB_PORT;
      expect(ready).toMatchObject({ ok: true, state: 'ready', path, services: [{ service: 'web', url: `http://127.0.0.1:${port}` }] });
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok\n');

      const status = answer(await client.callTool({ name: 'status', arguments: { worktree: 'agent/task' } }));
      expect(status).toMatchObject({ project: `${name}-agent-task`, state: 'healthy', readiness: { state: 'ready' } });

      const logs = (await client.callTool({ name: 'logs', arguments: { worktree: 'agent/task', job: true } })) as CallToolResult;
      expect(logs.isError ?? false).toBe(false);
      expect(logs.content[0]).toMatchObject({ type: 'text', text: expect.stringContaining('services-up started') });
      // A flag among the service names is refused at once: the call returns instead of following forever.
      const flagged = (await client.callTool({ name: 'logs', arguments: { worktree: 'agent/task', services: ['web', '-f'] } })) as CallToolResult;
      expect(flagged.isError).toBe(true);
      expect(flagged.content[0]).toMatchObject({ text: expect.stringContaining("no service '-f'") });

      // exec: in the worktree, with its port variables; the command's exit code and output are the answer.
      const ran = (await client.callTool({ name: 'exec', arguments: { worktree: 'agent/task', command: ['sh', '-c', 'echo "$WEB_PORT $(pwd)"; echo oops >&2; exit 3'] } })) as CallToolResult;
      expect(ran.isError).toBe(true);
      expect(ran.structuredContent).toMatchObject({ exitCode: 3, timedOut: false, stdout: `${port} ${path}\n`, stderr: 'oops\n' });
      const slow = (await client.callTool({ name: 'exec', arguments: { worktree: 'agent/task', command: ['sleep', '30'], timeout: 1 } })) as CallToolResult;
      expect(slow.structuredContent).toMatchObject({ exitCode: 124, timedOut: true });
      expect(answer(await client.callTool({ name: 'exec', arguments: { worktree: 'agent/task', command: ['true'] } }))).toMatchObject({ ok: true, exitCode: 0 });

      // An error is the command's own one line, marked as an error.
      const missing = (await client.callTool({ name: 'wait', arguments: { worktree: 'no-such-branch', timeout: 5 } })) as CallToolResult;
      expect(missing.isError).toBe(true);
      expect(missing.content[0]).toMatchObject({ text: expect.stringContaining("no worktree of this repository matches 'no-such-branch'") });

      const removed = answer(await client.callTool({ name: 'remove', arguments: { worktree: 'agent/task', deleteBranch: true } }));
      expect(removed).toMatchObject({ ok: true, path, branchDeleted: true });
      expect(existsSync(path)).toBe(false);
      // Its stack stops in a background job after the removal returns (docs/day-two.md).
      await removalsDone(repo);
      const { stdout } = await run('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${name}-agent-task`, '--format', '{{.Names}}']);
      expect(stdout.trim()).toBe('');
    } finally {
      await client.close();
    }
  });
});

describe('git vtree mcp acts only on its own repository', () => {
  it("another repository's worktree, named directly or through a symlink, is no worktree of this one", async () => {
    const { other, theirs } = await otherRepository(root);
    const link = join(root, `${name}.worktrees`, 'sneaky');
    await mkdir(join(root, `${name}.worktrees`), { recursive: true });
    await symlink(theirs, link);
    const client = new Client({ name: 'vtree-test', version: '1.0.0' });
    const env = Object.fromEntries(Object.entries(testEnv({ XDG_STATE_HOME: join(root, 'state') })).filter((e): e is [string, string] => e[1] !== undefined));
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp'], cwd: repo, env, stderr: 'pipe' }));
    try {
      for (const target of [theirs, link]) {
        for (const [tool, args] of [['remove', { worktree: target, force: true, deleteBranch: true }], ['status', { worktree: target }], ['wait', { worktree: target, timeout: 5 }]] as const) {
          const result = (await client.callTool({ name: tool, arguments: args })) as CallToolResult;
          expect(result.isError, `${tool} ${target}`).toBe(true);
          expect(result.content[0]).toMatchObject({ text: expect.stringContaining('no worktree of this repository matches') });
        }
      }
    } finally {
      await client.close();
    }
    expect(existsSync(join(theirs, 'b.txt'))).toBe(true);
    expect(await git(other, 'branch', '--list', 'feature')).not.toBe('');
  });
});
