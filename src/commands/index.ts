import type { CommandSpec, OptionSpec } from './spec.js';

/** Flags every command takes. */
export const GLOBAL_OPTIONS = {
  verbose: { type: 'boolean', describe: 'Show stack traces and subprocess output on errors' },
} satisfies Record<string, OptionSpec>;

const json: OptionSpec = { type: 'boolean', describe: 'Print JSON' };

/** Flags of every command that sets a worktree up (`add`, `setup`). */
const SETUP_OPTIONS = {
  deps: { type: 'boolean', default: true, describe: 'Restore dependencies (--no-deps to skip)' },
  services: { type: 'boolean', default: true, describe: 'Start the Compose stack in the background (--no-services to skip)' },
  wait: { type: 'boolean', default: false, describe: 'Wait until critical services are up' },
  'link-mode': {
    type: 'string',
    choices: ['auto', 'reflink', 'hardlink', 'copy', 'symlink'],
    describe: 'How dependencies are restored (default: config vtree.linkMode, auto)',
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
 * and each command's code is imported only when it runs. The completion scripts in
 * `completions/` list the same words (a test keeps them in step).
 */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'add',
    describe: 'Create a worktree for a new, local or remote branch and set it up',
    positionals: [{ name: 'branch', required: true, describe: 'Branch: new, existing local, or remote (origin/x, or x when only a remote has it)' }],
    options: {
      ...SETUP_OPTIONS,
      from: { type: 'string', describe: 'Start a new branch here (default: HEAD of the main worktree)' },
      path: { type: 'string', describe: 'Worktree directory (default: config vtree.path, <parent>/<repo>.worktrees/<slug>)' },
    },
    load: () => import('./add.js'),
  },
  {
    name: 'list',
    aliases: ['ls'],
    describe: 'List every worktree of the repository and what vtree knows of it (--all: spare worktrees too)',
    positionals: [],
    options: { json, all: { type: 'boolean', describe: "Also list vtree's spare worktrees (hidden by default)" } },
    load: () => import('./list.js'),
  },
  {
    name: 'rm',
    aliases: ['remove'],
    describe: 'Remove a worktree: stop its stack, release its ports, delete its files in the background',
    positionals: [{ name: 'worktree', required: true, describe: 'Branch, slug or path of the worktree' }],
    options: {
      force: { type: 'boolean', alias: 'f', describe: 'Remove even with uncommitted or untracked changes' },
      'delete-branch': { type: 'boolean', alias: 'd', describe: 'Also delete the branch (git branch -d; -D with --force)' },
      volumes: { type: 'boolean', describe: "Also remove the Compose stack's volumes" },
      json,
    },
    load: () => import('./rm.js'),
  },
  {
    name: 'setup',
    describe: 'Set up an existing worktree (made by plain git worktree add, or whose set-up failed); safe to repeat',
    positionals: [{ name: 'worktree', required: false, describe: 'Branch, slug or path of the worktree (default: the one you are in)' }],
    options: { ...SETUP_OPTIONS, hook: { type: 'boolean', hidden: true, describe: 'Run as the post-checkout hook' } },
    load: () => import('./setup.js'),
  },
  {
    name: 'up',
    describe: "Start the worktree's Compose stack (all services, or those named)",
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
    name: 'ports',
    describe: 'Port leases on this machine: which worktree holds which port for which variable',
    positionals: [],
    options: { prune: { type: 'boolean', describe: 'First free the leases of worktrees that no longer exist' }, json },
    load: () => import('./ports.js'),
  },
  {
    name: 'cache',
    describe: 'The dependency cache: status, prune [--max-size] [--older-than], verify, warm, export <file>, import <file>',
    positionals: [
      { name: 'action', required: true, choices: ['status', 'prune', 'verify', 'warm', 'export', 'import'], describe: 'What to do' },
      { name: 'file', required: false, describe: 'Archive for export/import (.tar or .tar.gz)' },
    ],
    options: {
      'max-size': { type: 'string', describe: 'prune: drop least recently used entries until the cache is this small (500M, 2G)' },
      'older-than': { type: 'string', describe: 'prune: drop entries unused this long (30d, 12h)' },
      'include-used': { type: 'boolean', describe: 'prune: also drop entries worktrees were restored from' },
      'dry-run': { type: 'boolean', describe: 'verify: report, drop nothing (exit 1 if an entry is broken)' },
      spares: { type: 'number', describe: 'warm: spares to keep ready (default: vtree.cache.spares, at least 1); prune --spares 0: also remove every spare worktree' },
      key: { type: 'string', describe: 'export: only entries whose key starts with this' },
      json,
    },
    load: () => import('./cache.js'),
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
    describe: 'Time `git worktree add` + install + compose up against `git vtree add` on this repository',
    positionals: [],
    options: {
      runs: { type: 'number', default: 5, describe: 'Measured runs of each way' },
      keep: { type: 'boolean', describe: 'Keep the worktrees and branches it made' },
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
    describe: 'Set this repository up for vtree: installs the post-checkout hook',
    positionals: [],
    options: { json },
    load: () => import('./init.js'),
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
