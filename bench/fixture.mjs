// The benchmark repositories: built from the fixture as its README says (fresh `git init`, a few
// thousand small source files, one commit, one install in the main worktree), one per package
// manager with only that manager's lockfile, and reused between runs while nothing changed.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { $ } from 'zx';

/** Bump when the way repositories are built changes, so old ones are rebuilt. */
const RECIPE_VERSION = 4;

/**
 * pnpm ≥ 10 refuses dependencies' build scripts until they are approved; approve them all, so
 * pnpm runs esbuild's postinstall as npm and bun do, as a project on pnpm would have it.
 */
const PNPM_WORKSPACE = '# Run dependencies\' build scripts, as npm does.\ndangerouslyAllowAllBuilds: true\n';

/** Branch whose commit adds one small dependency: the "changed lockfile" (partial) case. */
export const CHANGED_LOCKFILE_BRANCH = 'bench-lockfile-changed';

/** The dependency that branch adds; tiny and absent from the fixture's tree. */
const ADDED_DEPENDENCY = 'tiny-invariant@1.3.3';

/** Fixed identity and dates, so a rebuilt repository has the same commits. */
const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'vtree bench',
  GIT_AUTHOR_EMAIL: 'bench@localhost',
  GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
  GIT_COMMITTER_NAME: 'vtree bench',
  GIT_COMMITTER_EMAIL: 'bench@localhost',
  GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
};

/**
 * How each package manager's benchmark repository is installed.
 * @type {Record<'npm' | 'pnpm' | 'bun', { lockfile: string, install: (tools: Tools, workDir: string) => { cmd: string, args: string[], env?: Record<string, string> } }>}
 */
export const MANAGERS = {
  // Not `npm ci`: a lockfile written by another npm version may need npm's own touch-ups.
  npm: { lockfile: 'package-lock.json', install: () => ({ cmd: 'npm', args: ['install', '--prefer-offline', '--no-audit', '--no-fund'] }) },
  pnpm: {
    lockfile: 'pnpm-lock.yaml',
    install: (tools, workDir) => ({ cmd: tools.pnpm.bin, args: ['install', '--frozen-lockfile', '--store-dir', pnpmStoreDir(workDir)] }),
  },
  bun: {
    lockfile: 'bun.lock',
    install: (tools, workDir) => ({ cmd: tools.bun.bin, args: ['install', '--frozen-lockfile'], env: bunEnv(workDir) }),
  },
};

/**
 * @typedef {{ bin: string, version: string } | { bin?: undefined, reason: string }} Tool
 * @typedef {{ pnpm: Tool, bun: Tool }} Tools
 * @typedef {{ name: string, manager: keyof typeof MANAGERS, root: string, parent: string, reused: boolean, sourceFiles: number }} BenchRepo
 */

/** pnpm's content store for the benchmark: on the repositories' filesystem, so pnpm can hardlink. */
export function pnpmStoreDir(workDir) {
  return join(workDir, 'pnpm-store');
}

/** bun's cache for the benchmark, on the repositories' filesystem for the same reason. */
export function bunEnv(workDir) {
  return { BUN_INSTALL_CACHE_DIR: join(workDir, 'bun-cache') };
}

/**
 * Makes (or reuses) the repository `name` for `manager` under `workDir`: `<workDir>/<name>/app`,
 * its worktrees going to `<workDir>/<name>/app.worktrees/` as vtree's default path puts them.
 * @param {{ fixtureDir: string, workDir: string, sourceFiles: number, env: NodeJS.ProcessEnv, tools: Tools, log: (line: string) => void }} ctx
 * @param {string} name
 * @param {keyof typeof MANAGERS} manager
 * @returns {Promise<BenchRepo>}
 */
export async function prepareRepo(ctx, name, manager) {
  const parent = join(ctx.workDir, name);
  const root = join(parent, 'app');
  const stamp = await repoStamp(ctx, manager);
  const stampFile = join(parent, 'stamp.json');
  const reused = existsSync(join(root, 'node_modules')) && (await readFile(stampFile, 'utf8').catch(() => '')) === stamp;
  if (!reused) {
    ctx.log(`building the ${name} benchmark repository (${ctx.sourceFiles} source files, one ${manager} install)...`);
    await rm(parent, { recursive: true, force: true });
    await mkdir(root, { recursive: true });
    await writeRepoFiles(ctx, root, manager);
    const git = $({ cwd: root, env: { ...ctx.env, ...GIT_IDENTITY }, quiet: true });
    await git`git init -q -b main`;
    // Install before committing: the lockfile committed is the one this manager's version
    // writes, so neither the main worktree nor a timed install sees it change.
    const install = MANAGERS[manager].install(ctx.tools, ctx.workDir);
    await $({ cwd: root, env: { ...ctx.env, ...install.env }, quiet: true })`${install.cmd} ${install.args}`;
    await git`git add -A`;
    await git`git commit -q -m ${'Benchmark app'}`;
    if (manager === 'npm') await commitChangedLockfile(ctx, root);
    await writeFile(stampFile, stamp);
  }
  return { name, manager, root, parent, reused, sourceFiles: ctx.sourceFiles };
}

/**
 * A full copy of `source` (node_modules included, real copies, no shared inodes) named `name`,
 * for a variant that needs its own cache state or config.
 * @param {{ workDir: string, log: (line: string) => void }} ctx
 * @param {BenchRepo} source
 * @param {string} name
 * @returns {Promise<BenchRepo>}
 */
export async function copyRepo(ctx, source, name) {
  const parent = join(ctx.workDir, name);
  const root = join(parent, 'app');
  const stamp = await readFile(join(source.parent, 'stamp.json'), 'utf8');
  const stampFile = join(parent, 'stamp.json');
  const reused = source.reused && existsSync(join(root, 'node_modules')) && (await readFile(stampFile, 'utf8').catch(() => '')) === stamp;
  if (!reused) {
    ctx.log(`copying the ${source.name} repository to ${name}...`);
    await rm(parent, { recursive: true, force: true });
    await mkdir(parent, { recursive: true });
    await $({ quiet: true })`cp -a ${source.root} ${root}`;
    await writeFile(stampFile, stamp);
  }
  return { ...source, name, root, parent, reused };
}

/** Hash of everything a repository is built from; a change rebuilds it. */
async function repoStamp(ctx, manager) {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ RECIPE_VERSION, manager, sourceFiles: ctx.sourceFiles, ADDED_DEPENDENCY, PNPM_WORKSPACE, node: process.versions.node.split('.')[0] }));
  for (const file of await fixtureFilesFor(ctx.fixtureDir, manager)) hash.update(file).update(await readFile(join(ctx.fixtureDir, file)));
  return hash.digest('hex');
}

/** The fixture's files that go into `manager`'s repository: everything but other managers' lockfiles. */
async function fixtureFilesFor(fixtureDir, manager) {
  const otherLockfiles = new Set(Object.entries(MANAGERS).filter(([m]) => m !== manager).map(([, spec]) => spec.lockfile));
  return (await readdir(fixtureDir)).filter((file) => !otherLockfiles.has(file) && !file.startsWith('.') && file !== 'README.md').sort();
}

/** True when the fixture has `manager`'s lockfile, so a repository can be made for it. */
export function fixtureHasLockfile(fixtureDir, manager) {
  return existsSync(join(fixtureDir, MANAGERS[manager].lockfile));
}

async function writeRepoFiles(ctx, root, manager) {
  for (const file of await fixtureFilesFor(ctx.fixtureDir, manager)) await cp(join(ctx.fixtureDir, file), join(root, file));
  await writeFile(join(root, '.gitignore'), 'node_modules/\ndist/\n.env\n.env.local\n');
  // An ignored .env as real projects have; vtree copies it into new worktrees.
  await writeFile(join(root, '.env'), 'DB_PORT=5432\nCACHE_PORT=6379\nAPI_PORT=3000\nSESSION_SECRET=bench\n');
  await writeFile(join(root, 'README.md'), '# Benchmark app\n\nGenerated by bench/fixture.mjs of git vtree.\n');
  if (manager === 'pnpm') await writeFile(join(root, 'pnpm-workspace.yaml'), PNPM_WORKSPACE);
  await writeSources(join(root, 'src'), ctx.sourceFiles);
}

/** `count` small modules in folders of 50, like a mid-sized application's source tree. */
async function writeSources(srcDir, count) {
  await mkdir(srcDir, { recursive: true });
  await writeFile(join(srcDir, 'shared.js'), 'export const helper = (value) => String(value).trim();\n');
  const perFolder = 50;
  for (let folder = 0; folder * perFolder < count; folder++) {
    const dir = join(srcDir, `feature-${String(folder).padStart(3, '0')}`);
    await mkdir(dir, { recursive: true });
    const writes = [];
    for (let i = folder * perFolder; i < Math.min(count, (folder + 1) * perFolder); i++) {
      const body =
        `// Module ${i} of the benchmark app.\n` +
        `import { helper } from '../shared.js';\n\n` +
        `export function feature${i}(input) {\n  return { id: ${i}, value: helper(input) };\n}\n`;
      writes.push(writeFile(join(dir, `module-${String(i).padStart(4, '0')}.js`), body));
    }
    await Promise.all(writes);
  }
}

/**
 * Commits, on {@link CHANGED_LOCKFILE_BRANCH}, package.json and package-lock.json with one more
 * small dependency (resolved by `npm install --package-lock-only`, nothing installed).
 */
async function commitChangedLockfile(ctx, root) {
  const scratch = join(ctx.workDir, 'scratch-lockfile');
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  for (const file of ['package.json', 'package-lock.json']) await cp(join(root, file), join(scratch, file));
  await $({ cwd: scratch, env: ctx.env, quiet: true })`npm install --package-lock-only --ignore-scripts --no-audit --no-fund --prefer-offline ${ADDED_DEPENDENCY}`;
  const git = $({ cwd: root, env: { ...ctx.env, ...GIT_IDENTITY }, quiet: true });
  await git`git checkout -q -b ${CHANGED_LOCKFILE_BRANCH}`;
  for (const file of ['package.json', 'package-lock.json']) await cp(join(scratch, file), join(root, file));
  await git`git commit -q -am ${`Add ${ADDED_DEPENDENCY}`}`;
  await git`git checkout -q main`;
  await rm(scratch, { recursive: true, force: true });
}
