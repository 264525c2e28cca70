import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exists, isErrno } from '../../core/files.js';
import { stableJson } from './cache-key.js';
import type { PackageManagerName, Project } from './package-manager.js';

/**
 * Whether the node_modules at `base` is what a clean install of its lockfile gives, judged from
 * what is on disk, never from a marker's age alone: a tree from before the last `git pull`, one a
 * `--package-lock-only` run left behind, or one a partial restore left with extra packages is
 * never seeded, snapshotted or handed on. Per manager:
 *
 * - npm: every package of package-lock.json is installed at its version (each
 *   `node_modules/<path>/package.json`; optional ones may be absent), and npm's hidden lockfile
 *   exists (an install finished). npm prunes what the lockfile lacks on every install;
 * - pnpm: `.modules.yaml` exists, pnpm's copy of the lockfile (`node_modules/.pnpm/lock.yaml`)
 *   has the wanted lockfile's importers, packages and snapshots, and the virtual store holds
 *   one directory per snapshot, no more (a partial restore's leftovers fail this);
 * - yarn classic: `.yarn-integrity` lists exactly yarn.lock's entries (pattern and resolved
 *   URL), and each top-level package on disk is at a version yarn.lock has for it;
 * - yarn berry: `.yarn-state.yml` holds exactly yarn.lock's resolutions;
 * - bun: a node_modules exists (bun keeps no state file to compare).
 */
export async function installComplete(base: string, project: Project): Promise<boolean> {
  const lockName = Object.keys(project.lockfiles).find((name) => LOCKFILE_OF[project.manager].includes(name));
  if (!lockName) return project.manager === 'bun' && exists(join(base, 'node_modules'));
  try {
    const lock = await readFile(join(base, lockName), 'utf8');
    return await CHECKS[project.manager](base, lock, project);
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR') || error instanceof SyntaxError || (error as Error).name === 'YAMLParseError') return false;
    throw error;
  }
}

const LOCKFILE_OF: Record<PackageManagerName, readonly string[]> = {
  npm: ['package-lock.json', 'npm-shrinkwrap.json'],
  pnpm: ['pnpm-lock.yaml'],
  yarn: ['yarn.lock'],
  'yarn@berry': ['yarn.lock'],
  bun: ['bun.lock', 'bun.lockb'],
};

type Check = (base: string, lock: string, project: Project) => Promise<boolean>;

const CHECKS: Record<PackageManagerName, Check> = {
  npm: npmComplete,
  pnpm: pnpmComplete,
  yarn: yarnClassicComplete,
  'yarn@berry': yarnBerryComplete,
  bun: async (base) => exists(join(base, 'node_modules')),
};

interface NpmLock {
  packages?: Record<string, { version?: string; optional?: boolean; link?: boolean }>;
}

async function npmComplete(base: string, lock: string): Promise<boolean> {
  if (!(await exists(join(base, 'node_modules/.package-lock.json')))) return false;
  const wanted = (JSON.parse(lock) as NpmLock).packages ?? {};
  // Only installed packages count: workspace folders (`packages/a`) are sources, not results.
  // Synchronous reads: on the seed's path, for hundreds of small files they cost a tenth of
  // what the same reads cost through libuv's four threads.
  const installed = Object.entries(wanted).filter(([path, pkg]) => path.includes('node_modules/') && pkg.link !== true);
  for (let start = 0; start < installed.length; start += SLICE) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    for (const [path, pkg] of installed.slice(start, start + SLICE)) {
      let text: string;
      try {
        text = readFileSync(join(base, path, 'package.json'), 'utf8');
      } catch (error) {
        if (isErrno(error, 'ENOENT', 'ENOTDIR') && pkg.optional === true) continue;
        if (isErrno(error, 'ENOENT', 'ENOTDIR')) return false;
        throw error;
      }
      if ((JSON.parse(text) as { version?: string }).version !== pkg.version) return false;
    }
  }
  return true;
}

/** Package manifests read between two yields to the event loop. */
const SLICE = 500;

async function pnpmComplete(base: string, lock: string): Promise<boolean> {
  const { parse } = await import('yaml');
  const [modules, installedText] = await Promise.all([exists(join(base, 'node_modules/.modules.yaml')), readFile(join(base, 'node_modules/.pnpm/lock.yaml'), 'utf8')]);
  if (!modules) return false;
  type PnpmLock = { importers?: unknown; packages?: Record<string, unknown>; snapshots?: Record<string, unknown> } | null;
  const wanted = parse(lock) as PnpmLock;
  const installed = parse(installedText) as PnpmLock;
  const same = (a: unknown, b: unknown) => stableJson(a) === stableJson(b);
  if (!same(wanted?.importers, installed?.importers) || !same(wanted?.packages, installed?.packages) || !same(wanted?.snapshots, installed?.snapshots)) return false;
  // One virtual-store directory per snapshot (lockfile v9; `packages` before it), and no leftovers.
  const snapshots = Object.keys(wanted?.snapshots ?? wanted?.packages ?? {}).filter((id) => !id.includes('link:') && !id.startsWith('file:'));
  const store = await readdir(join(base, 'node_modules/.pnpm'), { withFileTypes: true }).catch(() => []);
  const dirs = store.filter((d) => d.isDirectory() && d.name !== 'node_modules').length;
  return dirs === snapshots.length;
}

async function yarnClassicComplete(base: string, lock: string): Promise<boolean> {
  const integrity = JSON.parse(await readFile(join(base, 'node_modules/.yarn-integrity'), 'utf8')) as { lockfileEntries?: Record<string, string> };
  const wanted = parseYarnClassicLock(lock);
  const recorded = integrity.lockfileEntries ?? {};
  if (Object.keys(recorded).length !== wanted.resolved.size) return false;
  for (const [pattern, resolved] of wanted.resolved) if (recorded[pattern] !== resolved) return false;
  return topLevelVersionsIn(base, wanted.versions);
}

async function yarnBerryComplete(base: string, lock: string): Promise<boolean> {
  const { parse } = await import('yaml');
  const state = parse(await readFile(join(base, 'node_modules/.yarn-state.yml'), 'utf8')) as Record<string, unknown> | null;
  const wanted = new Set<string>();
  for (const [key, value] of Object.entries((parse(lock) as Record<string, { resolution?: string }> | null) ?? {})) {
    if (key !== '__metadata' && typeof value?.resolution === 'string') wanted.add(value.resolution);
  }
  // Packages with peer dependencies appear once per virtual instance: `name@virtual:<hash>#npm:1.0.0`.
  const installed = new Set(Object.keys(state ?? {}).filter((k) => k !== '__metadata').map((k) => k.replace(/@virtual:[^#]+#/, '@')));
  return installed.size === wanted.size && [...wanted].every((r) => installed.has(r));
}

/** yarn.lock v1: each pattern's resolved URL, and every version of each package name. */
function parseYarnClassicLock(text: string): { resolved: Map<string, string>; versions: Map<string, Set<string>> } {
  const resolved = new Map<string, string>();
  const versions = new Map<string, Set<string>>();
  let patterns: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.trim()) continue;
    if (!line.startsWith(' ')) {
      patterns = line.replace(/:$/, '').split(', ').map((p) => p.replace(/^"|"$/g, ''));
      continue;
    }
    const field = /^\s+(version|resolved) "?([^"]*)"?$/.exec(line);
    if (!field) continue;
    for (const pattern of patterns) {
      if (field[1] === 'resolved') resolved.set(pattern, field[2]!);
      else {
        const name = pattern.slice(0, pattern.lastIndexOf('@') || undefined);
        versions.set(name, (versions.get(name) ?? new Set()).add(field[2]!));
      }
    }
  }
  // Patterns of packages with no `resolved` (workspaces, links) are not in `.yarn-integrity` either.
  return { resolved, versions };
}

/** Every package directly in `base/node_modules` (scoped ones too) is at a version the lockfile has for it; workspaces are links. */
async function topLevelVersionsIn(base: string, versions: ReadonlyMap<string, ReadonlySet<string>>): Promise<boolean> {
  const root = join(base, 'node_modules');
  const names: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || !entry.isDirectory()) continue;
    if (!entry.name.startsWith('@')) names.push(entry.name);
    else for (const scoped of await readdir(join(root, entry.name), { withFileTypes: true })) if (scoped.isDirectory()) names.push(`${entry.name}/${scoped.name}`);
  }
  const found = await Promise.all(
    names.map(async (name) => {
      const text = await readFile(join(root, name, 'package.json'), 'utf8').catch(() => undefined);
      const version = text === undefined ? undefined : (JSON.parse(text) as { version?: string }).version;
      return version !== undefined && versions.get(name)?.has(version) === true;
    }),
  );
  return found.every(Boolean);
}
