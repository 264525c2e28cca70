import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from '../core/files.js';
import { withLock } from '../core/lock.js';
import { machineStateDir, projectNamesPath, projectPrefixPath } from '../core/paths.js';
import type { Repo } from './repo.js';
import { composeProjectName, shortHash } from './slug.js';

type Claims = Record<string, string>;

/**
 * The name this repository's Compose projects start with: its directory name, unless another
 * repository on this machine holds that name (two clones of one project, `cp -r` of a repository),
 * then the name with a short hash of this one's git dir. Docker knows projects by name alone:
 * without this, a branch of the same name in both would share one stack and its volumes, and
 * `rm` in one would take the other's down. Claimed once, kept in the repository and in a
 * machine-wide registry; the answer is stable for the repository's life.
 */
export async function projectPrefix(repo: Pick<Repo, 'commonDir' | 'name'>, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const [recorded, claims] = await Promise.all([readPrefix(repo.commonDir), readClaims(env)]);
  if (recorded !== undefined && claims[recorded] === repo.commonDir) return recorded;
  return withLock(join(machineStateDir(env), 'locks', 'project-names.lock'), async () => {
    const latest = await readClaims(env);
    const free = async (name: string) => {
      const holder = latest[name];
      // A holder whose repository is gone, or no longer goes by that name (moved, or made anew), holds nothing.
      return holder === undefined || holder === repo.commonDir || (await readPrefix(holder)) !== name;
    };
    const candidates = [recorded, repo.name, `${repo.name}-${shortHash(repo.commonDir, 4)}`, `${repo.name}-${shortHash(repo.commonDir, 12)}`];
    let chosen: string | undefined;
    for (const name of candidates) {
      if (name !== undefined && (await free(name))) {
        chosen = name;
        break;
      }
    }
    // Twelve hex digits of the git dir's path collide with nothing in practice.
    chosen ??= candidates.at(-1)!;
    for (const [name, holder] of Object.entries(latest)) if (holder === repo.commonDir && name !== chosen) delete latest[name];
    latest[chosen] = repo.commonDir;
    await writeFileAtomic(projectNamesPath(env), `${JSON.stringify(latest, null, 2)}\n`, { durable: false });
    if (chosen !== recorded) await writeFileAtomic(projectPrefixPath(repo.commonDir), `${JSON.stringify({ prefix: chosen })}\n`, { durable: false });
    return chosen;
  });
}

/**
 * The Compose project name of a worktree: the one recorded when it was set up (a stack already
 * running keeps its name, whatever the repository is called since), else `<prefix>-<slug>`.
 */
export async function worktreeProject(repo: Pick<Repo, 'commonDir' | 'name'>, slug: string, state?: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const recorded = (state?.services as { project?: unknown } | undefined)?.project;
  return typeof recorded === 'string' && recorded !== '' ? recorded : composeProjectName(await projectPrefix(repo, env), slug);
}

/** The prefix a repository recorded; a torn or foreign file records none. */
async function readPrefix(commonDir: string): Promise<string | undefined> {
  const file = await readJsonFile<{ prefix?: unknown }>(projectPrefixPath(commonDir)).catch(() => undefined);
  return typeof file?.prefix === 'string' && file.prefix !== '' ? file.prefix : undefined;
}

/** The machine's claims; a torn registry is rebuilt from the claims made after it. */
async function readClaims(env: NodeJS.ProcessEnv): Promise<Claims> {
  const claims = await readJsonFile<unknown>(projectNamesPath(env)).catch(() => undefined);
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return {};
  return Object.fromEntries(Object.entries(claims).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}
