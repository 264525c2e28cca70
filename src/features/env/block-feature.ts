import { join } from 'node:path';
import { checkIgnored, notExcludedWarning, readTextIfPresent, undoFileWrite, type FileWrite, type IgnoreCheck } from '../../git/worktree-file.js';
import { BLOCK_START, chooseEnvTarget, shadowedVariables, writeEnvBlock, type EnvTarget } from './block.js';
import type { CheckoutStage, Feature, RepoStage, TargetStage } from '../feature.js';

/** The part of the `compose-discover` result (services feature) this feature reads. */
interface DiscoveredCompose {
  files?: readonly string[];
}

/** The part of the `compose-override` result (services feature) this feature reads. */
interface ComposeOverride {
  projectName?: string;
  composeFile?: string;
  files?: string[];
}

/** The file `env-target` chose for the block, and git's answer on ignoring it when it asked. */
type PreparedTarget = EnvTarget & { checked?: IgnoreCheck };

/** What the `env-block` task did; persisted as the worktree's `env` state. */
export interface EnvBlockResult {
  /** The file holding the block, relative to the worktree (`.env` or `.env.vtree`); absent when nothing was written. */
  file?: string;
  /** Why the block is not in `.env`. */
  reason?: 'tracked' | 'symlink';
  /** Variables the block sets (values are not secrets: project name, ports, compose files). */
  variables: string[];
}

/**
 * The vtree-owned block in the worktree's `.env`: `COMPOSE_PROJECT_NAME`, every leased port and
 * `COMPOSE_FILE` when the services feature generated an override, so that a plain
 * `docker compose up` inside the worktree runs its own stack on its own ports. Runs after
 * `env-files` copied the main worktree's `.env`, whose lines it keeps byte for byte.
 */
export const envBlockFeature: Feature = {
  name: 'env',
  setupTasks: (stages) => [
    {
      // Which file takes the block, and whether git ignores it: two git processes, asked while the
      // ports are leased, not after (the block is on the way to the stack's start). Whether git
      // ignores it only where a block is likely: a project without Compose or port variables gets none.
      name: 'env-target',
      deps: [stages.repo, stages.checkout],
      after: ['env-files', 'compose-discover'],
      async run(_ctx, deps): Promise<PreparedTarget> {
        const { config } = deps[stages.repo] as RepoStage;
        const { path } = deps[stages.checkout] as CheckoutStage;
        const discovered = deps['compose-discover'] as DiscoveredCompose | undefined;
        const target = await chooseEnvTarget(path);
        const likely = (discovered?.files?.length ?? 0) > 0 || config.list('vtree.ports.vars').length > 0;
        return likely ? { ...target, checked: await checkIgnored(path, target.file) } : target;
      },
    },
    {
      name: 'env-block',
      deps: [stages.repo, stages.target, stages.checkout, 'env-target'],
      after: ['env-files', 'ports', 'compose-discover', 'compose-override'],
      async run({ shared, span }, deps): Promise<EnvBlockResult & { write?: FileWrite }> {
        const { repo } = deps[stages.repo] as RepoStage;
        const target = deps[stages.target] as TargetStage;
        const { path } = deps[stages.checkout] as CheckoutStage;
        const ports = (deps['ports'] as Record<string, number> | undefined) ?? {};
        const discovered = deps['compose-discover'] as DiscoveredCompose | undefined;
        const override = deps['compose-override'] as ComposeOverride | undefined;
        // compose-override answers even when there is no Compose file: its files say whether there is one.
        const usesCompose = (discovered?.files?.length ?? 0) > 0 || (override?.files?.length ?? 0) > 0;
        const { checked, ...envTarget } = deps['env-target'] as PreparedTarget;
        if (!usesCompose && Object.keys(ports).length === 0 && !(await hasBlock(path, envTarget.file))) {
          span.set('skipped', 'no compose file and no port variables');
          return { variables: [] };
        }
        const values: Record<string, string | number> = {
          COMPOSE_PROJECT_NAME: override?.projectName ?? target.project,
          ...ports,
          ...(override?.composeFile ? { COMPOSE_FILE: override.composeFile } : {}),
        };
        const write = await writeEnvBlock(path, repo.commonDir, envTarget.file, values, checked);
        const notHidden = notExcludedWarning(write, envTarget.file);
        if (notHidden) shared.warn(notHidden);
        const variables = Object.keys(values);
        span.set('file', envTarget.file);
        span.set('changed', write.after !== write.before);
        const shadowed = shadowedVariables(write.after, variables);
        if (shadowed.length > 0) shared.warn(`${envTarget.file}: your lines after vtree's block override ${shadowed.join(', ')}`);
        if (envTarget.reason) {
          shared.warn(
            `.env is ${envTarget.reason === 'tracked' ? 'tracked by git' : 'a symlink'}, so vtree's variables are in ${envTarget.file}: ` +
              `docker compose --env-file .env --env-file ${envTarget.file} up (git vtree up does this for you)`,
          );
        }
        const result: EnvBlockResult = { file: envTarget.file, variables, ...(envTarget.reason ? { reason: envTarget.reason } : {}) };
        shared.facts.env = result;
        shared.state.env = result;
        return { ...result, write };
      },
      async undo(_ctx, result) {
        const { write } = result as { write?: FileWrite };
        if (write) await undoFileWrite(write);
      },
    },
  ],
};

async function hasBlock(worktree: string, file: string): Promise<boolean> {
  return (await readTextIfPresent(join(worktree, file)))?.includes(BLOCK_START) ?? false;
}
