import { execFile, execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePrereq, tempDir } from '../helpers.js';

const execFileAsync = promisify(execFile);
const SOURCE = fileURLToPath(new URL('../..', import.meta.url));
/**
 * npm's global config file (with this machine's registry and CA settings). It lives under npm's
 * prefix, so a test that moves the prefix (npm_config_prefix) names it too.
 */
const NPM_GLOBALCONFIG = execFileSync('npm', ['config', 'get', 'globalconfig'], { encoding: 'utf8' }).trim();

let root: string;
let pkg: string;
let home: string;
let prefix: string;
const RC = { '.bashrc': "alias ll='ls -l'\n", '.zshrc': 'setopt autocd\nexport EDITOR=vi\n' };

/** A copy of this checkout's files (as git lists them, without tests), to install from. */
async function copyPackage(to: string): Promise<void> {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: SOURCE, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && !/^(test|bench|node_modules)(\/|$)/.test(f) && existsSync(join(SOURCE, f)));
  for (const file of files) {
    await mkdir(dirname(join(to, file)), { recursive: true });
    await copyFile(join(SOURCE, file), join(to, file));
    await chmod(join(to, file), statSync(join(SOURCE, file)).mode & 0o777);
  }
}

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { XDG_CONFIG_HOME: _c, XDG_DATA_HOME: _d, ...rest } = process.env;
  return {
    ...rest,
    HOME: home,
    PREFIX: prefix,
    // The user's npm cache, so that npm ci fetches only what it has not seen.
    npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
    npm_config_prefer_offline: 'true',
    ...extra,
  };
}

async function run(command: string, args: string[], extra: NodeJS.ProcessEnv = {}, cwd = pkg): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { cwd, env: env(extra), timeout: 300_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function rcFiles(): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(Object.keys(RC).map(async (name) => [name, await readFile(join(home, name), 'utf8')])));
}

beforeAll(async () => {
  root = await tempDir('vtree-install-');
  pkg = join(root, 'git-vtree');
  home = join(root, 'home');
  prefix = join(home, '.local', 'bin');
  await copyPackage(pkg);
  await mkdir(home);
  for (const [name, text] of Object.entries(RC)) await writeFile(join(home, name), text);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('install.sh', () => {
  it('refuses a Node.js or git that is too old, with a clear message', async () => {
    const fakes = join(root, 'fakes');
    await mkdir(fakes, { recursive: true });
    await writeFile(join(fakes, 'node'), '#!/bin/sh\necho 18.20.0\n');
    await chmod(join(fakes, 'node'), 0o755);
    const oldNode = await run('sh', ['install.sh'], { PATH: `${fakes}:${process.env.PATH}` });
    expect(oldNode.code).toBe(1);
    expect(oldNode.stderr).toMatch(/^install\.sh: Node\.js 18\.20\.0 is too old; git vtree needs 20\.19 or newer$/m);
    // For `eval "$(./install.sh)" && ...`: the shell code of a failure stops the line.
    expect(oldNode.stdout).toBe('false\n');

    const fakeGit = join(root, 'fake-git');
    await mkdir(fakeGit, { recursive: true });
    await writeFile(join(fakeGit, 'git'), '#!/bin/sh\necho "git version 2.25.1"\n');
    await chmod(join(fakeGit, 'git'), 0o755);
    const oldGit = await run('sh', ['install.sh'], { PATH: `${fakeGit}:${process.env.PATH}` });
    expect(oldGit.code).toBe(1);
    expect(oldGit.stderr).toMatch(/git 2\.25\.1 is too old; git vtree needs 2\.31 or newer/);
    expect(existsSync(join(prefix, 'git-vtree'))).toBe(false);
  });

  let before: Record<string, string>;
  let rc: Record<string, string>;
  const data = () => join(home, '.local', 'share');
  const installed = () => [
    join(data(), 'bash-completion', 'completions', 'git-vtree'),
    join(data(), 'zsh', 'site-functions', '_git-vtree'),
    join(home, '.config', 'fish', 'completions', 'git-vtree.fish'),
    join(home, '.config', 'fish', 'conf.d', 'git-vtree.fish'),
    join(data(), 'git-vtree', 'init.bash'),
    join(data(), 'git-vtree', 'init.zsh'),
    join(data(), 'man', 'man1', 'git-vtree.1'),
  ];

  it('installs into PREFIX (not on PATH: put on PATH by the rc files; stdout is only the shell code putting it on PATH now), works through git', async () => {
    before = await rcFiles();
    const first = await run('sh', ['install.sh']);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(first.stderr).toMatch(/Installing npm dependencies/);
    expect(first.stdout).toBe(`export PATH="${prefix}:$PATH"\n`);
    // One message about shell set-up, naming both rc files it changed.
    expect(first.stderr.match(/Shell set-up/g)).toHaveLength(1);
    expect(first.stderr).toContain(`Shell set-up: new shells get ${prefix} on PATH, completion`);
    expect(first.stderr).toContain(`from ${home}/.bashrc and ${home}/.zshrc.`);
    expect(await readlink(join(prefix, 'git-vtree'))).toBe(join(pkg, 'bin', 'git-vtree'));
    expect(await readlink(join(prefix, 'git-vtree-ensure-setup'))).toBe(join(pkg, 'hooks', 'ensure-setup'));

    // git finds it on PATH, as `git vtree`.
    const { version } = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as { version: string };
    const viaGit = await run('git', ['vtree', '--version'], { PATH: `${prefix}:${process.env.PATH}` }, root);
    expect(viaGit.stdout).toBe(`git-vtree ${version}\n`);
    const help = await run('git', ['vtree', 'completion', 'bash'], { PATH: `${prefix}:${process.env.PATH}` }, root);
    expect(help.stdout).toContain('_git_vtree()');

    // Completion where each shell looks for it.
    for (const file of installed()) expect(existsSync(file), file).toBe(true);
    rc = await rcFiles();
    const init = join(data(), 'git-vtree', 'init.bash');
    expect(rc['.bashrc']).toBe(`${before['.bashrc']}# >>> git vtree >>>\nexport PATH="${prefix}:$PATH"\n[ -f "${init}" ] && . "${init}"\n# <<< git vtree <<<\n`);
    expect(rc['.zshrc']).toContain(join(data(), 'git-vtree', 'init.zsh'));

    // A new interactive bash has git-vtree on PATH, the completion and the vtree function, without starting Node.js.
    const bash = await run('bash', ['-i', '-c', 'command -v git-vtree; complete -p git-vtree vtree; type -t vtree'], {}, root);
    expect(bash.stdout).toContain(`${prefix}/git-vtree\n`);
    expect(bash.stdout).toContain('complete -F __git_vtree_main git-vtree');
    expect(bash.stdout).toContain('complete -F __git_vtree_main vtree');
    expect(bash.stdout).toMatch(/^function$/m);
  });

  it("makes `git vtree --help` open the man page (git runs man, which finds it through PATH)", async (ctx) => {
    await requirePrereq('man', ctx);
    const manual = await run('git', ['vtree', '--help'], { PATH: `${prefix}:${process.env.PATH}`, MANPAGER: 'cat', MANWIDTH: '100' }, root);
    expect(manual.stdout, manual.stderr).toMatch(/git-vtree - worktrees that are ready to work in/);
    expect(manual.stdout).toMatch(/git vtree add <branch>/);
  });

  it('gives zsh the completion and the vtree function', async (ctx) => {
    await requirePrereq('zsh', ctx);
    const zsh = await run('zsh', ['-i', '-c', 'whence -w vtree _git-vtree'], {}, root);
    expect(zsh.stdout).toBe('vtree: function\n_git-vtree: function\n');
  });

  it('gives fish the completion and the vtree function', async (ctx) => {
    await requirePrereq('fish', ctx);
    const fish = await run('fish', ['-c', "functions -q vtree; and complete -C 'git-vtree a'"], { PATH: `${prefix}:${process.env.PATH}` }, root);
    expect(fish.stdout.split('\t')[0]).toBe('add');
  });

  it('is idempotent, and uninstalls without a trace', async () => {
    const second = await run('sh', ['install.sh']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/npm dependencies are up to date/);
    expect(await rcFiles()).toEqual(rc);

    const removed = await run('sh', ['install.sh', '--uninstall']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(existsSync(join(prefix, 'git-vtree'))).toBe(false);
    expect(existsSync(join(prefix, 'git-vtree-ensure-setup'))).toBe(false);
    for (const file of installed()) expect(existsSync(file), file).toBe(false);
    expect(await rcFiles()).toEqual(before);
    const gone = await run('git', ['vtree', '--version'], { PATH: `${prefix}:${process.env.PATH}` }, root);
    expect(gone.code).not.toBe(0);
    // A real `npm ci` of every dependency (the MCP SDK's tree included) and a build: minutes on a
    // loaded 2-core machine, so more than the default limit.
  }, 600_000);
});

/** The README's first command, exactly as written under "Get started". */
async function readmeCommand(): Promise<string> {
  const readme = await readFile(join(SOURCE, 'README.md'), 'utf8');
  const line = readme.split('\n').find((l) => l.includes('./install.sh') && l.includes('&&'));
  expect(line).toBe('eval "$(./install.sh)" && cd ~/your/repo && git vtree add my-feature');
  return line!;
}

/** A user to run as: this one when it is not root, else a new one (removed in afterAll). */
let user: { name: string; created: boolean } | undefined;
async function nonRootUser(): Promise<string> {
  if (user) return user.name;
  if (process.getuid?.() !== 0) user = { name: (await execFileAsync('id', ['-un'])).stdout.trim(), created: false };
  else {
    const name = `vtree-t${process.pid.toString(36)}`;
    await execFileAsync('useradd', ['--no-create-home', '--shell', '/bin/sh', '--user-group', name]);
    user = { name, created: true };
  }
  return user.name;
}
afterAll(async () => {
  if (user?.created) await execFileAsync('userdel', [user.name]);
});

/**
 * Runs `script` with `sh -c` in a fresh environment (`env -i HOME=<home> PATH=<path>`, plus `extra`),
 * in `cwd`, as `asUser` (through runuser when root).
 */
async function freshShell(script: string, home: string, path: string, cwd: string, asUser?: string, extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const command = ['env', '-i', `HOME=${home}`, `PATH=${path}`, ...extra, 'sh', '-c', script];
  const [file, ...args] = asUser && process.getuid?.() === 0 ? ['runuser', '-u', asUser, '--', ...command] : command;
  try {
    const { stdout, stderr } = await execFileAsync(file!, args, { cwd, timeout: 600_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A home directory holding `your/repo`, a repository with one commit, owned by `owner` (when given). */
async function freshHome(parent: string, name: string, owner?: string): Promise<string> {
  const dir = join(parent, name);
  const repo = join(dir, 'your', 'repo');
  await mkdir(repo, { recursive: true });
  const id = ['-c', 'user.name=Test', '-c', 'user.email=test@example.com'];
  await execFileAsync('git', ['init', '-q', '-b', 'main', repo]);
  await writeFile(join(repo, 'README.md'), '# repo\n');
  await execFileAsync('git', ['-C', repo, 'add', '-A']);
  await execFileAsync('git', [...id, '-C', repo, 'commit', '-qm', 'initial']);
  if (owner && process.getuid?.() === 0) await execFileAsync('chown', ['-R', `${owner}:`, dir]);
  return dir;
}

describe("the README's first command, in a fresh shell on a fresh machine", () => {
  let base: string;
  let copy: string;
  beforeAll(async () => {
    base = await tempDir('vtree-readme-');
    await chmod(base, 0o755);
    copy = join(base, 'git-vtree');
    await copyPackage(copy);
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("works as written when npm's global bin is on PATH: the link goes there", async () => {
    const command = await readmeCommand();
    const home = await freshHome(base, 'home-npm');
    const npmPrefix = join(base, 'npm-global');
    const result = await freshShell(command, home, `${npmPrefix}/bin:/usr/bin:/bin`, copy, undefined, [`npm_config_prefix=${npmPrefix}`, `npm_config_globalconfig=${NPM_GLOBALCONFIG}`]);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    // install.sh's standard output went to eval (nothing to do: the link is on PATH); add's path is all that is left.
    expect(result.stdout).toBe(`${join(home, 'your', 'repo.worktrees', 'my-feature')}\n`);
    expect(await readlink(join(npmPrefix, 'bin', 'git-vtree'))).toBe(join(copy, 'bin', 'git-vtree'));
    expect(existsSync(join(npmPrefix, 'share', 'man', 'man1', 'git-vtree.1'))).toBe(true);
  }, 900_000);

  it("as a new user in a new login shell (useradd -m, nothing on PATH but the system's): works as written", async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip(); // making a user takes root
    const command = await readmeCommand();
    const name = `vtree-l${process.pid.toString(36)}`;
    await execFileAsync('useradd', ['--create-home', '--shell', '/bin/bash', name]);
    const login = (script: string) => execFileAsync('runuser', ['-l', name, '-c', script], { timeout: 600_000 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
    );
    try {
      const home = (await execFileAsync('getent', ['passwd', name])).stdout.split(':')[5]!;
      await freshHome(dirname(home), basename(home), name);
      const checkout = join(home, 'git-vtree');
      await copyPackage(checkout);
      await execFileAsync('chown', ['-R', `${name}:`, checkout]);
      expect((await login('echo "$PATH"')).stdout).not.toContain(home);

      const result = await login(`cd ~/git-vtree && ${command}`);
      expect(result.code, result.stderr + result.stdout).toBe(0);
      expect(result.stdout).toBe(`${join(home, 'your', 'repo.worktrees', 'my-feature')}\n`);
      expect(await readlink(join(home, '.local', 'bin', 'git-vtree'))).toBe(join(checkout, 'bin', 'git-vtree'));
      // One message about shell set-up: the user's ~/.bashrc (from /etc/skel) took the block; no second "add to" message.
      expect(result.stderr.match(/Shell set-up/g)).toHaveLength(1);
      expect(result.stderr).toContain(`Shell set-up: new shells get ${home}/.local/bin on PATH`);
      expect(result.stderr).not.toMatch(/add to ~|not a git command/);
      // The next login shell, and an interactive one, find it without the eval.
      expect((await login('command -v git-vtree')).stdout.trim()).toBe(join(home, '.local', 'bin', 'git-vtree'));
      expect((await login('bash -i -c "type -t vtree" 2>/dev/null')).stdout.trim()).toBe('function');
    } finally {
      // userdel refuses while the user's processes run: add's background jobs end within seconds.
      for (let i = 0; i < 60; i++) {
        if (await execFileAsync('userdel', ['--remove', name]).then(() => true, () => false)) break;
        if (!(await execFileAsync('getent', ['passwd', name]).then(() => true, () => false))) break;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }, 900_000);

  it('as a user with ~/.local/bin on PATH: works as written', async () => {
    const command = await readmeCommand();
    const name = await nonRootUser();
    // The checkout is the user's (install.sh builds in it).
    if (process.getuid?.() === 0) await execFileAsync('chown', ['-R', `${name}:`, copy]);
    const home = await freshHome(base, 'home-local', name);
    const result = await freshShell(command, home, `${home}/.local/bin:/usr/bin:/bin`, copy, name);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).toBe(`${join(home, 'your', 'repo.worktrees', 'my-feature')}\n`);
    expect(await readlink(join(home, '.local', 'bin', 'git-vtree'))).toBe(join(copy, 'bin', 'git-vtree'));
  }, 900_000);
});

describe('npm install -g', () => {
  let base: string;
  let repo: string;
  beforeAll(async () => {
    base = await tempDir('vtree-npm-g-');
    repo = join(await freshHome(base, 'home'), 'your', 'repo');
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  /** `git vtree add` through npm's global bin of `npmPrefix`: the path of the new worktree. */
  async function addThrough(npmPrefix: string, branch: string): Promise<string> {
    const result = await run('git', ['vtree', 'add', branch, '--no-services'], { PATH: `${npmPrefix}/bin:${process.env.PATH}` }, repo);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.trim();
  }

  it('of the tarball npm pack makes from a checkout (prepack installs and builds): it holds the build, bin, hooks, completions and man page, no sources or tests, runs no install script, and works', async () => {
    const copy = join(base, 'pack');
    await copyPackage(copy);
    const packed = await run('npm', ['pack', '--json', '--pack-destination', base], {}, copy);
    expect(packed.code, packed.stderr).toBe(0);
    const [{ filename, files }] = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const paths = files.map((f) => f.path);
    for (const path of ['bin/git-vtree', 'dist/cli.js', 'hooks/post-checkout', 'completions/git-vtree.bash', 'completions/_git-vtree', 'completions/git-vtree.fish', 'man/man1/git-vtree.1', 'package.json', 'README.md']) {
      expect(paths, path).toContain(path);
    }
    expect(paths.filter((p) => /^(src|test|bench|node_modules)\//.test(p))).toEqual([]);

    const npmPrefix = join(base, 'global-tarball');
    const installed = await run('npm', ['install', '-g', '--no-audit', '--no-fund', '--prefix', npmPrefix, join(base, filename)], { npm_config_globalconfig: NPM_GLOBALCONFIG }, base);
    expect(installed.code, installed.stderr).toBe(0);
    // A published package needs no install script (npm warns about each one it would run).
    expect(installed.stderr).not.toMatch(/install scripts|allow-scripts/);
    expect(JSON.parse(await readFile(join(npmPrefix, 'lib', 'node_modules', 'git-vtree', 'package.json'), 'utf8')).scripts ?? {}).not.toHaveProperty('prepare');
    // The man page under the custom prefix, where man finds it once <prefix>/bin is on PATH.
    expect(existsSync(join(npmPrefix, 'share', 'man', 'man1', 'git-vtree.1'))).toBe(true);
    // Only the runtime dependencies: zx is the benchmark's.
    expect(existsSync(join(npmPrefix, 'lib', 'node_modules', 'git-vtree', 'node_modules', 'zx'))).toBe(false);
    expect(existsSync(join(npmPrefix, 'lib', 'node_modules', 'git-vtree', 'node_modules', 'yargs'))).toBe(true);
    expect(await addThrough(npmPrefix, 'from-tarball')).toBe(join(base, 'home', 'your', 'repo.worktrees', 'from-tarball'));
  }, 900_000);
});
