// The rows of the benchmark: what each one times, in which repository, from which starting
// state. One value per row; run.mjs alternates them round-robin.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bunEnv, CHANGED_LOCKFILE_BRANCH, pnpmStoreDir } from './fixture.mjs';
import { runChild, waitForTaggedProcesses } from './measure.mjs';
import { clearVtreeState, removeRunWorktrees, RUN_BRANCH_PREFIX } from './repo-state.mjs';

/**
 * What every row gets to build its commands from.
 * @typedef {{
 *   repos: Record<string, import('./fixture.mjs').BenchRepo | { reason: string }>,
 *   tools: import('./fixture.mjs').Tools,
 *   env: NodeJS.ProcessEnv,
 *   workDir: string,
 *   vtreeBin: string,
 *   tag: string,
 * }} BenchContext
 */

/**
 * One row. `commands` are timed together; `prepare` runs before each run, `cleanup` after it
 * (what the timed commands left that removing the run's worktrees and branches does not undo), untimed.
 * @typedef {{
 *   id: string,
 *   label: string,
 *   group: 'git' | 'tool' | 'vtree' | 'rm',
 *   repo: string,
 *   what: string,
 *   expect?: 'hit' | 'spare' | 'seed' | 'partial' | 'spare worktree' | 'recycled' | 'removed',
 *   ref?: string,
 *   linkMode?: string,
 *   unavailable?: (ctx: BenchContext) => string | undefined,
 *   prepare?: (ctx: BenchContext, repo: import('./fixture.mjs').BenchRepo, run: RunTarget) => Promise<void>,
 *   commands: (ctx: BenchContext, repo: import('./fixture.mjs').BenchRepo, run: RunTarget) => import('./measure.mjs').Command[],
 *   cleanup?: (ctx: BenchContext, repo: import('./fixture.mjs').BenchRepo, run: RunTarget) => Promise<void>,
 * }} Variant
 * @typedef {{ branch: string, path: string }} RunTarget
 */

/** Source files of the large repository of the spare-worktree rows (issue 12). */
export const BIG_SOURCE_FILES = 100_000;

/** Spare worktrees off: the dependency-cache rows stay comparable with earlier runs. */
const NO_SPARE_WORKTREES = { 'vtree.spares.worktrees': '0' };

/**
 * The repositories the rows use and the vtree config each one has. `npm` is the main case;
 * `npm-spare` keeps vtree's default config for spare node_modules; `npm-fresh` has its vtree
 * state cleared before every run, for the first-ever and changed-lockfile rows. Spare worktrees
 * are on only in `npm-wt` (a copy of `npm`) and `big` (the same fixture with
 * {@link BIG_SOURCE_FILES} source files), for the rows of issue 12.
 * @type {Record<string, { manager: 'npm' | 'pnpm' | 'bun', copyOf?: string, sourceFiles?: number, config: Record<string, string | undefined> }>}
 */
export const REPOS = {
  npm: { manager: 'npm', config: { 'vtree.cache.spares': '0', ...NO_SPARE_WORKTREES } },
  'npm-spare': { manager: 'npm', copyOf: 'npm', config: { 'vtree.cache.spares': undefined, ...NO_SPARE_WORKTREES } },
  'npm-fresh': { manager: 'npm', copyOf: 'npm', config: { 'vtree.cache.spares': '0', ...NO_SPARE_WORKTREES } },
  pnpm: { manager: 'pnpm', config: { 'vtree.cache.spares': '0', ...NO_SPARE_WORKTREES } },
  bun: { manager: 'bun', config: NO_SPARE_WORKTREES },
  'npm-wt': { manager: 'npm', copyOf: 'npm', config: { 'vtree.cache.spares': '0', 'vtree.spares.worktrees': '1' } },
  big: { manager: 'npm', sourceFiles: BIG_SOURCE_FILES, config: { 'vtree.cache.spares': '0', 'vtree.spares.worktrees': '1' } },
  // Issue 22: a committed compose file (see STACK_COMPOSE), the user's consent to its stack in git config.
  'npm-stack': { manager: 'npm', copyOf: 'npm', config: { 'vtree.cache.spares': '0', ...NO_SPARE_WORKTREES, 'vtree.services.trusted': 'true', 'vtree.services.stopTimeout': '2' } },
  // Issue 22: its main branch gets the merges of the prune rows' branches, rewound before each run.
  'npm-prune': { manager: 'npm', copyOf: 'npm', config: { 'vtree.cache.spares': '0', ...NO_SPARE_WORKTREES } },
};

/** Where a run of `variant` puts its worktree and which branch it creates. */
export function runTarget(variant, repo) {
  const branch = `${RUN_BRANCH_PREFIX}${variant.id}`;
  return { branch, path: join(repo.parent, 'app.worktrees', branch) };
}

/** `git worktree add` of a new branch at HEAD, as `git vtree add` runs it. */
function worktreeAdd(ctx, repo, run) {
  return { cmd: 'git', args: ['worktree', 'add', '--no-track', '-b', run.branch, '--', run.path, 'HEAD'], cwd: repo.root, env: ctx.env };
}

/** `git vtree add` through git's dispatcher, as users type it, without the Compose stack. */
function vtreeAdd(ctx, repo, run, extra = []) {
  return { cmd: 'git', args: ['vtree', 'add', '--json', '--no-services', ...extra, run.branch], cwd: repo.root, env: ctx.env };
}

function toolMissing(name) {
  return (ctx) => ('reason' in ctx.tools[name] ? `${name} not available: ${ctx.tools[name].reason}` : undefined);
}

/** @type {Variant[]} */
export const BASE_VARIANTS = [
  {
    id: 'worktree',
    label: 'git worktree add',
    group: 'git',
    repo: 'npm',
    what: 'git alone: checkout of the source files, no dependencies (1.0×)',
    commands: (ctx, repo, run) => [worktreeAdd(ctx, repo, run)],
  },
  {
    id: 'node+worktree',
    label: 'node -e 0 + git worktree add',
    group: 'git',
    repo: 'npm',
    what: 'the floor for any Node.js tool that checks out a worktree',
    commands: (ctx, repo, run) => [{ cmd: 'node', args: ['-e', '0'], cwd: repo.root, env: ctx.env }, worktreeAdd(ctx, repo, run)],
  },
  {
    id: 'cp-al',
    label: 'git worktree add + cp -al node_modules',
    group: 'git',
    repo: 'npm',
    what: "hardlink copy of the main worktree's node_modules: the per-file floor",
    commands: (ctx, repo, run) => [
      worktreeAdd(ctx, repo, run),
      { cmd: 'cp', args: ['-al', join(repo.root, 'node_modules'), join(run.path, 'node_modules')], cwd: repo.root, env: ctx.env },
    ],
  },
  {
    id: 'npm',
    label: 'git worktree add + npm install --prefer-offline',
    group: 'tool',
    repo: 'npm',
    what: "npm with a warm cache (--no-audit --no-fund: no network round trips)",
    commands: (ctx, repo, run) => [
      worktreeAdd(ctx, repo, run),
      { cmd: 'npm', args: ['install', '--prefer-offline', '--no-audit', '--no-fund'], cwd: run.path, env: ctx.env },
    ],
  },
  {
    id: 'pnpm',
    label: 'git worktree add + pnpm install --offline --frozen-lockfile',
    group: 'tool',
    repo: 'pnpm',
    what: 'pnpm from its warm store (hardlinks, same filesystem)',
    unavailable: toolMissing('pnpm'),
    commands: (ctx, repo, run) => [
      worktreeAdd(ctx, repo, run),
      { cmd: ctx.tools.pnpm.bin, args: ['install', '--offline', '--frozen-lockfile', '--store-dir', pnpmStoreDir(ctx.workDir)], cwd: run.path, env: ctx.env },
    ],
  },
  {
    id: 'bun',
    label: 'git worktree add + bun install --frozen-lockfile',
    group: 'tool',
    repo: 'bun',
    what: 'bun from its warm cache',
    unavailable: toolMissing('bun'),
    commands: (ctx, repo, run) => [
      worktreeAdd(ctx, repo, run),
      { cmd: ctx.tools.bun.bin, args: ['install', '--frozen-lockfile'], cwd: run.path, env: { ...ctx.env, ...bunEnv(ctx.workDir) } },
    ],
  },
  {
    id: 'vtree-spare',
    label: 'git vtree add (spare ready)',
    group: 'vtree',
    repo: 'npm-spare',
    what: "default config: a spare made in the background by the previous add is ready",
    expect: 'spare',
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run)],
  },
  {
    id: 'vtree-hit',
    label: 'git vtree add (cache hit, no spare)',
    group: 'vtree',
    repo: 'npm',
    what: 'warm cache entry, vtree.cache.spares 0: restore links every file',
    expect: 'hit',
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run)],
  },
  {
    id: 'vtree-hit-pnpm',
    label: 'git vtree add (pnpm, cache hit, no spare)',
    group: 'vtree',
    repo: 'pnpm',
    what: "pnpm lockfile listing other platforms' optional packages (esbuild's, rollup's): warm entry, restore links every file",
    expect: 'hit',
    unavailable: toolMissing('pnpm'),
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run)],
  },
  {
    id: 'vtree-seed',
    label: 'git vtree add (first ever, seed)',
    group: 'vtree',
    repo: 'npm-fresh',
    what: "no vtree state at all; the main worktree's node_modules seeds the cache",
    expect: 'seed',
    prepare: (ctx, repo) => clearVtreeState(repo, ctx.env),
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run)],
  },
  {
    id: 'vtree-partial',
    label: 'git vtree add (changed lockfile, partial)',
    group: 'vtree',
    repo: 'npm-fresh',
    what: `cache holds main's entry only; branch from ${CHANGED_LOCKFILE_BRANCH} (one more dependency): closest entry + npm reconciles`,
    expect: 'partial',
    async prepare(ctx, repo) {
      // Start from a cache that has the main branch's entry and nothing made by the last run.
      await clearVtreeState(repo, ctx.env);
      const base = { branch: `${RUN_BRANCH_PREFIX}partial-base`, path: '' };
      const seeded = await runChild(vtreeAdd(ctx, repo, base));
      await removeRunWorktrees(repo, ctx.env, { viaVtree: true });
      if (seeded.code !== 0) throw new Error(`seeding the cache before the partial run failed: ${seeded.stderr.trim().split('\n')[0]}`);
    },
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run, ['--from', CHANGED_LOCKFILE_BRANCH])],
  },
];

/** `git vtree add` of a worktree for the run's branch, untimed, so that an `rm` row has something to remove. */
async function addForRemoval(ctx, repo, run) {
  const made = await runChild(vtreeAdd(ctx, repo, run));
  if (made.code !== 0) throw new Error(`git vtree add before the rm run failed: ${made.stderr.trim().split('\n').at(-1)}`);
}

/**
 * The rows of issue 12: `add` from a spare worktree on the 2,000-file fixture and on a
 * {@link BIG_SOURCE_FILES}-file repository, each beside git's own floor on the same repository,
 * and `rm` (recycled into the pool, and not) beside `git worktree remove`. `ref` names the row
 * the "× worktree" column divides by. `npm run bench -- --only spares` runs these alone.
 * @type {Array<Variant & { ref?: string }>}
 */
export const SPARE_VARIANTS = [
  {
    id: 'vtree-spare-wt',
    label: 'git vtree add (spare worktree)',
    group: 'vtree',
    repo: 'npm-wt',
    what: 'vtree.spares.worktrees 1: a spare worktree made by the previous run is renamed into place and switched',
    expect: 'spare worktree',
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run)],
  },
  {
    id: 'worktree-100k',
    label: `git worktree add (${BIG_SOURCE_FILES.toLocaleString('en')} files)`,
    group: 'git',
    repo: 'big',
    ref: 'worktree-100k',
    what: 'git alone on the large repository',
    commands: (ctx, repo, run) => [worktreeAdd(ctx, repo, run)],
  },
  {
    id: 'node+worktree-100k',
    label: `node -e 0 + git worktree add (${BIG_SOURCE_FILES.toLocaleString('en')} files)`,
    group: 'git',
    repo: 'big',
    ref: 'worktree-100k',
    what: 'the floor for a Node.js tool on the large repository',
    commands: (ctx, repo, run) => [{ cmd: 'node', args: ['-e', '0'], cwd: repo.root, env: ctx.env }, worktreeAdd(ctx, repo, run)],
  },
  {
    id: 'vtree-spare-wt-100k',
    label: `git vtree add (spare worktree, ${BIG_SOURCE_FILES.toLocaleString('en')} files)`,
    group: 'vtree',
    repo: 'big',
    ref: 'worktree-100k',
    what: 'a spare worktree of the large repository',
    expect: 'spare worktree',
    commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run)],
  },
  {
    id: 'git-rm',
    label: 'git worktree remove --force',
    group: 'git',
    repo: 'npm',
    ref: 'git-rm',
    what: 'a worktree git vtree add made (node_modules, .env), removed by git',
    prepare: addForRemoval,
    commands: (ctx, repo, run) => [{ cmd: 'git', args: ['worktree', 'remove', '--force', '--', run.path], cwd: repo.root, env: ctx.env }],
  },
  {
    id: 'vtree-rm',
    label: 'git vtree rm (not recycled)',
    group: 'rm',
    repo: 'npm',
    ref: 'git-rm',
    what: 'spare worktrees off: node_modules renamed aside, git worktree remove, deletion in the background',
    expect: 'removed',
    prepare: addForRemoval,
    commands: (ctx, repo, run) => [{ cmd: 'git', args: ['vtree', 'rm', '--json', run.branch], cwd: repo.root, env: ctx.env }],
  },
  {
    id: 'vtree-rm-recycled',
    label: 'git vtree rm (recycled into the pool)',
    group: 'rm',
    repo: 'npm-wt',
    ref: 'git-rm',
    what: 'the pool has room: the clean worktree is detached, locked and renamed into it',
    expect: 'recycled',
    async prepare(ctx, repo, run) {
      await addForRemoval(ctx, repo, run);
      // Make room in the pool once the job that refills it after add is done.
      await waitForTaggedProcesses(ctx.tag, 180_000);
      await runChild({ cmd: 'git', args: ['vtree', 'cache', 'prune', '--spares', '0'], cwd: repo.root, env: ctx.env });
    },
    commands: (ctx, repo, run) => [{ cmd: 'git', args: ['vtree', 'rm', '--json', run.branch], cwd: repo.root, env: ctx.env }],
  },
];

/**
 * The stack of the `*-stack` rows: one busybox web server on a leased port. httpd as pid 1 ignores
 * SIGTERM, so stopping it takes the whole stop timeout, as many real services do.
 */
const STACK_COMPOSE = [
  'services:',
  '  web:',
  '    image: vtree-test/busybox:latest',
  '    command: ["httpd", "-f", "-p", "8080", "-h", "/"]',
  '    ports: ["127.0.0.1:${WEB_PORT:-8080}:8080"]',
  '',
].join('\n');

/** Commits {@link STACK_COMPOSE} as compose.yaml to `repo`'s main branch, once (a copied repository keeps it). */
async function commitCompose(ctx, repo) {
  const sh = (args) => runChild({ cmd: 'git', args, cwd: repo.root, env: ctx.env });
  if ((await sh(['ls-files', 'compose.yaml'])).stdout.trim()) return;
  await writeFile(join(repo.root, 'compose.yaml'), STACK_COMPOSE);
  await sh(['add', 'compose.yaml']);
  const committed = await sh(['-c', 'user.name=vtree bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '-m', 'Add a Compose stack']);
  if (committed.code !== 0) throw new Error(`committing compose.yaml failed: ${committed.stderr.trim()}`);
}

/** `git vtree add --wait` of the run's branch with its stack up (untimed), for the stack rows. */
async function addWithStack(ctx, repo, run) {
  if ((await runChild({ cmd: 'docker', args: ['image', 'inspect', 'vtree-test/busybox:latest'], cwd: repo.root, env: ctx.env })).code !== 0) {
    throw new Error('the image vtree-test/busybox:latest is missing: run bash test/prereqs/install.sh');
  }
  await commitCompose(ctx, repo);
  const made = await runChild({ cmd: 'git', args: ['vtree', 'add', '--json', '--wait', run.branch], cwd: repo.root, env: ctx.env });
  if (made.code !== 0) throw new Error(`git vtree add --wait before the run failed: ${made.stderr.trim().split('\n').at(-1)}`);
}

/** Worktrees the prune rows remove in one run. */
export const PRUNE_WORKTREES = 50;

/** The branches of a prune run: `<run branch>-1` ... (under the run prefix, so they are removed after it). */
function pruneBranches(run) {
  return Array.from({ length: PRUNE_WORKTREES }, (_, i) => `${run.branch}-${i + 1}`);
}

/**
 * {@link PRUNE_WORKTREES} worktrees made by `git vtree add` (node_modules from the cache), each
 * with a commit of its own, all merged into main (one octopus merge), untimed. Main is first
 * rewound to where it was before the first prune run, so runs do not pile up merges.
 */
async function addMerged(ctx, repo, run) {
  const sh = (args, cwd = repo.root) => runChild({ cmd: 'git', args: ['-c', 'user.name=vtree bench', '-c', 'user.email=bench@localhost', ...args], cwd, env: ctx.env });
  const base = await sh(['rev-parse', '--verify', '--quiet', 'refs/bench/prune-base']);
  if (base.code === 0) await sh(['update-ref', 'refs/heads/main', base.stdout.trim()]);
  else await sh(['update-ref', 'refs/bench/prune-base', 'HEAD']);
  const branches = pruneBranches(run);
  let next = 0;
  const worker = async () => {
    while (next < branches.length) {
      const branch = branches[next++];
      const made = await runChild(vtreeAdd(ctx, repo, { branch, path: '' }));
      if (made.code !== 0) throw new Error(`git vtree add ${branch} before the prune run failed: ${made.stderr.trim().split('\n').at(-1)}`);
      const path = JSON.parse(made.stdout).path;
      const committed = await sh(['commit', '-q', '--allow-empty', '-m', `Work on ${branch}`], path);
      if (committed.code !== 0) throw new Error(`committing in ${path} failed: ${committed.stderr.trim()}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const merged = await sh(['merge', '-q', '--no-edit', '-m', 'Merge the prune run branches', ...branches]);
  if (merged.code !== 0) throw new Error(`merging the prune run branches failed: ${merged.stderr.trim().split('\n').at(-1)}`);
}

/**
 * Issue 22: `rm` of a worktree whose Compose stack runs, and `prune` of
 * {@link PRUNE_WORKTREES} merged worktrees, each beside what git alone does. `--only
 * git-rm-force,vtree-rm-stack,git-rm-50,vtree-prune-50` runs these.
 * @type {Variant[]}
 */
export const DAY_TWO_VARIANTS = [
  {
    id: 'git-rm-force',
    label: 'git worktree remove --force (stack running)',
    group: 'git',
    repo: 'npm-stack',
    ref: 'git-rm-force',
    what: 'a worktree git vtree add --wait made, its busybox stack up; git leaves the stack running (stopped afterwards, untimed)',
    prepare: addWithStack,
    commands: (ctx, repo, run) => [{ cmd: 'git', args: ['worktree', 'remove', '--force', '--', run.path], cwd: repo.root, env: ctx.env }],
    // The stack git left behind, and its leases: stopped and freed the way a user would.
    async cleanup(ctx, repo, run) {
      const down = await runChild({ cmd: 'git', args: ['vtree', 'down', '--volumes', '-w', run.path], cwd: repo.root, env: ctx.env });
      if (down.code !== 0) throw new Error(`git vtree down of the orphaned stack failed: ${down.stderr.trim().split('\n').at(-1)}`);
    },
  },
  {
    id: 'vtree-rm-stack',
    label: 'git vtree rm (stack running)',
    group: 'rm',
    repo: 'npm-stack',
    ref: 'git-rm-force',
    what: 'the same worktree: the stack stops in a background job (waited for after the run, untimed)',
    expect: 'removed',
    prepare: addWithStack,
    commands: (ctx, repo, run) => [{ cmd: 'git', args: ['vtree', 'rm', '--json', run.branch], cwd: repo.root, env: ctx.env }],
  },
  {
    id: 'git-rm-50',
    label: `${PRUNE_WORKTREES} × git worktree remove --force`,
    group: 'git',
    repo: 'npm-prune',
    ref: 'git-rm-50',
    what: `${PRUNE_WORKTREES} merged worktrees git vtree add made, removed by git one after the other (their leases freed afterwards, untimed)`,
    prepare: addMerged,
    commands: (ctx, repo, run) => pruneBranches(run).map((branch) => ({ cmd: 'git', args: ['worktree', 'remove', '--force', '--', join(repo.parent, 'app.worktrees', branch)], cwd: repo.root, env: ctx.env })),
    async cleanup(ctx, repo) {
      await runChild({ cmd: 'git', args: ['vtree', 'prune', '--yes', '--json'], cwd: repo.root, env: ctx.env });
    },
  },
  {
    id: 'vtree-prune-50',
    label: `git vtree prune --yes (${PRUNE_WORKTREES} merged worktrees)`,
    group: 'rm',
    repo: 'npm-prune',
    ref: 'git-rm-50',
    what: 'the same worktrees, found merged and removed in one run; their files are deleted in the background (waited for after the run, untimed)',
    expect: 'removed',
    prepare: addMerged,
    commands: (ctx, repo) => [{ cmd: 'git', args: ['vtree', 'prune', '--yes', '--json'], cwd: repo.root, env: ctx.env }],
  },
];

/**
 * `git vtree list` in a repository with {@link LIST_WORKTREES} worktrees, against git's own
 * list with and without a Node.js start-up; timed apart, like start-up (milliseconds).
 * @type {Array<{ id: string, label: string, ref: string, command: (ctx: BenchContext, cwd: string) => import('./measure.mjs').Command[] }>}
 */
export const LIST_VARIANTS = [
  { id: 'git-list-50', label: 'git worktree list (50 worktrees)', ref: 'node+git-list-50', command: (ctx, cwd) => [{ cmd: 'git', args: ['worktree', 'list'], cwd, env: ctx.env }] },
  {
    id: 'node+git-list-50',
    label: 'node -e 0 + git worktree list (50 worktrees)',
    ref: 'node+git-list-50',
    command: (ctx, cwd) => [
      { cmd: 'node', args: ['-e', '0'], cwd, env: ctx.env },
      { cmd: 'git', args: ['worktree', 'list'], cwd, env: ctx.env },
    ],
  },
  { id: 'vtree-list-50', label: 'git vtree list --fast (50 worktrees)', ref: 'node+git-list-50', command: (ctx, cwd) => [{ cmd: 'git', args: ['vtree', 'list', '--fast'], cwd, env: ctx.env }] },
  // The status board: a git status (and maybe a rev-list) per worktree on top.
  { id: 'vtree-list-board-50', label: 'git vtree list (50 worktrees, board columns)', ref: 'node+git-list-50', command: (ctx, cwd) => [{ cmd: 'git', args: ['vtree', 'list'], cwd, env: ctx.env }] },
];

/** Worktrees of the `git vtree list` rows' repository. */
export const LIST_WORKTREES = 50;

/**
 * One cache-hit row per `--link-mode` that `git vtree add -h` offers besides `auto` (which is the
 * hit row), so modes are measured as they land.
 * @param {string[]} modes
 * @returns {Variant[]}
 */
export function linkModeVariants(modes) {
  return modes
    .filter((mode) => mode !== 'auto')
    .map((mode) => ({
      id: `vtree-${mode}`,
      label: `git vtree add --link-mode ${mode} (hit)`,
      group: 'vtree',
      repo: 'npm',
      what: `cache hit restored with link mode ${mode}, vtree.cache.spares 0`,
      expect: 'hit',
      linkMode: mode,
      commands: (ctx, repo, run) => [vtreeAdd(ctx, repo, run, ['--link-mode', mode])],
    }));
}

/**
 * The start-up rows, timed apart from the worktree rows (they take milliseconds).
 * @type {Array<{ id: string, label: string, command: (ctx: BenchContext, cwd: string) => import('./measure.mjs').Command }>}
 */
export const STARTUP_VARIANTS = [
  { id: 'node-e0', label: 'node -e 0', command: (ctx, cwd) => ({ cmd: 'node', args: ['-e', '0'], cwd, env: ctx.env }) },
  { id: 'git-vtree-version', label: 'git-vtree --version', command: (ctx, cwd) => ({ cmd: ctx.vtreeBin, args: ['--version'], cwd, env: ctx.env }) },
  { id: 'git-vtree-version-via-git', label: 'git vtree --version', command: (ctx, cwd) => ({ cmd: 'git', args: ['vtree', '--version'], cwd, env: ctx.env }) },
];
