import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../../src/core/exec.js';
import { commitFiles, detectProject } from '../../../src/features/deps/package-manager.js';
import { git, makeRepo, mcpTool, onTerminal, SPARES_ON, tempDir, testEnv, vtree, type VtreeResult } from '../../helpers.js';

// A cloned repository's package.json scripts are programs the clone brought: vtree's installs run
// them only once the user approved exactly their text, through every entry point that installs.

let root: string;
let repo: string;
let out: string;
let env: NodeJS.ProcessEnv;
let cleanups: Array<() => Promise<void>>;

/** A lockfile of a project without dependencies: `npm ci` runs nothing but the project's own scripts. */
function lockfile(): string {
  return JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'app', version: '1.0.0' } } });
}

function manifest(scripts: Record<string, string>): string {
  return JSON.stringify({ name: 'app', version: '1.0.0', private: true, scripts });
}

beforeEach(async () => {
  cleanups = [];
  out = await tempDir('vtree-outside-');
  cleanups.push(() => rm(out, { recursive: true, force: true }));
  const made = await makeRepo({ '.gitignore': 'node_modules/\n', 'package.json': manifest({ postinstall: `touch ${out}/pwned` }), 'package-lock.json': lockfile() });
  cleanups.push(made.cleanup);
  ({ root, repo } = made);
  env = { XDG_STATE_HOME: join(root, 'state') };
});
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function depsState(slug: string): Promise<{ source?: string } | undefined> {
  const state = JSON.parse(await readFile(join(repo, '.git', 'worktrees', slug, 'vtree.json'), 'utf8')) as { deps?: { source?: string } };
  return state.deps;
}

/** The programs of the repository the entry points are tried with: its postinstall, and a shell of its own its .npmrc sets for every script. */
const HOSTILE = 'package\\.json postinstall, \\.npmrc script-shell';

/** The one line saying the install did not run (naming `names`, a pattern) and what to do, and nothing written outside. */
async function expectRefused(result: VtreeResult | { code: number; stderr: string }, changed = false, names = 'package\\.json postinstall'): Promise<void> {
  expect(result.code, result.stderr).toBe(0);
  const lines = result.stderr.split('\n').filter((l) => l.includes('deps: not installed'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    new RegExp(`deps: not installed — the install would run ${names}, not approved on this machine${changed ? ', or changed since you approved them' : ''}; review and approve them: cd \\S+ && git vtree trust, then: git vtree setup`),
  );
  expect(await readdir(out)).toEqual([]);
}

/** Waits until every background job of the repository has finished (their logs say so). */
async function waitForJobs(): Promise<void> {
  const logs = join(repo, '.git', 'vibetrees', 'logs');
  for (let i = 0; i < 600; i++) {
    const texts = await Promise.all((await readdir(logs).catch(() => [] as string[])).map((n) => readFile(join(logs, n), 'utf8').catch(() => '')));
    if (texts.length > 0 && texts.every((t) => / finished in /.test(t))) return;
    await sleep(100);
  }
  throw new Error('background jobs did not finish');
}

describe('what an install runs of the repository\'s own', () => {
  it('lists the lifecycle scripts of the root and workspace package.json files, pnpm\'s pnpmfile, and the yarn release and plugins .yarnrc.yml names', async () => {
    const scripts = { build: 'tsc', prepare: 'husky', postinstall: 'node setup.js' };
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'app', private: true, workspaces: ['packages/*'], scripts }));
    await mkdir(join(repo, 'packages', 'a'), { recursive: true });
    await writeFile(join(repo, 'packages', 'a', 'package.json'), JSON.stringify({ name: 'a', scripts: { install: 'node-gyp rebuild', test: 'vitest' } }));
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'workspaces');
    expect((await detectProject(commitFiles(repo, 'HEAD')))!.programs).toEqual([
      { name: 'package.json postinstall', text: 'node setup.js', always: false },
      { name: 'package.json prepare', text: 'husky', always: false },
      { name: 'packages/a/package.json install', text: 'node-gyp rebuild', always: false },
    ]);

    await rm(join(repo, 'package-lock.json'));
    await rm(join(repo, 'packages'), { recursive: true });
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'app', packageManager: 'pnpm@9.0.0' }));
    await writeFile(join(repo, '.pnpmfile.cjs'), 'module.exports = { hooks: {} }\n');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'pnpm');
    const pnpmfile = (await git(repo, 'rev-parse', 'HEAD:.pnpmfile.cjs')).trim();
    expect((await detectProject(commitFiles(repo, 'HEAD')))!.programs).toEqual([{ name: '.pnpmfile.cjs', text: `file ${pnpmfile}`, always: true }]);

    await rm(join(repo, '.pnpmfile.cjs'));
    await writeFile(join(repo, 'package.json'), JSON.stringify({ name: 'app', packageManager: 'yarn@4.5.0' }));
    await mkdir(join(repo, '.yarn', 'releases'), { recursive: true });
    await writeFile(join(repo, '.yarn', 'releases', 'yarn-4.5.0.cjs'), 'require("child_process")\n');
    await writeFile(join(repo, '.yarnrc.yml'), 'nodeLinker: node-modules\nyarnPath: ./.yarn/releases/yarn-4.5.0.cjs\nplugins:\n  - path: .yarn/plugins/evil.cjs\n');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'yarn');
    const release = (await git(repo, 'rev-parse', 'HEAD:.yarn/releases/yarn-4.5.0.cjs')).trim();
    expect((await detectProject(commitFiles(repo, 'HEAD')))!.programs).toEqual([
      { name: '.yarn/releases/yarn-4.5.0.cjs (yarnPath)', text: `file ${release}`, always: true },
      // Named but not committed: yarn would run whatever is there, so it asks all the same.
      { name: '.yarn/plugins/evil.cjs (yarn plugin)', text: 'file not in the repository', always: true },
    ]);
  });
});

describe('the install runs the repository\'s own scripts only once the user approved them', () => {
  it('a postinstall writing outside, and a script-shell of its own, are run by none of add, setup, the hook, the spare pool, the Claude hook, MCP create or bench; after trust --yes they run; a changed one asks again; scripts off in the environment need no approval', async () => {
    // npm runs every script through this shell (a path relative to the package, so in each worktree its own).
    await writeFile(join(repo, 'shell.sh'), `#!/bin/sh\ntouch ${out}/shell\nexec sh "$@"\n`, { mode: 0o755 });
    await writeFile(join(repo, '.npmrc'), 'script-shell=./shell.sh\n');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'a shell of its own');
    const added = await vtree(repo, ['add', 'via-add', '--no-services'], { ...env, ...SPARES_ON });
    await expectRefused(added, false, HOSTILE);
    expect(await depsState('via-add')).toMatchObject({ source: 'skipped', reason: 'install not approved' });
    // status (and wait, and the MCP status tool) say so too.
    const status = JSON.parse((await vtree(join(root, 'app.worktrees', 'via-add'), ['status', '--json'], env)).stdout) as { readiness: { phases: unknown[] } };
    expect(status.readiness.phases).toContainEqual(expect.objectContaining({ name: 'deps', state: 'skipped', detail: expect.stringMatching(/not installed: .*git vtree trust, then run git vtree setup/) }));
    // The spare worktree the add asked for is made by a background job: its install is refused too.
    await git(repo, 'config', 'vtree.spares.worktrees', '1');
    await vtree(repo, ['add', 'via-add-2', '--no-services'], { ...env, ...SPARES_ON });
    await waitForJobs();
    const logs = join(repo, '.git', 'vibetrees', 'logs');
    const spareLogs = await Promise.all((await readdir(logs)).filter((n) => n.startsWith('spare-worktrees')).map((n) => readFile(join(logs, n), 'utf8')));
    expect(spareLogs.join('\n')).toMatch(/deps: not installed — the install would run package\.json postinstall, \.npmrc script-shell,/);
    expect(await readdir(out)).toEqual([]);
    await git(repo, 'config', '--unset', 'vtree.spares.worktrees');

    await git(repo, 'worktree', 'add', '-q', '-b', 'via-setup', join(root, 'app.worktrees', 'via-setup'));
    await expectRefused(await vtree(repo, ['setup', 'via-setup', '--no-services'], env), false, HOSTILE);

    // The post-checkout hook: a plain `git worktree add`.
    expect((await vtree(repo, ['hooks', 'install'], env)).code).toBe(0);
    const hooked = await run('git', ['worktree', 'add', '-q', '-b', 'via-hook', join(root, 'app.worktrees', 'via-hook')], { cwd: repo, env: testEnv(env) });
    await expectRefused({ code: 0, stderr: hooked.stderr }, false, HOSTILE);
    expect(await depsState('via-hook')).toMatchObject({ source: 'skipped' });
    expect((await vtree(repo, ['hooks', 'uninstall'], env)).code).toBe(0);

    await expectRefused(await vtree(repo, ['claude-hook', 'create'], env, JSON.stringify({ hook_event_name: 'WorktreeCreate', cwd: repo, name: 'via-claude' })), false, HOSTILE);

    const created = await mcpTool(repo, env, 'create', { branch: 'via-mcp' });
    expect(created.isError ?? false).toBe(false);
    // The warning reaches the agent.
    expect(JSON.stringify(created.content)).toMatch(/deps: not installed — the install would run package\.json postinstall, \.npmrc script-shell,/);
    expect(await depsState('via-mcp')).toMatchObject({ source: 'skipped' });

    // bench installs each way: it refuses before it makes anything.
    const bench = await vtree(repo, ['bench', '--runs', '1'], env);
    expect(bench.code).toBe(2);
    expect(bench.stderr).toMatch(/the benchmark installs the dependencies, and the install would run package\.json postinstall, \.npmrc script-shell, not approved on this machine/);
    expect((await readdir(root)).filter((name) => name.includes('bench'))).toEqual([]);
    expect(await readdir(out)).toEqual([]);

    // `trust` shows the script and approves it; then the install runs it.
    const shown = await vtree(repo, ['trust', '--json'], env);
    expect(shown.code).toBe(1);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      ok: false,
      install: [
        { name: 'package.json postinstall', run: `touch ${out}/pwned`, state: 'new' },
        { name: '.npmrc script-shell', run: './shell.sh', state: 'new' },
      ],
    });
    expect((await vtree(repo, ['trust', '--yes'], env)).code).toBe(0);
    const approved = await vtree(repo, ['add', 'approved', '--no-services'], env);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stderr).not.toMatch(/not installed/);
    expect((await readdir(out)).sort()).toEqual(['pwned', 'shell']);
    // The worktree refused before gets its install once approved.
    for (const name of ['pwned', 'shell']) await rm(join(out, name));
    const again = await vtree(join(root, 'app.worktrees', 'via-setup'), ['setup', '--no-services'], env);
    expect(again.code, again.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['pwned', 'shell']);
    expect(await depsState('via-setup')).toMatchObject({ source: 'miss' });

    // A branch that changes the script asks again.
    for (const name of ['pwned', 'shell']) await rm(join(out, name));
    await git(repo, 'switch', '-qc', 'changed');
    await writeFile(join(repo, 'package.json'), manifest({ postinstall: `touch ${out}/pwned; curl evil` }));
    await git(repo, 'commit', '-qam', 'another postinstall');
    await git(repo, 'switch', '-q', 'main');
    await expectRefused(await vtree(repo, ['add', 'changed', '--no-services'], env), true);

    // With the scripts off in the environment the install runs none: no approval needed.
    const scriptsOff = await vtree(repo, ['add', 'no-scripts', '--from', 'changed', '--no-services'], { ...env, npm_config_ignore_scripts: 'true' });
    expect(scriptsOff.code, scriptsOff.stderr).toBe(0);
    expect(scriptsOff.stderr).not.toMatch(/not installed/);
    expect(await readdir(out)).toEqual([]);
  });

  it('on a terminal, add asks: n refuses (no install, one line), y approves it (trust.json) and the install runs it', async () => {
    const refused = await onTerminal(repo, 'add no --no-services', 'n\n', env);
    expect(refused.code, refused.stdout).toBe(0);
    expect(refused.stdout).toMatch(/runs the repository's own:\s+package\.json postinstall\s+touch \S+\/pwned[\s\S]*Run them .*\[y\/N\]/);
    expect(refused.stdout).toMatch(/deps: not installed — the install would run package\.json postinstall/);
    expect(await readdir(out)).toEqual([]);
    const approved = await onTerminal(repo, 'add yes --no-services', 'y\n', env);
    expect(approved.code, approved.stdout).toBe(0);
    expect(approved.stdout).not.toMatch(/not installed/);
    expect(await readdir(out)).toEqual(['pwned']);
    const store = JSON.parse(await readFile(join(env.XDG_STATE_HOME!, 'vibetrees', 'trust.json'), 'utf8')) as { approved: Record<string, { repo: string; kind: string; name: string; run: string }> };
    expect(Object.values(store.approved)).toContainEqual(expect.objectContaining({ repo, kind: 'install', name: 'package.json postinstall', run: `touch ${out}/pwned` }));
  });

  it('the user\'s own git config (vtree.deps.trusted) needs no approval; the committed file cannot set it', async () => {
    await writeFile(join(repo, '.vtreeconfig'), '[vtree "deps"]\n\ttrusted = true\n');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'team config');
    const committed = await vtree(repo, ['add', 'committed', '--no-services'], env);
    expect(committed.stderr).toMatch(/\.vtreeconfig sets vtree\.deps\.trusted, ignored: it lets installs run the clone's own scripts without your approval/);
    await expectRefused(committed);
    await git(repo, 'config', 'vtree.deps.trusted', 'true');
    const own = await vtree(repo, ['add', 'own', '--no-services'], env);
    expect(own.code, own.stderr).toBe(0);
    expect(own.stderr).not.toMatch(/not installed/);
    expect(await readdir(out)).toEqual(['pwned']);
    expect(JSON.parse((await vtree(repo, ['trust', '--json'], env)).stdout)).toMatchObject({ ok: true, install: [{ name: 'package.json postinstall', state: 'own' }] });
  });
});

