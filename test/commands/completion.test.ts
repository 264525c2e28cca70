import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, git, makeRepo, requirePrereq, tempDir, testEnv, vtree } from '../helpers.js';
import { SPARE_LOCK_REASON } from '../../src/git/worktree.js';

const execFileAsync = promisify(execFile);
const COMPLETIONS = fileURLToPath(new URL('../../completions/', import.meta.url));
const BASH_FILE = join(COMPLETIONS, 'git-vtree.bash');
const GIT_BASH_COMPLETION = '/usr/share/bash-completion/completions/git';

let root: string;
let repo: string;
let cleanup: () => Promise<void>;
/** PATH for the shells: spies named `node` and `git-vtree` first, which a TAB must never run. */
let shellPath: string;
let spyLog: string;
/** A directory holding a `git-vtree` link to the built CLI, for `git vtree` through git. */
let binDir: string;
let home: string;

beforeAll(async () => {
  ({ root, repo, cleanup } = await makeRepo());
  await git(repo, 'branch', 'feat/one');
  await git(repo, 'branch', 'feat/two');
  await git(repo, 'update-ref', 'refs/remotes/origin/remote-only', 'HEAD');
  await git(repo, 'symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/remote-only');
  await git(repo, 'worktree', 'add', '-q', join(root, 'wt-one'), 'feat/one');
  await git(repo, 'worktree', 'add', '-q', '--detach', join(root, 'wt-detached'));
  // A spare worktree, as vtree keeps them (detached, locked with its reason): no command takes one, so none offers it.
  await git(repo, 'worktree', 'add', '-q', '--detach', '--lock', '--reason', `${SPARE_LOCK_REASON} 1`, join(root, 'app.worktrees', '.vtree-spares', 'spare-1'));

  spyLog = join(root, 'spy.log');
  const spies = join(root, 'spies');
  await mkdir(spies);
  for (const name of ['node', 'git-vtree']) {
    await writeFile(join(spies, name), `#!/bin/sh\necho "${name} $*" >> '${spyLog}'\nexit 1\n`);
    await chmod(join(spies, name), 0o755);
  }
  shellPath = `${spies}:${process.env.PATH}`;
  binDir = join(root, 'bin');
  await mkdir(binDir);
  await symlink(BIN, join(binDir, 'git-vtree'));
  home = join(root, 'home');
  await mkdir(home);
});
afterAll(async () => {
  await cleanup();
});

function shellEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return testEnv({ PATH: shellPath, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local', 'share'), ...extra });
}

async function shell(command: string, args: string[], env = shellEnv()): Promise<string> {
  const { stdout } = await execFileAsync(command, args, { cwd: repo, env, timeout: 60_000 });
  return stdout;
}

const sorted = (words: Iterable<string>) => [...new Set(words)].sort();

/** The candidates bash offers for `words` (the last one being completed), through `fn`. */
async function bashComplete(words: string[], fn = '__git_vtree_main', preamble = `source '${BASH_FILE}'`): Promise<string[]> {
  const script = `${preamble}
COMP_WORDS=("$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); COMP_LINE="$*"; COMP_POINT=\${#COMP_LINE}; COMPREPLY=()
${fn}
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = await shell('bash', ['-c', script, 'bash', ...words]);
  return sorted(out.split('\n').filter(Boolean).map((w) => w.trimEnd()));
}

/**
 * The candidates zsh offers for each command line + TAB, in one interactive zsh (under zpty) with
 * compinit and `fpath` first on $fpath; `setup` runs first. compadd is wrapped to log its matches;
 * listing is off, so that a long list never stops at zsh's "do you wish to see all" question.
 */
const ZSH_CAPTURE = String.raw`
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1=''; unsetopt autolist automenu; fpath=(${'$'}{(q)1} \$fpath); autoload -Uz compinit; compinit -u -D; __hits_file=${'$'}{(q)2}; $3"
zpty -w z 'compadd() { local -a __hits; if [[ ${'$'}{@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; builtin compadd -A __hits "$@"; (( $#__hits )) && print -rl -- $__hits >> $__hits_file; builtin compadd "$@"; }'
zpty -w z 'zle_next() { print -r -- "<next>" >> $__hits_file; BUFFER= }; zle -N zle_next; bindkey "^B" zle_next; zle_done() { exit }; zle -N zle_done; bindkey "^Y" zle_done'
for line in "${'$'}{@[4,-1]}"; do
  zpty -n -w z "$line"$'\t'
  zpty -n -w z $'\C-B'
done
zpty -n -w z $'\C-Y'
while zpty -r -t z line || { sleep 0.02; zpty -t z; }; do :; done
`;
async function zshCompleteAll(lines: string[], setup = '', fpath = COMPLETIONS): Promise<string[][]> {
  const dir = await tempDir('vtree-zsh-');
  try {
    await writeFile(join(dir, 'capture.zsh'), ZSH_CAPTURE);
    await shell('zsh', ['-f', join(dir, 'capture.zsh'), fpath, join(dir, 'hits'), setup, ...lines]);
    const hits = existsSync(join(dir, 'hits')) ? await readFile(join(dir, 'hits'), 'utf8') : '';
    const answers = hits.split('<next>\n').map((chunk) => sorted(chunk.split('\n').filter(Boolean)));
    expect(answers).toHaveLength(lines.length + 1);
    return answers.slice(0, lines.length);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The candidates fish offers for `line`, with the completion file sourced (or `setup` run). */
async function fishComplete(line: string, setup = `source '${join(COMPLETIONS, 'git-vtree.fish')}'`): Promise<string[]> {
  const out = await shell('fish', ['-c', `${setup}; complete -C "$argv[1]"`, line]);
  return sorted(out.split('\n').filter(Boolean).map((l) => l.split('\t')[0]!));
}

/** What `git-vtree --help` lists: every command and alias, and each command's flags. */
async function cliWords(): Promise<{ commands: string[]; flags: Map<string, string[]> }> {
  const help = (await vtree(repo, ['--help'])).stdout;
  const commands: string[] = [];
  const section = help.slice(help.indexOf('Commands:'), help.indexOf('Options:'));
  for (const match of section.matchAll(/^ {2}git vtree (\S+)/gm)) commands.push(match[1]!);
  for (const match of section.matchAll(/\[aliases: ([^\]]+)\]/g)) commands.push(...match[1]!.split(', '));
  const flags = new Map<string, string[]>();
  for (const command of commands) {
    const result = await vtree(repo, [command, '--help']);
    expect(result.code, result.stderr).toBe(0);
    const text = result.stdout;
    // Each flag's entry, with the lines yargs wrapped it onto.
    const entries = text.split('\n').reduce<string[]>((acc, line) => {
      if (/^ {2}(?:-\w, | {4})--/.test(line)) acc.push(line);
      else if (acc.length > 0 && /^ {6,}\S/.test(line)) acc[acc.length - 1] += line;
      return acc;
    }, []);
    const words: string[] = [];
    for (const entry of entries) {
      const [, short, long] = /^ {2}(?:-(\w), )?\s*--([\w-]+)/.exec(entry)!;
      if (long === 'version') continue; // yargs lists it everywhere; it only works alone
      words.push(`--${long}`);
      if (short) words.push(`-${short}`);
      // A boolean flag that defaults to true is turned off with --no-<flag>.
      if (/\[default: true\]/.test(entry)) words.push(`--no-${long}`);
    }
    flags.set(command, sorted(words));
  }
  return { commands: sorted(commands), flags };
}

describe('completion word lists match the CLI', () => {
  let cli: Awaited<ReturnType<typeof cliWords>>;
  beforeAll(async () => {
    cli = await cliWords();
    expect(cli.commands).toEqual(expect.arrayContaining(['add', 'rm', 'setup', 'hooks', 'completion', 'shell-init']));
  });

  it('bash', async () => {
    expect(await bashComplete(['git-vtree', ''])).toEqual(cli.commands);
    for (const [command, flags] of cli.flags) {
      const offered = sorted((await shell('bash', ['-c', `source '${BASH_FILE}'; __git_vtree_flags "$1"`, 'bash', command])).split(/\s+/).filter(Boolean));
      expect({ command, flags: offered }).toEqual({ command, flags });
    }
  });

  it('zsh', async (ctx) => {
    await requirePrereq('zsh', ctx);
    const commands = [...cli.flags.keys()];
    const [offered, ...flagLists] = await zshCompleteAll(['git-vtree ', ...commands.map((c) => `git-vtree ${c} -`)]);
    expect(offered).toEqual(cli.commands);
    commands.forEach((command, i) => expect({ command, flags: flagLists[i] }).toEqual({ command, flags: cli.flags.get(command) }));
  });

  it('fish', async (ctx) => {
    await requirePrereq('fish', ctx);
    expect(await fishComplete('git-vtree ')).toEqual(cli.commands);
    for (const [command, flags] of cli.flags) {
      expect({ command, flags: await fishComplete(`git-vtree ${command} -`) }).toEqual({ command, flags });
    }
  });
});

const BRANCHES = ['feat/one', 'feat/two', 'main', 'origin/remote-only', 'remote-only'];
const WORKTREES = ['feat/one', 'wt-detached'];

describe('bash completion', () => {
  it('completes commands, branches for add (local and remote), worktrees for rm and setup, flag values', async () => {
    await rm(spyLog, { force: true });
    expect(await bashComplete(['git-vtree', 'a'])).toEqual(['add']);
    expect(await bashComplete(['git-vtree', 'add', ''])).toEqual(BRANCHES);
    expect(await bashComplete(['git-vtree', 'add', 'feat/'])).toEqual(['feat/one', 'feat/two']);
    expect(await bashComplete(['git-vtree', 'add', 'x', '--from', 'ma'])).toEqual(['main']);
    expect(await bashComplete(['git-vtree', 'add', '--link-mode', 'h'])).toEqual(['hardlink']);
    expect(await bashComplete(['git-vtree', 'add', '--link-mode', '=', 'h'])).toEqual(['hardlink']);
    expect(await bashComplete(['git-vtree', 'rm', ''])).toEqual(WORKTREES);
    expect(await bashComplete(['git-vtree', 'setup', ''])).toEqual(WORKTREES);
    expect(await bashComplete(['git-vtree', 'down', '-w', ''])).toEqual(WORKTREES);
    expect(await bashComplete(['git-vtree', 'hooks', ''])).toEqual(['install', 'status', 'uninstall']);
    expect(await bashComplete(['git-vtree', 'shell-init', 'z'])).toEqual(['zsh']);
    expect(existsSync(spyLog)).toBe(false);
  });

  it("completes `git vtree` through git's own completion", async () => {
    await rm(spyLog, { force: true });
    const gitCompletion = `source '${GIT_BASH_COMPLETION}'; source '${BASH_FILE}'`;
    expect(await bashComplete(['git', 'vtree', 'ad'], '__git_wrap__git_main', gitCompletion)).toEqual(['add']);
    expect(await bashComplete(['git', 'vtree', 'add', 'feat/t'], '__git_wrap__git_main', gitCompletion)).toEqual(['feat/two']);
    expect(await bashComplete(['git', 'vtree', 'rm', ''], '__git_wrap__git_main', gitCompletion)).toEqual(WORKTREES);
    // bash-completion loads the file on demand, by the name git asks for, when _git_vtree is not defined yet.
    const onDemand = `source '${GIT_BASH_COMPLETION}'; _completion_loader() { [ "$1" = git-vtree ] && source '${BASH_FILE}'; }`;
    expect(await bashComplete(['git', 'vtree', 'rm', 'feat'], '__git_wrap__git_main', onDemand)).toEqual(['feat/one']);
    expect(existsSync(spyLog)).toBe(false);
  });

  it('completes the vtree function of shell-init, with cd', async () => {
    const initFile = join(root, 'init.bash');
    await writeFile(initFile, (await vtree(repo, ['shell-init', 'bash'])).stdout);
    const viaRegistration = '[[ $(complete -p vtree) == *__git_vtree_main* ]] && __git_vtree_main';
    expect(await bashComplete(['vtree', 'c'], viaRegistration, `source '${initFile}'`)).toEqual(['cache', 'cd', 'claude-hook', 'completion']);
    expect(await bashComplete(['vtree', 'cd', ''], viaRegistration, `source '${initFile}'`)).toEqual(WORKTREES);
  });
});

describe('zsh completion', () => {
  beforeEach(async (ctx) => {
    await requirePrereq('zsh', ctx);
  });

  it("completes git-vtree, git vtree (through zsh's git completion) and vtree", async () => {
    await rm(spyLog, { force: true });
    const expected: Array<[string, string[]]> = [
      ['git-vtree a', ['add']],
      ['git-vtree add ', BRANCHES],
      ['git-vtree add --link-mode=', ['auto', 'copy', 'hardlink', 'reflink', 'symlink']],
      ['git-vtree rm ', WORKTREES],
      ['git-vtree status --worktree ', WORKTREES],
      ['git vtree ad', ['add']],
      ['git vtree setup ', WORKTREES],
      ['vtree c', ['cache', 'cd', 'claude-hook', 'completion']],
    ];
    const answers = await zshCompleteAll(expected.map(([line]) => line));
    expect(expected.map(([line], i) => [line, answers[i]])).toEqual(expected);
    expect(existsSync(spyLog)).toBe(false);
  });

  it('works from the shell-init code alone (nothing on fpath)', async () => {
    const initFile = join(root, 'init.zsh');
    await writeFile(initFile, (await vtree(repo, ['shell-init', 'zsh'])).stdout);
    const empty = await tempDir('vtree-zsh-empty-');
    try {
      expect(await zshCompleteAll(['vtree cd ', 'git-vtree rm '], `source ${initFile}`, empty)).toEqual([WORKTREES, WORKTREES]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('fish completion', () => {
  beforeEach(async (ctx) => {
    await requirePrereq('fish', ctx);
  });

  // Retried: under fish 3.6 on a loaded machine (reproduced with four busy loops on two cores),
  // the worktree words of `git-vtree rm ` now and then lack one worktree (`main` came in its place
  // while the function counted entries with `math`; since it compares paths, one is only missing).
  // The same line completes correctly on a retry and when typed. Not understood yet.
  it('completes git-vtree, git vtree and the vtree function', { retry: 2 }, async () => {
    await rm(spyLog, { force: true });
    expect(await fishComplete('git-vtree a')).toEqual(['add']);
    expect(await fishComplete('git-vtree add ')).toEqual(BRANCHES);
    expect(await fishComplete('git-vtree add --link-mode ')).toEqual(['auto', 'copy', 'hardlink', 'reflink', 'symlink']);
    expect(await fishComplete('git-vtree rm ')).toEqual(WORKTREES);
    expect(await fishComplete('git-vtree up -w ')).toEqual(WORKTREES);
    expect(await fishComplete('git vtree ad')).toEqual(['add']);
    expect(await fishComplete('git vtree rm ')).toEqual(WORKTREES);
    const init = join(root, 'init.fish');
    await writeFile(init, (await vtree(repo, ['shell-init', 'fish'])).stdout);
    expect(await fishComplete('vtree c', `source '${init}'`)).toEqual(['cache', 'cd', 'claude-hook', 'completion']);
    expect(await fishComplete('vtree cd ', `source '${init}'`)).toEqual(WORKTREES);
    expect(existsSync(spyLog)).toBe(false);
  });
});

describe('git vtree completion <shell>', () => {
  it('prints the files in completions/', async () => {
    for (const [shell, file] of [
      ['bash', 'git-vtree.bash'],
      ['zsh', '_git-vtree'],
      ['fish', 'git-vtree.fish'],
    ] as const) {
      const result = await vtree(repo, ['completion', shell]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(await readFile(join(COMPLETIONS, file), 'utf8'));
    }
    expect((await vtree(repo, ['completion', 'tcsh'])).code).toBe(2);
  });
});

describe('shell-init: vtree cd and vtree add --cd', () => {
  const posix: Array<[string, string[]]> = [
    ['bash', ['bash', '-c']],
    ['zsh', ['zsh', '-f', '-c']],
  ];
  for (const [name, [command, ...flags]] of posix) {
    it(name, async (ctx) => {
      if (name === 'zsh') await requirePrereq('zsh', ctx);
      const init = (await vtree(repo, ['shell-init', name])).stdout;
      const env = testEnv({ PATH: `${binDir}:${process.env.PATH}`, HOME: home });
      const script = `eval "$1"
vtree cd feat/one && pwd
vtree cd wt-detached && pwd
vtree cd nope 2>&1; echo "status $?"
cd "$2"
vtree add "new-$3" --cd --no-services 2>/dev/null && pwd
vtree list --json >/dev/null && echo passthrough`;
      const { stdout } = await execFileAsync(command!, [...flags, script, name, init, repo, name], { cwd: repo, env });
      expect(stdout.trim().split('\n')).toEqual([
        join(root, 'wt-one'),
        join(root, 'wt-detached'),
        "vtree: no worktree for 'nope' (see: git vtree list)",
        'status 1',
        join(root, 'app.worktrees', `new-${name}`),
        'passthrough',
      ]);
    });
  }

  it('fish', async (ctx) => {
    await requirePrereq('fish', ctx);
    const init = (await vtree(repo, ['shell-init', 'fish'])).stdout;
    const env = testEnv({ PATH: `${binDir}:${process.env.PATH}`, HOME: home, XDG_CONFIG_HOME: join(home, '.config') });
    const script = `echo $argv[1] | source
vtree cd feat/one; and pwd
vtree cd nope 2>&1; echo "status $status"
cd $argv[2]
vtree add new-fish --cd --no-services 2>/dev/null; and pwd`;
    const { stdout } = await execFileAsync('fish', ['-c', script, init, repo], { cwd: repo, env });
    expect(stdout.trim().split('\n')).toEqual([
      join(root, 'wt-one'),
      "vtree: no worktree for 'nope' (see: git vtree list)",
      'status 1',
      join(root, 'app.worktrees', 'new-fish'),
    ]);
  });
});
