import { commandString, type CommandSpec, type OptionSpec } from './spec.js';

/**
 * The `git-vtree(1)` man page, rendered from the command table. git answers `git vtree --help`
 * by running `man git-vtree`, so without it the most natural first question gets
 * "No manual entry". Built into `man/man1/` (found by man through PATH's `bin/../man`) and
 * installed by install.sh beside `$PREFIX`.
 */
export function renderManPage(commands: readonly CommandSpec[], globalOptions: Readonly<Record<string, OptionSpec>>, version: string): string {
  const lines = [
    `.TH GIT-VTREE 1 "" "git-vtree ${esc(version)}" "Git Manual"`,
    '.SH NAME',
    'git-vtree \\- worktrees that are ready to work in',
    '.SH SYNOPSIS',
    '.B git vtree',
    '.I command',
    '[\\fIoptions\\fR]',
    '.SH DESCRIPTION',
    esc(
      'git vtree add <branch> makes a git worktree and, in about the time git needs to check it out, gives it its dependencies ' +
        '(restored from a lockfile-keyed hardlink cache), the ignored files it needs (.env), its own ports, its own Docker Compose ' +
        'stack (started lazily in the background) and an MCP config for AI agents; every step is timed into .git/vibetrees/metrics.json.',
    ),
    '.SH COMMANDS',
  ];
  for (const spec of commands) {
    if (spec.describe === false) continue;
    lines.push('.TP', `.B git vtree ${esc(commandString(spec))}`, esc(spec.describe + (spec.aliases?.length ? ` (alias: ${spec.aliases.join(', ')})` : '')));
    for (const [name, option] of Object.entries(spec.options)) lines.push(...optionLines(name, option));
  }
  lines.push('.SH GLOBAL OPTIONS');
  for (const [name, option] of Object.entries(globalOptions)) lines.push(...optionLines(name, option));
  lines.push(
    ...optionLines('help', { type: 'boolean', alias: 'h', describe: 'Show help (git vtree <command> -h for one command)' }),
    ...optionLines('version', { type: 'boolean', alias: 'V', describe: 'Show the version' }),
    '.SH EXIT STATUS',
    '0 done; 1 the operation failed and what it created was rolled back; 2 bad input, nothing was changed; 130 interrupted, what it created was rolled back.',
    '.SH CONFIGURATION',
    esc('git config keys under vtree.* (user or repository level) over a committed .vtreeconfig at the repository root; flags win over both. Every key is listed in the README.'),
    '.SH FILES',
    '.TP',
    '.I .git/vibetrees/metrics.json',
    'every run, step by step (git vtree stats reads it)',
    '.TP',
    '.I .git/vibetrees/cache/',
    'the dependency cache',
    '.TP',
    '.I ${XDG_STATE_HOME:-~/.local/state}/vibetrees/ports.json',
    'port leases of every worktree on this machine',
    '.SH SEE ALSO',
    '.BR git-worktree (1)',
    '',
  );
  return lines.join('\n');
}

function optionLines(name: string, option: OptionSpec): string[] {
  if (option.hidden) return [];
  const flag = option.type === 'boolean' && option.default === true ? `--[no-]${name}` : `--${name}`;
  const value = option.type === 'boolean' ? '' : ` \\fI${option.choices ? option.choices.join('|') : option.type}\\fR`;
  const alias = option.alias ? `\\fB-${option.alias}\\fR, ` : '';
  return ['.RS', '.TP', `${alias}\\fB${esc(flag)}\\fR${value}`, esc(option.describe), '.RE'];
}

/** Escapes text for roff: backslashes, hyphens, and a leading dot or quote that would read as a request. */
function esc(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/, '\\&$1');
}
