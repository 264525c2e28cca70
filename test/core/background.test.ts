import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { startBackgroundJob } from '../../src/core/background.js';
import { run } from '../../src/core/exec.js';
import { isProcessAlive } from '../../src/core/pid.js';
import { tempName } from '../../src/core/temp-name.js';
import { tempDir } from '../helpers.js';

// A background job with a command run first (the stack's `up -d`, which must not share the CPU
// with Node.js loading the job): run by the build, as every job is.

const made: string[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function jobDir(): Promise<{ dir: string; commonDir: string }> {
  const dir = await tempDir('vtree-background-');
  made.push(dir);
  const commonDir = join(dir, '.git');
  await mkdir(commonDir, { recursive: true });
  return { dir, commonDir };
}

/** The job's pid, from its log's first line (`<job> started (pid N)`). */
async function jobPid(log: string, job: string): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const pid = new RegExp(`${job} started \\(pid (\\d+)\\)`).exec(await readFile(log, 'utf8').catch(() => ''))?.[1];
    if (pid) return Number(pid);
    await sleep(50);
  }
  throw new Error(`no start line in ${log}`);
}

/** Processes whose command line has `marker`, with their process group. */
async function withMarker(marker: string): Promise<Array<{ pgid: number; args: string }>> {
  const lines = (await run('ps', ['-eo', 'pgid=,args='])).stdout.split('\n').filter((line) => line.includes(marker) && !line.includes('ps -eo'));
  return lines.map((line) => ({ pgid: Number(line.trim().split(/\s+/)[0]), args: line.trim() }));
}

describe('startBackgroundJob with a command run first', () => {
  it('runs the command in the job\'s directory and process group, then the job, with the exit status as its last argument', async () => {
    const { dir, commonDir } = await jobDir();
    // The job waits for this process to end (spare-worktrees takes a pid to wait for): alive, its command line can be read.
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      // Quotes in an argument reach the command as they are: each is one word for sh.
      const first = ['sh', '-c', `printf '%s\\n' "$1" > first; ps -o pgid= -p $$ > group; exit 3`, 'sh', "it's one word; $HOME"];
      const log = await startBackgroundJob({ job: 'spare-worktrees', id: 'first', commonDir, args: [String(holder.pid)], cwd: dir, first });
      const pid = await jobPid(log, 'spare-worktrees');
      expect(await readFile(join(dir, 'first'), 'utf8')).toBe("it's one word; $HOME\n");
      // sh execs the job: its pid leads the group the command ran in.
      expect(Number((await readFile(join(dir, 'group'), 'utf8')).trim())).toBe(pid);
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      expect(argv.slice(-2)).toEqual([String(holder.pid), '3']);
      process.kill(-pid, 'SIGTERM');
      for (let i = 0; i < 100 && isProcessAlive(pid); i++) await sleep(50);
      expect(isProcessAlive(pid)).toBe(false);
    } finally {
      holder.kill();
    }
  });

  it('ends the command with the job\'s group, and then the job never starts', async () => {
    const { dir, commonDir } = await jobDir();
    const marker = `vtree-first-${process.pid}-${Date.now()}`;
    const log = await startBackgroundJob({ job: 'delete-trash', id: 'group', commonDir, args: [join(dir, 'trash')], cwd: dir, first: ['sh', '-c', `sleep 60 # ${marker}`] });
    let running: Array<{ pgid: number; args: string }> = [];
    for (let i = 0; i < 200 && running.length < 2; i++) {
      running = await withMarker(marker);
      if (running.length < 2) await sleep(50);
    }
    // The shell that will exec the job, and the command it runs: one group.
    expect(running.length).toBe(2);
    expect(new Set(running.map((p) => p.pgid)).size).toBe(1);
    process.kill(-running[0]!.pgid, 'SIGTERM');
    for (let i = 0; i < 100 && (await withMarker(marker)).length > 0; i++) await sleep(50);
    expect(await withMarker(marker)).toEqual([]);
    await sleep(300);
    expect(await readFile(log, 'utf8').catch(() => '')).not.toMatch(/delete-trash started/);
  });

  it('with a delay, sleeps first in the job\'s group, then runs the job', async () => {
    const { dir, commonDir } = await jobDir();
    const trash = join(dir, `trash-${Date.now()}`);
    await mkdir(trash);
    const moved = join(trash, tempName('node_modules'));
    await mkdir(moved);
    const log = await startBackgroundJob({ job: 'delete-trash', id: 'delay', commonDir, args: [trash], cwd: dir, niceness: 10, delaySeconds: 2 });
    let group: Array<{ pgid: number; args: string }> = [];
    for (let i = 0; i < 100 && group.length === 0; i++) {
      group = await withMarker(trash);
      if (group.length === 0) await sleep(20);
    }
    const pgid = group[0]!.pgid;
    const text = await readFile(log, 'utf8').catch(() => '');
    const sleeping = (await run('ps', ['-eo', 'pgid=,args='])).stdout.split('\n').some((line) => line.trim().startsWith(`${pgid} `) && /\bsleep 2\b/.test(line));
    // The job starts only once the sleep has ended: with the sleep still there after the log was read, the log had no start line then.
    expect(sleeping).toBe(true);
    expect(text).not.toMatch(/delete-trash started/);
    const pid = await jobPid(log, 'delete-trash');
    expect(pid).toBe(pgid);
    for (let i = 0; i < 200 && existsSync(moved); i++) await sleep(50);
    expect(existsSync(moved)).toBe(false);
    expect(await readFile(log, 'utf8')).toMatch(/delete-trash finished in/);
  });
});
