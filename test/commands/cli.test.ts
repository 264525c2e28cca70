import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { COMMANDS, GLOBAL_OPTIONS } from '../../src/commands/index.js';
import { renderManPage } from '../../src/commands/man-page.js';
import { BIN, requirePrereq, tempDir, testEnv, vtree } from '../helpers.js';

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
