import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isHarmlessPortVariable } from '../../../src/features/ports/names.js';
import { git, makeRepo, tempDir, vtree } from '../../helpers.js';

describe('port variable names a clone may set', () => {
  it('takes names that look like ports and refuses those programs read as settings', () => {
    for (const name of ['PORT', 'API_PORT', 'DB_PORT', 'VITE_PORT', 'VTREE_PORT_WEB_80', 'PORT_HTTP', 'web_port']) expect(isHarmlessPortVariable(name), name).toBe(true);
    for (const name of ['BASH_ENV', 'ENV', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'DYLD_INSERT_LIBRARIES', 'NODE_OPTIONS', 'PATH', 'GIT_SSH_COMMAND', 'GIT_PORT', 'PYTHONSTARTUP', 'PYTHONPORT', 'PERL5OPT', 'PERL5LIB', 'RUBYOPT', 'JAVA_TOOL_OPTIONS', 'IFS', 'HOME', 'DOCKER_HOST', 'LD_PORT', 'BASH_PORT', 'NPM_CONFIG_PORT', '1PORT', 'PORT-X', '']) {
      expect(isHarmlessPortVariable(name), name).toBe(false);
    }
  });
});

describe('a committed vtree.ports.vars', () => {
  let root: string;
  let repo: string;
  let cleanup: () => Promise<void>;
  let state: string;
  beforeEach(async () => {
    ({ root, repo, cleanup } = await makeRepo({ 'README.md': '# app\n', '.gitignore': '.env\n' }));
    state = await tempDir('vtree-state-');
  });
  afterEach(async () => {
    await cleanup();
    await rm(state, { recursive: true, force: true });
  });

  it('cannot set BASH_ENV for an approved task (one warning; git config may set any name)', async () => {
    const marker = join(root, 'sourced');
    await writeFile(join(repo, '.vtreeconfig'), '[vtree "ports"]\n\tvars = BASH_ENV API_PORT\n\trange = 29917-29918\n[vtree "task.hello"]\n\trun = bash -c true\n');
    // Whichever port BASH_ENV would get, bash would source the committed file of that name.
    for (const port of ['29917', '29918']) await writeFile(join(repo, port), `touch ${marker}\n`);
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'hostile ports');
    const env = { XDG_STATE_HOME: state };
    expect((await vtree(repo, ['trust', '--yes'], env)).code).toBe(0);
    const added = await vtree(repo, ['add', 'a'], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr.split('\n').filter((l) => l.includes('BASH_ENV'))).toEqual([expect.stringMatching(/^warning: ports: not setting BASH_ENV: /)]);
    expect(existsSync(marker)).toBe(false);
    const dotenv = await readFile(join(root, `${repo.split('/').at(-1)}.worktrees`, 'a', '.env'), 'utf8');
    expect(dotenv).toMatch(/^API_PORT=2991[78]$/m);
    expect(dotenv).not.toMatch(/BASH_ENV/);
  });

  it("refuses a compose file's port variable named LD_PRELOAD the same way; the user's git config may set any name", async () => {
    await writeFile(join(repo, 'compose.yaml'), 'services:\n  web:\n    image: vtree-test/busybox:latest\n    ports: ["${LD_PRELOAD:-3000}:80", "${WEB_PORT:-3001}:81"]\n');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-qm', 'compose');
    await git(repo, 'config', 'vtree.ports.vars', 'PYTHONSTARTUP');
    const added = await vtree(repo, ['add', '--no-services', 'b'], { XDG_STATE_HOME: state });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr.split('\n').filter((l) => l.includes('LD_PRELOAD'))).toEqual([expect.stringMatching(/^warning: ports: not setting LD_PRELOAD: /)]);
    const dotenv = await readFile(join(root, `${repo.split('/').at(-1)}.worktrees`, 'b', '.env'), 'utf8');
    expect(dotenv).toMatch(/^WEB_PORT=\d+$/m);
    expect(dotenv).toMatch(/^PYTHONSTARTUP=\d+$/m);
    expect(dotenv).not.toMatch(/LD_PRELOAD/);
  });
});
