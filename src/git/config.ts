import { join } from 'node:path';
import { run } from '../core/exec.js';
import { exists } from '../core/files.js';
import { UsageError } from '../core/errors.js';

/**
 * Keys that name a program to run, or a place to send credentials to and take dependency trees
 * from (the remote cache). A committed `.vtreeconfig` comes with whatever a checkout brings, so,
 * as git does with its own config, these are honoured only from git config.
 */
const TRUSTED_ONLY_KEYS = new Set(['vtree.compose.command', 'vtree.cache.remote', 'vtree.cache.push']);

/**
 * vtree's settings: `git config` keys under `vtree.*` (system, user, repo and worktree level, as
 * git merges them) over the team-wide `.vtreeconfig` at the repository root (git-config
 * syntax). Command-line flags win over both; callers apply them. Keys are case-insensitive,
 * as in git. Every key is documented in README.md ("Configuration").
 */
export class Config {
  constructor(private readonly values: ReadonlyMap<string, readonly string[]>) {}

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
  for (const [key, value] of fromTeam) {
    if (TRUSTED_ONLY_KEYS.has(key)) continue;
    merged.set(key, [...(merged.get(key) ?? []), value]);
  }
  const fromGitKeys = new Set<string>();
  for (const [key, value] of fromGit) {
    // A key set in git config replaces the team file's values for it entirely.
    if (!fromGitKeys.has(key)) merged.set(key, []);
    fromGitKeys.add(key);
    merged.get(key)!.push(value);
  }
  return new Config(merged);
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
