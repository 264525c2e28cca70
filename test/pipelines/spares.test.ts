import { spawn } from 'node:child_process';
import { appendFile, chmod, cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/core/exec.js';
import { BIN, git, makeRepo, SPARES_ON, tempDir, testEnv, treeOf, vtree } from '../helpers.js';

// Spare worktrees (docs/spares.md), end to end with real git and npm: what `add` makes from a
// spare equals what `git worktree add` makes; races, interrupts and recycling leave no half state.

const DEPS_A = { 'is-number': '7.0.0' };
const DEPS_B = { ...DEPS_A, ms: '2.1.3' };
let fixtures: string;
const cleanups: Array<() => Promise<void>> = [];

async function npmInstall(dir: string, dependencies: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies }, null, 2) + '\n');
  await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir });
}

beforeAll(async () => {
  fixtures = await tempDir('vtree-spares-fixture-');
  await Promise.all([npmInstall(join(fixtures, 'a'), DEPS_A), npmInstall(join(fixtures, 'b'), DEPS_B)]);
});
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
  await rm(fixtures, { recursive: true, force: true });
});

/**
 * A repository on lockfile A with its node_modules installed in the main worktree, spares on
 * (pool of one), an `origin` with branches to track, and a local branch `lockb` on lockfile B.
 */
async function spareRepo(): Promise<{ root: string; repo: string }> {
  const made = await makeRepo({ '.gitignore': 'node_modules/\n.env\ndist/\n', 'a.txt': 'a\n', 'gone.txt': 'bye\n' });
  for (const file of ['package.json', 'package-lock.json']) await cp(join(fixtures, 'a', file), join(made.repo, file));
  await cp(join(fixtures, 'a', 'node_modules'), join(made.repo, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  await writeFile(join(made.repo, '.env'), 'SECRET=1\n');
  await git(made.repo, 'add', '-A');
  await git(made.repo, 'commit', '-qm', 'lockfile a');
  await git(made.repo, 'config', 'vtree.spares.worktrees', '1');
  // The user's post-checkout hook: records its arguments and where it ran.
  await writeFile(join(made.repo, '.git', 'hooks', 'post-checkout'), `#!/bin/sh\necho "$1 $2 $3 $PWD" >> "${join(made.root, 'hook-calls')}"\n`);
  await chmod(join(made.repo, '.git', 'hooks', 'post-checkout'), 0o755);
  // lockb: lockfile B, one more dependency.
  await git(made.repo, 'switch', '-q', '-c', 'lockb');
  for (const file of ['package.json', 'package-lock.json']) await cp(join(fixtures, 'b', file), join(made.repo, file));
  await git(made.repo, 'commit', '-qam', 'lockfile b');
  await git(made.repo, 'switch', '-q', 'main');
  // origin: a clone with two more branches, fetched back as remote-tracking branches.
  const origin = join(made.root, 'origin.git');
  await git(made.root, 'clone', '-q', '--bare', made.repo, origin);
  const scratch = join(made.root, 'scratch');
  await git(made.root, 'clone', '-q', origin, scratch);
  // Two branches of each kind on one commit (another than main's): one for vtree, one for git.
  await git(scratch, 'switch', '-q', '-c', 'side', 'main');
  await writeFile(join(scratch, 'a.txt'), 'changed on a branch\n');
  await writeFile(join(scratch, 'new.txt'), 'new\n');
  await git(scratch, 'rm', '-q', 'gone.txt');
  await git(scratch, 'add', '-A');
  await git(scratch, 'commit', '-qm', 'side');
  await git(scratch, 'push', '-q', 'origin', 'side:r1', 'side:r2', 'side:l1', 'side:l2');
  await git(made.repo, 'remote', 'add', 'origin', origin);
  await git(made.repo, 'fetch', '-q', 'origin');
  for (const name of ['l1', 'l2']) await git(made.repo, 'branch', '-q', '--no-track', name, `origin/${name}`);
  cleanups.push(async () => {
    await waitForJobs(made.repo);
    await made.cleanup();
  });
  return made;
}

const env = SPARES_ON;

/** Waits until every background job of the repository has finished (their logs say so). */
async function waitForJobs(repo: string): Promise<void> {
  const logs = join(repo, '.git', 'vibetrees', 'logs');
  for (let i = 0; i < 600; i++) {
    const names = await readdir(logs).catch(() => [] as string[]);
    const texts = await Promise.all(names.map((n) => readFile(join(logs, n), 'utf8').catch(() => '')));
    if (texts.every((t) => / finished in /.test(t) || /git vtree/.test(t))) return;
    await sleep(100);
  }
  throw new Error('background jobs did not finish');
}

/** Makes the pool full now (in the foreground). */
async function warm(repo: string): Promise<void> {
  await waitForJobs(repo);
  const warmed = await vtree(repo, ['cache', 'warm'], env);
  expect(warmed.code, warmed.stderr).toBe(0);
}

/**
 * A repository with a full pool and a git on PATH that stops at the command containing `at` (it
 * announces it by creating `reached`, then waits `pause` seconds), so an interrupt lands exactly
 * there; `startAdd` starts `git vtree add` of `branch` with that git.
 */
async function stoppingAt(at: string, pause: number) {
  const { root, repo } = await spareRepo();
  await warm(repo);
  const [spare] = await spares(repo);
  const bin = join(root, 'bin');
  await mkdir(bin);
  const realGit = (await run('sh', ['-c', 'command -v git'])).stdout.trim();
  const reached = join(root, 'reached');
  await writeFile(join(bin, 'git'), `#!/bin/sh\ncase " $* " in *" ${at} "*) : > "${reached}"; sleep ${pause} ;; esac\nexec "${realGit}" "$@"\n`);
  await chmod(join(bin, 'git'), 0o755);
  const startAdd = (branch: string, detached = false) =>
    spawn(process.execPath, [BIN, 'add', '--no-services', branch], { cwd: repo, env: testEnv({ ...env, PATH: `${bin}:${process.env.PATH}` }), stdio: 'ignore', detached });
  const waitUntilReached = async () => {
    for (let i = 0; i < 300 && !(await readFile(reached).then(() => true, () => false)); i++) await sleep(50);
  };
  return { root, repo, spare, startAdd, waitUntilReached };
}

async function spares(repo: string): Promise<string[]> {
  const list = await git(repo, 'worktree', 'list', '--porcelain');
  return list
    .split('\n\n')
    .filter((block) => /\nlocked git vtree spare/.test(block))
    .map((block) => block.split('\n')[0]!.slice('worktree '.length));
}

async function add(repo: string, branch: string, extra: string[] = []): Promise<{ path: string; spare: boolean; facts: Record<string, unknown> }> {
  const result = await vtree(repo, ['add', '--json', '--no-services', ...extra, branch], env);
  expect(result.code, result.stderr).toBe(0);
  const json = JSON.parse(result.stdout) as { path: string; facts: Record<string, unknown>; steps: Array<{ name: string; detail?: Record<string, unknown> }> };
  const checkout = json.steps.find((s) => s.name === 'git-worktree-add');
  return { path: json.path, spare: typeof checkout?.detail?.spare === 'string' && !String(checkout.detail.spare).startsWith('fell back'), facts: json.facts };
}

/** What git says of a worktree, with its branch name and path replaced, for comparing two worktrees. */
async function gitView(repo: string, path: string, branch: string): Promise<Record<string, string>> {
  const norm = (text: string) => text.replaceAll(path, '<path>').replaceAll(branch, '<branch>');
  const blocks = (await git(repo, 'worktree', 'list', '--porcelain')).split('\n\n');
  const upstream = await run('git', ['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{upstream}'], { cwd: path, okCodes: [0, 128], env: testEnv() });
  return {
    status: norm(await git(path, 'status', '--porcelain=v2', '--branch')),
    head: await git(path, 'rev-parse', 'HEAD'),
    upstream: upstream.code === 0 ? norm(upstream.stdout.trim()) : '(none)',
    // Index freshness: entries whose stat data differ from the index (none after a fresh checkout).
    statDirty: await git(path, 'diff-files', '--name-only'),
    list: norm(blocks.find((b) => b.startsWith(`worktree ${path}\n`)) ?? '(missing)'),
    files: (await git(path, 'ls-files', '-s')).split('\n').length.toString(),
    branchConfig: norm((await run('git', ['config', '--get-regexp', `^branch\\.${branch.replace(/[.]/g, '\\.')}\\.`], { cwd: repo, okCodes: [0, 1], env: testEnv() })).stdout.trim()),
  };
}

describe('spare worktrees', () => {
  it('give what git worktree add gives, for a new, a local and a remote branch', async () => {
    const { root, repo } = await spareRepo();
    const cases = [
      { kind: 'new', vtree: 'n1', git: ['worktree', 'add', '--no-track', '-b', 'n2', join(root, 'g-n2'), 'HEAD'], gitBranch: 'n2', gitPath: join(root, 'g-n2') },
      { kind: 'local', vtree: 'l1', git: ['worktree', 'add', join(root, 'g-l2'), 'l2'], gitBranch: 'l2', gitPath: join(root, 'g-l2') },
      { kind: 'remote', vtree: 'r1', git: ['worktree', 'add', '--track', '-b', 'r2', join(root, 'g-r2'), 'origin/r2'], gitBranch: 'r2', gitPath: join(root, 'g-r2') },
    ];
    for (const c of cases) {
      await warm(repo);
      const [spare] = await spares(repo);
      expect(spare).toBeDefined();
      const made = await add(repo, c.vtree);
      expect(made.spare, `${c.kind}: the spare was used`).toBe(true);
      expect(await spares(repo)).not.toContain(spare);
      const ourHook = (await readFile(join(root, 'hook-calls'), 'utf8')).trim().split('\n').at(-1);
      await git(repo, ...c.git);
      const theirHook = (await readFile(join(root, 'hook-calls'), 'utf8')).trim().split('\n').at(-1);
      // The hook ran once more for each, with the arguments of a new worktree, in it.
      expect(ourHook?.replace(made.path, '<path>')).toBe(theirHook?.replace(c.gitPath, '<path>'));
      expect(ourHook).toMatch(/^0{40} [0-9a-f]{40} 1 /);
      const ours = await gitView(repo, made.path, c.vtree);
      const theirs = await gitView(repo, c.gitPath, c.gitBranch);
      expect(ours, c.kind).toEqual(theirs);
      expect(ours.statDirty).toBe('');
      // Dependencies came with the spare, complete.
      expect((await readdir(join(made.path, 'node_modules'))).sort()).toEqual((await readdir(join(fixtures, 'a', 'node_modules'))).sort());
      expect(await readFile(join(made.path, '.env'), 'utf8')).toContain('SECRET=1');
    }
  });

  it('five concurrent adds with one spare: one takes it, four check out, all succeed', async () => {
    const { repo } = await spareRepo();
    await warm(repo);
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => add(repo, `c${i}`)));
    expect(results.filter((r) => r.spare)).toHaveLength(1);
    for (const r of results) expect(await git(r.path, 'status', '--porcelain')).toBe('');
    const list = await git(repo, 'worktree', 'list', '--porcelain');
    for (let i = 1; i <= 5; i++) expect(list).toContain(`branch refs/heads/c${i}`);
  });

  it('a spare behind HEAD is switched to the target commit and brought forward in the background', async () => {
    const { repo } = await spareRepo();
    await warm(repo);
    const [spare] = await spares(repo);
    await writeFile(join(repo, 'a.txt'), 'moved on\n');
    await writeFile(join(repo, 'later.txt'), 'later\n');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'later');
    const made = await add(repo, 'behind');
    expect(made.spare).toBe(true);
    expect(await readFile(join(made.path, 'a.txt'), 'utf8')).toBe('moved on\n');
    expect(await readFile(join(made.path, 'later.txt'), 'utf8')).toBe('later\n');
    expect(await git(made.path, 'status', '--porcelain')).toBe('');
    expect(await git(made.path, 'rev-parse', 'HEAD')).toBe(await git(repo, 'rev-parse', 'HEAD'));
    expect(spare).toBeDefined();

    // The next spare, made at this HEAD, falls behind and is switched forward, not rebuilt.
    await warm(repo);
    const [next] = await spares(repo);
    await writeFile(join(repo, 'a.txt'), 'once more\n');
    await git(repo, 'commit', '-qam', 'once more');
    await warm(repo);
    expect(await spares(repo)).toEqual([next]);
    expect(await git(next!, 'rev-parse', 'HEAD')).toBe(await git(repo, 'rev-parse', 'HEAD'));
    expect(await git(next!, 'status', '--porcelain')).toBe('');
  });

  it('a lockfile change between the spare and the target gives the target lockfile node_modules', async () => {
    const { repo } = await spareRepo();
    await warm(repo);
    const made = await add(repo, 'lockb');
    expect(made.spare).toBe(true);
    expect((await readdir(join(made.path, 'node_modules'))).sort()).toEqual((await readdir(join(fixtures, 'b', 'node_modules'))).sort());
    expect(await git(made.path, 'status', '--porcelain')).toBe('');
  });

  describe('Ctrl-C during add leaves a valid spare or nothing', () => {
    // A git on PATH that stops at one command (it announces it, then waits), so the interrupt lands exactly there.
    const steps = [
      { at: 'rev-parse --verify', expect: 'spare' },
      { at: 'symbolic-ref', expect: 'nothing' },
      { at: '--git-path hooks/post-checkout', expect: 'nothing' },
      { at: 'hook run', expect: 'nothing' },
      { at: 'ls-files -- .env', expect: 'nothing' },
    ] as const;
    for (const step of steps) {
      it(`at \`git ${step.at}\``, async () => {
        const { root, repo, spare, startAdd, waitUntilReached } = await stoppingAt(step.at, 20);
        const child = startAdd('interrupted');
        const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
        await waitUntilReached();
        child.kill('SIGINT');
        expect(await exited).toBe(130);
        await waitForJobs(repo);
        const list = await git(repo, 'worktree', 'list', '--porcelain');
        expect(list).not.toContain('interrupted');
        expect(await run('git', ['rev-parse', '--verify', '--quiet', 'refs/heads/interrupted'], { cwd: repo, okCodes: [0, 1], env: testEnv() }).then((r) => r.code)).toBe(1);
        const left = await spares(repo);
        if (step.expect === 'spare') {
          expect(left).toEqual([spare]);
          expect(await git(spare!, 'status', '--porcelain')).toBe('');
          expect(list).toContain('locked git vtree spare');
        } else {
          expect(left).toEqual([]);
        }
        // The pool holds nothing but valid spares.
        const pool = join(root, 'app.worktrees', '.vtree-spares');
        const names = (await readdir(pool).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
        expect(names.map((n) => join(pool, n))).toEqual(left);
      });
    }
  });

  it('a spare has node_modules of its own: no file shared with the main worktree or the cache', async () => {
    const { repo } = await spareRepo();
    await warm(repo);
    const [spare] = await spares(repo);
    const file = join('node_modules', 'is-number', 'index.js');
    expect((await stat(join(spare!, file))).ino).not.toBe((await stat(join(repo, file))).ino);
    expect((await stat(join(spare!, file))).nlink).toBe(1);
    expect(await readFile(join(spare!, file), 'utf8')).toBe(await readFile(join(repo, file), 'utf8'));
    const made = await add(repo, 'own-files');
    expect(made.spare).toBe(true);
    expect(made.facts.deps).toMatchObject({ inSpareWorktree: true });
    expect((await stat(join(made.path, file))).nlink).toBe(1);
  });

  it('a spare whose own node_modules was edited in the pool is checked like any hit and not handed out as it is', async () => {
    const { repo } = await spareRepo();
    await warm(repo);
    const [spare] = await spares(repo);
    const file = join('node_modules', 'is-number', 'index.js');
    const clean = await readFile(join(repo, file), 'utf8');
    await appendFile(join(spare!, file), '// edited in the pool\n');
    const result = await vtree(repo, ['add', '--json', '--no-services', 'pool-edit'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`${file} of the spare worktree changed since it was made`);
    const { path, facts } = JSON.parse(result.stdout) as { path: string; facts: { deps: Record<string, unknown> } };
    expect(facts.deps.inSpareWorktree).toBeUndefined();
    expect(await readFile(join(path, file), 'utf8')).toBe(clean);
  });

  it('a spare whose node_modules shares a file someone edited in place is not handed out as it is', async () => {
    const { repo } = await spareRepo();
    // Linked spares: the user chose hardlinks (disk over isolation).
    await git(repo, 'config', 'vtree.linkMode', 'hardlink');
    await warm(repo);
    const [spare] = await spares(repo);
    const file = join('node_modules', 'is-number', 'index.js');
    // The spare's tree is linked: the main worktree's file is the spare's too.
    expect((await stat(join(spare!, file))).ino).toBe((await stat(join(repo, file))).ino);
    const clean = await readFile(join(repo, file), 'utf8');
    await appendFile(join(repo, file), '// debugging\n');
    const result = await vtree(repo, ['add', '--json', '--no-services', 'after-edit'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`${file} (shared with ${repo}`);
    const { path } = JSON.parse(result.stdout) as { path: string };
    expect(path).toBe(join(dirname(spare!), '..', 'after-edit'));
    expect(await readFile(join(path, file), 'utf8')).toBe(clean);
  });

  // SIGKILL while a claimed spare is being switched: with the git it waits for (a closed
  // terminal), or alone, so that git finishes pointing the spare at the branch after vtree died.
  for (const variant of [
    { name: 'with its git', group: true, pause: 30 },
    { name: 'alone, its git finishing the switch', group: false, pause: 1 },
  ]) {
    it(`a SIGKILL ${variant.name} while a claimed spare is being switched: the next add of the branch reclaims it and succeeds`, async () => {
      // Stops at the switch, after the spare was renamed onto the claimed directory and its branch made.
      const { root, repo, spare, startAdd, waitUntilReached } = await stoppingAt('symbolic-ref', variant.pause);
      const child = startAdd('killed', true);
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
      await waitUntilReached();
      process.kill(variant.group ? -child.pid! : child.pid!, 'SIGKILL');
      expect(await exited).toBe('SIGKILL');
      const target = join(root, 'app.worktrees', 'killed');
      expect(await readdir(target)).toContain('a.txt'); // the spare sits on the claimed directory
      if (!variant.group) {
        // git, left alone, points the spare (still registered at its pool path) at the branch.
        for (let i = 0; i < 100 && !(await git(repo, 'worktree', 'list', '--porcelain')).includes('branch refs/heads/killed'); i++) await sleep(50);
        expect(await git(repo, 'worktree', 'list', '--porcelain')).toContain(`worktree ${spare}\nHEAD`);
      }
      await waitForJobs(repo);
      const again = await add(repo, 'killed');
      expect(again.path).toBe(target);
      expect(await git(target, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('killed');
      expect(await git(target, 'status', '--porcelain')).toBe('');
      // Nothing of the killed claim is left: no admin dir naming the spare's old place, which is gone.
      const list = await git(repo, 'worktree', 'list', '--porcelain');
      expect(list).not.toContain(spare!);
      expect(list).not.toContain('prunable');
    });
  }

  describe('rm recycles', () => {
    it('a clean worktree into the pool, without what was set up in it', async () => {
      const { repo } = await spareRepo();
      // A package that ships a directory an ignore rule of the repository names (`dist/`): part of
      // node_modules (and of the cache entry made from it), kept with it.
      const shipped = join('node_modules', 'is-number', 'dist', 'index.js');
      await mkdir(join(repo, shipped, '..'));
      await writeFile(join(repo, shipped), 'module.exports = 1;\n');
      const made = await add(repo, 'clean');
      expect(made.spare).toBe(false);
      await waitForJobs(repo);
      await vtree(repo, ['cache', 'prune', '--spares', '0'], env);
      await mkdir(join(made.path, 'dist'));
      await writeFile(join(made.path, 'dist', 'out.js'), 'built\n');
      expect(await readFile(join(made.path, shipped), 'utf8')).toBe('module.exports = 1;\n');
      const depsBefore = await treeOf(join(made.path, 'node_modules'));
      const removed = await vtree(repo, ['rm', '--json', '--delete-branch', 'clean'], env);
      expect(removed.code, removed.stderr).toBe(0);
      expect(JSON.parse(removed.stdout).recycled).toBe(true);
      expect(await git(repo, 'branch', '--list', 'clean')).toBe('');
      await waitForJobs(repo);
      const [spare] = await spares(repo);
      expect(spare).toBeDefined();
      const names = await readdir(spare!);
      expect(names).not.toContain('.env');
      expect(names).not.toContain('dist');
      expect(await treeOf(join(spare!, 'node_modules'))).toEqual(depsBefore);
      // list hides spares; --all shows them, marked; cache status counts them.
      const listed = JSON.parse((await vtree(repo, ['list', '--json'], env)).stdout).worktrees as Array<{ path: string; spare?: boolean }>;
      expect(listed.map((w) => w.path)).not.toContain(spare);
      const all = JSON.parse((await vtree(repo, ['list', '--json', '--all'], env)).stdout).worktrees as Array<{ path: string; spare?: boolean }>;
      expect(all.find((w) => w.path === spare)).toMatchObject({ spare: true });
      const status = JSON.parse((await vtree(repo, ['cache', 'status', '--json'], env)).stdout);
      expect(status.spareWorktrees).toMatchObject({ wanted: 1, count: 1 });
      expect(status.spareWorktrees.bytes).toBeGreaterThan(0);
      const next = await add(repo, 'after-recycle');
      expect(next.spare).toBe(true);
      expect(await git(next.path, 'status', '--porcelain')).toBe('');
    });

    it('a worktree whose node_modules was edited: checked like any hit, never handed to the next add as it is', async () => {
      const { repo } = await spareRepo();
      await warm(repo);
      const file = join('node_modules', 'is-number', 'index.js');
      const clean = await readFile(join(repo, file), 'utf8');
      const r6 = await add(repo, 'r6');
      expect(r6.spare).toBe(true);
      await waitForJobs(repo);
      await vtree(repo, ['cache', 'prune', '--spares', '0'], env);
      // Debugging a dependency in place: node_modules is ignored, so the worktree has no local change.
      await appendFile(join(r6.path, file), '// debugging r6\n');
      const removed = await vtree(repo, ['rm', '--json', 'r6'], env);
      expect(removed.code, removed.stderr).toBe(0);
      expect(JSON.parse(removed.stdout).recycled).toBe(true);
      await waitForJobs(repo);
      const logs = join(repo, '.git', 'vibetrees', 'logs');
      const texts = await Promise.all((await readdir(logs)).map((n) => readFile(join(logs, n), 'utf8')));
      expect(texts.join('\n')).toMatch(new RegExp(`not handed out as they are \\(${file.replaceAll('.', '\\.')} differ`));
      const r7 = await add(repo, 'r7');
      expect(r7.spare).toBe(true);
      expect(await readFile(join(r7.path, file), 'utf8')).toBe(clean);
      expect(await treeOf(join(r7.path, 'node_modules'))).toEqual(await treeOf(join(repo, 'node_modules')));
    });

    it('never a worktree with local changes', async () => {
      const { repo } = await spareRepo();
      for (const [branch, change] of [
        ['dirty-tracked', (p: string) => writeFile(join(p, 'a.txt'), 'edited\n')],
        ['dirty-untracked', (p: string) => writeFile(join(p, 'notes.txt'), 'mine\n')],
      ] as const) {
        const made = await add(repo, branch);
        await waitForJobs(repo);
        await vtree(repo, ['cache', 'prune', '--spares', '0'], env);
        await change(made.path);
        const removed = await vtree(repo, ['rm', '--json', '--force', branch], env);
        expect(removed.code, removed.stderr).toBe(0);
        expect(JSON.parse(removed.stdout).recycled).toBe(false);
        await waitForJobs(repo);
        for (const spare of await spares(repo)) {
          expect(await git(spare, 'status', '--porcelain')).toBe('');
          expect(await readdir(spare)).not.toContain('notes.txt');
        }
      }
    });
  });
});
