import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckoutStage, Feature, RepoStage } from '../feature.js';
import { copyIncluded, includedFiles, WORKTREE_INCLUDE } from './worktree-include.js';

/**
 * Ignored files a new worktree needs (`.env`, what `.worktreeinclude` lists), copied from the
 * main worktree. Runs before `env-block`, which appends vtree's own block to the copied `.env`.
 */
export const envFilesFeature: Feature = {
  name: 'env-files',
  setupTasks: (stages) => [
    {
      name: 'env-files',
      deps: [stages.repo, stages.checkout],
      async run({ shared, span }, deps) {
        const { repo } = deps[stages.repo] as RepoStage;
        const { path } = deps[stages.checkout] as CheckoutStage;
        const main = repo.worktrees.find((w) => w.main && !w.bare)?.path ?? repo.toplevel;
        if (!main || main === path) return { path, copied: [] };
        const copied = await copyIncluded(main, path, await includedFiles(main), shared.warn);
        span.set('files', copied.length);
        shared.facts['env-files'] = { from: main, files: copied };
        shared.state['env-files'] = { from: main, files: copied };
        if (copied.length > 0) shared.log(`env: copied ${copied.join(', ')} from ${main} (${WORKTREE_INCLUDE} or the .env defaults)`);
        return { path, copied };
      },
      async undo(_ctx, result) {
        const { path, copied } = result as { path: string; copied: string[] };
        await Promise.all(copied.map((file) => rm(join(path, file), { force: true })));
      },
    },
  ],
};
