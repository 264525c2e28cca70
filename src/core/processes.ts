import { readlinkSync } from 'node:fs';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// Processes started inside a directory that is about to go (dev servers, watchers): found through
// Linux's /proc by their working directory or executable, never by name, so nothing outside the
// directory is ever touched.

/** A process whose working directory or executable lies inside the directory. */
export interface InsideProcess {
  pid: number;
  /** Its command line (or its name), for the user. */
  command: string;
  /** Its start time in clock ticks since boot: a reused pid has another. */
  started: string;
}

/** Login shells a user has open in the directory: named, never signalled (ending one would close a terminal). */
const SHELLS = new Set(['bash', 'zsh', 'fish', 'sh', 'dash', 'ksh', 'tcsh', 'csh']);

/** What runs inside one directory: processes to stop, and interactive shells to leave alone. */
export interface Inside {
  stop: InsideProcess[];
  shells: InsideProcess[];
}

/**
 * The processes whose working directory or executable lies inside `dir`, except this process, its
 * ancestors (`rm` run from inside the worktree) and its descendants (its own git calls there), split into those to stop and interactive
 * shells (with a terminal) to leave alone. Empty without /proc.
 */
export async function processesInside(dir: string): Promise<Inside> {
  return (await processesInsideEach([dir])).get(dir)!;
}

/**
 * {@link processesInside} for several directories with one pass over /proc (`prune` removing
 * fifty worktrees reads each process's links once, not fifty times). Keyed by the given paths.
 */
export async function processesInsideEach(dirs: readonly string[]): Promise<Map<string, Inside>> {
  const roots = await Promise.all(dirs.map((dir) => realpath(dir).catch(() => dir)));
  const result = new Map<string, Inside>(dirs.map((dir) => [dir, { stop: [], shells: [] }]));
  if (dirs.length === 0) return result;
  const names = await readdir('/proc').catch(() => [] as string[]);
  const spared = await ancestors(process.pid);
  const found = await Promise.all(
    names
      .filter((name) => /^\d+$/.test(name) && !spared.has(Number(name)))
      .map(async (name) => {
        // Two tiny syscalls each over a few hundred processes: synchronous is cheaper than the thread pool.
        const cwd = link(`/proc/${name}/cwd`);
        const exe = link(`/proc/${name}/exe`);
        const at = roots.findIndex((root) => inside(cwd, root) || inside(exe, root));
        if (at === -1) return undefined;
        const stat = await readStat(Number(name));
        if (!stat) return undefined;
        const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean).join(' ');
        if (await descendsFrom(Number(name), process.pid)) return undefined;
        const shell = SHELLS.has(stat.comm.replace(/^-/, '')) && stat.tty !== '0';
        return { dir: dirs[at]!, shell, process: { pid: Number(name), command: cmdline || stat.comm, started: stat.started } };
      }),
  );
  for (const hit of found) if (hit) (hit.shell ? result.get(hit.dir)!.shells : result.get(hit.dir)!.stop).push(hit.process);
  return result;
}

/**
 * Sends SIGTERM to each process, then SIGKILL to those still there after `graceMs`. A pid whose
 * start time changed is another process now and is left alone. Returns those that needed SIGKILL.
 */
export async function stopProcesses(processes: readonly InsideProcess[], graceMs: number): Promise<InsideProcess[]> {
  const same = async (p: InsideProcess) => (await readStat(p.pid))?.started === p.started;
  const signal = async (p: InsideProcess, sig: NodeJS.Signals) => {
    if (!(await same(p))) return;
    try {
      process.kill(p.pid, sig);
    } catch {
      // Gone meanwhile.
    }
  };
  await Promise.all(processes.map((p) => signal(p, 'SIGTERM')));
  const deadline = Date.now() + graceMs;
  let left = [...processes];
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = (await Promise.all(left.map(async (p) => ((await same(p)) ? p : undefined)))).filter((p) => p !== undefined);
  }
  await Promise.all(left.map((p) => signal(p, 'SIGKILL')));
  return left;
}

function link(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    // Gone, or another user's.
    return '';
  }
}

function inside(path: string, root: string): boolean {
  const clean = path.replace(/ \(deleted\)$/, '');
  return clean === root || clean.startsWith(root + sep);
}

/** `comm`, controlling terminal and start time from /proc/<pid>/stat (undefined once it is gone or a zombie). */
async function readStat(pid: number): Promise<{ comm: string; tty: string; started: string } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const close = text.lastIndexOf(')');
  if (close === -1) return undefined;
  // Fields after the name: state(3) ppid(4) pgrp(5) session(6) tty_nr(7) ... starttime(22).
  const fields = text.slice(close + 2).split(' ');
  if (fields[0] === 'Z') return undefined;
  return { comm: text.slice(text.indexOf('(') + 1, close), tty: fields[4] ?? '0', started: fields[19] ?? '' };
}

/** Whether `ancestor` is above `pid`. */
async function descendsFrom(pid: number, ancestor: number): Promise<boolean> {
  return (await ancestors(pid)).has(ancestor);
}

/** `pid` and every process above it. */
async function ancestors(pid: number): Promise<Set<number>> {
  const chain = new Set<number>();
  for (let current = pid; current > 1 && !chain.has(current); ) {
    chain.add(current);
    const text = await readFile(`/proc/${current}/stat`, 'utf8').catch(() => '');
    current = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  }
  return chain;
}
