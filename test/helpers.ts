import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, beforeEach, type TestContext } from 'vitest';

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
  // Background jobs (cache snapshots, spares) may still be writing there: retry a non-empty directory.
  return { root, repo, cleanup: () => rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }) };
}

/** What a finished `git-vtree` run printed. */
export interface VtreeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `git-vtree` with `args` in `cwd`; `input`, when given, is its whole stdin (a hook's payload). */
export function vtree(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<VtreeResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: testEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
    // No input: an empty stdin, at its end at once, as /dev/null would be.
    child.stdin.end(input ?? '');
  });
}

/** `git vtree add <branch> --no-deps --no-services` in `repo`, which must succeed; returns the worktree's path. */
export async function addWorktree(repo: string, branch: string): Promise<string> {
  const result = await vtree(repo, ['add', branch, '--no-deps', '--no-services']);
  if (result.code !== 0) throw new Error(`git vtree add ${branch} failed (${result.code}): ${result.stderr}`);
  return result.stdout.trim();
}

/** Waits (up to a minute) until no removed worktree's stack is still being taken down in the background (docs/day-two.md). */
export async function removalsDone(repo: string): Promise<void> {
  const dir = join(repo, '.git', 'vibetrees', 'removing');
  for (let i = 0; i < 300 && (await readdir(dir).catch(() => [])).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 200));
  const left = await readdir(dir).catch(() => []);
  if (left.length > 0) throw new Error(`still removing after a minute: ${left.join(', ')}`);
}

/**
 * What each test prerequisite gives a test, by the one field test/prereqs/install.sh reports: the
 * local image (`vtree-test/busybox:latest`), the registry address (`127.0.0.1:PORT`, holding that
 * image), the program, or the mount point of a loop-mounted copy-on-write filesystem.
 */
const PREREQS = {
  docker: 'image',
  registry: 'address',
  chromium: 'path',
  zsh: 'path',
  fish: 'path',
  tmux: 'path',
  man: 'path',
  xfs: 'mount',
  btrfs: 'mount',
  postgres: 'image',
  redis: 'image',
} as const;

/** A prerequisite of the test suite that test/prereqs/install.sh sets up. */
export type Prereq = keyof typeof PREREQS;
/** What prerequisite `N` gives: `{ image }`, `{ address }`, `{ path }` or `{ mount }`. */
export type PrereqValue<N extends Prereq> = Record<(typeof PREREQS)[N], string>;
/** A prerequisite there (with its value), or missing (with the reason). */
export type PrereqState<N extends Prereq> = { ok: true; value: PrereqValue<N> } | { ok: false; reason: string };

const PREREQ_INSTALLER = fileURLToPath(new URL('prereqs/install.sh', import.meta.url));
const prereqStates = new Map<Prereq, Promise<PrereqState<Prereq>>>();
const reportedMissing = new Set<Prereq>();

/**
 * Whether prerequisite `name` is there, asked once per test file: test/prereqs/install.sh checks it,
 * and sets it up when it can (root; loop devices for xfs and btrfs). For cleanup code that must know
 * without failing; a test that needs it calls requirePrereq.
 */
export function probePrereq<N extends Prereq>(name: N): Promise<PrereqState<N>> {
  let state = prereqStates.get(name);
  if (!state) {
    state = new Promise((resolvePromise) => {
      // CI unset: the script's exit status is for the test line; here its line says it all.
      execFile('bash', [PREREQ_INSTALLER, name], { env: { ...process.env, CI: '' }, timeout: 900_000 }, (error, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith(`ok ${name} `) || l.startsWith(`missing ${name} `));
        if (line?.startsWith('ok ')) resolvePromise({ ok: true, value: { [PREREQS[name]]: line.slice(`ok ${name} `.length) } as PrereqValue<Prereq> });
        else resolvePromise({ ok: false, reason: line?.slice(`missing ${name} `.length) ?? (stderr.trim().split('\n').at(-1) || String(error)) });
      });
    });
    prereqStates.set(name, state);
  }
  return state as Promise<PrereqState<N>>;
}

/**
 * The one way a test requires a prerequisite: returns what it gives (`const { address } = await
 * requirePrereq('registry', ctx)`). When it is missing and cannot be set up here (not root, no loop
 * devices), the test is skipped with the reason, also printed once per file; under CI=true it fails
 * instead. Call it first in a test, or in `beforeEach` to cover a describe block.
 */
export async function requirePrereq<N extends Prereq>(name: N, ctx: TestContext): Promise<PrereqValue<N>> {
  const state = await probePrereq(name);
  if (state.ok) return state.value;
  const message = `needs ${name}: ${state.reason} (test/prereqs/install.sh ${name} sets it up)`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI=true requires every prerequisite`);
  if (!reportedMissing.has(name)) console.warn(`skipped: ${message}`);
  reportedMissing.add(name);
  return ctx.skip(message);
}

/**
 * The repository the set-up tests start from: a README, and an ignored `.env` in the main worktree
 * holding one secret (`SECRET=from-main`) that a new worktree must get.
 */
export async function makeRepoWithEnv(): Promise<Awaited<ReturnType<typeof makeRepo>>> {
  const made = await makeRepo({ 'README.md': '# app\n', '.gitignore': '.env\n' });
  await writeFile(join(made.repo, '.env'), 'SECRET=from-main\n');
  return made;
}

/** Repository B beside the caller's in `root` (`<root>/other`), with a worktree of its merged branch `feature` at `<root>/other.worktrees/feature`. */
export async function otherRepository(root: string): Promise<{ other: string; theirs: string }> {
  const other = join(root, 'other');
  await mkdir(other);
  await git(other, 'init', '-q', '-b', 'main');
  await writeFile(join(other, 'b.txt'), 'b\n');
  await git(other, 'add', '-A');
  await git(other, 'commit', '-qm', 'b');
  const theirs = join(root, 'other.worktrees', 'feature');
  await git(other, 'worktree', 'add', '-q', '-b', 'feature', theirs);
  return { other, theirs };
}

/**
 * A fresh repository for every test of the calling file: made by `make` (default
 * {@link makeRepoWithEnv}) before each test, handed to `use` (which keeps what the file needs),
 * and removed after it.
 */
export function repoForEachTest(use: (made: { root: string; repo: string }) => void, make: () => ReturnType<typeof makeRepo> = makeRepoWithEnv): void {
  let cleanup: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    const made = await make();
    cleanup = made.cleanup;
    use(made);
  });
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });
}

/**
 * The repositories of a test file that start Compose stacks: all in one temp directory with its own
 * state directory (`use` receives both before the file's tests), each named with a per-file prefix
 * that its Compose projects share. After the file's tests, every container, network and volume of
 * a project with that prefix goes (when Docker answers), then the directory. Returns the maker of
 * one repository: its first commit holds `files` (in subdirectories too), and its stacks stop
 * within a second on `rm`.
 */
export function composeAppsForFile(
  label: string,
  use: (dirs: { root: string; env: NodeJS.ProcessEnv }) => void,
): (files: Record<string, string>) => Promise<{ repo: string; name: string }> {
  const prefix = `vt${label}${process.pid.toString(36)}`;
  let root = '';
  let count = 0;
  beforeAll(async () => {
    root = await tempDir(`vtree-${label}-`);
    use({ root, env: { XDG_STATE_HOME: join(root, 'state') } });
  });
  afterAll(async () => {
    if ((await probePrereq('docker')).ok) {
      const projects = new Set<string>();
      for (const kind of [['ps', '-a'], ['network', 'ls'], ['volume', 'ls']]) {
        const { stdout } = await execFileAsync('docker', [...kind, '--filter', 'label=com.docker.compose.project', '--format', '{{.Label "com.docker.compose.project"}}']);
        for (const name of stdout.split('\n')) if (name.startsWith(prefix)) projects.add(name);
      }
      await Promise.all([...projects].map((p) => execFileAsync('docker', ['compose', '-p', p, 'down', '-v', '--remove-orphans', '-t', '1'], { cwd: root }).catch(() => undefined)));
    }
    await rm(root, { recursive: true, force: true });
  });
  return async (files) => {
    const name = `${prefix}r${++count}`;
    const repo = join(root, name);
    await mkdir(repo, { recursive: true });
    await git(repo, 'init', '-q', '-b', 'main');
    for (const [file, text] of Object.entries(files)) {
      await mkdir(dirname(join(repo, file)), { recursive: true });
      await writeFile(join(repo, file), text);
    }
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'initial', '--allow-empty');
    await git(repo, 'config', 'vtree.services.stopTimeout', '1');
    // The user's own git config trusts these stacks; test/features/services/consent.test.ts unsets it.
    await git(repo, 'config', 'vtree.services.trusted', 'true');
    return { repo, name };
  };
}

/**
 * Repositories of a small npm project (semver, is-number and @isaacs/string-locale-compare from
 * the npm registry), for the test files that need real installs. Its lockfile is resolved once,
 * before the calling file's tests, and removed after them. `projectRepo` makes a repository with
 * package.json and the lockfile committed and no node_modules; `warmedRepo` one with its
 * dependencies installed and cached (`cache warm`), its remote cache at `remote` if given. The
 * repositories are removed after the file's tests too.
 */
export function npmProjectsForFile(): { projectRepo(): Promise<string>; warmedRepo(remote?: string): Promise<string> } {
  let fixture = '';
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    fixture = await tempDir('vtree-npm-project-');
    await writeFile(join(fixture, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { semver: '7.6.3', 'is-number': '7.0.0', '@isaacs/string-locale-compare': '1.1.0' } }));
    await execFileAsync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--package-lock-only'], { cwd: fixture });
  }, 120_000);
  afterAll(async () => {
    await Promise.all([rm(fixture, { recursive: true, force: true }), ...cleanups.map((cleanup) => cleanup())]);
  });
  const projectRepo = async () => {
    const made = await makeRepo({ '.gitignore': 'node_modules/\n' });
    cleanups.push(made.cleanup);
    for (const file of ['package.json', 'package-lock.json']) await copyFile(join(fixture, file), join(made.repo, file));
    await git(made.repo, 'add', '-A');
    await git(made.repo, 'commit', '-qm', 'lockfile');
    return made.repo;
  };
  const warmedRepo = async (remote?: string) => {
    const repo = await projectRepo();
    await execFileAsync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: repo });
    if (remote) await git(repo, 'config', 'vtree.cache.remote', remote);
    const warmed = await vtree(repo, ['cache', 'warm']);
    if (warmed.code !== 0) throw new Error(`git vtree cache warm failed in ${repo}: ${warmed.stderr}`);
    return repo;
  };
  return { projectRepo, warmedRepo };
}

/**
 * A compose file with one service, `web`, on `${WEB_PORT:-8080}` of 127.0.0.1, whose healthcheck
 * passes only `delaySeconds` after it starts: what `wait` must wait for.
 */
export function slowHealthyCompose(delaySeconds: number): string {
  return [
    'services:',
    '  web:',
    '    image: vtree-test/busybox:latest',
    `    command: ["sh", "-c", "sleep ${delaySeconds}; exec httpd -f -p 8080 -h /www"]`,
    '    ports: ["127.0.0.1:${WEB_PORT:-8080}:8080"]',
    '    healthcheck:',
    '      test: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/"]',
    '      interval: 1s',
    '      retries: 30',
    '',
  ].join('\n');
}

/**
 * Every entry of a tree: type, mode, symlink target and content hash, by relative path; with
 * `times`, modification times too (to prove a directory was not touched at all).
 */
export async function treeOf(dir: string, options: { times?: boolean } = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (rel: string) => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const info = await lstat(join(dir, path));
      const time = options.times ? ` ${info.mtimeMs}` : '';
      if (info.isSymbolicLink()) out[path] = `link ${await readlink(join(dir, path))}`;
      else if (info.isDirectory()) {
        out[path] = `dir${options.times ? ` ${(info.mode & 0o7777).toString(8)}` : ''}${time}`;
        await visit(path);
      } else out[path] = `file ${(info.mode & 0o7777).toString(8)}${time} ${createHash('sha1').update(await readFile(join(dir, path))).digest('hex')}`;
    }
  };
  await visit('');
  return out;
}

/** Calls one tool of `git vtree mcp` served in `repo` (a server of its own, closed after), with `env` over the test environment. */
export async function mcpTool(repo: string, env: NodeJS.ProcessEnv, tool: string, args: Record<string, unknown>): Promise<CallToolResult> {
  const [{ Client }, { StdioClientTransport }] = await Promise.all([import('@modelcontextprotocol/sdk/client/index.js'), import('@modelcontextprotocol/sdk/client/stdio.js')]);
  const client = new Client({ name: 'vtree-test', version: '1.0.0' });
  const childEnv = Object.fromEntries(Object.entries(testEnv(env)).filter((e): e is [string, string] => e[1] !== undefined));
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp'], cwd: repo, env: childEnv, stderr: 'pipe' }));
  try {
    return (await client.callTool({ name: tool, arguments: args })) as CallToolResult;
  } finally {
    await client.close();
  }
}

/**
 * Runs `git-vtree <command>` (words split on spaces) on a terminal (`script` gives it one), outside
 * CI, with `answer` waiting there until a question reads it; all it printed is in `stdout`.
 */
export function onTerminal(cwd: string, command: string, answer: string, env: NodeJS.ProcessEnv = {}): Promise<VtreeResult> {
  return new Promise<VtreeResult>((resolve, reject) => {
    const { CI: _ci, ...rest } = testEnv(env);
    const child = spawn('script', ['-qec', `${process.execPath} ${BIN} ${command}`, '/dev/null'], { cwd, env: rest, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr: '' }));
    child.stdin.end(answer);
  });
}
