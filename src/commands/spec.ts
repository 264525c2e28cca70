import type { Io } from '../core/output.js';
import type { SetupOptions } from '../features/feature.js';

/** Parsed arguments as every command receives them (camelCase and kebab-case keys both set). */
export type Args = Record<string, unknown> & { _: (string | number)[] };

/** A command module: `src/commands/<name>.ts` default-exports one of these. */
export type CommandModule = (args: Args, io: Io) => Promise<number | void>;

/** One flag of a command, in the shape yargs' `.options()` takes. */
export interface OptionSpec {
  type: 'boolean' | 'string' | 'number';
  describe: string;
  alias?: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  hidden?: boolean;
}

/** One positional argument. */
export interface PositionalSpec {
  name: string;
  describe: string;
  required: boolean;
  /** Takes every remaining argument (`[args..]`). */
  variadic?: boolean;
  /**
   * A command line of its own (`exec <worktree> <command..>`): from its first word on, nothing is
   * read as this command's flag, as if `--` stood before it. Only the last positional.
   */
  rest?: boolean;
  choices?: readonly string[];
}

/**
 * One command: everything both parsers need (the full yargs CLI for help and errors, and the
 * fast path in `argv.ts`), plus the lazy import of its code.
 */
export interface CommandSpec {
  name: string;
  aliases?: readonly string[];
  /** One line for `--help`; false hides the command. */
  describe: string | false;
  positionals: readonly PositionalSpec[];
  options: Readonly<Record<string, OptionSpec>>;
  load: () => Promise<{ default: CommandModule }>;
}

/** `add <branch>`, `setup [worktree]`, `__job <job> [args..]`: the yargs command string of `spec`. */
export function commandString(spec: CommandSpec): string {
  const words = spec.positionals.map((p) => {
    const inner = `${p.name}${p.variadic ? '..' : ''}`;
    return p.required ? `<${inner}>` : `[${inner}]`;
  });
  return [spec.name, ...words].join(' ');
}

/** The set-up flags of `add` and `setup` (`--no-deps`, `--no-services`, `--services a,b`, `--wait`, `--link-mode`). */
export function setupOptionsFrom(args: Args): SetupOptions {
  // `--services a,b` names a scope; a bare `--services` (or none) means the whole stack.
  const scope = typeof args.services === 'string' ? args.services.split(',').map((s) => s.trim()).filter(Boolean) : [];
  return {
    deps: args.deps !== false,
    services: args.services !== false,
    ...(scope.length > 0 ? { servicesScope: scope } : {}),
    wait: Boolean(args.wait),
    ...(args.rollbackOnFailure ? { rollbackOnFailure: true } : {}),
    ...(args.linkMode !== undefined ? { linkMode: String(args.linkMode) } : {}),
  };
}
