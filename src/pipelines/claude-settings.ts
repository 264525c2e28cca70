import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { UsageError } from '../core/errors.js';
import { isErrno, writeFileAtomic } from '../core/files.js';

/** The hook handlers `git vtree init --claude` puts in Claude Code's settings, by event. */
export const CLAUDE_HOOKS = {
  WorktreeCreate: { command: 'git vtree claude-hook create' },
  WorktreeRemove: { command: 'git vtree claude-hook remove' },
  // The no-Node.js check (hooks/ensure-setup, on PATH as git-vtree-ensure-setup): a session
  // started in a worktree vtree never set up (made with --no-checkout, or by another tool) gets
  // it set up; every other session start costs a `git rev-parse`.
  SessionStart: { command: 'git-vtree-ensure-setup', matcher: 'startup' },
} as const satisfies Record<string, { command: string; matcher?: string }>;

/** Events where a second handler would fight vtree's: both would make (or remove) the worktree. */
const EXCLUSIVE = new Set(['WorktreeCreate', 'WorktreeRemove']);

/**
 * Claude Code's settings file: the project's `<dir>/.claude/settings.json`, or with `user` the
 * user's `~/.claude/settings.json` (`$CLAUDE_CONFIG_DIR/settings.json` when that is set, as
 * Claude Code itself reads it).
 */
export function claudeSettingsPath(projectDir: string, user: boolean, env: NodeJS.ProcessEnv = process.env): string {
  if (!user) return join(projectDir, '.claude', 'settings.json');
  const configDir = env.CLAUDE_CONFIG_DIR && isAbsolute(env.CLAUDE_CONFIG_DIR) ? env.CLAUDE_CONFIG_DIR : join(homedir(), '.claude');
  return join(configDir, 'settings.json');
}

/** What {@link installClaudeHooks} did. */
export interface ClaudeHooksChange {
  file: string;
  /** Events whose handler was added (those already there are left as they are). */
  added: string[];
  changed: boolean;
}

interface HandlerGroup {
  matcher?: string;
  hooks?: Array<{ type?: string; command?: string }>;
}

/**
 * Adds vtree's handlers to the settings file `file`, keeping every other setting and hook as it
 * is (the JSON is merged, not replaced) and adding nothing twice, so it is safe to repeat. Refuses,
 * changing nothing, when the file is not a JSON object or another program already is the
 * WorktreeCreate or WorktreeRemove hook.
 */
export async function installClaudeHooks(file: string): Promise<ClaudeHooksChange> {
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
  let settings: Record<string, unknown>;
  try {
    settings = text === undefined || text.trim() === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    throw new UsageError(`${file} is not valid JSON; vtree changes nothing in it`, `fix it, then run: git vtree init --claude`);
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) throw new UsageError(`${file} does not hold a JSON object`, 'fix it, then run: git vtree init --claude');
  const hooks = (settings.hooks ??= {}) as Record<string, unknown>;
  if (typeof hooks !== 'object' || Array.isArray(hooks)) throw new UsageError(`"hooks" in ${file} is not an object`, 'fix it, then run: git vtree init --claude');

  const added: string[] = [];
  for (const [event, handler] of Object.entries(CLAUDE_HOOKS)) {
    const groups = (hooks[event] ??= []) as HandlerGroup[];
    if (!Array.isArray(groups)) throw new UsageError(`"hooks.${event}" in ${file} is not a list`, 'fix it, then run: git vtree init --claude');
    const commands = groups.flatMap((g) => (Array.isArray(g.hooks) ? g.hooks : []).map((h) => h.command));
    if (commands.includes(handler.command)) continue;
    const others = commands.filter((c): c is string => typeof c === 'string');
    if (EXCLUSIVE.has(event) && others.length > 0) {
      throw new UsageError(`${file} already has a ${event} hook (${others.join('; ')}): two would both make the worktree`, `remove it from ${file}, then run: git vtree init --claude`);
    }
    groups.push({ ...('matcher' in handler ? { matcher: handler.matcher } : {}), hooks: [{ type: 'command', command: handler.command }] });
    added.push(event);
  }
  if (added.length === 0) return { file, added, changed: false };
  const eol = text?.includes('\r\n') ? '\r\n' : '\n';
  await writeFileAtomic(file, JSON.stringify(settings, null, 2).replace(/\n/g, eol) + eol);
  return { file, added, changed: true };
}
