import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { alongsideExit, startBackgroundJob } from '../../src/core/background.js';
import { run } from '../../src/core/exec.js';
import { isProcessAlive } from '../../src/core/pid.js';
import { tempName } from '../../src/core/temp-name.js';
import { tempDir } from '../helpers.js';

// A background job with a command started beside it (the stack's `up -d`, which must not wait
// for Node.js to load the job): run by the build, as every job is.

const made: string[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function jobDir(): Promise<{ dir: string; commonDir: string; trash: string }> {
  const dir = await tempDir('vtree-background-');
  made.push(dir);
  const commonDir = join(dir, '.git');
  const trash = join(dir, 'trash');
  await mkdir(trash, { recursive: true });
  await mkdir(commonDir, { recursive: true });
  return { dir, commonDir, trash };
}

/** The job's pid, from its log's first line (`delete-trash started (pid N)`). */
async function jobPid(log: string): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const pid = /delete-trash started \(pid (\d+)\)/.exec(await readFile(log, 'utf8').catch(() => ''))?.[1];
    if (pid) return Number(pid);
    await sleep(50);
  }
  throw new Error(`no start line in ${log}`);
}

describe('startBackgroundJob with a command beside it', () => {
  it('runs the command at once in the worktree, hands its exit status to the job through a file read once, and still runs the job', async () => {
    const { dir, commonDir, trash } = await jobDir();
    const exitFile = join(dir, 'up.exit');
    const moved = join(trash, tempName('node_modules'));
    await writeFile(moved, '');
    // Quotes in an argument reach the command as they are: each is one word for sh.
    const argv = ['sh', '-c', `printf '%s\\n' "$1" > beside; exit 3`, 'sh', "it's one word; $HOME"];
    const log = await startBackgroundJob({ job: 'delete-trash', id: 'beside', commonDir, args: [trash], cwd: dir, alongside: { argv, exitFile } });
    expect(await alongsideExit(exitFile, 60_000)).toBe(3);
    expect(existsSync(exitFile)).toBe(false);
    expect(await readFile(join(dir, 'beside'), 'utf8')).toBe("it's one word; $HOME\n");
    // sh execs the job: the pid it logs is the group the command ran in, and it finishes its work.
    const pid = await jobPid(log);
    for (let i = 0; i < 600 && !/delete-trash finished in/.test(await readFile(log, 'utf8')); i++) await sleep(50);
    expect(await readFile(log, 'utf8')).toMatch(/delete-trash finished in/);
    expect(existsSync(moved)).toBe(false);
    expect(isProcessAlive(pid)).toBe(false);
  });

  it('ends the command with the job: ending its process group leaves nothing running and no status written', async () => {
    const { dir, commonDir, trash } = await jobDir();
    const exitFile = join(dir, 'up.exit');
    const marker = `vtree-beside-${process.pid}-${Date.now()}`;
    const log = await startBackgroundJob({ job: 'delete-trash', id: 'group', commonDir, args: [trash], cwd: dir, alongside: { argv: ['sh', '-c', `exec sleep 60 # ${marker}`], exitFile } });
    const pid = await jobPid(log);
    const inGroup = async () => (await run('ps', ['-eo', 'pgid=,args='])).stdout.split('\n').filter((line) => line.trim().startsWith(`${pid} `) && line.includes('sleep 60'));
    // The subshell that waits to write the status, and the command it runs.
    expect((await inGroup()).length).toBe(2);
    process.kill(-pid, 'SIGTERM');
    for (let i = 0; i < 100 && (await inGroup()).length > 0; i++) await sleep(50);
    expect(await inGroup()).toEqual([]);
    // Killed, the subshell wrote no status: the job's wait gives up when its time is up.
    expect(await alongsideExit(exitFile, 200)).toBeUndefined();
    expect(existsSync(exitFile)).toBe(false);
  });
});
