import { execFile, execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, tempDir } from '../helpers.js';

const execFileAsync = promisify(execFile);
const SOURCE = fileURLToPath(new URL('../..', import.meta.url));

let root: string;
let pkg: string;
let home: string;
let prefix: string;
const RC = { '.bashrc': "alias ll='ls -l'\n", '.zshrc': 'setopt autocd\nexport EDITOR=vi\n' };

/** A copy of this checkout's files (as git lists them, without tests), to install from. */
async function copyPackage(to: string): Promise<void> {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: SOURCE, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && !f.startsWith('test/') && !f.startsWith('bench/') && existsSync(join(SOURCE, f)));
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

    const fakeGit = join(root, 'fake-git');
    await mkdir(fakeGit, { recursive: true });
    await writeFile(join(fakeGit, 'git'), '#!/bin/sh\necho "git version 2.25.1"\n');
    await chmod(join(fakeGit, 'git'), 0o755);
    const oldGit = await run('sh', ['install.sh'], { PATH: `${fakeGit}:${process.env.PATH}` });
    expect(oldGit.code).toBe(1);
    expect(oldGit.stderr).toMatch(/git 2\.25\.1 is too old; git vtree needs 2\.31 or newer/);
    expect(existsSync(join(prefix, 'git-vtree'))).toBe(false);
  });

  it('installs into PREFIX, works through git, is idempotent, and uninstalls without a trace', async () => {
    const before = await rcFiles();
    const first = await run('sh', ['install.sh']);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(first.stdout).toMatch(/Installing npm dependencies/);
    expect(first.stdout).toContain(`Note: ${prefix} is not on your PATH`);
    expect(await readlink(join(prefix, 'git-vtree'))).toBe(join(pkg, 'bin', 'git-vtree'));
    expect(await readlink(join(prefix, 'git-vtree-ensure-setup'))).toBe(join(pkg, 'hooks', 'ensure-setup'));

    // git finds it on PATH, as `git vtree`.
    const { version } = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as { version: string };
    const viaGit = await run('git', ['vtree', '--version'], { PATH: `${prefix}:${process.env.PATH}` }, root);
    expect(viaGit.stdout).toBe(`git-vtree ${version}\n`);
    const help = await run('git', ['vtree', 'completion', 'bash'], { PATH: `${prefix}:${process.env.PATH}` }, root);
    expect(help.stdout).toContain('_git_vtree()');

    // Completion where each shell looks for it.
    const data = join(home, '.local', 'share');
    const installed = [
      join(data, 'bash-completion', 'completions', 'git-vtree'),
      join(data, 'zsh', 'site-functions', '_git-vtree'),
      join(home, '.config', 'fish', 'completions', 'git-vtree.fish'),
      join(home, '.config', 'fish', 'conf.d', 'git-vtree.fish'),
      join(data, 'git-vtree', 'init.bash'),
      join(data, 'git-vtree', 'init.zsh'),
      join(data, 'man', 'man1', 'git-vtree.1'),
    ];
    for (const file of installed) expect(existsSync(file), file).toBe(true);

    // git answers `git vtree --help` with `man git-vtree`, which finds the page through PATH.
    if (hasCommand('man')) {
      const manual = await run('git', ['vtree', '--help'], { PATH: `${prefix}:${process.env.PATH}`, MANPAGER: 'cat', MANWIDTH: '100' }, root);
      expect(manual.stdout, manual.stderr).toMatch(/git-vtree - worktrees that are ready to work in/);
      expect(manual.stdout).toMatch(/git vtree add <branch>/);
    }
    const rc = await rcFiles();
    expect(rc['.bashrc']).toBe(`${before['.bashrc']}# >>> git vtree >>>\n[ -f "${join(data, 'git-vtree', 'init.bash')}" ] && . "${join(data, 'git-vtree', 'init.bash')}"\n# <<< git vtree <<<\n`);
    expect(rc['.zshrc']).toContain(join(data, 'git-vtree', 'init.zsh'));

    // A new interactive bash has the completion and the vtree function, without starting Node.js.
    const bash = await run('bash', ['-i', '-c', 'complete -p git-vtree vtree; type -t vtree'], { PATH: `${prefix}:${process.env.PATH}` }, root);
    expect(bash.stdout).toContain('complete -F __git_vtree_main git-vtree');
    expect(bash.stdout).toContain('complete -F __git_vtree_main vtree');
    expect(bash.stdout).toMatch(/^function$/m);
    if (hasCommand('zsh')) {
      const zsh = await run('zsh', ['-i', '-c', 'whence -w vtree _git-vtree'], {}, root);
      expect(zsh.stdout).toBe('vtree: function\n_git-vtree: function\n');
    }
    if (hasCommand('fish')) {
      const fish = await run('fish', ['-c', "functions -q vtree; and complete -C 'git-vtree a'"], { PATH: `${prefix}:${process.env.PATH}` }, root);
      expect(fish.stdout.split('\t')[0]).toBe('add');
    }

    // Again: nothing new, nothing twice.
    const second = await run('sh', ['install.sh']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/npm dependencies are up to date/);
    expect(await rcFiles()).toEqual(rc);

    const removed = await run('sh', ['install.sh', '--uninstall']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(existsSync(join(prefix, 'git-vtree'))).toBe(false);
    expect(existsSync(join(prefix, 'git-vtree-ensure-setup'))).toBe(false);
    for (const file of installed) expect(existsSync(file), file).toBe(false);
    expect(await rcFiles()).toEqual(before);
    const gone = await run('git', ['vtree', '--version'], { PATH: `${prefix}:${process.env.PATH}` }, root);
    expect(gone.code).not.toBe(0);
    // A real `npm ci` of every dependency (the MCP SDK's tree included) and a build: minutes on a
    // loaded 2-core machine, so more than the default limit.
  }, 600_000);
});
