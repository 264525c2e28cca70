import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckoutStage, Feature, RemoveTarget, RepoStage } from '../feature.js';
import { contentHash, keepCopies, userChangedFiles, type CopiedFiles, type KeptCopies } from './kept-copies.js';
import { copyIncluded, WORKTREE_INCLUDE } from './worktree-include.js';
import { cachedIncludedFiles } from './include-cache.js';
import { includeCachePath } from '../../core/paths.js';

/**
 * Ignored files a new worktree needs (`.env`, what `.worktreeinclude` lists), copied from the
 * main worktree. Runs before `env-block`, which appends vtree's own block to the copied `.env`.
 * On `rm`, copies of those the user changed (and of ones the user made) are kept first.
 */
export const envFilesFeature: Feature = {
  name: 'env-files',
  setupTasks: (stages) => [
    {
      // What to copy is read from the main worktree alone: listed while the checkout runs, so
      // the walk over the main worktree (it grows with the repository) is off the critical path.
      name: 'env-files-list',
      deps: [stages.repo],
      async run({ span }, deps): Promise<{ main?: string; files: string[] }> {
        const { repo } = deps[stages.repo] as RepoStage;
        const main = repo.worktrees.find((w) => w.main && !w.bare)?.path ?? repo.toplevel;
        if (!main) return { files: [] };
        const files = await cachedIncludedFiles(main, includeCachePath(repo.commonDir));
        span.set('files', files.length);
        return { main, files };
      },
    },
    {
      name: 'env-files',
      deps: [stages.checkout, 'env-files-list'],
      async run({ shared, span }, deps) {
        const { path } = deps[stages.checkout] as CheckoutStage;
        const { main, files } = deps['env-files-list'] as { main?: string; files: string[] };
        if (!main || main === path) return { path, copied: [] };
        const copied = await copyIncluded(main, path, files, shared.warn);
        span.set('files', copied.length);
        shared.facts['env-files'] = { from: main, files: copied };
        shared.state['env-files'] = { from: main, files: copied, sha256: await hashes(path, copied) } satisfies CopiedFiles;
        if (copied.length > 0) shared.log(`env: copied ${copied.join(', ')} from ${main} (${WORKTREE_INCLUDE} or the .env defaults)`);
        return { path, copied };
      },
      async undo(_ctx, result) {
        const { path, copied } = result as { path: string; copied: string[] };
        await Promise.all(copied.map((file) => rm(join(path, file), { force: true })));
      },
    },
  ],
  teardownTasks: ({ located }) => [
    {
      name: 'keep-user-files',
      // Only reads and copies (undo deletes the copies): it overlaps rm's check for local changes.
      deps: [located],
      async run({ shared, span }, deps): Promise<KeptCopies | undefined> {
        const target = deps[located] as RemoveTarget;
        const envFile = (target.state?.env as { file?: string } | undefined)?.file;
        const mcp = target.state?.mcp as { file?: string; written?: string } | undefined;
        const changed = await userChangedFiles(target.path, target.state?.['env-files'] as CopiedFiles | undefined, envFile, mcp);
        span.set('files', changed.length);
        if (changed.length === 0) return undefined;
        const kept = await keepCopies(target.repo.commonDir, target.slug, target.path, changed);
        // rm says where once it has succeeded: a refused or failed rm undoes this.
        shared.facts.kept = kept;
        return kept;
      },
      // The worktree stays when a later step fails: the copies are not needed.
      async undo(_ctx, kept) {
        if (kept) await rm((kept as KeptCopies).dir, { recursive: true, force: true });
      },
    },
  ],
};

/** {@link contentHash} of each copied regular file (links are not hashed: they hold no content of their own). */
async function hashes(worktree: string, files: readonly string[]): Promise<Record<string, string>> {
  const entries = await Promise.all(
    files.map(async (file) => {
      const path = join(worktree, file);
      if (!(await lstat(path)).isFile()) return undefined;
      return [file, contentHash(await readFile(path, 'utf8'))] as const;
    }),
  );
  return Object.fromEntries(entries.filter((e) => e !== undefined));
}
