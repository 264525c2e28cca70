import { parseFast } from './argv.js';
import { commandString, type Args, type CommandSpec } from './commands/spec.js';
import { COMMANDS, GLOBAL_OPTIONS } from './commands/index.js';
import { ensureCwd } from './core/cwd.js';
import { ExitCode, UsageError, VtreeError } from './core/errors.js';
import { consoleIo, formatError, jsonError } from './core/output.js';

/** Commands whose output is for a shell or a job, not for a person: they tell of no background failure. */
const QUIET_COMMANDS = new Set(['__job', 'completion', 'shell-init']);

/**
 * The command line. A known command with plain arguments is parsed by the fast path (yargs'
 * own parser, a few ms); help, completion of errors and anything unusual go through the full
 * yargs CLI, built from the same table (`commands/index.ts`). Each command's code is imported
 * only when it runs. Only this function ends the process.
 */
export async function main(argv: readonly string[]): Promise<never> {
  let verbose = argv.includes('--verbose');
  let json = argv.includes('--json');
  let exitCode: number;
  try {
    const moved = ensureCwd();
    if (moved) process.stderr.write(`${moved}\n`);
    const fast = parseFast(argv, COMMANDS, GLOBAL_OPTIONS);
    exitCode = fast ? await dispatch(fast.spec, fast.args) : await parseWithYargs(argv);
  } catch (error) {
    process.stderr.write(`${formatError(error, verbose)}\n`);
    exitCode = error instanceof VtreeError ? error.exitCode : ExitCode.failed;
    // Under --json, stdout carries one document whatever happened.
    if (json) process.stdout.write(`${JSON.stringify(jsonError(error, exitCode))}\n`);
  }
  process.exit(exitCode);

  async function dispatch(spec: CommandSpec, args: Args): Promise<number> {
    verbose = Boolean(args.verbose);
    json = Boolean(args.json);
    const io = consoleIo({ json: Boolean(args.json), verbose });
    if (!QUIET_COMMANDS.has(spec.name) && !process.env.VTREE_BACKGROUND) {
      // A failure of background work (the stack, background tasks) is told once, by whatever command runs next.
      const { backgroundFailureNotice } = await import('./pipelines/notices.js');
      const notice = await backgroundFailureNotice(process.cwd()).catch(() => undefined);
      if (notice) process.stderr.write(`${notice}\n`);
    }
    const { default: command } = await spec.load();
    return (await command(args, io)) ?? ExitCode.ok;
  }

  async function parseWithYargs(words: readonly string[]): Promise<number> {
    const [{ default: yargs }, { VERSION }] = await Promise.all([import('yargs'), import('./core/version.js')]);
    let code: number = ExitCode.ok;
    let cli = yargs([...words])
      .scriptName('git vtree')
      .usage('$0 <command> [options]\n\nWorktrees that are ready to work in: dependencies, .env, ports and a Compose stack per worktree.')
      .version(VERSION)
      .alias('version', 'V')
      .options(Object.fromEntries(Object.entries(GLOBAL_OPTIONS).map(([name, option]) => [name, { ...option, global: true }])));
    for (const spec of COMMANDS) {
      cli = cli.command(
        [commandString(spec), ...(spec.aliases ?? []).map((alias) => commandString({ ...spec, name: alias }))],
        // false hides a command; yargs accepts it, its type declarations do not say so.
        spec.describe as string,
        (y) => {
          for (const p of spec.positionals) {
            y.positional(p.name, { type: 'string', describe: p.describe, ...(p.variadic ? { array: true } : {}), ...(p.choices ? { choices: [...p.choices] } : {}) });
          }
          return y.options(Object.fromEntries(Object.entries(spec.options).map(([name, o]) => [name, { ...o, ...(o.choices ? { choices: [...o.choices] } : {}) }])));
        },
        async (args) => {
          code = await dispatch(spec, args as Args);
        },
      );
    }
    await cli
      .demandCommand(1, 'Name a command; `git vtree -h` lists them.')
      .recommendCommands()
      .strict()
      .help()
      .alias('help', 'h')
      .epilog('Exit codes: 0 ok, 1 failed (rolled back), 2 bad input, 130 interrupted. Docs: README.md')
      .wrap(Math.min(110, process.stdout.columns || 100))
      .fail((message, error) => {
        // Throwing stops yargs from running the command with what it could not parse.
        throw error ?? new UsageError(message, 'git vtree -h');
      })
      .parseAsync();
    return code;
  }
}
