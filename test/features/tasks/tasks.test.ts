import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { run } from '../../../src/core/exec.js';
import type { MetricsFile, RunRecord } from '../../../src/observe/metrics.js';
import type { TasksStatus } from '../../../src/features/tasks/status.js';
import { composeAppsForFile, git, testEnv, vtree } from '../../helpers.js';

const execFileAsync = promisify(execFile);

/** Whether a Docker engine with Compose v2 answers (the stack tests need one). */
async function engineAnswers(): Promise<boolean> {
  try {
    await run('docker', ['compose', 'version']);
    await run('docker', ['version', '--format', '{{.Server.Version}}'], { signal: AbortSignal.timeout(10_000) });
    return true;
  } catch {
    return false;
  }
}
const docker = await engineAnswers();
if (!docker) console.warn('tasks.test.ts: no Docker engine answers; skipping the tests with a Compose stack');

const COMPOSE = `services:
  db:
    image: vtree-test/busybox:latest
    command: ["httpd", "-f", "-p", "5432", "-h", "/www"]
    ports: ["127.0.0.1:\${DB_PORT:-5432}:5432"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:5432/"]
      interval: 1s
      retries: 20
`;

let root: string;
let env: NodeJS.ProcessEnv;
const makeRepo = composeAppsForFile('task', (dirs) => ({ root, env } = dirs));

/** A repository named with this file's prefix; `out` is a directory outside it for the tasks to write to. */
async function makeApp(files: Record<string, string>): Promise<{ repo: string; name: string; out: string }> {
  const made = await makeRepo(files);
  const out = join(root, `${made.name}-out`);
  await mkdir(out, { recursive: true });
  return { ...made, out };
}

/** Git with this file's state directory, so that the post-checkout hook sees the same trust store. */
async function gitWithState(cwd: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync('git', args, { cwd, env: testEnv(env) });
}

async function runs(repo: string): Promise<RunRecord[]> {
  return (JSON.parse(await readFile(join(repo, '.git', 'vibetrees', 'metrics.json'), 'utf8')) as MetricsFile).runs;
}

async function tasksStatus(repo: string, slug: string): Promise<TasksStatus | undefined> {
  const file = join(repo, '.git', 'worktrees', slug, 'vtree-tasks.json');
  return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as TasksStatus) : undefined;
}

/** Waits (up to a minute) until `done` holds of the worktree's task status. */
async function until(repo: string, slug: string, done: (status: TasksStatus | undefined) => boolean): Promise<TasksStatus | undefined> {
  for (let i = 0; i < 240; i++) {
    const status = await tasksStatus(repo, slug);
    if (done(status)) return status;
    await sleep(250);
  }
  throw new Error(`tasks of ${slug} did not settle: ${JSON.stringify(await tasksStatus(repo, slug))}`);
}

const end = (s: { start: number; duration: number }) => s.start + s.duration;

describe('project tasks', () => {
  it.skipIf(!docker)(
    'runs foreground tasks concurrently after what they name, background ones once the stack is up, teardown before it goes down',
    async () => {
      const { repo, name, out } = await makeApp({ 'compose.yaml': COMPOSE });
      const config = (key: string, value: string) => git(repo, 'config', key, value);
      // Both foreground tasks sleep, so that their spans overlap only if they run at the same time.
      await config('vtree.task.facts.run', `printf '%s\\n' "$DB_PORT" "$COMPOSE_PROJECT_NAME" "$VTREE_PATH" "$VTREE_SLUG" "$VTREE_BRANCH" "$VTREE_MAIN_WORKTREE" "$PWD" > '${out}/facts'; sleep 1`);
      await config('vtree.task.facts.after', 'env');
      await config('vtree.task.codegen.run', `sleep 1; echo generated > '${out}/codegen'`);
      await config('vtree.task.migrate.run', `docker compose ps --status running --services > '${out}/migrate'`);
      await config('vtree.task.migrate.after', 'services codegen');
      await config('vtree.task.migrate.background', 'true');
      await config('vtree.teardown.dump.run', `docker compose ps --status running --services > '${out}/dump'`);

      const added = await vtree(repo, ['add', 'feat/tasks', '--json'], env);
      expect(added.code, added.stderr).toBe(0);
      const result = JSON.parse(added.stdout) as { runId: string; path: string; slug: string; facts: { ports: Record<string, number> } };
      // Foreground tasks finished before add returned.
      expect(await readFile(join(out, 'codegen'), 'utf8')).toBe('generated\n');
      const facts = (await readFile(join(out, 'facts'), 'utf8')).split('\n');
      expect(facts.slice(0, 7)).toEqual([String(result.facts.ports.DB_PORT), `${name}-feat-tasks`, result.path, 'feat-tasks', 'feat/tasks', repo, result.path]);

      const [addRun] = await runs(repo);
      const span = (n: string) => addRun!.spans.find((s) => s.name === n && s.parent === null)!;
      expect(addRun!.command).toBe('add');
      // Concurrent: their spans overlap. Ordered: each after what it runs after.
      expect(span('task:facts').start).toBeLessThan(end(span('task:codegen')));
      expect(span('task:codegen').start).toBeLessThan(end(span('task:facts')));
      expect(span('task:facts').start).toBeGreaterThanOrEqual(end(span('env-block')) - 0.01);
      expect(span('task:codegen').start).toBeGreaterThanOrEqual(end(span('services-start')) - 0.01);
      expect(span('tasks-background').start).toBeGreaterThanOrEqual(Math.max(end(span('task:facts')), end(span('task:codegen'))) - 0.01);

      // The background task ran in its own job, once the stack was up, and says so.
      const status = await until(repo, result.slug, (s) => s?.tasks.migrate?.state === 'done' || s?.tasks.migrate?.state === 'failed');
      expect(status!.tasks.migrate).toMatchObject({ state: 'done', background: true, exitCode: 0 });
      expect(status!.tasks.facts).toMatchObject({ state: 'done' });
      expect(await readFile(join(out, 'migrate'), 'utf8')).toBe('db\n');
      expect(await readFile(status!.tasks.migrate!.log, 'utf8')).toMatch(/docker compose ps/);
      let jobRun: RunRecord | undefined;
      for (let i = 0; i < 40 && !jobRun; i++) {
        jobRun = (await runs(repo)).find((r) => r.command === 'tasks');
        if (!jobRun) await sleep(250);
      }
      expect(jobRun).toMatchObject({ ok: true, linkedTo: result.runId, facts: { tasks: { migrate: 'done' } } });
      expect(jobRun!.spans.map((s) => s.name)).toEqual(expect.arrayContaining(['wait:services-ready', 'task:migrate']));

      // Teardown runs before the stack goes down: it still sees the database.
      const removed = await vtree(repo, ['rm', 'feat/tasks', '--force'], env);
      expect(removed.code, removed.stderr).toBe(0);
      expect(await readFile(join(out, 'dump'), 'utf8')).toBe('db\n');
      const rmRun = (await runs(repo)).find((r) => r.command === 'rm')!;
      const teardown = rmRun.spans.find((s) => s.name === 'tasks-teardown')!;
      expect(teardown.start + teardown.duration).toBeLessThanOrEqual(rmRun.spans.find((s) => s.name === 'services-down')!.start + 0.01);
      expect(rmRun.spans.find((s) => s.name === 'task:dump')?.parent).toBe(teardown.id);
    },
    120_000,
  );

  it('rolls add back when a foreground task fails, quoting its last lines; optional = true makes it a warning', async () => {
    const { repo, out } = await makeApp({ 'README.md': '# app\n' });
    await git(repo, 'config', 'vtree.task.broken.run', `echo starting; echo 'cannot reach the database' >&2; exit 3`);
    await git(repo, 'config', 'vtree.task.fine.run', `touch '${out}/fine'`);
    const failed = await vtree(repo, ['add', 'feat/broken'], env);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/task broken exited with code 3: starting \| cannot reach the database/);
    expect(failed.stderr).toMatch(/hint: its log: .*task-broken-.*\.log/);
    expect(existsSync(join(root, `${repo.split('/').at(-1)}.worktrees`, 'feat-broken'))).toBe(false);
    expect(await git(repo, 'branch', '--list', 'feat/broken')).toBe('');
    expect((await runs(repo))[0]).toMatchObject({ command: 'add', ok: false });

    await git(repo, 'config', 'vtree.task.broken.optional', 'true');
    const warned = await vtree(repo, ['add', 'feat/broken'], env);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toMatch(/warning: \(optional\) task broken exited with code 3: starting \| cannot reach the database; its log: /);
    expect(existsSync(join(out, 'fine'))).toBe(true);
    const status = await tasksStatus(repo, 'feat-broken');
    expect(status!.tasks).toMatchObject({ broken: { state: 'failed', exitCode: 3 }, fine: { state: 'done' } });
  });

  it('a background task whose job was killed reads as failed, naming the pid, and wait says so at once', async () => {
    const { repo } = await makeApp({ 'README.md': '# app\n' });
    await git(repo, 'config', 'vtree.task.slow.run', 'sleep 30');
    await git(repo, 'config', 'vtree.task.slow.background', 'true');
    const added = await vtree(repo, ['add', 'killed-job', '--no-services'], env);
    expect(added.code, added.stderr).toBe(0);
    const running = await until(repo, 'killed-job', (status) => status?.tasks.slow?.state === 'running' && status.tasks.slow.pid !== undefined);
    const pid = running!.tasks.slow!.pid!;
    process.kill(-pid, 'SIGKILL'); // the job and its task, as an OOM kill or a closed session would
    // Without the dead job noticed, wait would wait the whole timeout and then say it timed out.
    const waited = await vtree(repo, ['wait', 'killed-job', '--timeout', '120'], env);
    expect(waited.code).toBe(1);
    expect(waited.stderr).toContain(`task slow failed: the process running it (pid ${pid}) ended before it finished`);
    const status = JSON.parse((await vtree(repo, ['status', '-w', 'killed-job', '--json'], env)).stdout);
    expect(status.readiness.phases).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'task slow', state: 'failed' })]));
  }, 180_000);

  it('refuses an after that names nothing, and a cycle, before changing anything', async () => {
    const { repo } = await makeApp({ 'README.md': '# app\n' });
    await git(repo, 'config', 'vtree.task.a.run', 'true');
    await git(repo, 'config', 'vtree.task.a.after', 'nothing-such');
    const unknown = await vtree(repo, ['add', 'x'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/config vtree\.task\.a\.after: 'nothing-such' is not a feature \(deps, env-files, ports, env, seed, services, mcp, tasks\)/);
    await git(repo, 'config', 'vtree.task.a.after', 'b');
    await git(repo, 'config', 'vtree.task.b.run', 'true');
    await git(repo, 'config', 'vtree.task.b.after', 'a');
    const cycle = await vtree(repo, ['add', 'x'], env);
    expect(cycle.code).toBe(2);
    expect(cycle.stderr).toMatch(/dependency cycle/);
    expect(await git(repo, 'worktree', 'list', '--porcelain')).not.toMatch(/\.worktrees/);
  });
});

describe('commands from the committed .vtreeconfig', () => {
  it('are skipped by the hook until approved with git vtree trust, and again once their text changes', async () => {
    const { repo, out } = await makeApp({ '.vtreeconfig': '' });
    const vtreeconfig = (command: string) => `[vtree "task.hello"]\n\trun = ${command}\n`;
    // (git config takes double quotes as quoting: the command vtree runs, and shows, has none.)
    await writeFile(join(repo, '.vtreeconfig'), vtreeconfig(`echo $VTREE_BRANCH >> '${out}/hello'`));
    await git(repo, 'commit', '-qam', 'a task');
    expect((await vtree(repo, ['hooks', 'install'], env)).code).toBe(0);

    const first = await gitWithState(repo, 'worktree', 'add', '-q', '-b', 'one', join(root, 'trust-one'));
    expect(first.stderr).toMatch(/warning: skipped task hello from \.vtreeconfig: not approved on this machine; review and approve with: git vtree trust/);
    expect(existsSync(join(out, 'hello'))).toBe(false);
    expect((await tasksStatus(repo, 'trust-one'))!.tasks.hello).toMatchObject({ state: 'skipped' });

    // Without a terminal and without --yes, trust shows the command and approves nothing.
    const refused = await vtree(repo, ['trust'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`[vtree "task.hello"]\n    echo $VTREE_BRANCH >> '${out}/hello'`);
    expect(refused.stderr).toMatch(/hint: read them, then run: git vtree trust --yes/);
    const approved = await vtree(repo, ['trust', '--yes'], env);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stderr).toMatch(/Approved task hello/);

    const second = await gitWithState(repo, 'worktree', 'add', '-q', '-b', 'two', join(root, 'trust-two'));
    expect(second.stderr).not.toMatch(/skipped/);
    expect(await readFile(join(out, 'hello'), 'utf8')).toBe('two\n');

    // A changed definition is a new one.
    await writeFile(join(repo, '.vtreeconfig'), vtreeconfig(`echo changed $VTREE_BRANCH >> '${out}/hello'`));
    await git(repo, 'commit', '-qam', 'change the task');
    const third = await gitWithState(repo, 'worktree', 'add', '-q', '-b', 'three', join(root, 'trust-three'));
    expect(third.stderr).toMatch(/skipped task hello from \.vtreeconfig: not approved on this machine, or changed since you approved them/);
    expect(await readFile(join(out, 'hello'), 'utf8')).toBe('two\n');
    const listed = JSON.parse((await vtree(repo, ['trust', '--json'], env)).stdout);
    expect(listed).toMatchObject({ ok: false, approved: false, tasks: [{ kind: 'task', name: 'hello', state: 'changed' }] });

    // The same task in the user's own git config needs no approval.
    await git(repo, 'config', 'vtree.task.hello.run', `echo "mine $VTREE_BRANCH" >> '${out}/hello'`);
    await gitWithState(repo, 'worktree', 'add', '-q', '-b', 'four', join(root, 'trust-four'));
    expect(await readFile(join(out, 'hello'), 'utf8')).toBe('two\nmine four\n');
  }, 60_000);
});

describe('git vtree init and Cursor', () => {
  it("adopts .cursor/worktrees.json's set-up commands as an approved task that runs in order, with $ROOT_WORKTREE_PATH", async () => {
    const { repo, out } = await makeApp({ 'README.md': '# app\n' });
    await mkdir(join(repo, '.cursor'));
    await writeFile(
      join(repo, '.cursor', 'worktrees.json'),
      JSON.stringify({ 'setup-worktree': ['echo generic'], 'setup-worktree-unix': [`echo first >> '${out}/cursor'`, `echo "$ROOT_WORKTREE_PATH" >> '${out}/cursor'`] }),
    );
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'cursor');
    const offered = await vtree(repo, ['init'], env);
    expect(offered.stderr).toMatch(/\.cursor\/worktrees\.json has set-up commands; to run them in every worktree: git vtree init --adopt-cursor/);
    expect(existsSync(join(repo, '.vtreeconfig'))).toBe(false);

    const adopted = JSON.parse((await vtree(repo, ['init', '--adopt-cursor', '--json'], env)).stdout);
    expect(adopted.cursor).toEqual({ adopted: true, command: `set -e\necho first >> '${out}/cursor'\necho "$ROOT_WORKTREE_PATH" >> '${out}/cursor'` });
    // Committed, so approval matters: init approved what the user adopted.
    const added = await vtree(repo, ['add', 'feat/cursor'], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).not.toMatch(/skipped/);
    expect(await readFile(join(out, 'cursor'), 'utf8')).toBe(`first\n${repo}\n`);
  });
});
