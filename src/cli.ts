import yargs, { type Argv } from 'yargs';
import { ExitCode, VtreeError } from './errors.js';
import { consoleIo, formatError, type Io } from './output.js';
import { VERSION } from './version.js';

/** Parsed arguments as every command receives them. */
export type Args = Record<string, unknown> & { _: (string | number)[] };

/** A command module: `src/commands/<name>.ts` default-exports one of these. */
export type CommandModule = (args: Args, io: Io) => Promise<number | void>;

type Loader = () => Promise<{ default: CommandModule }>;

/**
 * The command line. Parsing is all here; each command's code is imported only when that command
 * runs, so `git vtree list` never loads what `add` or `stats` need. Only this function ends
 * the process.
 */
export async function main(argv: readonly string[]): Promise<never> {
  let exitCode: number = ExitCode.ok;
  let verbose = argv.includes('--verbose');
  const dispatch = (load: Loader) => async (args: Args) => {
    verbose = Boolean(args.verbose);
    const io = consoleIo({ json: Boolean(args.json), verbose });
    const { default: command } = await load();
    exitCode = (await command(args, io)) ?? ExitCode.ok;
  };

  const cli = yargs([...argv])
    .scriptName('git vtree')
    .usage('$0 <command> [options]\n\nWorktrees that are ready to work in: dependencies, .env, ports and a Compose stack per worktree.')
    .version(VERSION)
    .alias('version', 'V')
    .option('verbose', { type: 'boolean', describe: 'Show stack traces and subprocess output on errors', global: true })
    .command(
      'add <branch>',
      'Create a worktree for a new, local or remote branch and set it up',
      (y) =>
        setupOptions(y)
          .positional('branch', { type: 'string', describe: 'Branch: new, existing local, or remote (origin/x, or x when only a remote has it)' })
          .option('from', { type: 'string', describe: 'Start a new branch here (default: HEAD of the main worktree)' })
          .option('path', { type: 'string', describe: 'Worktree directory (default: config vtree.path, <parent>/<repo>.worktrees/<slug>)' }),
      dispatch(() => import('./commands/add.js')),
    )
    .command(
      ['list', 'ls'],
      'List every worktree of the repository and what vtree knows of it',
      (y) => y.option('json', { type: 'boolean', describe: 'Print JSON' }),
      dispatch(() => import('./commands/list.js')),
    )
    .command(
      ['rm <worktree>', 'remove <worktree>'],
      'Remove a worktree: stop its stack, release its ports, delete its files in the background',
      (y) =>
        y
          .positional('worktree', { type: 'string', describe: 'Branch, slug or path of the worktree' })
          .option('force', { alias: 'f', type: 'boolean', describe: 'Remove even with uncommitted or untracked changes' })
          .option('delete-branch', { alias: 'd', type: 'boolean', describe: 'Also delete the branch (git branch -d; -D with --force)' })
          .option('volumes', { type: 'boolean', describe: "Also remove the Compose stack's volumes" })
          .option('json', { type: 'boolean', describe: 'Print JSON' }),
      dispatch(() => import('./commands/rm.js')),
    )
    .command(
      'stats',
      'Where the time goes: per step and per command, dependency cache mix, a waterfall of the latest run',
      (y) =>
        y
          .option('json', { type: 'boolean', describe: 'Print the stats as one JSON document (docs/performance.md)' })
          .option('since', { type: 'string', describe: 'Only runs since a duration ago (30m, 12h, 7d) or a date' })
          .option('last', { type: 'number', describe: 'Only the newest N runs' })
          .option('op', { type: 'string', describe: 'Only this operation (span name), and runs that have it' })
          .option('worktree', { type: 'string', describe: 'Only runs of this worktree (slug, branch or directory name)' })
          .option('run', { type: 'string', describe: 'Draw the waterfall of this run id (default: the latest)' })
          .option('serve', { type: 'boolean', describe: 'Serve a live dashboard on 127.0.0.1' })
          .option('port', { type: 'number', describe: 'Port for --serve (default 7420; 0 = any free port)' }),
      dispatch(() => import('./commands/stats.js')),
    )
    .command(
      'bench',
      'Time `git worktree add` + install + compose up against `git vtree add` on this repository',
      (y) =>
        y
          .option('runs', { type: 'number', default: 5, describe: 'Measured runs of each way' })
          .option('keep', { type: 'boolean', describe: 'Keep the worktrees and branches it made' })
          .option('json', { type: 'boolean', describe: 'Print the results as JSON' }),
      dispatch(() => import('./commands/bench.js')),
    )
    .command(
      'ports',
      'Port leases on this machine: which worktree holds which port for which variable',
      (y) =>
        y
          .option('prune', { type: 'boolean', describe: 'First free the leases of worktrees that no longer exist' })
          .option('json', { type: 'boolean', describe: 'Print JSON' }),
      dispatch(() => import('./commands/ports.js')),
    )
    .command(
      'cache <action> [file]',
      'The dependency cache: status, prune [--max-size] [--older-than], verify, warm, export <file>, import <file>',
      (y) =>
        y
          .positional('action', { type: 'string', choices: ['status', 'prune', 'verify', 'warm', 'export', 'import'], describe: 'What to do' })
          .positional('file', { type: 'string', describe: 'Archive for export/import (.tar or .tar.gz)' })
          .option('max-size', { type: 'string', describe: 'prune: drop least recently used entries until the cache is this small (500M, 2G)' })
          .option('older-than', { type: 'string', describe: 'prune: drop entries unused this long (30d, 12h)' })
          .option('include-used', { type: 'boolean', describe: 'prune: also drop entries worktrees were restored from' })
          .option('dry-run', { type: 'boolean', describe: 'verify: report, drop nothing (exit 1 if an entry is broken)' })
          .option('spares', { type: 'number', describe: 'warm: spares to keep ready (default: vtree.cache.spares, at least 1)' })
          .option('key', { type: 'string', describe: 'export: only entries whose key starts with this' })
          .option('json', { type: 'boolean', describe: 'Print JSON' }),
      dispatch(() => import('./commands/cache.js')),
    )
    .command(
      'setup [worktree]',
      'Set up an existing worktree (made by plain git worktree add, or whose set-up failed); safe to repeat',
      (y) =>
        setupOptions(y)
          .positional('worktree', { type: 'string', describe: 'Branch, slug or path of the worktree (default: the one you are in)' })
          .option('hook', { type: 'boolean', hidden: true }),
      dispatch(() => import('./commands/setup.js')),
    )
    .command(
      'hooks <action>',
      'Install, remove or inspect the post-checkout hook that sets up worktrees made by plain git worktree add',
      (y) =>
        y
          .positional('action', { type: 'string', choices: ['install', 'uninstall', 'status'] })
          .option('json', { type: 'boolean', describe: 'Print JSON' }),
      dispatch(() => import('./commands/hooks.js')),
    )
    .command(
      'init',
      'Set this repository up for vtree: installs the post-checkout hook',
      (y) => y.option('json', { type: 'boolean', describe: 'Print JSON' }),
      dispatch(() => import('./commands/init.js')),
    )
    .command(
      'completion <shell>',
      'Print the completion script for bash, zsh or fish',
      (y) => y.positional('shell', { type: 'string', choices: ['bash', 'zsh', 'fish'] }),
      dispatch(() => import('./commands/completion.js')),
    )
    .command(
      'shell-init <shell>',
      'Print shell code for your rc file: completion plus `vtree cd <branch>` and `vtree add <branch> --cd`',
      (y) => y.positional('shell', { type: 'string', choices: ['bash', 'zsh', 'fish'] }),
      dispatch(() => import('./commands/shell-init.js')),
    )
    .command(
      'up [services..]',
      "Start the worktree's Compose stack (all services, or those named)",
      (y) =>
        stackOptions(y)
          .positional('services', { type: 'string', array: true, describe: 'Services to start (default: all)' })
          .option('wait', { type: 'boolean', default: false, describe: 'Wait until they run (and are healthy, where they have a healthcheck)' }),
      dispatch(() => import('./commands/up.js')),
    )
    .command(
      'down',
      "Stop and remove the worktree's Compose stack (volumes kept unless --volumes)",
      (y) => stackOptions(y).option('volumes', { type: 'boolean', describe: "Also remove the stack's volumes" }),
      dispatch(() => import('./commands/down.js')),
    )
    .command(
      'status',
      "Show the state of the worktree's Compose stack, service by service",
      (y) => stackOptions(y),
      dispatch(() => import('./commands/status.js')),
    )
    .command(
      'logs [services..]',
      "Show the logs of the worktree's Compose services (or, with --job, of the job that started them)",
      (y) =>
        stackOptions(y)
          .positional('services', { type: 'string', array: true, describe: 'Services (default: all)' })
          .option('follow', { alias: 'f', type: 'boolean', describe: 'Keep following new lines' })
          .option('tail', { type: 'string', describe: 'Lines from the end of each log (default: all)' })
          .option('job', { type: 'boolean', describe: 'Show the log of the background job that started the stack' }),
      dispatch(() => import('./commands/logs.js')),
    )
    .command(
      '__job <job> [args..]',
      false,
      (y) => y.positional('job', { type: 'string' }).positional('args', { type: 'string', array: true }),
      dispatch(() => import('./commands/job.js')),
    )
    .demandCommand(1, 'Name a command; `git vtree --help` lists them.')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .epilog('Exit codes: 0 ok, 1 failed (rolled back), 2 bad input, 130 interrupted. Docs: README.md')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((message, error, y) => {
      if (error) throw error;
      process.stderr.write(`${y.help() && ''}git vtree: ${message}\nhint: git vtree --help\n`);
      exitCode = ExitCode.usage;
    });

  try {
    await cli.parseAsync();
  } catch (error) {
    process.stderr.write(`${formatError(error, verbose)}\n`);
    exitCode = error instanceof VtreeError ? error.exitCode : ExitCode.failed;
  }
  process.exit(exitCode);
}

/** Options shared by the commands that act on one worktree's Compose stack (`up`, `down`, `status`, `logs`). */
function stackOptions<T>(y: Argv<T>) {
  return y
    .option('worktree', { alias: 'w', type: 'string', describe: 'Branch, slug or path of the worktree (default: the one you are in)' })
    .option('json', { type: 'boolean', describe: 'Print JSON' });
}

/** Options shared by every command that sets a worktree up (`add`, `setup`). */
export function setupOptions<T>(y: Argv<T>) {
  return y
    .option('deps', { type: 'boolean', default: true, describe: 'Restore dependencies (--no-deps to skip)' })
    .option('services', { type: 'boolean', default: true, describe: 'Start the Compose stack in the background (--no-services to skip)' })
    .option('wait', { type: 'boolean', default: false, describe: 'Wait until critical services are up' })
    .option('link-mode', { type: 'string', choices: ['auto', 'reflink', 'hardlink', 'copy', 'symlink'], describe: 'How dependencies are restored (default: config vtree.linkMode, auto)' })
    .option('json', { type: 'boolean', describe: 'Print one JSON object for scripts and agents' });
}
