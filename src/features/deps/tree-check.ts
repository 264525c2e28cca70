import { lstatSync, readFileSync } from 'node:fs';
import type { Manifest } from './manifest.js';

/** What a tree is compared with: recorded files, or a file holding `{ files }` (a spare's record). */
export type RecordedFiles = { files: Manifest['files'] } | { recordPath: string };

/** What the worker is asked. */
export interface TreeCheck {
  tree: string;
  recorded: RecordedFiles;
  inodes: boolean;
}

/**
 * Files of `check.recorded` that no longer match under `check.tree`: size or mtime (with
 * `inodes`, inode) changed, or gone; `undefined` when a record file holds no file list.
 * Synchronous: one `lstat` per file costs about half here what it costs through libuv's threads.
 */
export function changedFilesNow(check: TreeCheck): string[] | undefined {
  const files = 'files' in check.recorded ? check.recorded.files : readRecord(check.recorded.recordPath);
  if (!files) return undefined;
  const changed: string[] = [];
  for (const [path, , size, mtimeMs, ino] of files) {
    const info = lstatSync(`${check.tree}/${path}`, { throwIfNoEntry: false });
    if (!info || info.size !== size || info.mtimeMs !== mtimeMs || (check.inodes && info.ino !== ino)) changed.push(path);
  }
  return changed.sort();
}

function readRecord(path: string): Manifest['files'] | undefined {
  try {
    const record = JSON.parse(readFileSync(path, 'utf8')) as { files?: unknown };
    return Array.isArray(record.files) ? (record.files as Manifest['files']) : undefined;
  } catch {
    return undefined;
  }
}

/** Below this many files a worker's start costs more than the check it takes off the main thread. */
const WORKER_MIN_FILES = 2000;

/**
 * {@link changedFilesNow} in a worker thread when the list is long: on `add`'s path the check
 * (about 90 ms for 11,569 files here) then runs on the other core, while this thread drives
 * git, the port lease and the other steps of the graph. In-thread when the compiled worker is
 * not there (the sources run by the tests) or the worker fails.
 */
export async function changedFilesOffThread(check: TreeCheck): Promise<string[] | undefined> {
  const count = 'files' in check.recorded ? check.recorded.files.length : Infinity;
  const worker = count >= WORKER_MIN_FILES ? new URL('./tree-check-worker.js', import.meta.url) : undefined;
  if (!worker || !import.meta.url.endsWith('.js')) return changedFilesNow(check);
  const { Worker } = await import('node:worker_threads');
  return new Promise((resolve) => {
    const thread = new Worker(worker, { workerData: check });
    let settled = false;
    const settle = (result: () => string[] | undefined) => {
      if (settled) return;
      settled = true;
      void thread.terminate();
      resolve(result());
    };
    thread.once('message', (changed: string[] | null) => settle(() => changed ?? undefined));
    thread.once('error', () => settle(() => changedFilesNow(check)));
    thread.once('exit', () => settle(() => changedFilesNow(check)));
  });
}
