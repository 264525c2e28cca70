import { lstatSync, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { git } from '../../core/exec.js';
import { readJsonFile, writeFileAtomic } from '../../core/files.js';
import { ignoredPaths, includedFiles, WORKTREE_INCLUDE } from './worktree-include.js';

// Which ignored files to copy is found by a walk over the whole main worktree (git ls-files
// --others --ignored): about 100 ms on 100,000 files when the machine is idle, 370 ms beside the
// rest of an add, and it grows with the repository. What it found stays valid while no directory
// of the worktree changes (creating, deleting or renaming a file changes its directory's mtime,
// as git's untracked cache relies on) and no file of ignore rules changes. So the list is kept
// with the mtime of every directory the walk saw and of every rules file; checking those is a
// few thousand stat calls. Inside an ignored directory (`dist/`, say) only the directory itself
// is watched: a `.env` made deeper inside one is found at the next full walk.

/** Version of the cache file's shape. */
const VERSION = 1;

/** A directory whose mtime is this close to the cache's own time may change again within the same tick: not trusted. */
const RACY_MS = 2_000;

interface IncludeCache {
  version: number;
  source: string;
  createdAt: number;
  /** Directories (relative to `source`, `.` for itself) and their mtimes. */
  dirs: Array<[string, number]>;
  /** Files of ignore rules (absolute) and their mtimes, `null` when absent. */
  rules: Array<[string, number | null]>;
  files: string[];
}

/**
 * {@link includedFiles} of `source`, from `cacheFile` when nothing they depend on changed since,
 * else listed (one walk serves both the list and the directories to watch) and kept there.
 */
export async function cachedIncludedFiles(source: string, cacheFile: string): Promise<string[]> {
  const cache = await readJsonFile<IncludeCache>(cacheFile).catch(() => undefined);
  if (cache && stillValid(cache, source)) return cache.files;
  const createdAt = Date.now();
  const [ignored, rules] = await Promise.all([ignoredPaths(source), ruleFiles(source)]);
  const ignoredDirs = new Set(ignored.filter((p) => p.endsWith('/')).map((p) => p.slice(0, -1)));
  // The directories before the matching: a file made in between changes a recorded mtime, so
  // the next check misses rather than trusting a list that lacks it.
  const dirs = await watchedDirs(source, ignoredDirs);
  const files = await includedFiles(source, ignored);
  await writeFileAtomic(cacheFile, JSON.stringify({ version: VERSION, source, createdAt, dirs, rules, files } satisfies IncludeCache), { durable: false }).catch(() => undefined);
  return files;
}

function stillValid(cache: IncludeCache, source: string): boolean {
  if (cache.version !== VERSION || cache.source !== source || !Array.isArray(cache.dirs) || !Array.isArray(cache.rules) || !Array.isArray(cache.files)) return false;
  for (const [dir, mtime] of cache.dirs) {
    if (mtime >= cache.createdAt - RACY_MS) return false;
    const info = statSync(join(source, dir), { throwIfNoEntry: false });
    if (!info || info.mtimeMs !== mtime) return false;
  }
  for (const [file, mtime] of cache.rules) {
    const info = lstatSync(file, { throwIfNoEntry: false });
    if ((info?.mtimeMs ?? null) !== mtime) return false;
  }
  return true;
}

/** Every directory of `source` but `.git` and inside `node_modules`, with its mtime; ignored directories are recorded, not entered. */
async function watchedDirs(source: string, ignored: ReadonlySet<string>): Promise<Array<[string, number]>> {
  const found: Array<[string, number]> = [];
  const visit = async (dir: string): Promise<void> => {
    const path = dir === '.' ? source : join(source, dir);
    const info = await stat(path).catch(() => undefined);
    if (!info) return;
    found.push([dir, info.mtimeMs]);
    if (ignored.has(dir)) return;
    const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
    await Promise.all(
      entries
        .filter((e) => e.isDirectory() && e.name !== '.git' && e.name !== 'node_modules')
        .map((e) => visit(dir === '.' ? e.name : `${dir}/${e.name}`)),
    );
  };
  await visit('.');
  return found;
}

/** Files whose rules decide what is ignored or included: `.gitignore` files are covered by their directories' mtimes only when replaced, so each is recorded too. */
async function ruleFiles(source: string): Promise<Array<[string, number | null]>> {
  const configured = await git(source, ['config', '--path', 'core.excludesFile']).catch(() => '');
  const xdg = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  const tracked = (await git(source, ['ls-files', '-z', '--', '.gitignore', ':(glob)**/.gitignore'])).split('\0').filter(Boolean);
  const files = [join(source, '.git', 'info', 'exclude'), join(source, WORKTREE_INCLUDE), configured || join(xdg, 'git', 'ignore'), ...tracked.map((f) => join(source, f))];
  return files.map((file) => [file, lstatSync(file, { throwIfNoEntry: false })?.mtimeMs ?? null]);
}
