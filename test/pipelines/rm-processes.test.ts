import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { addWorktree, makeRepo, repoForEachTest, vtree } from '../helpers.js';

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made), () => makeRepo({ 'README.md': '# app\n', '.gitignore': '.env\n' }));

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
});

/** A real dev server: a node HTTP server started in `cwd`; `stubborn` ignores SIGTERM. Resolves once it serves. */
async function devServer(cwd: string, stubborn = false): Promise<{ pid: number; url: string }> {
  const code = `${stubborn ? "process.on('SIGTERM', () => {});" : ''} require('node:http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
  const child = spawn(process.execPath, ['-e', code], { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(child);
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return { pid: child.pid!, url: `http://127.0.0.1:${port}/` };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number): Promise<boolean> {
  // The test is its parent: a stopped child stays a zombie until reaped, which `exit` marks.
  const child = started.find((c) => c.pid === pid);
  for (let i = 0; i < 100 && child?.exitCode === null && child.signalCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  return child ? child.exitCode !== null || child.signalCode !== null : !alive(pid);
}

const add = (branch: string): Promise<string> => addWorktree(repo, branch);

describe('rm stops processes running inside the worktree', () => {
  it('SIGTERMs a dev server, SIGKILLs one that ignores it, names them, and never touches a process outside', async () => {
    const path = await add('dev');
    const server = await devServer(path);
    const stubborn = await devServer(path, true);
    const outside = await devServer(root);
    expect(await (await fetch(server.url)).text()).toBe('ok');
    const result = await vtree(repo, ['rm', 'dev', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as { stopped: string[] };
    expect(json.stopped.map((s) => Number(s.split(' ')[0])).sort()).toEqual([server.pid, stubborn.pid].sort());
    expect(json.stopped.join('\n')).toMatch(/node -e/);
    expect(await waitGone(server.pid)).toBe(true);
    expect(await waitGone(stubborn.pid)).toBe(true);
    expect(started.find((c) => c.pid === stubborn.pid)!.signalCode).toBe('SIGKILL');
    expect(started.find((c) => c.pid === server.pid)!.signalCode).toBe('SIGTERM');
    expect(alive(outside.pid)).toBe(true);
    expect(await (await fetch(outside.url)).text()).toBe('ok');
    expect(existsSync(path)).toBe(false);
  });

  it('--keep-processes leaves them running', async () => {
    const path = await add('keep');
    const server = await devServer(path);
    const result = await vtree(repo, ['rm', 'keep', '--keep-processes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).stopped).toBeUndefined();
    expect(alive(server.pid)).toBe(true);
    expect(await (await fetch(server.url)).text()).toBe('ok');
  });

  it('prune stops the processes of the worktrees it removes, each named under its own worktree (one look at /proc for all), and no other', async () => {
    const path = await add('idle-dev');
    const other = await add('idle-dev-2');
    const server = await devServer(path);
    const second = await devServer(other);
    const outside = await devServer(root);
    const result = await vtree(repo, ['prune', '--idle', '0s', '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`stopping 1 process\\(es\\) running in ${path}: ${server.pid} \\S*node -e`));
    expect(result.stderr).toMatch(new RegExp(`stopping 1 process\\(es\\) running in ${other}: ${second.pid} \\S*node -e`));
    expect(await waitGone(server.pid)).toBe(true);
    expect(await waitGone(second.pid)).toBe(true);
    expect(alive(outside.pid)).toBe(true);
    expect(existsSync(path) || existsSync(other)).toBe(false);
  });
});
