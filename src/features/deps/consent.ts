import { approveTexts, askConsent, textStates, type AskedText, type TrustState } from '../../core/consent.js';
import type { Config } from '../../git/config.js';
import type { InstallProgram, PackageManagerName, Project } from './package-manager.js';

/**
 * The user's consent to the programs a repository's install runs of its own (lifecycle scripts
 * of its package.json files, pnpm's `.pnpmfile.cjs`, the yarn release `.yarnrc.yml` names): the
 * clone brought them, so vtree installs only once the user approved exactly their text in this
 * repository (docs/trust.md). What the registry's packages run is the package manager's, as in a
 * plain install; restoring from the cache runs nothing.
 */

/** The user's own git config saying this repository's install scripts need no approval (refused from `.vtreeconfig`). */
export const DEPS_TRUSTED_KEY = 'vtree.deps.trusted';

/** Why a worktree got no install: its `deps.reason` in `vtree.json` and the run's facts. */
export const INSTALL_NOT_APPROVED = 'install not approved';

/** A program as the trust store knows it. */
function asked(program: InstallProgram): AskedText {
  return { kind: 'install', name: program.name, text: `install\0${program.name}\0${program.text}`, run: program.text };
}

/** A program not approved, and whether an earlier text of it was. */
export interface PendingProgram {
  program: InstallProgram;
  state: Exclude<TrustState, 'approved'>;
}

/** The programs of `programs` the user has not approved in the repository at `mainPath`. */
export async function pendingPrograms(mainPath: string, programs: readonly InstallProgram[], env: NodeJS.ProcessEnv = process.env): Promise<PendingProgram[]> {
  const states = await textStates(mainPath, programs.map(asked), env);
  return programs.flatMap((program, i) => (states[i] === 'approved' ? [] : [{ program, state: states[i] as PendingProgram['state'] }]));
}

/** How pending programs of an install in `dir` are shown for approval: each one's place, then its text. */
export function describePrograms(dir: string, pending: readonly PendingProgram[]): string[] {
  const shown = pending.flatMap(({ program, state }) => [
    `  ${program.name}${state === 'changed' ? ' (changed since you approved it)' : ''}`,
    ...(program.text.startsWith('file ') ? ['    (a file of code, run by the package manager)'] : program.text.split('\n').map((line) => `    ${line}`)),
  ]);
  return [`The install of the dependencies in ${dir} runs the repository's own:`, ...shown];
}

/** Records the user's approval of `programs` (as they are now) in the repository at `mainPath`. */
export async function approvePrograms(mainPath: string, programs: readonly InstallProgram[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await approveTexts(mainPath, programs.map(asked), env);
}

/**
 * Whether the user turned the manager's lifecycle scripts off in the environment vtree passes on
 * (`npm_config_ignore_scripts=true` for npm, pnpm and yarn 1; `YARN_ENABLE_SCRIPTS=false` for yarn 2+).
 */
function scriptsOff(manager: PackageManagerName, env: NodeJS.ProcessEnv): boolean {
  if (manager === 'yarn@berry') return /^(false|0)$/i.test(env.YARN_ENABLE_SCRIPTS ?? '');
  return manager !== 'bun' && /^(true|1)$/i.test(env.npm_config_ignore_scripts ?? '');
}

/**
 * Whether vtree may run an install of `project` in the repository at `mainPath`: the user's git
 * config trusts the repository ({@link DEPS_TRUSTED_KEY}), or every program of its own the install
 * runs is approved, or approved now when vtree may ask (`interactive` and a terminal). With the
 * scripts off in the environment, only what runs whatever (the pnpmfile, the yarn release) needs
 * approving. Otherwise, why not, in a few words.
 */
export async function installConsent(
  mainPath: string,
  project: Pick<Project, 'manager' | 'programs'>,
  config: Config,
  options: { interactive: boolean; env?: NodeJS.ProcessEnv },
): Promise<{ refused?: string }> {
  if (config.boolean(DEPS_TRUSTED_KEY, false)) return {};
  const asking = scriptsOff(project.manager, options.env ?? process.env) ? project.programs.filter((p) => p.always) : project.programs;
  if (asking.length === 0) return {};
  const pending = await pendingPrograms(mainPath, asking);
  if (pending.length === 0) return {};
  if (await askConsent(options.interactive, describePrograms(mainPath, pending), 'Run them (now and whenever vtree installs in a worktree of this repository)?')) {
    await approvePrograms(mainPath, pending.map((p) => p.program));
    return {};
  }
  const changed = pending.some((p) => p.state === 'changed') ? ', or changed since you approved them' : '';
  return { refused: `the install would run ${pending.map((p) => p.program.name).join(', ')}, not approved on this machine${changed}` };
}
