import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { defaultCacheDir } from '../core/paths.js';
import type { Config } from './config.js';
import type { Repo } from './repo.js';

/**
 * vtree's cache directory (dependency entries, seeded data goldens): config `vtree.cacheDir`
 * (relative to the main worktree; `~/` allowed), else under the common git dir.
 */
export function cacheDirOf(repo: Pick<Repo, 'commonDir' | 'mainPath'>, config: Config): string {
  const configured = config.string('vtree.cacheDir');
  if (!configured) return defaultCacheDir(repo.commonDir);
  if (configured.startsWith('~/')) return join(homedir(), configured.slice(2));
  return isAbsolute(configured) ? configured : resolve(repo.mainPath, configured);
}
