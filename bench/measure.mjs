// Timing primitives of the benchmark: child processes timed with performance.now(), medians,
// and waiting for the detached background jobs a timed command left behind.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { delimiter } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * One command of a timed sequence.
 * @typedef {{ cmd: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv }} Command
 */

/**
 * What a timed sequence did.
 * @typedef {{ ms: number, ok: boolean, stdout: string, error?: string }} Timed
 */

/**
 * Runs `commands` one after another and times them together, from the first spawn to the exit of
 * the last (the moment a shell would return). Stops at the first failure. Output is captured,
 * never printed, so a terminal's speed does not enter the figures.
 * @param {Command[]} commands
 * @returns {Promise<Timed>}
 */
export async function timeSequence(commands) {
  let stdout = '';
  let end = 0;
  const start = performance.now();
  for (const command of commands) {
    const result = await runChild(command);
    stdout = result.stdout;
    end = result.exitedAt;
    if (result.code !== 0) {
      const ms = end - start;
      const said = result.stderr.trim().split('\n').slice(-3).join(' | ') || `exit code ${result.code}`;
      return { ms, ok: false, stdout, error: `${command.cmd} ${command.args.join(' ')}: ${said}` };
    }
  }
  return { ms: end - start, ok: true, stdout };
}

/**
 * Spawns one command (argument vector, no shell) and resolves when it has exited and its output
 * is read. Output a detached grandchild keeps open does not hold the caller past the child's exit.
 * @param {Command} command
 * @returns {Promise<{ code: number, exitedAt: number, stdout: string, stderr: string }>}
 */
export function runChild({ cmd, args, cwd, env }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-20_000)));
    child.on('error', (error) => resolve({ code: 127, exitedAt: performance.now(), stdout, stderr: error.message }));
    let exit = { code: 1, exitedAt: performance.now() };
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      resolve({ ...exit, stdout, stderr });
    };
    child.on('exit', (code, signal) => {
      exit = { code: code ?? (signal ? 128 : 1), exitedAt: performance.now() };
      // A detached grandchild that kept our pipes open must not hold us past the child's exit.
      setTimeout(finish, 2_000).unref();
    });
    child.on('close', finish);
  });
}

/**
 * Median, minimum, maximum and mean of `samples` (milliseconds).
 * @param {number[]} samples
 */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const mean = sorted.reduce((a, b) => a + b, 0) / n;
  return { n, median, min: sorted[0], max: sorted[n - 1], mean };
}

/**
 * Waits until no process carrying `tag` in its environment is left, so the detached background
 * jobs of one timed run (a spare being made, trash being deleted) never overlap the next timed
 * run. Every process the benchmark starts carries the tag, and detached jobs inherit it. Reads
 * /proc; elsewhere it cannot tell and returns at once.
 * @param {string} tag `NAME=value` set in the environment of every command the benchmark runs
 * @param {number} timeoutMs
 * @returns {Promise<{ waitedMs: number, timedOut: boolean, supported: boolean }>}
 */
export async function waitForTaggedProcesses(tag, timeoutMs) {
  const start = performance.now();
  const needle = Buffer.from(`\0${tag}\0`);
  for (;;) {
    let pids;
    try {
      pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid);
    } catch {
      return { waitedMs: 0, timedOut: false, supported: false };
    }
    let found = false;
    for (const pid of pids) {
      try {
        const environ = Buffer.concat([Buffer.from('\0'), await readFile(`/proc/${pid}/environ`)]);
        if (environ.includes(needle)) {
          found = true;
          break;
        }
      } catch {
        // Gone meanwhile, or not ours to read.
      }
    }
    const waitedMs = performance.now() - start;
    if (!found) return { waitedMs, timedOut: false, supported: true };
    if (waitedMs > timeoutMs) return { waitedMs, timedOut: true, supported: true };
    await sleep(100);
  }
}

/**
 * The environment of every command the benchmark runs: as in a user's shell (no `npm run`
 * variables, no project node_modules/.bin on PATH), the build's bin/ first so `git vtree` is
 * this build, and the tag that lets us wait for detached background jobs.
 */
export function benchEnv(tagAssignment, binDir) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && !['INIT_CWD', 'NODE_OPTIONS', 'VTREE_CALLER', 'VTREE_BACKGROUND'].includes(k)),
  );
  const path = (process.env.PATH ?? '').split(delimiter).filter((p) => p && !/node_modules[\\/]\.bin|node-gyp-bin/.test(p));
  const [name, value] = tagAssignment.split('=');
  return { ...clean, PATH: [binDir, ...path].join(delimiter), [name]: value };
}
