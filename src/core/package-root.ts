import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's root directory, found from this module's own place (`dist/core/`), so that the files
 * shipped beside the build (bin/, hooks/, completions/, package.json) are found wherever it is installed.
 */
export const PACKAGE_ROOT: string = fileURLToPath(new URL('../../', import.meta.url));

/** The `git-vtree` entry point that detached jobs and installed hooks run. */
export const ENTRY_BIN: string = join(PACKAGE_ROOT, 'bin', 'git-vtree');
