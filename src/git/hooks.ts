import { chmod, lstat, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { UsageError, VtreeError } from '../core/errors.js';
import { git, run, shellQuote } from '../core/exec.js';
import { isErrno, writeFileAtomic } from '../core/files.js';
import { withLock } from '../core/lock.js';
import { ENTRY_BIN, PACKAGE_ROOT } from '../core/package-root.js';
import { lockPath } from '../core/paths.js';

/** The hook vtree installs. */
const HOOK_NAME = 'post-checkout';

/** Where the hook that was installed before vtree's waits, to be run by it and restored on uninstall. */
const CHAINED_SUFFIX = '.vtree-chained';

/** A line only vtree's hook has: tells it apart from the user's hooks. */
const MARKER = '# git-vtree-hook: post-checkout';

/** The package's root directory (beside `dist/`), holding `hooks/` and `bin/`. */

/** What is installed where; `git vtree hooks status` prints it. */
export interface HooksStatus {
  /** The directory git runs hooks from (`git rev-parse --git-path hooks`). */
  dir: string;
  /** `core.hooksPath` and the config scope it comes from, when set. */
  hooksPath?: { value: string; scope: string };
  /** The tool that manages the directory, if one is recognised. */
  manager?: HooksManager;
  /** `installed`: vtree's hook is there; `other`: another post-checkout hook is; `none`: none is. */
  hook: 'installed' | 'other' | 'none';
  /** vtree's installed hook differs from this version's (`hooks install` updates it). */
  outdated: boolean;
  /** A previous hook is kept and run by vtree's. */
  chained: boolean;
  /** Things the user should know: a directory that is regenerated, a shared or tracked directory. */
  warnings: string[];
}

/** What `install` or `uninstall` changed. */
export interface HooksChange extends HooksStatus {
  changed: boolean;
}

/** Tools that own a hooks directory, and what that means for vtree's hook. */
type HooksManager = 'husky' | 'husky (v4-v8)' | 'lefthook' | 'pre-commit';

/**
 * Hook-manager detection, in order: the first whose test matches names the manager. `dir` is the
 * hooks directory, `existing` the text of the post-checkout hook there (empty if none).
 */
const MANAGERS = [
  { name: 'husky', test: (dir: string) => basename(dir) === '_' && basename(dirname(dir)) === '.husky' },
  { name: 'husky (v4-v8)', test: (dir: string) => basename(dir) === '.husky' },
  { name: 'lefthook', test: (_dir: string, existing: string) => /lefthook/i.test(existing) },
  { name: 'pre-commit', test: (_dir: string, existing: string) => /pre-commit\.com|pre_commit/.test(existing) },
] as const satisfies ReadonlyArray<{ name: HooksManager; test: (dir: string, existing: string) => boolean }>;

/** What each manager's presence means for the user, said once by install and status. */
const MANAGER_WARNINGS: Record<HooksManager, string> = {
  husky:
    "husky regenerates .husky/_ whenever its `prepare` script runs (npm install), dropping vtree's hook: run `git vtree hooks install` again after that, or append it to the script: \"husky && (git vtree hooks install || true)\"",
  'husky (v4-v8)': "the hooks directory .husky is part of the work tree: vtree lists its hook files in .git/info/exclude, so that `git status` stays clean",
  lefthook: "`lefthook install` replaces hooks it did not write: run `git vtree hooks install` again after it",
  'pre-commit': "`pre-commit install` replaces hooks it did not write: run `git vtree hooks install` again after it",
};

/** The hooks directory git uses for the repository around `cwd` (a bare one too), and how it is configured. */
async function locateHooks(cwd: string): Promise<{ dir: string; hooksPath?: { value: string; scope: string }; inWorkTree: boolean; toplevel: string; commonDir: string }> {
  const [out, toplevel, scoped] = await Promise.all([
    git(cwd, ['rev-parse', '--path-format=absolute', '--git-path', 'hooks', '--git-common-dir']).catch((error: unknown) => {
      throw notARepo(cwd, error);
    }),
    // Exit code 128 in a bare repository: there is no work tree.
    run('git', ['rev-parse', '--show-toplevel'], { cwd, okCodes: [0, 128] }),
    run('git', ['config', '--show-scope', '--get', 'core.hooksPath'], { cwd, okCodes: [0, 1] }),
  ]);
  const [dir, commonDir] = out.split('\n') as [string, string];
  const top = toplevel.code === 0 ? toplevel.stdout.trim() : '';
  const [scope, ...value] = scoped.stdout.trim().split('\t');
  return {
    dir,
    ...(scoped.code === 0 && scope ? { hooksPath: { value: value.join('\t'), scope } } : {}),
    // .git/hooks lies under the work tree's directory, but not in the work tree.
    inWorkTree: top !== '' && isInside(dir, top) && !isInside(dir, commonDir),
    toplevel: top,
    commonDir,
  };
}

/** Reports where hooks go and whether vtree's is installed. Changes nothing. */
export async function hooksStatus(cwd: string): Promise<HooksStatus> {
  const where = await locateHooks(cwd);
  const hookPath = join(where.dir, HOOK_NAME);
  const [existing, chained] = await Promise.all([readText(hookPath), readText(hookPath + CHAINED_SUFFIX)]);
  const ours = existing !== undefined && isOurs(existing);
  const manager = MANAGERS.find((m) => m.test(where.dir, (ours ? chained : existing) ?? ''))?.name;
  const warnings: string[] = [];
  if (manager) warnings.push(MANAGER_WARNINGS[manager]);
  if (where.hooksPath && (where.hooksPath.scope === 'global' || where.hooksPath.scope === 'system')) {
    warnings.push(`core.hooksPath is set in the ${where.hooksPath.scope} config (${where.hooksPath.value}): the hook applies to every repository that uses that directory`);
  }
  if (!manager && where.inWorkTree) {
    warnings.push(`the hooks directory ${where.dir} is inside the work tree: vtree lists its hook files in ${join(where.commonDir, 'info', 'exclude')}, so that \`git status\` stays clean`);
  }
  return {
    dir: where.dir,
    ...(where.hooksPath ? { hooksPath: where.hooksPath } : {}),
    ...(manager ? { manager } : {}),
    hook: existing === undefined ? 'none' : ours ? 'installed' : 'other',
    outdated: ours && existing !== (await hookScript()),
    chained: ours && chained !== undefined,
    warnings,
  };
}

/**
 * Installs vtree's post-checkout hook where git looks for hooks (honouring `core.hooksPath`).
 * A post-checkout hook already there is kept beside it (`post-checkout.vtree-chained`) and run
 * first by vtree's, its exit status passed on. Installing again changes nothing, unless this
 * version's hook differs from the installed one, which is then replaced.
 */
export async function installHooks(cwd: string): Promise<HooksChange> {
  return withHooksLock(cwd, () => install(cwd));
}

async function install(cwd: string): Promise<HooksChange> {
  const [before, where] = await Promise.all([hooksStatus(cwd), locateHooks(cwd)]);
  const hookPath = join(before.dir, HOOK_NAME);
  if (before.hook === 'installed' && !before.outdated) return { ...before, changed: false };
  if (where.inWorkTree && before.hook === 'other' && (await isTracked(where.toplevel, hookPath))) {
    // Renaming a committed hook would show as a change in every checkout of the repository.
    throw new VtreeError(
      `${hookPath} is committed to the repository: vtree leaves it alone`,
      `to set up worktrees that plain \`git worktree add\` makes, add this line to it: [ "$1" = ${'0'.repeat(40)} ] && [ -f .git ] && git vtree setup --hook`,
    );
  }
  if (where.inWorkTree) await excludeHookFiles(where);
  if (before.hook === 'other') {
    const chainedPath = hookPath + CHAINED_SUFFIX;
    if ((await readText(chainedPath)) !== undefined) {
      throw new VtreeError(
        `both ${hookPath} and ${chainedPath} exist, and the first is not vtree's`,
        `merge them into one ${HOOK_NAME} hook (or remove ${chainedPath}), then run: git vtree hooks install`,
      );
    }
    // A rename keeps the hook byte for byte (and its mode), so uninstall can put it back exactly.
    await rename(hookPath, chainedPath);
  }
  try {
    await writeFileAtomic(hookPath, await hookScript());
    await chmod(hookPath, 0o755);
  } catch (error) {
    if (before.hook === 'other') await rename(hookPath + CHAINED_SUFFIX, hookPath).catch(() => undefined);
    throw error;
  }
  return { ...(await hooksStatus(cwd)), changed: true };
}

/**
 * Removes vtree's post-checkout hook and puts back the hook it chained, as it was. A hook that
 * is not vtree's is left alone.
 */
export async function uninstallHooks(cwd: string): Promise<HooksChange> {
  return withHooksLock(cwd, () => uninstall(cwd));
}

async function uninstall(cwd: string): Promise<HooksChange> {
  const before = await hooksStatus(cwd);
  const hookPath = join(before.dir, HOOK_NAME);
  const chainedPath = hookPath + CHAINED_SUFFIX;
  if (before.hook === 'other') return { ...before, changed: false };
  if (before.hook === 'none') {
    // vtree's hook was deleted by hand or by a hook manager: still give the chained one back.
    if ((await readText(chainedPath)) === undefined) return { ...before, changed: false };
    await rename(chainedPath, hookPath);
  } else if (before.chained) {
    await rename(chainedPath, hookPath);
  } else {
    await rm(hookPath, { force: true });
  }
  await includeHookFilesAgain((await locateHooks(cwd)).commonDir);
  return { ...(await hooksStatus(cwd)), changed: true };
}

/** The comment above the lines vtree adds to `info/exclude`; uninstall removes both. */
const EXCLUDE_MARKER = '# git-vtree: its post-checkout hook (git vtree hooks uninstall removes these lines)';

/**
 * Keeps vtree's hook files out of `git status` when the hooks directory is inside the work
 * tree (husky 4-8's `.husky`, a plain `core.hooksPath` such as `.githooks`): lists them in the
 * repository's own `info/exclude`, never in a committed `.gitignore`. Paths git already ignores
 * (husky 9's `.husky/_` ignores itself) are left out.
 */
async function excludeHookFiles(where: { dir: string; toplevel: string; commonDir: string }): Promise<void> {
  const files = [HOOK_NAME, HOOK_NAME + CHAINED_SUFFIX].map((name) => relative(where.toplevel, join(where.dir, name)).split(sep).join('/'));
  const ignored = await run('git', ['check-ignore', '--no-index', '--', ...files], { cwd: where.toplevel, okCodes: [0, 1] });
  const missing = files.filter((f) => !ignored.stdout.split('\n').includes(f));
  if (missing.length === 0) return;
  const exclude = join(where.commonDir, 'info', 'exclude');
  const text = (await readText(exclude)) ?? '';
  const lines = [EXCLUDE_MARKER, ...missing.map((f) => `/${f.replace(/([*?[\]\\!#])/g, '\\$1')}`)];
  await writeFileAtomic(exclude, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${lines.join('\n')}\n`);
}

/** Removes what {@link excludeHookFiles} added to `info/exclude`, leaving the user's lines. */
async function includeHookFilesAgain(commonDir: string): Promise<void> {
  const exclude = join(commonDir, 'info', 'exclude');
  const text = await readText(exclude);
  if (!text?.includes(EXCLUDE_MARKER)) return;
  const lines = text.split('\n');
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== EXCLUDE_MARKER) kept.push(lines[i]!);
    else while (lines[i + 1]?.startsWith('/') && lines[i + 1]!.includes(HOOK_NAME)) i++;
  }
  await writeFileAtomic(exclude, kept.join('\n'));
}

async function isTracked(toplevel: string, path: string): Promise<boolean> {
  const { code } = await run('git', ['ls-files', '--error-unmatch', '--', relative(toplevel, path)], { cwd: toplevel, okCodes: [0, 1] });
  return code === 0;
}

/** Runs `fn` holding the repository's hooks lock: two installs at once must not chain each other. */
async function withHooksLock<T>(cwd: string, fn: () => Promise<T>): Promise<T> {
  const commonDir = await git(cwd, ['rev-parse', '--path-format=absolute', '--git-common-dir']).catch((error: unknown) => {
    throw notARepo(cwd, error);
  });
  return withLock(lockPath(commonDir, 'hooks'), fn);
}

function notARepo(cwd: string, cause: unknown): UsageError {
  return new UsageError(`not inside a git repository: ${cwd}`, 'cd into a repository first', { cause });
}

/** This version's hook, with the paths of this Node.js and this vtree filled in. */
async function hookScript(): Promise<string> {
  const template = await readFile(join(PACKAGE_ROOT, 'hooks', HOOK_NAME), 'utf8');
  return template
    .replace(/^vtree_node=.*$/m, `vtree_node=${shellQuote(process.execPath)}`)
    .replace(/^vtree_entry=.*$/m, `vtree_entry=${shellQuote(ENTRY_BIN)}`);
}

function isOurs(text: string): boolean {
  return text.split('\n', 3).includes(MARKER);
}

/** A file's text; undefined when absent. A dangling symlink counts as present (it is the user's). */
async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
    try {
      await lstat(path);
      return '';
    } catch {
      return undefined;
    }
  }
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep));
}
