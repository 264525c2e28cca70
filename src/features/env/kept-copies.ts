import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isPlainRelative } from '../../core/confine.js';
import { keptDir } from '../../core/paths.js';
import { withoutEnvBlock } from './block.js';
import { includedFiles } from './worktree-include.js';

/** What `env-files` recorded of the files it copied into a worktree (its `vtree.json` section). */
export interface CopiedFiles {
  /** The worktree they were copied from. */
  from?: string;
  files?: string[];
  /** sha256 of each copied regular file, as {@link contentHash} gives it, so `rm` can tell a user's edit. */
  sha256?: Record<string, string>;
}

/** Copies of a removed worktree's files that the user changed, kept under `.git/vibetrees/kept/`. */
export interface KeptCopies {
  dir: string;
  files: string[];
}

/**
 * The hash `rm` compares: of the text without vtree's managed block and trailing blank space, so
 * that vtree's own block (and the newline it may add before it) is not taken for a user's edit.
 */
export function contentHash(text: string): string {
  return createHash('sha256').update(withoutEnvBlock(text).trimEnd()).digest('hex');
}

/**
 * The ignored files of `worktree` that `rm` would lose and that hold something of the user's: a
 * file vtree copied (`.env`, what `.worktreeinclude` names) that differs from what was copied,
 * outside vtree's block; or one that matches the include patterns but vtree never copied (the user
 * made it in this worktree), unless it holds nothing but vtree's block; or a file vtree wrote
 * whole (`written`: `.mcp.json` and the sha256 of what was written) whose bytes differ. Symlinks
 * are not copies.
 */
export async function userChangedFiles(worktree: string, copied: CopiedFiles | undefined, envFile: string | undefined, written?: { file?: string; written?: string }): Promise<string[]> {
  const candidates = new Set(await includedFiles(worktree));
  if (envFile) candidates.add(envFile);
  if (written?.file) candidates.add(written.file);
  const changed: string[] = [];
  for (const file of [...candidates].sort()) {
    if (!isPlainRelative(file)) continue;
    const path = join(worktree, file);
    const info = await lstat(path).catch(() => undefined);
    if (!info?.isFile()) continue;
    const text = await readFile(path, 'utf8');
    // A file vtree generated whole (.mcp.json): changed when its bytes are not what vtree wrote.
    if (file === written?.file) {
      if (createHash('sha256').update(text).digest('hex') !== written.written) changed.push(file);
      continue;
    }
    const now = contentHash(text);
    const wasCopied = copied?.files?.includes(file) ?? false;
    // Worktrees set up before hashes were recorded: compare with the source's current copy.
    const recorded = copied?.sha256?.[file] ?? (wasCopied && copied?.from ? await hashOf(join(copied.from, file)) : undefined);
    const unchanged = wasCopied ? now === recorded : now === contentHash('');
    if (!unchanged) changed.push(file);
  }
  return changed;
}

/** Copies `files` of `worktree` to `.git/vibetrees/kept/<slug>-<time>/`, keeping paths and modes. */
export async function keepCopies(commonDir: string, slug: string, worktree: string, files: readonly string[]): Promise<KeptCopies> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(keptDir(commonDir), `${slug}-${stamp}`);
  for (const file of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(worktree, file), join(dir, file));
  }
  return { dir, files: [...files] };
}

async function hashOf(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').then(contentHash, () => undefined);
}
