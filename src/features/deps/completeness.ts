import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { exists, isErrno } from '../../core/files.js';
import { stableJson } from './cache-key.js';
import type { PackageManagerName, Project } from './package-manager.js';

/**
 * Whether the node_modules at `base` is what a clean install of its lockfile gives on this
 * machine, judged the way the package manager itself judges it, from what is on disk, never from
 * a marker's age alone: a tree from before the last `git pull`, one a `--package-lock-only` run
 * left behind, or one a partial restore left with extra packages is never seeded, snapshotted or
 * handed on. Packages of other platforms (esbuild's `@esbuild/darwin-arm64` on Linux) are not
 * installed by any manager and are not missing. Per manager:
 *
 * - npm: every package of package-lock.json is installed at its version (each
 *   `node_modules/<path>/package.json`; optional ones may be absent), and npm's hidden lockfile
 *   exists (an install finished). npm prunes what the lockfile lacks on every install;
 * - pnpm: `.modules.yaml` exists, pnpm's copy of the lockfile (`node_modules/.pnpm/lock.yaml`)
 *   has the wanted lockfile's importers, packages and snapshots, and the virtual store holds
 *   one directory per snapshot pnpm did not skip (its `.modules.yaml` `skipped` list: optional
 *   packages of other platforms), no more (a partial restore's leftovers fail this);
 * - yarn classic: `.yarn-integrity` lists exactly yarn.lock's entries (pattern and resolved
 *   URL), and each top-level package on disk is at a version yarn.lock has for it;
 * - yarn berry: `.yarn-state.yml` holds exactly yarn.lock's resolutions whose `conditions`
 *   (os, cpu, libc) hold for the platforms it installs for (this one, or its
 *   `supportedArchitectures`), as yarn skips the others, and each is at the locations it lists;
 * - bun: every package of `bun.lock` whose os and cpu fit this machine is installed at its
 *   version (in bun's isolated store `node_modules/.bun`, with nothing else there, or where the
 *   hoisted layout puts it);
 *   the binary `bun.lockb` cannot be read: the check cannot tell.
 *
 * When it cannot tell, the verdict says so ({@link Verdict} `cannotTell`): a frozen install in a
 * scratch copy decides instead of a guess (scratch-install.ts); a caller that cannot wait for one
 * takes it as "not complete".
 */
export async function installComplete(base: string, project: Project): Promise<boolean> {
  return (await installProblem(base, project)) === undefined;
}

/** Why the node_modules at `base` is not a complete install of its lockfile ({@link installComplete}), or `undefined` when it is (or the check cannot tell: see {@link judgeInstall}). */
export async function installProblem(base: string, project: Project): Promise<string | undefined> {
  const verdict = await judgeInstall(base, project);
  return verdict.complete ? undefined : verdict.problem;
}

/** What the check made of a tree: complete, or not and why; `cannotTell` when it cannot judge this tree from disk at all. */
export type Verdict = { complete: true } | { complete: false; problem: string; cannotTell?: true };

/** {@link installProblem} with "cannot tell" told apart from "not complete". */
export async function judgeInstall(base: string, project: Project): Promise<Verdict> {
  const lockName = Object.keys(project.lockfiles).find((name) => LOCKFILE_OF[project.manager].includes(name));
  if (!lockName) return { complete: false, problem: 'no lockfile to judge it by' };
  if (lockName === 'bun.lockb') return { complete: false, cannotTell: true, problem: 'bun.lockb is binary: the check cannot tell what bun installs' };
  const problem = await checkFromDisk(base, project, lockName);
  if (problem === undefined) return { complete: true };
  return problem.startsWith(CANNOT_TELL) ? { complete: false, cannotTell: true, problem: problem.slice(CANNOT_TELL.length) } : { complete: false, problem };
}

/** Marks a check's answer as "cannot tell" rather than "not complete". */
const CANNOT_TELL = 'cannot tell: ';

async function checkFromDisk(base: string, project: Project, lockName: string): Promise<string | undefined> {
  try {
    const lock = await readFile(join(base, lockName), 'utf8');
    return await CHECKS[project.manager](base, lock, project);
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) {
      const missing = (error as NodeJS.ErrnoException).path;
      return `${missing ? relative(base, missing) : 'a state file'} is missing`;
    }
    if (error instanceof SyntaxError || (error as Error).name === 'YAMLParseError') return `a state file does not parse (${(error as Error).message.split('\n')[0]})`;
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

/** A manager's check: why the tree is not complete, or `undefined`. */
type Check = (base: string, lock: string, project: Project) => Promise<string | undefined>;

const CHECKS: Record<PackageManagerName, Check> = {
  npm: npmComplete,
  pnpm: pnpmComplete,
  yarn: yarnClassicComplete,
  'yarn@berry': yarnBerryComplete,
  bun: bunComplete,
};

interface NpmLock {
  packages?: Record<string, { version?: string; optional?: boolean; link?: boolean }>;
}

async function npmComplete(base: string, lock: string): Promise<string | undefined> {
  if (!(await exists(join(base, 'node_modules/.package-lock.json')))) return 'no node_modules/.package-lock.json (no npm install finished)';
  const wanted = (JSON.parse(lock) as NpmLock).packages ?? {};
  // Only installed packages count: workspace folders (`packages/a`) are sources, not results.
  // Synchronous reads: on the seed's path, for hundreds of small files they cost a tenth of
  // what the same reads cost through libuv's four threads.
  const installed = Object.entries(wanted).filter(([path, pkg]) => path.includes('node_modules/') && pkg.link !== true);
  for (let start = 0; start < installed.length; start += SLICE) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    for (const [path, pkg] of installed.slice(start, start + SLICE)) {
      const problem = versionProblem(base, path, pkg.version, pkg.optional === true);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

/** Why the package at `path` (relative to `base`) is not at `version`; an optional one may be absent. */
function versionProblem(base: string, path: string, version: string | undefined, optional: boolean): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(base, path, 'package.json'), 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return optional ? undefined : `${path} is missing`;
    throw error;
  }
  const found = (JSON.parse(text) as { version?: string }).version;
  return found === version ? undefined : `${path} is at ${String(found)}, the lockfile wants ${String(version)}`;
}

/** Package manifests read between two yields to the event loop. */
const SLICE = 500;

async function pnpmComplete(base: string, lock: string): Promise<string | undefined> {
  const { parse } = await import('yaml');
  const [modulesText, installedText] = await Promise.all([readFile(join(base, 'node_modules/.modules.yaml'), 'utf8'), readFile(join(base, 'node_modules/.pnpm/lock.yaml'), 'utf8')]);
  type PnpmLock = { importers?: unknown; packages?: Record<string, unknown>; snapshots?: Record<string, unknown> } | null;
  const wanted = parse(lock) as PnpmLock;
  const installed = parse(installedText) as PnpmLock;
  const modules = parse(modulesText) as { skipped?: unknown } | null;
  const same = (a: unknown, b: unknown) => stableJson(a) === stableJson(b);
  if (!same(wanted?.importers, installed?.importers) || !same(wanted?.packages, installed?.packages) || !same(wanted?.snapshots, installed?.snapshots)) {
    return 'node_modules/.pnpm/lock.yaml differs from pnpm-lock.yaml (installed from another lockfile)';
  }
  // One virtual-store directory per snapshot (lockfile v9; `packages` before it) pnpm did not
  // skip as another platform's, and no leftovers.
  const skipped = new Set(Array.isArray(modules?.skipped) ? modules.skipped : []);
  const snapshots = Object.keys(wanted?.snapshots ?? wanted?.packages ?? {}).filter((id) => !id.includes('link:') && !id.startsWith('file:') && !skipped.has(id));
  const store = await readdir(join(base, 'node_modules/.pnpm'), { withFileTypes: true }).catch(() => []);
  const dirs = store.filter((d) => d.isDirectory() && d.name !== 'node_modules').length;
  return dirs === snapshots.length ? undefined : `node_modules/.pnpm holds ${dirs} packages, pnpm-lock.yaml has ${snapshots.length} for this platform`;
}

async function yarnClassicComplete(base: string, lock: string): Promise<string | undefined> {
  const integrity = JSON.parse(await readFile(join(base, 'node_modules/.yarn-integrity'), 'utf8')) as { lockfileEntries?: Record<string, string> };
  const wanted = parseYarnClassicLock(lock);
  const recorded = integrity.lockfileEntries ?? {};
  const stale = 'node_modules/.yarn-integrity does not list the entries of yarn.lock (installed from another lockfile)';
  if (Object.keys(recorded).length !== wanted.resolved.size) return stale;
  for (const [pattern, resolved] of wanted.resolved) if (recorded[pattern] !== resolved) return stale;
  return topLevelVersionsIn(base, wanted.versions);
}

async function yarnBerryComplete(base: string, lock: string): Promise<string | undefined> {
  const { parse } = await import('yaml');
  const yarnrc = (parse(await readFile(join(base, '.yarnrc.yml'), 'utf8').catch(() => '')) ?? {}) as { supportedArchitectures?: unknown };
  const targets = architectures(yarnrc.supportedArchitectures);
  if (!targets) return `${CANNOT_TELL}.yarnrc.yml has a supportedArchitectures the check does not understand`;
  const state = parse(await readFile(join(base, 'node_modules/.yarn-state.yml'), 'utf8')) as Record<string, { locations?: unknown }> | null;
  const wanted = new Set<string>();
  for (const [key, value] of Object.entries((parse(lock) as Record<string, { resolution?: string; conditions?: string }> | null) ?? {})) {
    if (key === '__metadata' || typeof value?.resolution !== 'string') continue;
    if (typeof value.conditions === 'string' && !conditionsHold(value.conditions, targets)) continue;
    wanted.add(value.resolution);
  }
  // Packages with peer dependencies appear once per virtual instance: `name@virtual:<hash>#npm:1.0.0`.
  const installed = new Set(Object.keys(state ?? {}).filter((k) => k !== '__metadata').map((k) => k.replace(/@virtual:[^#]+#/, '@')));
  const missing = [...wanted].filter((r) => !installed.has(r));
  if (missing.length > 0) return `node_modules/.yarn-state.yml lacks ${missing.length} of yarn.lock's packages for this platform (${missing[0]}${missing.length > 1 ? ', ...' : ''})`;
  if (installed.size !== wanted.size) return `node_modules/.yarn-state.yml has ${installed.size - wanted.size} packages yarn.lock does not`;
  // And each package is where the state says it put it.
  for (const [key, entry] of Object.entries(state ?? {})) {
    if (key === '__metadata' || !Array.isArray(entry?.locations)) continue;
    for (const location of entry.locations) {
      if (typeof location === 'string' && location !== '' && !existsSync(join(base, location, 'package.json'))) return `${location} is missing`;
    }
  }
  return undefined;
}

/** The platforms yarn installs for, per field; `null`: every value. */
type Architectures = Record<'os' | 'cpu' | 'libc', readonly string[] | null>;

/**
 * yarn berry's `supportedArchitectures` (default: this machine only; `current` is this machine's
 * value, `null` every value), as yarn's `getSupportedArchitectures` reads it; `undefined` when it
 * is not that shape.
 */
function architectures(setting: unknown): Architectures | undefined {
  const here = { os: process.platform, cpu: process.arch, libc: libc() };
  const out = {} as Record<keyof Architectures, readonly string[] | null>;
  for (const field of ['os', 'cpu', 'libc'] as const) {
    const given = setting && typeof setting === 'object' ? (setting as Record<string, unknown>)[field] : undefined;
    const values = given === undefined ? ['current'] : given;
    if (values === null) out[field] = null;
    else if (Array.isArray(values) && values.every((v) => typeof v === 'string')) out[field] = values.flatMap((v: string) => (v === 'current' ? (here[field] === undefined ? [] : [here[field]!]) : [v]));
    else return undefined;
  }
  return out;
}

/**
 * Whether yarn berry's `conditions` of a lockfile entry hold for `targets`: `os=linux & cpu=x64
 * & libc=glibc`, a field with several values as `(os=darwin | os=linux)`, a negated one as
 * `!os=win32` (how yarn writes a package's `os`, `cpu` and `libc`).
 */
function conditionsHold(conditions: string, targets: Architectures): boolean {
  return conditions.split(' & ').every((group) =>
    group
      .replace(/^\(|\)$/g, '')
      .split(' | ')
      .some((token) => {
        const negated = token.startsWith('!');
        const [field, value] = token.replace(/^!/, '').split('=') as [keyof Architectures, string];
        const allowed = targets[field];
        if (allowed === undefined) return false;
        // Every value of the field is targeted: some target matches either way.
        if (allowed === null) return true;
        return negated ? allowed.some((v) => v !== value) : allowed.includes(value);
      }),
  );
}

/** The C library of this machine as package managers name it: `glibc`, `musl`, or none off Linux. */
function libc(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

type BunEntry = [id: string, registry?: unknown, meta?: { os?: string | string[]; cpu?: string | string[]; optionalDependencies?: unknown }];

/**
 * bun.lock's `packages`: key = where the package goes (`name`, or `parent/name` for a copy nested
 * under a package or workspace), value = [`name@version`, ...]. A package whose `os` or `cpu`
 * does not fit this machine is one bun skips.
 */
async function bunComplete(base: string, lock: string): Promise<string | undefined> {
  const parsed = parseJsonc(lock) as { workspaces?: Record<string, { name?: string }>; packages?: Record<string, BunEntry> };
  const wanted: Array<{ key: string; name: string; version: string }> = [];
  for (const [key, entry] of Object.entries(parsed.packages ?? {})) {
    const id = Array.isArray(entry) ? entry[0] : undefined;
    if (typeof id !== 'string') return `bun.lock entry ${key} is not understood`;
    const at = id.lastIndexOf('@');
    const name = id.slice(0, at);
    const version = id.slice(at + 1);
    // Workspaces, links and files are sources, not installed packages.
    if (at <= 0 || /^(workspace|link|file|git|github)[:+]/.test(version) || version.includes(':')) continue;
    if (!fits(entry[2]?.os, process.platform) || !fits(entry[2]?.cpu, process.arch)) continue;
    wanted.push({ key, name, version });
  }
  if (await exists(join(base, 'node_modules/.bun'))) {
    // The isolated layout: a store directory per package version (`@esbuild+linux-x64@0.25.0`), one
    // more per set of peers it was resolved with (`react-dom@19.0.0+aa8600d4a927d95f`).
    const dirs = (await readdir(join(base, 'node_modules/.bun'))).filter((d) => d !== 'node_modules');
    const ids = new Map<string, (typeof wanted)[number]>(wanted.map((w) => [`${w.name.replace('/', '+')}@${w.version}`, w]));
    /** The package version a store directory holds: its name up to a `+<peers hash>`. */
    const idOf = (dir: string) => (ids.has(dir) ? dir : dir.split('+').map((_, i, parts) => parts.slice(0, i + 1).join('+')).find((prefix) => ids.has(prefix)));
    const found = new Set<string>();
    for (const dir of dirs) {
      const id = idOf(dir);
      if (id === undefined) return `node_modules/.bun/${dir} is not in bun.lock (left from another install)`;
      const { name, version } = ids.get(id)!;
      const problem = versionProblem(base, `node_modules/.bun/${dir}/node_modules/${name}`, version, false);
      if (problem !== undefined) return problem;
      found.add(id);
    }
    const missing = [...ids.keys()].find((id) => !found.has(id));
    return missing === undefined ? undefined : `node_modules/.bun lacks ${missing}`;
  }
  // The hoisted layout: `a/b` is b nested under package a, or under the workspace named a.
  const workspaceDirs = new Map(Object.entries(parsed.workspaces ?? {}).map(([dir, w]) => [w.name ?? dir, dir]));
  for (const { key, version } of wanted) {
    const parts = splitBunKey(key);
    const owner = parts.length > 1 ? workspaceDirs.get(parts[0]!) : undefined;
    const path = owner !== undefined ? [owner, ...parts.slice(1).map((p) => `node_modules/${p}`)].join('/') : parts.map((p) => `node_modules/${p}`).join('/');
    const problem = versionProblem(base, path, version, false);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** `a/@s/b/c` → [`a`, `@s/b`, `c`]. */
function splitBunKey(key: string): string[] {
  const out: string[] = [];
  const parts = key.split('/');
  for (let i = 0; i < parts.length; i++) out.push(parts[i]!.startsWith('@') ? `${parts[i]}/${parts[++i]}` : parts[i]!);
  return out;
}

/** npm's rule for `os` and `cpu`: listed values allow, `!value` forbids, absent allows all. */
function fits(allowed: string | string[] | undefined, here: string): boolean {
  const list = typeof allowed === 'string' ? [allowed] : allowed;
  if (!list || list.length === 0) return true;
  if (list.includes(`!${here}`)) return false;
  const positive = list.filter((v) => !v.startsWith('!'));
  return positive.length === 0 || positive.includes(here);
}

/** JSON with trailing commas (bun.lock): the commas before `}` or `]` dropped outside strings. */
function parseJsonc(text: string): unknown {
  return JSON.parse(text.replace(/"(?:[^"\\]|\\.)*"|,(\s*[}\]])/g, (match, tail: string | undefined) => tail ?? match));
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
async function topLevelVersionsIn(base: string, versions: ReadonlyMap<string, ReadonlySet<string>>): Promise<string | undefined> {
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
      return version !== undefined && versions.get(name)?.has(version) === true ? undefined : `node_modules/${name} is at a version yarn.lock does not have (${String(version)})`;
    }),
  );
  return found.find((problem) => problem !== undefined);
}
