import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { COMMANDS, GLOBAL_OPTIONS } from '../../src/commands/index.js';
import { renderManPage } from '../../src/commands/man-page.js';
import { BIN, git, makeRepo, requirePrereq, tempDir, testEnv, vtree } from '../helpers.js';

/**
 * Waits until vtree's signal handlers are in place in process `pid`. Node itself catches SIGINT
 * and SIGTERM (to restore the terminal, then die), so watch SIGHUP, which vtree installs last,
 * in the SigCgt mask of /proc/<pid>/status (Linux).
 */
async function waitForHandlers(pid: number): Promise<void> {
  const bit = 1n << BigInt(constants.signals.SIGHUP - 1);
  for (;;) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const caught = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)/m.exec(status)![1]}`);
    if (caught & bit) return;
    await sleep(1);
  }
}

const execFileAsync = promisify(execFile);
const visible = COMMANDS.filter((c) => c.describe !== false);

describe('the command line', () => {
  it('lists every command of the table in --help, and hides the internal ones', async () => {
    const { code, stdout } = await vtree(await tempDir(), ['--help']);
    expect(code).toBe(0);
    for (const command of visible) expect(stdout).toContain(`git vtree ${command.name}`);
    expect(stdout).not.toContain('__job');
    expect(stdout).not.toContain('__man');
  });

  it('answers an unknown command or flag with one line, a hint and exit code 2', async () => {
    const cwd = await tempDir();
    const unknown = await vtree(cwd, ['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^git vtree: .*\nhint: git vtree -h\n$/);
    const flag = await vtree(cwd, ['list', '--colour']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/Unknown argument: colour/);
  });

  it('handles a signal that arrives while it is still starting: exit 130, one line, nothing created', async () => {
    const { repo, root, cleanup } = await makeRepo();
    // A git that takes a second to start: on a quiet machine a whole add takes less time than the
    // signal takes to arrive, and the add would simply finish first.
    const slow = join(root, 'slow-git');
    await mkdir(slow);
    const realGit = (await execFileAsync('sh', ['-c', 'command -v git'])).stdout.trim();
    await writeFile(join(slow, 'git'), `#!/bin/sh\nsleep 1\nexec '${realGit}' "$@"\n`);
    await chmod(join(slow, 'git'), 0o755);
    const env = { ...testEnv(), PATH: `${slow}:${process.env.PATH}` };
    for (const name of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const child = spawn(process.execPath, [BIN, 'add', `early-${name}`, '--no-deps'], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      // As soon as the process catches the signal (its handler is installed), before any command runs.
      await waitForHandlers(child.pid!);
      child.kill(name);
      expect(await exited, stderr).toBe(130);
      expect(stderr).toMatch(new RegExp(`interrupted by ${name}`));
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(join(root, 'app.worktrees', `early-${name}`))).toBe(false);
      expect(await git(repo, 'branch', '--list', `early-${name}`)).toBe('');
    }
    await cleanup();
  });

  it('renders a man page naming every command and visible flag', () => {
    const page = renderManPage(COMMANDS, GLOBAL_OPTIONS, '9.9.9');
    expect(page).toMatch(/^\.TH GIT-VTREE 1 "" "git-vtree 9\.9\.9"/);
    for (const command of visible) {
      expect(page).toContain(`.B git vtree ${command.name.replace(/-/g, "\\-")}`);
      for (const [name, option] of Object.entries(command.options)) {
        if (!option.hidden) expect(page, `${command.name} --${name}`).toContain(`\\-\\-${option.default === true ? '[no\\-]' : ''}${name.replace(/-/g, '\\-')}`);
      }
    }
    expect(page).not.toContain('__job');
  });

  it('makes `git vtree --help` show the man page (git runs man, which finds it through PATH)', async (ctx) => {
    await requirePrereq('man', ctx);
    const env = testEnv({ PATH: `${dirname(BIN)}:${process.env.PATH}`, MANPAGER: 'cat', MANWIDTH: '100' });
    const { stdout } = await execFileAsync('git', ['vtree', '--help'], { cwd: await tempDir(), env });
    expect(stdout).toMatch(/git-vtree - worktrees that are ready to work in/);
    expect(stdout).toMatch(/EXIT STATUS/);
  });
});
