import { chmod, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BLOCK_END,
  BLOCK_START,
  chooseEnvTarget,
  FALLBACK_ENV_FILE,
  shadowedVariables,
  withEnvBlock,
  writeEnvBlock,
} from '../../../src/features/env/block.js';
import { composeProjectName } from '../../../src/git/slug.js';
import { undoFileWrite } from '../../../src/git/worktree-file.js';
import { git, makeRepo, tempDir, vtree } from '../../helpers.js';

/** A user's `.env` with everything a parser could trip on: comments, export, quotes, blanks, no final newline. */
const USER_ENV = '# my settings\nexport SECRET="p@ss word#1"\n\nDB_URL=postgres://me:pw@localhost:5432/app\n  SPACED = yes \nLAST=1';

describe('composeProjectName', () => {
  it('keeps names that are valid already', () => {
    expect(composeProjectName('app', 'feat-x')).toBe('app-feat-x');
    expect(composeProjectName('my_app', 'fix-12')).toBe('my_app-fix-12');
  });

  it('makes any name valid for Compose, and keeps distinct worktrees distinct', () => {
    const names = [
      composeProjectName('MyApp', 'feat-x'),
      composeProjectName('myapp', 'feat-x'),
      composeProjectName('app', 'feat-É'),
      composeProjectName('app', 'feat-È'),
      composeProjectName('.app', 'v1.2'),
      composeProjectName('app', 'v1-2'),
      composeProjectName('日本', '機能'),
    ];
    for (const name of names) expect(name).toMatch(/^[a-z0-9][a-z0-9_-]*$/);
    expect(new Set(names).size).toBe(names.length);
    expect(composeProjectName('MyApp', 'feat-x')).toBe(composeProjectName('MyApp', 'feat-x'));
  });
});

describe('withEnvBlock', () => {
  const values = { COMPOSE_PROJECT_NAME: 'app-x', API_PORT: 20001 };

  it('appends the block after the user lines, keeping them byte for byte', () => {
    const out = withEnvBlock(USER_ENV, values);
    expect(out.startsWith(USER_ENV + '\n')).toBe(true);
    expect(out.slice(USER_ENV.length + 1)).toBe(`${BLOCK_START}\nCOMPOSE_PROJECT_NAME=app-x\nAPI_PORT=20001\n${BLOCK_END}\n`);
  });

  it('is idempotent and replaces the block where it stands', () => {
    const once = withEnvBlock(USER_ENV, values);
    expect(withEnvBlock(once, values)).toBe(once);
    const edited = once + 'AFTER=1\n';
    const updated = withEnvBlock(edited, { ...values, API_PORT: 20002 });
    expect(updated).toBe(edited.replace('API_PORT=20001', 'API_PORT=20002'));
  });

  it('creates a file with only the block, quotes values that need it, and follows CRLF files', () => {
    expect(withEnvBlock('', { COMPOSE_FILE: 'a b.yaml:c.yaml' })).toBe(`${BLOCK_START}\nCOMPOSE_FILE="a b.yaml:c.yaml"\n${BLOCK_END}\n`);
    const crlf = 'A=1\r\nB=2\r\n';
    const out = withEnvBlock(crlf, { P: 1 });
    expect(out).toBe(`A=1\r\nB=2\r\n${BLOCK_START}\r\nP=1\r\n${BLOCK_END}\r\n`);
    expect(withEnvBlock(out, { P: 1 })).toBe(out);
  });

  it('reports user lines after the block that override its variables', () => {
    const text = withEnvBlock('API_PORT=1\n', values) + 'export API_PORT=3000\n';
    expect(shadowedVariables(text, ['API_PORT', 'COMPOSE_PROJECT_NAME'])).toEqual(['API_PORT']);
  });
});

describe('writing the block into a worktree', () => {
  let repo: string;
  let cleanup: () => Promise<void>;
  const commonDir = () => join(repo, '.git');

  beforeEach(async () => {
    ({ repo, cleanup } = await makeRepo({ 'README.md': '# app\n', '.gitignore': '.env\n' }));
  });
  afterEach(async () => cleanup());

  it('keeps the user’s lines and file mode across re-runs, and undoes to the exact bytes', async () => {
    const env = join(repo, '.env');
    await writeFile(env, USER_ENV);
    await chmod(env, 0o600);
    const first = await writeEnvBlock(repo, commonDir(), '.env', { COMPOSE_PROJECT_NAME: 'app-x', API_PORT: 20001 });
    const written = await readFile(env, 'utf8');
    for (let i = 0; i < 3; i++) await writeEnvBlock(repo, commonDir(), '.env', { COMPOSE_PROJECT_NAME: 'app-x', API_PORT: 20001 });
    expect(await readFile(env, 'utf8')).toBe(written);
    expect(written.startsWith(USER_ENV + '\n' + BLOCK_START)).toBe(true);
    expect((await stat(env)).mode & 0o777).toBe(0o600);
    expect(await git(repo, 'status', '--porcelain')).toBe('');
    await undoFileWrite(first);
    expect(await readFile(env, 'utf8')).toBe(USER_ENV);
  });

  it('leaves a file the user changed since alone on undo', async () => {
    const env = join(repo, '.env');
    const write = await writeEnvBlock(repo, commonDir(), '.env', { P: 1 });
    await writeFile(env, 'MINE=1\n');
    await undoFileWrite(write);
    expect(await readFile(env, 'utf8')).toBe('MINE=1\n');
  });

  it('never dirties a tracked .env: the block goes to an excluded .env.vtree', async () => {
    await writeFile(join(repo, '.gitignore'), '');
    await writeFile(join(repo, '.env'), 'TRACKED=1\n');
    await git(repo, 'add', '.');
    await git(repo, 'commit', '-qm', 'track .env');
    const target = await chooseEnvTarget(repo);
    expect(target).toEqual({ file: FALLBACK_ENV_FILE, reason: 'tracked' });
    const write = await writeEnvBlock(repo, commonDir(), target.file, { P: 1 });
    expect(await readFile(join(repo, '.env'), 'utf8')).toBe('TRACKED=1\n');
    expect(await readFile(join(repo, FALLBACK_ENV_FILE), 'utf8')).toContain('P=1\n');
    expect(await git(repo, 'status', '--porcelain')).toBe('');
    expect(await readFile(join(commonDir(), 'info', 'exclude'), 'utf8')).toMatch(/^\/\.env\.vtree$/m);
    const excludeBefore = (await readFile(join(commonDir(), 'info', 'exclude'), 'utf8')).replace('/.env.vtree\n', '');
    await undoFileWrite(write);
    await expect(stat(join(repo, FALLBACK_ENV_FILE))).rejects.toThrow();
    expect(await readFile(join(commonDir(), 'info', 'exclude'), 'utf8')).toBe(excludeBefore);
  });

  it('does not write through a symlinked .env', async () => {
    const outside = join(await tempDir(), 'shared.env');
    await writeFile(outside, 'SHARED=1\n');
    await symlink(outside, join(repo, '.env'));
    expect(await chooseEnvTarget(repo)).toEqual({ file: FALLBACK_ENV_FILE, reason: 'symlink' });
  });

  it('a new .env in a repository that does not ignore it is excluded, so the worktree stays clean', async () => {
    await writeFile(join(repo, '.gitignore'), '');
    await git(repo, 'commit', '-qam', 'ignore nothing');
    expect(await chooseEnvTarget(repo)).toEqual({ file: '.env' });
    await writeEnvBlock(repo, commonDir(), '.env', { P: 1 });
    expect(await git(repo, 'status', '--porcelain')).toBe('');
  });
});

describe('git vtree add and setup write the block', () => {
  let repo: string;
  let state: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    state = await tempDir('vtree-state-');
  });
  afterAll(async () => rm(state, { recursive: true, force: true }));
  beforeEach(async () => {
    ({ repo, cleanup } = await makeRepo({ 'README.md': '# app\n', '.gitignore': '.env\n', 'compose.yaml': 'services:\n  web:\n    image: vtree-test/busybox:latest\n    ports: ["${WEB_PORT:-8080}:80"]\n' }));
    await git(repo, 'config', 'vtree.ports.vars', 'PORT');
    await git(repo, 'config', 'vtree.ports.range', '44000-44999');
  });
  afterEach(async () => cleanup());

  it('user lines in the worktree .env survive setup re-runs byte for byte', async () => {
    const env = { XDG_STATE_HOME: state };
    const add = await vtree(repo, ['add', 'feat/env', '--no-deps', '--no-services', '--json'], env);
    expect(add.code, add.stderr).toBe(0);
    const { path, facts } = JSON.parse(add.stdout) as { path: string; facts: { ports: Record<string, number> } };
    const dotenv = join(path, '.env');
    const first = await readFile(dotenv, 'utf8');
    expect(first).toContain(`COMPOSE_PROJECT_NAME=app-feat-env\n`);
    expect(first).toContain(`PORT=${facts.ports.PORT}\n`);
    // The user adds lines before and after the block.
    const edited = `${USER_ENV}\n${first}MINE_AFTER=2\n`;
    await writeFile(dotenv, edited);
    for (let i = 0; i < 2; i++) {
      const setup = await vtree(path, ['setup', '--no-deps', '--no-services'], env);
      expect(setup.code, setup.stderr).toBe(0);
      expect(await readFile(dotenv, 'utf8')).toBe(edited);
    }
    expect(await git(path, 'status', '--porcelain')).toBe('');
  });
});

describe('a repository with no Compose file and no port variables', () => {
  it('gets no block, and `wait` prints no COMPOSE_PROJECT_NAME', async () => {
    const { repo, cleanup } = await makeRepo({ 'README.md': '# app\n', '.gitignore': '.env\n' });
    try {
      const add = await vtree(repo, ['add', 'plain', '--no-deps', '--json']);
      expect(add.code, add.stderr).toBe(0);
      const { path } = JSON.parse(add.stdout) as { path: string };
      expect(await readFile(join(path, '.env'), 'utf8').catch(() => '')).not.toContain(BLOCK_START);
      const waited = await vtree(path, ['wait']);
      expect(waited.code, waited.stderr).toBe(0);
      expect(waited.stdout).toBe(`path: ${path}\n`);
    } finally {
      await cleanup();
    }
  });
});
