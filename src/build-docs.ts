import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COMMANDS, GLOBAL_OPTIONS } from './commands/index.js';
import { renderManPage } from './commands/man-page.js';
import { COMPLETION_FILES } from './commands/completion.js';
import { renderCompletions } from './commands/completion-scripts.js';
import { VERSION } from './core/version.js';

/**
 * Build step (`npm run build`): renders what is made from the command table, so it never drifts
 * from the CLI: the man page `man/man1/git-vtree.1` (what `git vtree --help` opens), and the
 * completion scripts in `completions/` (from their templates in `src/commands/completions/`).
 * Usage: `node dist/build-docs.js <package root>`.
 */
async function buildDocs(root: string): Promise<void> {
  const manDir = join(root, 'man', 'man1');
  await mkdir(manDir, { recursive: true });
  await writeFile(join(manDir, 'git-vtree.1'), renderManPage(COMMANDS, GLOBAL_OPTIONS, VERSION));

  const template = (shell: keyof typeof COMPLETION_FILES) => readFile(join(root, 'src', 'commands', 'completions', `${COMPLETION_FILES[shell]}.in`), 'utf8');
  const scripts = renderCompletions(COMMANDS, GLOBAL_OPTIONS, { bash: await template('bash'), zsh: await template('zsh'), fish: await template('fish') });
  await mkdir(join(root, 'completions'), { recursive: true });
  for (const shell of ['bash', 'zsh', 'fish'] as const) await writeFile(join(root, 'completions', COMPLETION_FILES[shell]), scripts[shell]);
}

await buildDocs(process.argv[2] ?? '.');
