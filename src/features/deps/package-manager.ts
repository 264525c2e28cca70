import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { git, run } from '../../core/exec.js';
import { readCommittedTexts } from '../../git/objects.js';
import { isErrno } from '../../core/files.js';
import { installSettings, keySettings, settingPrograms, type InstallProgram, type InstallSetting } from './install-config.js';

/** Package managers whose node_modules vtree restores; names as package-manager-detector's agents. */
export type PackageManagerName = 'npm' | 'pnpm' | 'yarn' | 'yarn@berry' | 'bun';

/**
 * Lockfiles, in the order they decide the manager when several are committed (a stray
 * `yarn.lock` next to `package-lock.json` loses to npm). Names as in package-manager-detector's
 * LOCKS table, restricted to the managers vtree restores.
 */
const LOCKFILES = {
  'package-lock.json': 'npm',
  'npm-shrinkwrap.json': 'npm',
  'pnpm-lock.yaml': 'pnpm',
  'yarn.lock': 'yarn',
  'bun.lock': 'bun',
  'bun.lockb': 'bun',
} as const satisfies Record<string, PackageManagerName>;

/** What vtree needs to know of each package manager beyond what the detector library tells. */
interface ManagerTraits {
  /** Install that reconciles a restored, similar node_modules with the lockfile, offline first. */
  reconcile: readonly string[];
  /**
   * Clean install from the lockfile alone, offline first, that runs no program of the project:
   * no lifecycle scripts, no pnpmfile, no yarn build step. It decides, in a scratch copy, what a
   * clean install gives when the completeness check cannot tell (scratch-install.ts).
   */
  scratch: readonly string[];
  /** The config files it reads at the project's root (install-config.ts); one it does not read shapes nothing. */
  config: readonly string[];
}

const MANAGERS = {
  // npm: --no-save, so a committed lockfile npm would write differently is never rewritten.
  npm: { reconcile: ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-save'], scratch: ['ci', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], config: ['.npmrc'] },
  // pnpm keeps packages the lockfile dropped in its virtual store for a week unless told not to.
  pnpm: {
    reconcile: ['install', '--prefer-offline', '--frozen-lockfile', '--config.modules-cache-max-age=0'],
    scratch: ['install', '--frozen-lockfile', '--prefer-offline', '--ignore-scripts', '--ignore-pnpmfile'],
    config: ['.npmrc', 'pnpm-workspace.yaml'],
  },
  yarn: {
    reconcile: ['install', '--prefer-offline', '--frozen-lockfile'],
    scratch: ['install', '--frozen-lockfile', '--prefer-offline', '--ignore-scripts', '--non-interactive'],
    config: ['.npmrc', '.yarnrc'],
  },
  'yarn@berry': { reconcile: ['install', '--immutable'], scratch: ['install', '--immutable', '--mode=skip-build'], config: ['.yarnrc.yml'] },
  bun: { reconcile: ['install', '--frozen-lockfile'], scratch: ['install', '--frozen-lockfile', '--ignore-scripts'], config: ['.npmrc', 'bunfig.toml'] },
} as const satisfies Record<PackageManagerName, ManagerTraits>;

/**
 * Files inside a node_modules directory that package managers rewrite in place on every install:
 * always copied, never linked, so an install in one worktree cannot edit the cache or another one.
 */
export const REWRITTEN_IN_PLACE: ReadonlySet<string> = new Set([
  '.package-lock.json',
  '.modules.yaml',
  '.pnpm/lock.yaml',
  '.pnpm-workspace-state.json',
  '.pnpm-workspace-state-v1.json',
  '.yarn-state.yml',
  '.yarn-integrity',
]);

/** Per-worktree tool caches inside node_modules: never cached, so each worktree starts them empty. */
export const TOOL_CACHES: ReadonlySet<string> = new Set(['.cache', '.vite', '.vite-temp', '.turbo', '.astro', '.nx', '.angular']);

/** package.json fields that decide what an install produces; all of them go into the cache key. */
const DEPENDENCY_FIELDS = [
  'dependencies',
  'devDependencies',
  'optionalDependencies',
  'peerDependencies',
  'bundleDependencies',
  'overrides',
  'resolutions',
  'workspaces',
  'pnpm',
  'packageManager',
] as const;

/** A JavaScript project as far as installing its dependencies is concerned. */
export interface Project {
  manager: PackageManagerName;
  /** Lockfile path → git blob id (a hash of its bytes, binary-safe for bun.lockb). */
  lockfiles: Record<string, string>;
  /** Workspace package.json path → its dependency fields. */
  manifests: Record<string, Record<string, unknown>>;
  /** Directories (relative, '' for the root) of every workspace package, root first. */
  packageDirs: string[];
  /** yarn berry with Plug'n'Play: there is no node_modules to restore. */
  pnp: boolean;
  /** The project's own programs an install of it runs: they wait for the user's approval (deps/consent.ts). */
  programs: InstallProgram[];
  /** What its committed package-manager config sets that shapes the install (`<file> <key>=<value>`; install-config.ts): part of the key. */
  settings: string[];
}

export type { InstallProgram };

/** Every config file some manager reads: asked for with the project's other files. */
const CONFIG_FILES: readonly string[] = [...new Set(Object.values(MANAGERS).flatMap((m) => m.config))];

/**
 * The lifecycle scripts an install runs from the project's own package.json files, root and
 * workspaces: npm (`npm ci` and `install` run `prepare` and the `dependencies` event too), pnpm,
 * yarn and bun each run a subset of these.
 */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'dependencies', 'prepublish', 'preprepare', 'prepare', 'postprepare'] as const;

/** The files of code pnpm loads on every install (its hooks), unless told not to. */
const PNPMFILES: readonly string[] = ['.pnpmfile.cjs', '.pnpmfile.mjs'];

/** Reads a project's files from a commit's objects or from a directory on disk. */
export interface ProjectFiles {
  /** Text of each path that exists. */
  texts(paths: readonly string[]): Promise<Map<string, string>>;
  /** Git blob id of each path that exists. */
  blobIds(paths: readonly string[]): Promise<Map<string, string>>;
  /** Every `package.json` path of the tree, for matching workspace patterns. */
  packageJsonPaths(): Promise<string[]>;
}

/**
 * The project at `files`: its package manager (the `packageManager` field of package.json wins,
 * else the first lockfile of {@link LOCKFILES}), lockfiles, workspace manifests and package
 * directories. `undefined` when there is no root package.json.
 */
export async function detectProject(files: ProjectFiles): Promise<Project | undefined> {
  const lockNames = Object.keys(LOCKFILES);
  // Files of code an install may load are asked for with the lockfiles: one git process, not another one later.
  const [texts, ids] = await Promise.all([files.texts(['package.json', ...CONFIG_FILES]), files.blobIds([...lockNames, ...OPTIONAL_CODE])]);
  const rootText = texts.get('package.json');
  if (rootText === undefined) return undefined;
  const root = parseJson(rootText);
  const yarnrc = texts.get('.yarnrc.yml');
  const lockfile = lockNames.find((name) => ids.has(name)) as keyof typeof LOCKFILES | undefined;
  const manager = await managerOf(root.packageManager, lockfile, yarnrc);
  const patterns = await workspacePatterns(root, manager === 'pnpm' ? texts.get('pnpm-workspace.yaml') : undefined);
  const packageDirs = [''];
  if (patterns.length > 0) {
    // yarn berry's globs (globby, directories only) never match `docs` itself with `docs/**`.
    const selfToo = manager !== 'yarn@berry';
    const matchers = patterns.filter((p) => !p.startsWith('!')).map((p) => globToRegExp(p, selfToo));
    const excluded = patterns.filter((p) => p.startsWith('!')).map((p) => globToRegExp(p.slice(1), selfToo));
    const workspaceDirs = (await files.packageJsonPaths())
      .map((p) => posix.dirname(p))
      .filter((dir) => dir !== '.' && !dir.split('/').includes('node_modules') && matchers.some((m) => m.test(`/${dir}`)) && !excluded.some((m) => m.test(`/${dir}`)));
    packageDirs.push(...new Set(workspaceDirs.sort()));
  }
  const manifestPaths = packageDirs.map((dir) => (dir ? `${dir}/package.json` : 'package.json'));
  const manifestTexts = packageDirs.length > 1 ? await files.texts(manifestPaths.slice(1)) : new Map<string, string>();
  manifestTexts.set('package.json', rootText);
  const manifests: Record<string, Record<string, unknown>> = {};
  for (const path of manifestPaths) {
    const text = manifestTexts.get(path);
    if (text !== undefined) manifests[path] = dependencyFields(parseJson(text));
  }
  // Every lockfile present goes into the key, not only the deciding one: a committed second
  // lockfile changing is a signal the project's dependencies changed.
  const lockfiles = Object.fromEntries([...ids].filter(([name]) => name in LOCKFILES).sort(([a], [b]) => a.localeCompare(b)));
  const settings = await installSettings(MANAGERS[manager].config, texts);
  const programs = await installPrograms(files, manager, manifestPaths.flatMap((path) => (manifestTexts.has(path) ? [[path, manifestTexts.get(path)!] as const] : [])), settings, ids);
  // yarn berry's default linker is Plug'n'Play: no node_modules unless .yarnrc.yml names another.
  const linker = settings.find((s) => s.file === '.yarnrc.yml' && s.key === 'node-linker')?.value;
  const pnp = manager === 'yarn@berry' && linker !== 'node-modules' && linker !== 'pnpm';
  return { manager, lockfiles, manifests, packageDirs, pnp, programs, settings: keySettings(settings) };
}

/**
 * What an install of the project runs of its own: the lifecycle scripts of its package.json files,
 * pnpm's `.pnpmfile.cjs`, the yarn release and plugins its config names (`yarnPath`, `plugins`,
 * yarn classic's `yarn-path`) and yarn's `.env.yarn`, which every script yarn runs gets in its
 * environment (files are known by their blob id; one named but not in the commit is said so, and
 * still asks), and the settings that name programs ({@link settingPrograms}).
 */
async function installPrograms(
  files: ProjectFiles,
  manager: PackageManagerName,
  manifests: ReadonlyArray<readonly [string, string]>,
  settings: readonly InstallSetting[],
  known: ReadonlyMap<string, string>,
): Promise<InstallProgram[]> {
  const programs: InstallProgram[] = [];
  for (const [path, text] of manifests) {
    const scripts = parseJson(text).scripts as Record<string, unknown> | undefined;
    for (const name of INSTALL_SCRIPTS) {
      const script = scripts?.[name];
      if (typeof script === 'string') programs.push({ name: `${path} ${name}`, text: script, always: false });
    }
  }
  // `named`: the config names the file, so the manager runs whatever is there (or fails).
  const code: Array<{ path: string; role?: string; always: boolean; named: boolean }> = [];
  if (manager === 'pnpm') code.push(...PNPMFILES.map((path) => ({ path, always: true, named: false })));
  if (manager === 'yarn@berry') code.push({ path: YARN_ENV_FILE, always: false, named: false });
  const inRepo = (path: string) => posix.normalize(path.replace(/^\.\//, ''));
  for (const { file, key, value } of settings) {
    if (key === 'yarn-path') code.push({ path: inRepo(value), role: file === '.yarnrc' ? 'yarn-path' : 'yarnPath', always: true, named: true });
    if (key !== 'plugins' || file !== '.yarnrc.yml') continue;
    // A list is kept as JSON; anything else yarn refuses to load, and runs nothing.
    let plugins: unknown;
    try {
      plugins = JSON.parse(value);
    } catch {
      plugins = [];
    }
    for (const plugin of Array.isArray(plugins) ? plugins : []) {
      const path = typeof plugin === 'string' ? plugin : (plugin as { path?: unknown } | null)?.path;
      if (typeof path === 'string') code.push({ path: inRepo(path), role: 'yarn plugin', always: true, named: true });
    }
  }
  const unknown = code.map((c) => c.path).filter((path) => !known.has(path) && !OPTIONAL_CODE.includes(path));
  const ids = unknown.length > 0 ? new Map([...known, ...(await files.blobIds(unknown))]) : known;
  for (const { path, role, always, named } of code) {
    const id = ids.get(path);
    if (id === undefined && !named) continue;
    programs.push({ name: role ? `${path} (${role})` : path, text: `file ${id ?? 'not in the repository'}`, always });
  }
  return [...programs, ...settingPrograms(settings)];
}

/** yarn berry's default `injectEnvironmentFiles`: its variables are set for every script yarn runs. */
const YARN_ENV_FILE = '.env.yarn';

/** Files of code an install loads if they are there, whatever the config says: asked for with the lockfiles. */
const OPTIONAL_CODE: readonly string[] = [...PNPMFILES, YARN_ENV_FILE];

/**
 * What an install of `project` produces, relative to its root: the node_modules directories,
 * and for yarn berry its install state (`.yarn/install-state.gz`, a file: without it the next
 * `yarn install` in the worktree redoes the whole link step and re-runs postinstall scripts).
 */
export function nodeModulesDirs(project: Project): string[] {
  const dirs = project.packageDirs.map((dir) => (dir ? `${dir}/node_modules` : 'node_modules'));
  return project.manager === 'yarn@berry' ? [...dirs, YARN_INSTALL_STATE] : dirs;
}

/** yarn berry's install state, carried with the node_modules it describes. */
const YARN_INSTALL_STATE = '.yarn/install-state.gz';

/** The clean install of a project with a lockfile (`npm ci`, `pnpm i --frozen-lockfile`, ...); plain install without one. */
export async function installCommand(manager: PackageManagerName, frozen: boolean): Promise<{ command: string; args: string[] }> {
  const { resolveCommand } = await import('package-manager-detector/commands');
  const resolved = resolveCommand(manager, frozen ? 'frozen' : 'install', []);
  if (!resolved) throw new Error(`no install command known for ${manager}`);
  return resolved;
}

/** The install that reconciles a restored, similar node_modules with the lockfile. */
export function reconcileCommand(manager: PackageManagerName): { command: string; args: string[] } {
  return { command: manager === 'yarn@berry' ? 'yarn' : manager, args: [...MANAGERS[manager].reconcile] };
}

/** The clean install that runs none of the project's programs ({@link ManagerTraits.scratch}), with the environment that tells the same to what it starts. */
export function scratchInstallCommand(manager: PackageManagerName): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  return { command: manager === 'yarn@berry' ? 'yarn' : manager, args: [...MANAGERS[manager].scratch], env: { npm_config_ignore_scripts: 'true', YARN_ENABLE_SCRIPTS: 'false' } };
}

/** {@link ProjectFiles} of `commit`, read from the object store with two batched git calls at most. */
export function commitFiles(cwd: string, commit: string): ProjectFiles {
  return {
    texts: (paths) => readCommittedTexts(cwd, commit, paths),
    async blobIds(paths) {
      const { stdout } = await run('git', ['cat-file', '--batch-check'], { cwd, input: paths.map((p) => `${commit}:${p}\n`).join('') });
      const out = new Map<string, string>();
      stdout.split('\n').forEach((line, i) => {
        const [oid, type] = line.split(' ');
        if (type === 'blob' && paths[i] !== undefined) out.set(paths[i]!, oid!);
      });
      return out;
    },
    async packageJsonPaths() {
      const out = await git(cwd, ['ls-tree', '-r', '--name-only', '-z', commit]);
      return out.split('\0').filter((p) => p === 'package.json' || p.endsWith('/package.json'));
    },
  };
}

/** {@link ProjectFiles} of a worktree's files as they are on disk (edits included). */
export function diskFiles(root: string): ProjectFiles {
  const read = async (path: string) => readFile(join(root, path)).catch((error: unknown) => (isErrno(error, 'ENOENT', 'ENOTDIR', 'EISDIR') ? undefined : Promise.reject(error)));
  const each = async <T>(paths: readonly string[], map: (data: Buffer) => T) => {
    const found = await Promise.all(paths.map(async (p) => [p, await read(p)] as const));
    return new Map(found.filter(([, data]) => data !== undefined).map(([p, data]) => [p, map(data!)]));
  };
  return {
    texts: (paths) => each(paths, (data) => data.toString('utf8')),
    blobIds: (paths) => each(paths, gitBlobId),
    async packageJsonPaths() {
      const out = await git(root, ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', 'package.json', ':(glob)**/package.json']);
      return out.split('\0').filter(Boolean);
    },
  };
}

/** The id git gives `data` as a blob: the same hash whether read from a commit or from disk. */
export function gitBlobId(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

async function managerOf(field: unknown, lockfile: keyof typeof LOCKFILES | undefined, yarnrc: string | undefined): Promise<PackageManagerName> {
  if (typeof field === 'string') {
    const { resolveAgent, normalizeAgentVersion } = await import('package-manager-detector/detect');
    const [name, version] = field.split('@') as [string, string | undefined];
    const agent = resolveAgent(name as 'npm', normalizeAgentVersion(version))?.agent;
    if (agent === 'npm' || agent === 'pnpm' || agent === 'yarn' || agent === 'yarn@berry' || agent === 'bun') return agent;
    if (agent === 'pnpm@6') return 'pnpm';
  }
  const manager: PackageManagerName = lockfile ? LOCKFILES[lockfile] : 'npm';
  // yarn 2+ leaves a .yarnrc.yml; yarn classic reads .yarnrc.
  return manager === 'yarn' && yarnrc !== undefined ? 'yarn@berry' : manager;
}

async function workspacePatterns(root: Record<string, unknown>, pnpmWorkspace: string | undefined): Promise<string[]> {
  if (pnpmWorkspace !== undefined) {
    const { parse } = await import('yaml');
    const packages = (parse(pnpmWorkspace) as { packages?: unknown } | null)?.packages;
    return Array.isArray(packages) ? packages.filter((p): p is string => typeof p === 'string') : [];
  }
  const field = root.workspaces;
  const list = Array.isArray(field) ? field : (field as { packages?: unknown } | undefined)?.packages;
  return Array.isArray(list) ? list.filter((p): p is string => typeof p === 'string') : [];
}

/**
 * A workspace pattern (`packages/*`, `apps/**`; a negated one without its `!`) as a regular expression
 * over `/`-prefixed directory paths. `**` matches zero or more directories, as in the globs npm
 * (`@npmcli/map-workspaces`), pnpm and yarn classic match with (`docs/**` includes `docs`
 * itself), or with `selfToo` false one or more, as yarn berry does (checked with each manager).
 */
function globToRegExp(pattern: string, selfToo: boolean): RegExp {
  const body = pattern
    .replace(/^\.\//, '')
    .replace(/\/+$/, '')
    .split('/')
    .map((part) => (part === '**' ? `(?:/[^/]+)${selfToo ? '*' : '+'}` : `/${part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}`))
    .join('');
  return new RegExp(`^${body}$`);
}

function dependencyFields(manifest: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(DEPENDENCY_FIELDS.filter((f) => manifest[f] !== undefined).map((f) => [f, manifest[f]]));
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    // A package.json that does not parse: the package manager will say so when it runs.
    return {};
  }
}
