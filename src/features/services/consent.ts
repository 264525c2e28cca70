import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import type { ComposeModel, HostAccess } from './compose.js';
import { askConsent, readApprovals, recordApprovals, type Approval } from '../../core/consent.js';
import { isWithin, resolvesInside } from '../../core/confine.js';
import type { Config } from '../../git/config.js';

/**
 * Consent to a repository's Compose stack. Its files come with the clone, and Compose runs what
 * they say (with bind mounts, `privileged`, host namespaces, the Docker socket: as root on the
 * host), so no entry point starts a stack until the user trusted the repository's stack on this
 * machine (`git vtree trust`), or said so in their own git config (`vtree.services.trusted`).
 * An approval covers the host access it showed: a stack that asks for more is asked about again.
 */

/** The git config key by which the user trusts a repository's stack without the trust store. */
export const TRUSTED_KEY = 'vtree.services.trusted';

/** Where a repository's stack stands with the user. */
export interface StackTrust {
  /** `own`: trusted by the user's git config; `changed`: approved once, now asking for more host access. */
  state: 'approved' | 'own' | 'new' | 'changed';
  /** Every host access of the stack, one line each (`web: bind mount /:/host`). */
  hostAccess: string[];
  /** Those not covered by an earlier approval. */
  added: string[];
}

/**
 * What the stack asks of the host, judged: flags always count; a host path counts unless it
 * stays inside the worktree `dir` after `..` and symlinks (without `dir`, before checkout, by
 * its letters). A path with a variable cannot be judged and counts. The Docker socket is named.
 */
export async function judgeHostAccess(model: ComposeModel, dir?: string): Promise<string[]> {
  // Before checkout, paths are placed in a stand-in worktree and judged by their letters.
  const root = dir ?? resolve('/', '.vtree-worktree-not-checked-out');
  // Compose resolves relative paths against the directory of the first file.
  const first = model.files[0] ?? 'compose.yaml';
  const project = isAbsolute(first) ? dirname(first) : join(root, dirname(first));
  const lines = await Promise.all(
    model.hostAccess.map(async (item) => {
      if (item.path === undefined) return line(item);
      const where = reached(item.path, project);
      if (where === undefined) return line(item);
      if (/(^|\/)docker\.sock$/.test(where)) return line(item, 'the Docker socket');
      const inside = dir === undefined ? isWithin(root, where) : await resolvesInside(dir, where);
      return inside ? undefined : line(item);
    }),
  );
  return [...new Set(lines.filter((l): l is string => l !== undefined))].sort();
}

function line(item: HostAccess, note?: string): string {
  return `${item.service}: ${item.what}${note ? ` (${note})` : ''}`;
}

/** The absolute host path `path` names (relative to `project`), or undefined when it holds a variable. */
function reached(path: string, project: string): string | undefined {
  if (path.includes('$')) return undefined;
  if (path === '~' || path.startsWith('~/')) return normalize(join(homedir(), path.slice(1)));
  return resolve(project, path);
}

/** The approval key of a repository's stack: one approval per repository, holding every host access approved. */
function stackKey(mainPath: string): string {
  return createHash('sha256').update(mainPath).update('\0stack').digest('hex');
}

/** How the stack of the repository at `mainPath` stands (`dir`: the worktree it runs in, when checked out). */
export async function stackTrust(mainPath: string, model: ComposeModel, config: Config, dir?: string, env: NodeJS.ProcessEnv = process.env): Promise<StackTrust> {
  const hostAccess = await judgeHostAccess(model, dir);
  // Honoured only from git config: the committed file cannot set it (git/config.ts).
  if (config.boolean(TRUSTED_KEY, false)) return { state: 'own', hostAccess, added: [] };
  const approval = Object.values(await readApprovals(env)).find((a) => a.repo === mainPath && a.kind === 'stack');
  if (!approval) return { state: 'new', hostAccess, added: hostAccess };
  const added = hostAccess.filter((h) => !(approval.hostAccess ?? []).includes(h));
  return { state: added.length === 0 ? 'approved' : 'changed', hostAccess, added };
}

/** Records the user's approval of the stack with `hostAccess` (kept with what they approved before). */
export async function approveStack(mainPath: string, hostAccess: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // What was approved before stays approved (another branch may still use it).
  const merge = (next: Omit<Approval, 'approvedAt'>, old: Approval) => ({ ...next, hostAccess: [...new Set([...(old.hostAccess ?? []), ...(next.hostAccess ?? [])])].sort() });
  await recordApprovals([{ key: stackKey(mainPath), approval: { repo: mainPath, kind: 'stack', name: 'compose', hostAccess: [...hostAccess] } }], env, merge);
}

/** How a stack is shown for approval: its files, services with their images, and its host access. */
export function describeStack(mainPath: string, model: ComposeModel, trust: StackTrust): string[] {
  const services = model.services.map((s) => `    ${s.name}: ${s.image ? `image ${s.image}` : ''}${s.build ? `${s.image ? ', ' : ''}built from the repository` : ''}${!s.image && !s.build ? 'no image' : ''}`);
  const access = trust.hostAccess.map((h) => `    ${h}${trust.state === 'changed' && trust.added.includes(h) ? '   (new since you approved the stack)' : ''}`);
  return [
    `The Compose stack of ${mainPath} (${model.files.join(', ')}) runs:`,
    ...services,
    access.length > 0 ? '  with host access:' : '  with no host access (no bind mount outside the worktree, no privileges)',
    ...access,
  ];
}

/**
 * The one rule every entry point that starts a stack goes through: true when the stack may
 * start. A stack the user has not trusted (or that now asks for more host access than they
 * approved) is shown and asked about when vtree may ask (`interactive` and a terminal);
 * otherwise it does not start and `refused` says why (callers name `git vtree trust`).
 */
export async function stackConsent(mainPath: string, model: ComposeModel, config: Config, options: { dir?: string; interactive: boolean }): Promise<{ allowed: true } | { allowed: false; refused: string }> {
  const trust = await stackTrust(mainPath, model, config, options.dir);
  if (trust.state === 'approved' || trust.state === 'own') return { allowed: true };
  if (await askConsent(options.interactive, describeStack(mainPath, model, trust), 'Start this stack (now and whenever a worktree of this repository is set up)?')) {
    await approveStack(mainPath, trust.hostAccess);
    return { allowed: true };
  }
  const why = trust.state === 'changed' ? `asks for host access you have not approved (${trust.added.join('; ')})` : 'is not trusted on this machine';
  return { allowed: false, refused: `the Compose stack of this repository ${why}` };
}
