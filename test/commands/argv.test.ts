import { describe, expect, it } from 'vitest';
import { parseFast } from '../../src/argv.js';
import type { CommandSpec } from '../../src/commands/spec.js';

const load = async () => ({ default: async () => undefined });
const specs: CommandSpec[] = [
  {
    name: 'add',
    describe: 'add',
    positionals: [{ name: 'branch', describe: '', required: true }],
    options: {
      deps: { type: 'boolean', default: true, describe: '' },
      'link-mode': { type: 'string', choices: ['copy', 'hardlink'], describe: '' },
      from: { type: 'string', describe: '' },
    },
    load,
  },
  { name: 'rm', aliases: ['remove'], describe: 'rm', positionals: [{ name: 'worktree', describe: '', required: true }], options: { force: { type: 'boolean', alias: 'f', describe: '' } }, load },
  { name: '__job', describe: false, positionals: [{ name: 'job', describe: '', required: true }, { name: 'args', describe: '', required: false, variadic: true }], options: {}, load },
];
const globals = { verbose: { type: 'boolean' as const, describe: '' } };

describe('parseFast', () => {
  it('parses flags, negations, kebab and camel case like yargs', () => {
    const parsed = parseFast(['add', 'feat/x', '--no-deps', '--link-mode', 'copy', '--from=main', '--verbose'], specs, globals);
    expect(parsed?.spec.name).toBe('add');
    expect(parsed?.args).toMatchObject({ _: ['add'], branch: 'feat/x', deps: false, linkMode: 'copy', 'link-mode': 'copy', from: 'main', verbose: true });
  });

  it('keeps defaults, resolves aliases and command aliases', () => {
    expect(parseFast(['add', 'x'], specs, globals)?.args.deps).toBe(true);
    expect(parseFast(['remove', 'x', '-f'], specs, globals)?.args).toMatchObject({ worktree: 'x', force: true });
  });

  it('takes words after -- as positionals, verbatim', () => {
    expect(parseFast(['add', '--', '-weird'], specs, globals)?.args.branch).toBe('-weird');
    expect(parseFast(['__job', 'delete-trash', '/tmp/a', '--', '--x'], specs, globals)?.args.args).toEqual(['/tmp/a', '--x']);
  });

  it.each([
    [['add']],
    [['add', 'a', 'b']],
    [['add', 'x', '--unknown']],
    [['add', 'x', '--link-mode', 'teleport']],
    [['add', 'x', '-h']],
    [['add', 'x', '--from', 'a', '--from', 'b']],
    [['nope']],
    [[]],
    [['--help']],
  ])('leaves %j to the full parser', (argv) => {
    expect(parseFast(argv, specs, globals)).toBeUndefined();
  });
});
