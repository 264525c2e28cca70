import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/git/config.js';
import { readProjectTasks, type ProjectTask } from '../../../src/features/tasks/definitions.js';
import { approveTasks, trustStates } from '../../../src/features/tasks/trust.js';
import { git, makeRepo, tempDir } from '../../helpers.js';

let repo: string;
let cleanup: () => Promise<void>;
let state: string;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  ({ repo, cleanup } = await makeRepo({ '.vtreeconfig': '[vtree "task.gen"]\n\trun = npm run gen\n\tafter = deps\n[vtree "teardown.dump"]\n\trun = ./dump.sh\n' }));
  state = await tempDir('vtree-trust-');
  env = { XDG_STATE_HOME: state };
});
afterEach(async () => {
  await cleanup();
  await rm(state, { recursive: true, force: true });
});

const task = (overrides: Partial<ProjectTask> = {}): ProjectTask => ({ kind: 'task', name: 'gen', run: 'npm run gen', after: ['deps'], background: false, optional: false, committed: true, ...overrides });

describe('reading tasks from the config', () => {
  it('tells committed tasks from those of git config, key by key', async () => {
    await git(repo, 'config', 'vtree.task.mine.run', 'make mine');
    await git(repo, 'config', 'vtree.task.mine.background', 'yes');
    const config = await loadConfig(repo, repo);
    expect(readProjectTasks(config, 'task')).toEqual([
      task(),
      { kind: 'task', name: 'mine', run: 'make mine', after: [], background: true, optional: false, committed: false },
    ]);
    expect(readProjectTasks(config, 'teardown')).toEqual([{ kind: 'teardown', name: 'dump', run: './dump.sh', after: [], background: false, optional: false, committed: true }]);
    // git config overriding one key of a committed task leaves the task committed: its other keys still are.
    await git(repo, 'config', 'vtree.task.gen.run', 'true');
    expect(readProjectTasks(await loadConfig(repo, repo), 'task')[0]).toMatchObject({ run: 'true', committed: true });
  });

  it('refuses an unknown key, a task without run and a name that is not a file name, naming the key', async () => {
    await writeFile(join(repo, '.vtreeconfig'), '[vtree "task.gen"]\n\trnu = x\n');
    await expect(loadConfig(repo, repo).then((c) => readProjectTasks(c, 'task'))).rejects.toThrow(/config vtree\.task\.gen\.rnu: a task section takes run, after, background, optional/);
    await writeFile(join(repo, '.vtreeconfig'), '[vtree "task.gen"]\n\tafter = deps\n');
    await expect(loadConfig(repo, repo).then((c) => readProjectTasks(c, 'task'))).rejects.toThrow(/config vtree\.task\.gen: no run = <command>/);
    await writeFile(join(repo, '.vtreeconfig'), '[vtree "task.../x"]\n\trun = x\n');
    await expect(loadConfig(repo, repo).then((c) => readProjectTasks(c, 'task'))).rejects.toThrow(/name the task with letters, digits, - and _ only/);
  });
});

describe('the trust store', () => {
  it('approves exactly a text in exactly a repository; a change is "changed", another clone "new"', async () => {
    expect([...(await trustStates(repo, [task()], env)).values()]).toEqual(['new']);
    await approveTasks(repo, [task()], env);
    const store = join(state, 'vibetrees', 'trust.json');
    expect((await stat(store)).mode & 0o777).toBe(0o600);
    expect([...(await trustStates(repo, [task()], env)).values()]).toEqual(['approved']);
    expect([...(await trustStates(repo, [task({ run: 'npm run gen && curl evil' })], env)).values()]).toEqual(['changed']);
    expect([...(await trustStates(repo, [task({ after: [] })], env)).values()]).toEqual(['changed']);
    expect([...(await trustStates(`${repo}-clone`, [task()], env)).values()]).toEqual(['new']);
    // Tasks of the user's own git config never need approval.
    expect([...(await trustStates(repo, [task({ committed: false, run: 'anything' })], env)).values()]).toEqual(['approved']);
    // Approving the new text replaces the old approval instead of keeping both.
    await approveTasks(repo, [task({ run: 'npm run gen2' })], env);
    expect(Object.values(JSON.parse(await readFile(store, 'utf8')).approved)).toHaveLength(1);
    expect([...(await trustStates(repo, [task()], env)).values()]).toEqual(['changed']);
  });

  it('approves nothing from a damaged store', async () => {
    await approveTasks(repo, [task()], env);
    await writeFile(join(state, 'vibetrees', 'trust.json'), '{ not json');
    expect([...(await trustStates(repo, [task()], env)).values()]).toEqual(['new']);
  });
});
