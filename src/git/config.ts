import { join, posix } from 'node:path';
import { isPlainRelative } from '../core/confine.js';
import { run } from '../core/exec.js';
import { exists } from '../core/files.js';
import { UsageError } from '../core/errors.js';

/**
 * Keys honoured only from git config (user or repository level), not from the committed
 * `.vtreeconfig`: a clone brings that file, so, as git does with its own config, a key that
 * names a program to run, a directory vtree writes and deletes in, a file outside the
 * repository, or a registry to send credentials to and take dependency trees from (the remote
 * cache) must come from the user. Each maps to why, for the one warning a refused key gets.
 * (`vtree.path` is checked where it is used: see `pathTemplate`.) See docs/trust.md.
 */
const TRUSTED_ONLY_KEYS: ReadonlyMap<string, RefusableKey> = new Map<string, RefusableKey>([
  ['vtree.compose.command', { name: 'vtree.compose.command', why: 'it names a program to run', value: "'docker compose'" }],
  ['vtree.cachedir', { name: 'vtree.cacheDir', why: 'it names a directory vtree writes and deletes in', value: '<dir>' }],
  ['vtree.cache.remote', { name: 'vtree.cache.remote', why: 'it names a registry to send credentials to and take dependency trees from', value: '<registry>/<repository>' }],
  ['vtree.services.trusted', { name: 'vtree.services.trusted', why: 'it lets the Compose stack the clone brings start without your approval', value: 'true' }],
  ['vtree.deps.trusted', { name: 'vtree.deps.trusted', why: "it lets installs run the clone's own scripts without your approval", value: 'true' }],
  ['vtree.cache.push', { name: 'vtree.cache.push', why: 'it sends dependency trees to a registry', value: 'true' }],
  // Paths relative to the worktree: fine from the committed file while they stay inside it.
  ['vtree.compose.files', { name: 'vtree.compose.files', why: 'it names a file outside the repository', value: '<files>', allowed: (v: string) => v.split(/[\s,]+/).filter(Boolean).every((f) => isPlainRelative(posix.normalize(f))) }],
]);

/** A key the committed file may not set (at all, or unless `allowed` accepts its value). */
interface RefusableKey {
  /** The key as documented. */
  name: string;
  why: string;
  /** A placeholder value for the `git config` line of the warning. */
  value: string;
  allowed?: (value: string) => boolean;
}

/** Refused keys already warned about in this process: one warning each. */
const warned = new Set<string>();

/**
 * vtree's settings: `git config` keys under `vtree.*` (system, user, repo and worktree level, as
 * git merges them) over the team-wide `.vtreeconfig` at the repository root (git-config
 * syntax). Command-line flags win over both; callers apply them. Keys are case-insensitive,
 * as in git. Every key is documented in README.md ("Configuration").
 */
export class Config {
  constructor(
    private readonly values: ReadonlyMap<string, readonly string[]>,
    /** Keys whose values came from the committed `.vtreeconfig` (not overridden by git config). */
    private readonly teamKeys: ReadonlySet<string> = new Set(),
    /** Keys the committed `.vtreeconfig` set that are honoured only from git config. */
    readonly refused: readonly string[] = [],
  ) {}

  /** Every key set, lowercased, that starts with `prefix` (`vtree.task.`). */
  keys(prefix: string): string[] {
    const lower = prefix.toLowerCase();
    return [...this.values.keys()].filter((key) => key.startsWith(lower));
  }

  /**
   * The sections under `prefix` (`vtree.task.` for `[vtree "task.<name>"]`), by name in name order,
   * each with its keys. A key whose field is not one of `fields`, or whose section name `name`
   * rejects, is a usage error naming the key (`what` names the kind of section, `nameRule` the rule).
   */
  sections(prefix: string, fields: readonly string[], what: string, name: { test(text: string): boolean }, nameRule: string): Array<[string, string[]]> {
    const found = new Map<string, string[]>();
    for (const key of this.keys(prefix)) {
      const rest = key.slice(prefix.length);
      const dot = rest.lastIndexOf('.');
      const section = rest.slice(0, dot);
      if (dot <= 0 || !fields.includes(rest.slice(dot + 1))) throw new UsageError(`config ${key}: a ${what} section takes ${fields.join(', ')}`, `git config --unset ${key}`);
      if (!name.test(section)) throw new UsageError(`config ${key}: ${nameRule}`);
      found.set(section, [...(found.get(section) ?? []), key]);
    }
    return [...found.entries()].sort(([a], [b]) => a.localeCompare(b));
  }

  /** True when `key`'s value comes from the committed `.vtreeconfig`: untrusted, a clone brought it. */
  fromTeamFile(key: string): boolean {
    return this.teamKeys.has(key.toLowerCase());
  }

  /** Says once per process, for each key the committed file set but only git config may, where to set it instead. */
  warnRefused(warn: (line: string) => void): void {
    for (const key of this.refused) {
      if (warned.has(key)) continue;
      warned.add(key);
      const { name, why, value } = TRUSTED_ONLY_KEYS.get(key)!;
      warn(`${TEAM_CONFIG_FILE} sets ${name}, ignored: ${why}, so it is honoured only from git config (git config ${name} ${value})`);
    }
  }

  /** The last value of `key`, or `fallback`. */
  string(key: string): string | undefined;
  string(key: string, fallback: string): string;
  string(key: string, fallback?: string): string | undefined {
    return this.values.get(key.toLowerCase())?.at(-1) ?? fallback;
  }

  /** Every value of a multi-valued `key`; comma- or space-separated values are split. */
  list(key: string): string[] {
    return (this.values.get(key.toLowerCase()) ?? []).flatMap((v) => v.split(/[\s,]+/)).filter(Boolean);
  }

  /** A non-negative integer `key`, or `fallback`; anything else is a usage error naming the key. */
  integer(key: string, fallback: number): number {
    const raw = this.string(key);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new UsageError(`config ${key} must be a whole number, not '${raw}'`, `git config ${key} <number>`);
    return value;
  }

  /** A boolean `key` in git's spellings (true/yes/on/1, false/no/off/0), or `fallback`. */
  boolean(key: string, fallback: boolean): boolean {
    const raw = this.string(key)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['true', 'yes', 'on', '1', ''].includes(raw)) return true;
    if (['false', 'no', 'off', '0'].includes(raw)) return false;
    throw new UsageError(`config ${key} must be true or false, not '${raw}'`);
  }
}

/** Name of the committed, team-wide config file at the repository root. */
export const TEAM_CONFIG_FILE = '.vtreeconfig';

/**
 * Reads git config and `<root>/.vtreeconfig` concurrently and merges them (git config wins).
 * `root` may still be on its way (the repository is being resolved at the same time).
 */
export async function loadConfig(cwd: string, root: string | null | Promise<string | null>): Promise<Config> {
  const readTeam = async () => {
    const dir = await root;
    const teamFile = dir ? join(dir, TEAM_CONFIG_FILE) : undefined;
    return teamFile && (await exists(teamFile)) ? readGitConfig(cwd, ['-f', teamFile]) : [];
  };
  const [fromGit, fromTeam] = await Promise.all([readGitConfig(cwd, []), readTeam()]);
  const merged = new Map<string, string[]>();
  const refused = new Set<string>();
  for (const [key, value] of fromTeam) {
    const refusable = TRUSTED_ONLY_KEYS.get(key);
    if (refusable && !refusable.allowed?.(value)) {
      refused.add(key);
      continue;
    }
    merged.set(key, [...(merged.get(key) ?? []), value]);
  }
  const teamKeys = new Set(merged.keys());
  const fromGitKeys = new Set<string>();
  for (const [key, value] of fromGit) {
    // A key set in git config replaces the team file's values for it entirely.
    if (!fromGitKeys.has(key)) merged.set(key, []);
    fromGitKeys.add(key);
    teamKeys.delete(key);
    refused.delete(key);
    merged.get(key)!.push(value);
  }
  return new Config(merged, teamKeys, [...refused]);
}

async function readGitConfig(cwd: string, source: string[]): Promise<Array<[string, string]>> {
  // Exit code 1 means "no such key": an empty answer, not a failure.
  const { stdout } = await run('git', ['config', ...source, '--null', '--get-regexp', '^vtree\\.'], { cwd, okCodes: [0, 1] });
  return stdout
    .split('\0')
    .filter(Boolean)
    .map((entry) => {
      const newline = entry.indexOf('\n');
      return newline === -1 ? [entry.toLowerCase(), ''] : [entry.slice(0, newline).toLowerCase(), entry.slice(newline + 1)];
    });
}
