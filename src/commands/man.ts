import type { Args } from '../cli.js';
import type { Io } from '../output.js';
import { renderManPage } from '../man-page.js';
import { VERSION } from '../version.js';
import { COMMANDS, GLOBAL_OPTIONS } from './index.js';

/** `git vtree __man`: prints the man page (the build writes it to man/man1/git-vtree.1). */
export default async function man(_args: Args, io: Io): Promise<void> {
  io.out(renderManPage(COMMANDS, GLOBAL_OPTIONS, VERSION));
}
