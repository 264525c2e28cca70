import parse from 'yargs-parser';
import type { Args, CommandSpec, OptionSpec } from './commands/spec.js';

/**
 * The fast path of the command line: parses `argv` for a known command with yargs' own parser
 * (yargs-parser, a few ms) instead of loading all of yargs (tens of ms, on every `add` and every
 * hook run). Anything it is not sure of (help, an unknown command or flag, a missing or surplus
 * argument, a value outside `choices`) returns undefined, and the full yargs CLI handles it,
 * with its messages.
 */
export function parseFast(
  argv: readonly string[],
  commands: readonly CommandSpec[],
  globalOptions: Readonly<Record<string, OptionSpec>>,
): { spec: CommandSpec; args: Args } | undefined {
  const [name, ...rest] = argv;
  const spec = commands.find((c) => c.name === name || c.aliases?.includes(name ?? ''));
  if (!spec || rest.some((a) => a === '-h' || a === '--help')) return undefined;
  const options = { ...globalOptions, ...spec.options };
  const keys = Object.keys(options);
  const parsed = parse([...rest], {
    boolean: keys.filter((k) => options[k]!.type === 'boolean'),
    string: keys.filter((k) => options[k]!.type === 'string'),
    number: keys.filter((k) => options[k]!.type === 'number'),
    alias: Object.fromEntries(keys.filter((k) => options[k]!.alias).map((k) => [k, [options[k]!.alias!]])),
    default: Object.fromEntries(keys.filter((k) => options[k]!.default !== undefined).map((k) => [k, options[k]!.default])),
    configuration: { 'populate--': true },
  });

  const known = new Set(keys.flatMap((k) => [k, camel(k), ...(options[k]!.alias ? [options[k]!.alias!] : [])]));
  if (Object.keys(parsed).some((k) => k !== '_' && k !== '--' && !known.has(k))) return undefined;
  for (const key of keys) {
    const value = parsed[key];
    const { choices, type } = options[key]!;
    if (value === undefined) continue;
    if (Array.isArray(value)) return undefined; // a flag given twice: let yargs explain
    if (type === 'number' && Number.isNaN(value)) return undefined;
    if (choices && !choices.includes(String(value))) return undefined;
  }

  // Words after `--` are positionals too (yargs itself would not fill positionals from them).
  const words = [...parsed._, ...(parsed['--'] ?? [])].map(String);
  const args: Args = { ...parsed, _: [spec.name] };
  delete args['--'];
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

function camel(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
