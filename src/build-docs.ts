import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COMMANDS, GLOBAL_OPTIONS } from './commands/index.js';
import { renderManPage } from './commands/man-page.js';
import { VERSION } from './core/version.js';

/**
 * Build step (`npm run build`): renders what is made from the command table, so it never drifts
 * from the CLI: the man page `man/man1/git-vtree.1` (what `git vtree --help` opens).
 * Usage: `node dist/build-docs.js <package root>`.
 */
async function buildDocs(root: string): Promise<void> {
  const manDir = join(root, 'man', 'man1');
  await mkdir(manDir, { recursive: true });
  await writeFile(join(manDir, 'git-vtree.1'), renderManPage(COMMANDS, GLOBAL_OPTIONS, VERSION));
}

await buildDocs(process.argv[2] ?? '.');
