import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Args } from '../cli.js';
import { UsageError } from '../errors.js';
import type { Io } from '../output.js';

/** Background jobs, by name: each gets the `args` its starter passed. */
const JOBS: Record<string, (args: string[], io: Io) => Promise<void>> = {
  /** Deletes everything in vtree's trash directory (node_modules of removed worktrees). */
  'delete-trash': async ([trash]) => {
    if (!trash) throw new UsageError('delete-trash needs the trash directory');
    const entries = await readdir(trash).catch(() => []);
    await Promise.all(entries.map((entry) => rm(join(trash, entry), { recursive: true, force: true, maxRetries: 3 })));
  },
};

/** `git vtree __job <job> [args..]`: the hidden entry of detached background work. */
export default async function job(args: Args, io: Io): Promise<void> {
  const name = String(args.job);
  const run = JOBS[name];
  if (!run) throw new UsageError(`unknown background job '${name}'`);
  const started = Date.now();
  io.log(`[${new Date().toISOString()}] ${name} started (pid ${process.pid})`);
  await run(((args.args as string[] | undefined) ?? []).map(String), io);
  io.log(`[${new Date().toISOString()}] ${name} finished in ${Date.now() - started} ms`);
}
