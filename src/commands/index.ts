import type { CommandSpec, OptionSpec } from './spec.js';

/** Flags every command takes. */
export const GLOBAL_OPTIONS = {
  verbose: { type: 'boolean', describe: 'Show stack traces and subprocess output on errors' },
} satisfies Record<string, OptionSpec>;

const json: OptionSpec = { type: 'boolean', describe: 'Print JSON' };

/** Flags of every command that sets a worktree up (`add`, `setup`). */
const SETUP_OPTIONS = {
  deps: { type: 'boolean', default: true, describe: 'Restore dependencies (--no-deps to skip)' },
  services: { type: 'string', describe: 'Start only these services, comma-separated (default: config vtree.services.start; --no-services to skip)' },
  wait: { type: 'boolean', default: false, describe: 'Wait until critical services are up' },
  'link-mode': {
    type: 'string',
    choices: ['auto', 'reflink', 'hardlink', 'copy', 'symlink'],
    describe: 'How dependencies are restored (default: config vtree.linkMode, auto: isolated; hardlink and symlink share files)',
  },
  json: { type: 'boolean', describe: 'Print one JSON object for scripts and agents' },
} satisfies Record<string, OptionSpec>;

/** Flags of the commands that act on one worktree's Compose stack (`up`, `down`, `status`, `logs`). */
const STACK_OPTIONS = {
  worktree: { type: 'string', alias: 'w', describe: 'Branch, slug or path of the worktree (default: the one you are in)' },
  json,
} satisfies Record<string, OptionSpec>;

/**
 * Every command, in `--help` order. Both the full yargs CLI and the fast path read this table,
 * and each command's code is imported only when it runs. The build renders the man page and the
 * completion scripts in `completions/` from it.
 */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'add',
    describe: 'Create a worktree for a new, local or remote branch and set it up',
    positionals: [{ name: 'branch', required: true, describe: 'Branch: new, existing local, or remote (origin/x, or x when only a remote has it)' }],
    options: {
      ...SETUP_OPTIONS,
      'rollback-on-failure': { type: 'boolean', describe: 'With --wait: remove the worktree again when its services do not come up (default: keep it)' },
      from: { type: 'string', describe: 'Start a new branch here (default: HEAD of the main worktree)' },
      path: { type: 'string', describe: 'Worktree directory, absent or empty, outside the main worktree (default: config vtree.path, <parent>/<repo>.worktrees/<slug>)' },
    },
    load: () => import('./add.js'),
  },
  {
    name: 'list',
    aliases: ['ls'],
    describe: 'Every worktree: changes, ahead/behind, last activity, stack and URLs, readiness (--fast: only what vtree recorded)',
    positionals: [],
    options: {
      json,
      all: { type: 'boolean', describe: "Also list vtree's spare worktrees (hidden by default)" },
      fast: { type: 'boolean', describe: 'Only what vtree recorded (deps, ports, stack, created): no git call per worktree' },
    },
    load: () => import('./list.js'),
  },
  {
    name: 'rm',
    aliases: ['remove'],
    describe: 'Remove worktrees (default: the one you are in): stop the stack, release the ports, delete the files in the background',
    positionals: [{ name: 'worktrees', required: false, variadic: true, describe: 'Branches, slugs or paths of the worktrees (default: the one you are in)' }],
    options: {
      force: { type: 'boolean', alias: 'f', describe: 'Remove even with uncommitted or untracked changes' },
      'delete-branch': { type: 'boolean', alias: 'd', describe: 'Also delete the branch (git branch -d; -D with --force)' },
      volumes: { type: 'boolean', describe: "Also remove the Compose stack's volumes" },
      'keep-processes': { type: 'boolean', describe: 'Leave processes running inside the worktree alone (default: SIGTERM, then SIGKILL)' },
      json,
    },
    load: () => import('./rm.js'),
  },
  {
    name: 'prune',
    describe: 'Remove worktrees that are done (merged, upstream gone, idle) and vtree\'s leftovers; lists them unless --yes or a prompt agrees',
    positionals: [],
    options: {
      idle: { type: 'string', describe: 'Also worktrees with no commit and no file change for this long (7d, 12h)' },
      yes: { type: 'boolean', alias: 'y', describe: 'Remove without asking (without it and without a terminal, only list)' },
      force: { type: 'boolean', alias: 'f', describe: 'Also worktrees with uncommitted changes or commits on no remote (kept as rm --force keeps them)' },
      'delete-branch': { type: 'boolean', alias: 'd', describe: 'Also delete the branches of removed worktrees (git branch -d; -D with --force)' },
      'keep-processes': { type: 'boolean', describe: 'Leave processes running inside removed worktrees alone' },
      json,
    },
    load: () => import('./prune.js'),
  },
  {
    name: 'du',
    describe: 'True disk use of each worktree (own, shared with the cache, the main worktree, other worktrees) and totals for worktrees, spares, cache, trash',
    positionals: [{ name: 'worktree', required: false, describe: 'Branch, slug or path of one worktree (default: all)' }],
    options: { json },
    load: () => import('./du.js'),
  },
  {
    name: 'setup',
    describe: 'Set up an existing worktree (made by plain git worktree add, or whose set-up failed); safe to repeat',
    positionals: [{ name: 'worktree', required: false, describe: 'Branch, slug or path of the worktree (default: the one you are in)' }],
    options: {
      ...SETUP_OPTIONS,
      all: { type: 'boolean', describe: 'Set up every worktree never set up (made with --no-checkout, or without the hook)' },
      hook: { type: 'boolean', hidden: true, describe: 'Run as the post-checkout hook' },
    },
    load: () => import('./setup.js'),
  },
  {
    name: 'up',
    describe: "Start the worktree's Compose stack (all services, or those named; seeded volumes it lacks are cloned first), once you trust the repository's stack (git vtree trust)",
    positionals: [{ name: 'services', required: false, variadic: true, describe: 'Services to start (default: all)' }],
    options: { ...STACK_OPTIONS, wait: { type: 'boolean', default: false, describe: 'Wait until they run (and are healthy, where they have a healthcheck)' } },
    load: () => import('./up.js'),
  },
  {
    name: 'down',
    describe: "Stop and remove the worktree's Compose stack (volumes kept unless --volumes)",
    positionals: [],
    options: { ...STACK_OPTIONS, volumes: { type: 'boolean', describe: "Also remove the stack's volumes" } },
    load: () => import('./down.js'),
  },
  {
    name: 'status',
    describe: "Show the state of the worktree's Compose stack, service by service",
    positionals: [],
    options: STACK_OPTIONS,
    load: () => import('./status.js'),
  },
  {
    name: 'logs',
    describe: "Show the logs of the worktree's Compose services (or, with --job, of the job that started them)",
    positionals: [{ name: 'services', required: false, variadic: true, describe: 'Services (default: all)' }],
    options: {
      ...STACK_OPTIONS,
      follow: { type: 'boolean', alias: 'f', describe: 'Keep following new lines' },
      tail: { type: 'string', describe: 'Lines from the end of each log (default: all)' },
      job: { type: 'boolean', describe: 'Show the log of the background job that started the stack' },
    },
    load: () => import('./logs.js'),
  },
  {
    name: 'exec',
    describe: "Run a command in a worktree with its .env and port variables; exits with the command's exit code",
    positionals: [
      { name: 'worktree', required: true, describe: 'Branch, slug or path of the worktree' },
      { name: 'command', required: true, variadic: true, rest: true, describe: 'The command and its arguments (no shell: `sh -c "..."` for one); its flags are its own, -- before it optional' },
    ],
    options: {
      timeout: { type: 'number', describe: 'Stop the command after this many seconds (exit code 124)' },
      json: { type: 'boolean', describe: 'Capture its output: one JSON object with exitCode, stdout, stderr (the last 64 KB of each)' },
    },
    load: () => import('./exec.js'),
  },
  {
    name: 'ports',
    describe: 'Port leases on this machine: which worktree holds which port for which variable',
    positionals: [],
    options: { prune: { type: 'boolean', describe: 'First free the leases of worktrees that no longer exist' }, json },
    load: () => import('./ports.js'),
  },
  {
    name: 'cache',
    describe: 'The dependency cache: status, prune [--max-size] [--older-than], verify [--repair], warm, export <file>, import <file>, push [--all], pull <key|--for-commit ref>',
    positionals: [
      { name: 'action', required: true, choices: ['status', 'prune', 'verify', 'warm', 'export', 'import', 'push', 'pull'], describe: 'What to do' },
      { name: 'file', required: false, describe: 'Archive for export/import (.tar or .tar.gz); the key for pull' },
    ],
    options: {
      'max-size': { type: 'string', describe: 'prune: drop least recently used entries until the cache is this small (500M, 2G); golden copies of seeded volumes likewise, within their own total' },
      'older-than': { type: 'string', describe: 'prune: drop entries (and golden copies) unused this long (30d, 12h)' },
      'include-used': { type: 'boolean', describe: 'prune: also drop entries worktrees were restored from (and goldens of their seeded volumes)' },
      'dry-run': { type: 'boolean', describe: 'verify: report, drop nothing (exit 1 if an entry or a worktree holds an edit)' },
      repair: { type: 'boolean', describe: 'verify: re-install dropped entries now, from a clean install of their lockfile, and the dependencies of every worktree it names' },
      spares: { type: 'number', describe: 'warm: spares to keep ready (default: vtree.cache.spares, at least 1); prune --spares 0: also remove every spare worktree' },
      key: { type: 'string', describe: 'export: only entries whose key starts with this' },
      all: { type: 'boolean', describe: 'push: every local entry, not only the current worktree\'s' },
      'for-commit': { type: 'string', describe: 'pull: the entry of the lockfile at this commit or branch' },
      json,
    },
    load: () => import('./cache.js'),
  },
  {
    name: 'seed',
    describe: 'Seeded data volumes: build the golden copy for this commit now (--rebuild), status (goldens, sizes, worktrees using them), prune [--all]',
    positionals: [{ name: 'action', required: false, choices: ['status', 'prune'], describe: 'status or prune (default: build the golden copies for this commit)' }],
    options: {
      rebuild: { type: 'boolean', describe: 'Build the golden copy again even when one exists for the key' },
      all: { type: 'boolean', describe: 'prune: every golden copy, not only those older than the newest of each volume' },
      json,
    },
    load: () => import('./seed.js'),
  },
  {
    name: 'stats',
    describe: 'Where the time goes: per step and per command, dependency cache mix, a waterfall of the latest run',
    positionals: [],
    options: {
      json: { type: 'boolean', describe: 'Print the stats as one JSON document (docs/performance.md)' },
      since: { type: 'string', describe: 'Only runs since a duration ago (30m, 12h, 7d) or a date' },
      last: { type: 'number', describe: 'Only the newest N runs' },
      op: { type: 'string', describe: 'Only this operation (span name), and runs that have it' },
      worktree: { type: 'string', describe: 'Only runs of this worktree (slug, branch or directory name)' },
      run: { type: 'string', describe: 'Draw the waterfall of this run id (default: the latest)' },
      serve: { type: 'boolean', describe: 'Serve a live dashboard on 127.0.0.1' },
      port: { type: 'number', describe: 'Port for --serve (default 7420; 0 = any free port)' },
    },
    load: () => import('./stats.js'),
  },
  {
    name: 'bench',
    describe: 'Time `git worktree add` + install + compose up against `git vtree add` on this repository (--remote: in fresh clones, pulling from the remote cache; --data: migrate + seed against a seeded clone)',
    positionals: [],
    options: {
      runs: { type: 'number', default: 5, describe: 'Measured runs of each way' },
      keep: { type: 'boolean', describe: 'Keep the worktrees and branches it made (not with --remote)' },
      remote: { type: 'boolean', describe: "Time a fresh clone's first git vtree add pulling from vtree.cache.remote against the frozen install with a warm and an empty package manager cache, with bytes moved" },
      data: { type: 'boolean', describe: 'Time migrate + seed on an empty volume against a seeded clone of the golden, for the first seeded volume (docs/data.md)' },
      json: { type: 'boolean', describe: 'Print the results as JSON' },
    },
    load: () => import('./bench.js'),
  },
  {
    name: 'hooks',
    describe: 'Install, remove or inspect the post-checkout hook that sets up worktrees made by plain git worktree add',
    positionals: [{ name: 'action', required: true, choices: ['install', 'uninstall', 'status'], describe: 'What to do' }],
    options: { json },
    load: () => import('./hooks.js'),
  },
  {
    name: 'init',
    describe: "Set this repository up for vtree: installs the post-checkout hook, offers to adopt Cursor's worktree set-up (--claude: and Claude Code's worktree hooks)",
    positionals: [],
    options: {
      'adopt-cursor': { type: 'boolean', describe: 'Adopt the set-up commands of .cursor/worktrees.json as a task without asking' },
      claude: { type: 'boolean', describe: "Also make git vtree Claude Code's WorktreeCreate, WorktreeRemove and SessionStart hooks (.claude/settings.json)" },
      user: { type: 'boolean', describe: "With --claude: write the user's ~/.claude/settings.json instead of the project's" },
      json,
    },
    load: () => import('./init.js'),
  },
  {
    name: 'wait',
    describe: "Wait until the worktree is ready (background dependency work, services, project tasks); print its path, service URLs and .env variables",
    positionals: [{ name: 'worktree', required: false, describe: 'Branch, slug or path of the worktree (default: the one you are in)' }],
    options: {
      timeout: { type: 'string', describe: 'Give up after this long: seconds or a duration (default 600)' },
      json,
    },
    load: () => import('./wait.js'),
  },
  {
    name: 'claude-hook',
    describe: "Claude Code's WorktreeCreate/WorktreeRemove hook: reads the JSON payload on stdin; create prints only the worktree path",
    positionals: [{ name: 'event', required: true, choices: ['create', 'remove'], describe: 'Which hook event' }],
    options: {},
    load: () => import('./claude-hook.js'),
  },
  {
    name: 'mcp',
    describe: 'Serve vtree to AI agents over MCP (stdio): tools create, list, status, wait, logs, remove',
    positionals: [],
    options: {},
    load: () => import('./mcp.js'),
  },
  {
    name: 'trust',
    describe: "Show what the repository asks to run (the committed .vtreeconfig's tasks, the scripts and config settings its install runs, the Compose stack with its images and host access) and approve it",
    positionals: [],
    options: { yes: { type: 'boolean', alias: 'y', describe: 'Approve without asking (for scripts)' }, json },
    load: () => import('./trust.js'),
  },
  {
    name: 'completion',
    describe: 'Print the completion script for bash, zsh or fish',
    positionals: [{ name: 'shell', required: true, choices: ['bash', 'zsh', 'fish'], describe: 'Shell' }],
    options: {},
    load: () => import('./completion.js'),
  },
  {
    name: 'shell-init',
    describe: 'Print shell code for your rc file: completion plus `vtree cd <branch>` and `vtree add <branch> --cd`',
    positionals: [{ name: 'shell', required: true, choices: ['bash', 'zsh', 'fish'], describe: 'Shell' }],
    options: {},
    load: () => import('./shell-init.js'),
  },
  {
    name: '__job',
    describe: false,
    positionals: [
      { name: 'job', required: true, describe: 'Background job' },
      { name: 'args', required: false, variadic: true, describe: 'Its arguments' },
    ],
    options: {},
    load: () => import('./job.js'),
  },
];
