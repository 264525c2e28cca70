import { readFile, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, makeRepo, repoForEachTest, vtree } from '../helpers.js';

let root: string;
let repo: string;
repoForEachTest((made) => ({ root, repo } = made), () => makeRepo({ 'README.md': '# app\n', '.gitignore': '.env\n' }));

/** A worktree of `branch` with a leased PORT, whose .env also holds the user's FOO line. */
async function worktree(branch: string): Promise<{ path: string; env: NodeJS.ProcessEnv }> {
  const env = { XDG_STATE_HOME: join(root, 'state') };
  await git(repo, 'config', 'vtree.ports.vars', 'PORT');
  const added = await vtree(repo, ['add', branch, '--no-deps', '--no-services'], env);
  expect(added.code, added.stderr).toBe(0);
  const path = added.stdout.trim();
  await appendFile(join(path, '.env'), 'FOO="bar baz"\n');
  return { path, env };
}

describe('git vtree exec', () => {
  it("runs a command in the worktree with its .env and port variables, and exits with the command's code", async () => {
    const { path, env } = await worktree('feat/exec');
    const port = JSON.parse(await readFile(join(repo, '.git', 'worktrees', 'feat-exec', 'vtree.json'), 'utf8')).ports.PORT as number;
    expect(port).toBeGreaterThan(0);
    const result = await vtree(repo, ['exec', 'feat/exec', '--', 'sh', '-c', 'echo "$PWD|$PORT|$FOO"; exit 7'], env);
    expect(result.code).toBe(7);
    expect(result.stdout).toBe(`${path}|${port}|bar baz\n`);
    // From another directory, by slug; flags after -- are the command's.
    const byPath = await vtree(root, ['exec', path, '--', 'sh', '-c', 'printf "%s" "$1"', 'sh', '--json'], env);
    expect(byPath.code, byPath.stderr).toBe(0);
    expect(byPath.stdout).toBe('--json');
  });

  it('--json captures the output; --timeout stops the command (124); bad input is refused with exit 2', async () => {
    const { env } = await worktree('feat/json');
    const json = await vtree(repo, ['exec', 'feat-json', '--json', '--', 'sh', '-c', 'echo out; echo err >&2; exit 4'], env);
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, exitCode: 4, timedOut: false, stdout: 'out\n', stderr: 'err\n', env: expect.arrayContaining(['FOO', 'PORT']) });
    const slow = await vtree(repo, ['exec', 'feat-json', '--timeout', '1', '--', 'sleep', '30'], env);
    expect(slow.code).toBe(124);
    expect(slow.stderr).toMatch(/stopped sleep after 1 s/);
    const missing = await vtree(repo, ['exec', 'feat-json', '--', 'no-such-command-xyz'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/command not found: no-such-command-xyz/);
    const nowhere = await vtree(repo, ['exec', 'nope', '--', 'true'], env);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toMatch(/no worktree of this repository matches 'nope'/);
    // Without --: the command's flags are its own all the same.
    const bare = await vtree(repo, ['exec', '--timeout', '30', 'feat-json', 'sh', '-c', 'echo "$0 $1"; exit 5', '--json'], env);
    expect(bare.code).toBe(5);
    expect(bare.stdout).toBe('--json \n');
    const nothing = await vtree(repo, ['exec', 'feat-json'], env);
    expect(nothing.code).toBe(2);
  });

  it('never takes variables that change how programs run from the .env (it may come with a clone)', async () => {
    const { path, env } = await worktree('feat/hostile');
    await writeFile(join(path, 'evil.cjs'), "require('fs').writeFileSync(process.env.MARK, 'x');\n");
    await appendFile(join(path, '.env'), `NODE_OPTIONS=--require=${join(path, 'evil.cjs')}\nBASH_ENV=${join(path, 'evil.sh')}\nPATH=${path}\n`);
    const result = await vtree(repo, ['exec', 'feat/hostile', '--', process.execPath, '-e', 'console.log(process.env.NODE_OPTIONS ?? "unset", process.env.FOO)'], { ...env, MARK: join(root, 'marked') });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('unset bar baz\n');
    expect(result.stderr).toMatch(/^warning: not set from \.env: BASH_ENV, NODE_OPTIONS, PATH \(they change how programs run\)$/m);
  });
});
