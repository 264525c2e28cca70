import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The built executable the end-to-end tests run (`npm test` builds first). */
export const BIN = fileURLToPath(new URL('../bin/git-vtree', import.meta.url));

/** Environment for child processes: a fixed identity and no user/system git config. */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
    GIT_CONFIG_NOSYSTEM: '1',
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

/** Every entry of a tree: type, mode, symlink target and content hash, by relative path. */
export async function treeOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (rel: string) => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const info = await lstat(join(dir, path));
      if (info.isSymbolicLink()) out[path] = `link ${await readlink(join(dir, path))}`;
      else if (info.isDirectory()) {
        out[path] = 'dir';
        await visit(path);
      } else out[path] = `file ${(info.mode & 0o7777).toString(8)} ${createHash('sha1').update(await readFile(join(dir, path))).digest('hex')}`;
    }
  };
  await visit('');
  return out;
}

/** Whether a Docker engine with Compose v2 answers: the Docker tests skip, saying so, without one. */
export async function composeEngineAnswers(): Promise<boolean> {
  try {
    await execFileAsync('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 10_000 });
    await execFileAsync('docker', ['compose', 'version'], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}
