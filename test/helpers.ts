import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The built executable the end-to-end tests run (`npm test` builds first). */
export const BIN = fileURLToPath(new URL('../bin/git-vtree', import.meta.url));

/**
 * Git config, given through the environment, that turns spare worktrees off
 * (`vtree.spares.worktrees 0`): tests not about spares expect no spare and no background job
 * keeping a pool full. Tests of spares pass {@link SPARES_ON}.
 */
const SPARES_OFF = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'vtree.spares.worktrees', GIT_CONFIG_VALUE_0: '0' };

/** Extra environment for tests of spare worktrees: the repository's own config decides (default 1). */
export const SPARES_ON: NodeJS.ProcessEnv = { GIT_CONFIG_COUNT: '0' };

/** Environment for child processes: a fixed identity, no user/system git config, spare worktrees off. */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
    GIT_CONFIG_NOSYSTEM: '1',
    ...SPARES_OFF,
    ...extra,
  };
}

/** Runs git in `cwd`; returns trimmed stdout, throws on failure. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('git', args, { cwd, env: testEnv() });
  return stdout.trim();
}

/** A fresh temporary directory (realpath'd, as git reports paths). */
export async function tempDir(prefix = 'vtree-test-'): Promise<string> {
  return realpath(await mkdtemp(join(tmpdir(), prefix)));
}

/** A temporary directory holding a repository `app` with one commit on `main`. */
export async function makeRepo(files: Record<string, string> = { 'README.md': '# app\n' }): Promise<{ root: string; repo: string; cleanup: () => Promise<void> }> {
  const root = await tempDir();
  const repo = join(root, 'app');
  await execFileAsync('git', ['init', '-q', '-b', 'main', repo], { env: testEnv() });
  for (const [name, content] of Object.entries(files)) await writeFile(join(repo, name), content);
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-qm', 'initial');
  return { root, repo, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** What a finished `git-vtree` run printed. */
export interface VtreeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `git-vtree` with `args` in `cwd`. */
export function vtree(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<VtreeResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: testEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** True when `command` is on PATH (a shell, man, ...): tests of optional tools skip without it. */
export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
