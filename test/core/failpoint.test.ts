import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const GRAPH = fileURLToPath(new URL('../../dist/core/graph.js', import.meta.url));

/** Runs a graph `g` of tasks a → b (each writes a file) in a Node process with `env`. */
async function runTwoTasks(env: NodeJS.ProcessEnv): Promise<{ signal: NodeJS.Signals | null; code: number | null; dir: string }> {
  const dir = await tempDir('vtree-failpoint-');
  const script = `
    const { runGraph } = await import(${JSON.stringify(GRAPH)});
    const { writeFileSync } = await import('node:fs');
    const profiler = { start: () => ({ id: 0, set() {}, end() {} }) };
    const task = (name, deps) => ({ name, deps, run: async () => writeFileSync(${JSON.stringify(dir)} + '/' + name, name) });
    await runGraph([task('a'), task('b', ['a'])], { shared: {}, profiler, failpoints: 'g' });
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, dir }));
  });
}

describe('failpoints', () => {
  it('are inert when VTREE_FAILPOINT is unset', async () => {
    const { code, dir } = await runTwoTasks({ VTREE_FAILPOINT: '' });
    expect(code).toBe(0);
    expect([existsSync(join(dir, 'a')), existsSync(join(dir, 'b'))]).toEqual([true, true]);
  });

  it('kill the process with SIGKILL at the named task boundary, after logging every point passed', async () => {
    const log = join(await tempDir('vtree-failpoint-log-'), 'log');
    const { signal, dir } = await runTwoTasks({ VTREE_FAILPOINT: 'other:before:a, g:after:a', VTREE_FAILPOINT_LOG: log });
    expect(signal).toBe('SIGKILL');
    // a ran to the end, b never started: what a crash between the two leaves.
    expect([existsSync(join(dir, 'a')), existsSync(join(dir, 'b'))]).toEqual([true, false]);
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['g:before:a', 'g:after:a']);
  });

  it('before a task: it never runs', async () => {
    const { signal, dir } = await runTwoTasks({ VTREE_FAILPOINT: 'g:before:b' });
    expect(signal).toBe('SIGKILL');
    expect([existsSync(join(dir, 'a')), existsSync(join(dir, 'b'))]).toEqual([true, false]);
  });
});
