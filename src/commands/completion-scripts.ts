import type { CommandSpec, OptionSpec, PositionalSpec } from './spec.js';
import { SPARE_LOCK_REASON } from '../git/worktree.js';

/**
 * The completion scripts for bash, zsh and fish, rendered from the command table at build time (as
 * the man page is), so their words never drift from the CLI. Each shell's logic (reading branches
 * and worktrees from git, where each word goes) is a template in `src/commands/completions/`; this
 * fills its `@@name@@` slots with the commands, each command's flags and what its values and
 * arguments complete to.
 */

/** What a flag's value or an argument completes to, known by its name; otherwise its choices, or nothing. */
type ValueKind = 'branch' | 'worktree' | 'directory' | 'file';
const KIND_BY_NAME: Readonly<Record<string, ValueKind>> = { branch: 'branch', from: 'branch', worktree: 'worktree', worktrees: 'worktree', path: 'directory', file: 'file' };

/** One flag as the shells see it. */
interface Flag {
  long: string;
  short?: string;
  describe: string;
  /** Takes a value (not boolean). */
  value: boolean;
  kind?: ValueKind;
  choices?: readonly string[];
  /** `--no-<long>` turns it off (a boolean that defaults to true). */
  negatable: boolean;
}

/** A visible command with its names (name and aliases), flags and arguments. */
interface Command {
  names: string[];
  describe: string;
  flags: Flag[];
  positionals: readonly PositionalSpec[];
}

function flagOf(long: string, option: OptionSpec): Flag {
  return {
    long,
    ...(option.alias ? { short: option.alias } : {}),
    describe: option.describe,
    value: option.type !== 'boolean',
    ...(KIND_BY_NAME[long] && option.type !== 'boolean' ? { kind: KIND_BY_NAME[long] } : {}),
    ...(option.choices ? { choices: option.choices } : {}),
    negatable: option.type === 'boolean' && option.default === true,
  };
}

function visibleCommands(commands: readonly CommandSpec[]): Command[] {
  return commands.flatMap((spec) =>
    spec.describe === false
      ? []
      : [
          {
            names: [spec.name, ...(spec.aliases ?? [])],
            describe: spec.describe,
            flags: Object.entries(spec.options)
              .filter(([, option]) => !option.hidden)
              .map(([long, option]) => flagOf(long, option)),
            positionals: spec.positionals,
          },
        ],
  );
}

const kindOf = (p: PositionalSpec): ValueKind | undefined => KIND_BY_NAME[p.name];
/** `--json`, `-w`, `--no-deps`: every word of a flag, as `--help` lists them. */
const flagWords = (f: Flag): string[] => [`--${f.long}`, ...(f.negatable ? [`--no-${f.long}`] : []), ...(f.short ? [`-${f.short}`] : [])];

/** Fills each `@@name@@` of `template` with `slots[name]`; a slot the template lacks, or the reverse, is a build error. */
function fill(template: string, slots: Record<string, string>, file: string): string {
  const used = new Set<string>();
  const out = template.replace(/@@([a-z_]+)@@/g, (_, name: string) => {
    if (!(name in slots)) throw new Error(`${file}: unknown slot @@${name}@@`);
    used.add(name);
    return slots[name]!;
  });
  const unused = Object.keys(slots).filter((name) => !used.has(name));
  if (unused.length > 0) throw new Error(`${file}: template lacks @@${unused.join('@@, @@')}@@`);
  return out;
}

/** The bash command printing the candidates for a value of `kind` or one of `choices`. */
function bashValues(kind: ValueKind | undefined, choices: readonly string[] | undefined): string | undefined {
  if (choices) return `__git_vtree_match "$cur" ${choices.join(' ')}`;
  return kind && { branch: '__git_vtree_branches "$cur"', worktree: '__git_vtree_worktrees "$cur"', directory: 'compgen -d -- "$cur"', file: 'compgen -f -- "$cur"' }[kind];
}

function bash(commands: Command[], globals: Flag[]): Record<string, string> {
  const pattern = (names: string[]) => names.join(' | ');
  const flagCases = commands.filter((c) => c.flags.length > 0).map((c) => `    ${pattern(c.names)}) echo '${c.flags.flatMap(flagWords).join(' ')}' ;;`);
  // Flags that take a value, grouped by what the value completes to (nothing: no candidates).
  const valueFlags = new Map<string, string[]>();
  for (const flag of commands.flatMap((c) => c.flags).filter((f) => f.value)) {
    const values = bashValues(flag.kind, flag.choices);
    const action = values ? `${values}; return` : 'return';
    const words = valueFlags.get(action) ?? [];
    for (const word of [`--${flag.long}`, ...(flag.short ? [`-${flag.short}`] : [])]) if (!words.includes(word)) words.push(word);
    valueFlags.set(action, words);
  }
  const argument = (p: PositionalSpec) => bashValues(kindOf(p), p.choices);
  // Commands whose arguments complete alike share one case.
  const argumentCases = new Map<string, string[]>();
  for (const c of commands) {
    const actions = c.positionals.map(argument);
    if (!actions.some(Boolean)) continue;
    // One argument: at any position, as git does; several: by position after the command.
    const body =
      c.positionals.length === 1
        ? ` ${actions[0]} ;;`
        : ['', '      case $((COMP_CWORD - at)) in', ...actions.flatMap((action, i) => (action ? [`        ${i + 1}) ${action} ;;`] : [])), '      esac', '      ;;'].join('\n');
    argumentCases.set(body, [...(argumentCases.get(body) ?? []), ...c.names]);
  }
  return {
    commands: commands.flatMap((c) => c.names).join(' '),
    flag_cases: flagCases.join('\n'),
    global_flags: [...globals.flatMap(flagWords), '--help', '-h'].join(' '),
    value_cases: [...valueFlags].map(([action, words]) => `    ${words.join(' | ')}) ${action} ;;`).join('\n'),
    argument_cases: [...argumentCases].map(([body, names]) => `    ${pattern(names)})${body}`).join('\n'),
  };
}

/** A zsh single-quoted word. */
const zq = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
/** Text inside an `_arguments` description (`[...]`). */
const zdesc = (text: string) => text.replace(/([[\]\\])/g, '\\$1');

function zsh(commands: Command[], globals: Flag[]): Record<string, string> {
  const zshAction = (kind: ValueKind | undefined, choices: readonly string[] | undefined): string =>
    choices ? `(${choices.join(' ')})` : { branch: '__git_vtree_branches', worktree: '__git_vtree_worktrees', directory: '_directories', file: '_files', none: '' }[kind ?? 'none'];
  const flagSpecs = (f: Flag): string[] => {
    const describe = `[${zdesc(f.describe)}]`;
    const value = f.value ? `:${f.long}:${zshAction(f.kind, f.choices)}` : '';
    if (f.negatable) return [zq(`(--no-${f.long})--${f.long}${describe}`), zq(`(--${f.long})--no-${f.long}${describe}`)];
    if (f.short) return [`${zq(`(-${f.short} --${f.long})`)}{-${f.short}${f.value ? '+' : ''},--${f.long}${f.value ? '=' : ''}}${zq(describe + value)}`];
    return [zq(`--${f.long}${f.value ? '=' : ''}${describe}${value}`)];
  };
  const argumentSpec = (p: PositionalSpec, i: number): string => zq(`${p.variadic ? '*' : i + 1}:${p.name}${p.variadic && !kindOf(p) && !p.choices ? '' : `:${zshAction(kindOf(p), p.choices)}`}`);
  return {
    commands: commands.flatMap((c) => c.names.map((name, i) => `  ${zq(`${name}:${i === 0 ? c.describe : `${c.describe} (alias of ${c.names[0]})`}`)}`)).join('\n'),
    common: globals.flatMap(flagSpecs).join(' '),
    command_cases: commands
      .map((c) => `      (${c.names.join('|')})\n        _arguments $common ${[...c.flags.flatMap(flagSpecs), ...c.positionals.map(argumentSpec)].join(' \\\n          ')} && ret=0\n        ;;`)
      .join('\n'),
  };
}

/** A fish single-quoted word. */
const fq = (text: string) => `'${text.replace(/[\\']/g, '\\$&')}'`;

function fish(commands: Command[], globals: Flag[]): Record<string, string> {
  const fishFlag = (f: Flag): string[] => {
    const values = f.choices ? ` -x -a ${fq(f.choices.join(' '))}` : f.value ? ` -x${{ branch: " -a '(__git_vtree_branches)'", worktree: " -a '(__git_vtree_worktrees)'", directory: " -a '(__fish_complete_directories)'", file: ' -F', none: '' }[f.kind ?? 'none']}` : '';
    const line = `${f.short ? ` -s ${f.short}` : ''} -l ${f.long}${values} -d ${fq(f.describe)}`;
    return f.negatable ? [line, ` -l no-${f.long} -d ${fq(f.describe)}`] : [line];
  };
  // One line per distinct flag, naming every command that has it.
  const owners = new Map<string, string[]>();
  const own = (line: string, names: string[]) => owners.set(line, [...(owners.get(line) ?? []), ...names]);
  for (const c of commands) for (const line of c.flags.flatMap(fishFlag)) own(line, c.names);
  // Arguments: one line for each way they complete, naming every command; several arguments of one
  // command: each at its position after the command.
  const argumentOwners = new Map<string, string[]>();
  for (const c of commands) {
    c.positionals.forEach((p, i) => {
      const kind = kindOf(p);
      const values = p.choices ? ` -a ${fq(p.choices.join(' '))}` : kind && { branch: " -a '(__git_vtree_branches)'", worktree: " -a '(__git_vtree_worktrees)'", directory: " -a '(__fish_complete_directories)'", file: ' -F' }[kind];
      if (!values) return;
      const key = JSON.stringify([c.positionals.length > 1 ? i + 1 : 0, values]);
      argumentOwners.set(key, [...(argumentOwners.get(key) ?? []), ...c.names]);
    });
  }
  const argumentLines = [...argumentOwners].map(([key, names]) => {
    const [position, values] = JSON.parse(key) as [number, string];
    return `complete -c git-vtree -n ${fq(`__git_vtree_using ${names.join(' ')}${position ? `; and __git_vtree_position ${position}` : ''}`)}${values}`;
  });
  return {
    commands: commands.flatMap((c) => c.names.map((name, i) => `complete -c git-vtree -n __git_vtree_needs_command -a ${name} -d ${fq(i === 0 ? c.describe : `${c.describe} (alias of ${c.names[0]})`)}`)).join('\n'),
    global_flags: globals
      .flatMap(fishFlag)
      .map((line) => `complete -c git-vtree${line}`)
      .join('\n'),
    flags: [...owners].map(([line, names]) => `complete -c git-vtree -n ${fq(`__git_vtree_using ${names.join(' ')}`)}${line}`).join('\n'),
    arguments: argumentLines.join('\n'),
  };
}

/** The three shells' completion files (by file name in `completions/`), from their templates (same keys). */
export function renderCompletions(
  commands: readonly CommandSpec[],
  globalOptions: Readonly<Record<string, OptionSpec>>,
  templates: { bash: string; zsh: string; fish: string },
): { bash: string; zsh: string; fish: string } {
  const visible = visibleCommands(commands);
  const globals = Object.entries(globalOptions).map(([long, option]) => flagOf(long, option));
  return {
    bash: fill(templates.bash, { ...bash(visible, globals), spare_lock: SPARE_LOCK_REASON }, 'bash template'),
    zsh: fill(templates.zsh, { ...zsh(visible, globals), spare_lock: SPARE_LOCK_REASON }, 'zsh template'),
    fish: fill(templates.fish, { ...fish(visible, globals), spare_lock: SPARE_LOCK_REASON }, 'fish template'),
  };
}
