import { parseArgs } from 'node:util';
import type { Args, CommandSpec, OptionSpec } from './commands/spec.js';

/**
 * The fast path of the command line: parses `argv` for a known command with Node's own
 * `util.parseArgs` (nothing to load) instead of yargs (tens of ms, on every `add` and every hook
 * run). Anything it is not sure of (help, an unknown command or flag, a flag given twice, a
 * missing value or argument, a surplus argument, a value outside `choices`) returns undefined,
 * and the full yargs CLI handles it, with its messages. The result has yargs' shape: each option
 * under its name, its camel-case name and its alias; `--no-<option>` sets it to false.
 */
export function parseFast(
  argv: readonly string[],
  commands: readonly CommandSpec[],
  globalOptions: Readonly<Record<string, OptionSpec>>,
): { spec: CommandSpec; args: Args } | undefined {
  const [name, ...rest] = argv;
  const spec = commands.find((c) => c.name === name || c.aliases?.includes(name ?? ''));
  if (!spec || rest.some((a) => a === '-h' || a === '--help')) return undefined;
  const options: Record<string, OptionSpec> = { ...globalOptions, ...spec.options };
  const config: NonNullable<Parameters<typeof parseArgs>[0]>['options'] = {};
  for (const [key, option] of Object.entries(options)) {
    config[key] = { type: option.type === 'boolean' ? 'boolean' : 'string', ...(option.alias ? { short: option.alias } : {}) };
    config[`no-${key}`] ??= { type: 'boolean' };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: restAsPositionals(rest, spec, options), options: config, strict: true, allowPositionals: true, tokens: true });
  } catch {
    return undefined;
  }
  const given = new Set<string>();
  const args: Args = { _: [spec.name] };
  const set = (key: string, value: unknown) => {
    args[key] = value;
    args[camel(key)] = value;
    if (options[key]!.alias) args[options[key]!.alias!] = value;
  };
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue;
    const negated = !(token.name in options);
    const key = negated ? token.name.slice('no-'.length) : token.name;
    if (given.has(key)) return undefined; // a flag given twice: let yargs explain
    given.add(key);
    const option = options[key]!;
    if (negated) {
      set(key, false);
      continue;
    }
    const raw = option.type === 'boolean' ? true : token.value;
    const value = option.type === 'number' ? Number(raw) : raw;
    if (option.type === 'number' && Number.isNaN(value)) return undefined;
    if (option.choices && !option.choices.includes(String(value))) return undefined;
    set(key, value);
  }
  for (const [key, option] of Object.entries(options)) if (!given.has(key) && option.default !== undefined) set(key, option.default);

  // Words after `--` are positionals too (yargs itself would not fill positionals from them).
  const words = [...parsed.positionals];
  for (const positional of spec.positionals) {
    if (positional.variadic) {
      args[positional.name] = words.splice(0);
      continue;
    }
    const word = words.shift();
    if (word === undefined) {
      if (positional.required) return undefined;
      continue;
    }
    if (positional.choices && !positional.choices.includes(word)) return undefined;
    args[positional.name] = word;
  }
  return words.length === 0 ? { spec, args } : undefined;
}

/**
 * `rest`'s words with `--` put before the first word of a {@link PositionalSpec.rest} positional
 * (`exec wt ls -la`: `-la` is ls's), unless one stands there already.
 */
function restAsPositionals(rest: readonly string[], spec: CommandSpec, options: Readonly<Record<string, OptionSpec>>): string[] {
  const words = [...rest];
  if (!spec.positionals.at(-1)?.rest) return words;
  let seen = 0;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '--') return words;
    if (word.startsWith('-') && word !== '-') {
      // An option's value is the next word, unless given as --name=value.
      const name = word.replace(/^--?/, '').split('=')[0]!;
      const option = options[name] ?? Object.values(options).find((o) => o.alias === name);
      if (option && option.type !== 'boolean' && !word.includes('=')) i++;
      continue;
    }
    if (seen === spec.positionals.length - 1) return [...words.slice(0, i), '--', ...words.slice(i)];
    seen++;
  }
  return words;
}

function camel(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
