import { createHash } from 'node:crypto';
import { basename } from 'node:path';

/**
 * A directory-safe name for a branch: `feat/x` → `feat-x`. Letters and digits of any script
 * are kept; separators, quotes, `$`, spaces and the like become `-`.
 */
export function slugify(branch: string): string {
  const slug = branch
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}._-]+/gu, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
  return slug || `branch-${shortHash(branch)}`;
}

/** A short, stable hash of `text`, to tell apart names whose slugs collide. */
export function shortHash(text: string, length = 6): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** The slug made distinct: `feat-x-1a2b3c`, for the second of two branches that slug alike. */
export function disambiguate(slug: string, key: string): string {
  return `${slug}-${shortHash(key)}`;
}

/**
 * The slug of the worktree at `path`, from `name` (its directory name, by default): made distinct
 * with a hash of the path when another worktree's directory slugs the same, since the slug names
 * the worktree's Compose project and state.
 */
export function uniqueSlug(path: string, worktreePaths: readonly string[], name = basename(path)): string {
  const slug = slugify(name);
  return worktreePaths.some((p) => p !== path && slugify(basename(p)) === slug) ? disambiguate(slug, path) : slug;
}

/**
 * The Compose project name of a worktree, `<repo>-<slug>`, made valid for Compose (lowercase
 * letters, digits, `-` and `_`, starting with a letter or digit). When that changes anything (case,
 * dots, other scripts), a short hash of the original is appended, so distinct worktrees keep
 * distinct names: `Feat` and `feat`, or `feat/É` and `feat/È`, must not share containers.
 */
export function composeProjectName(repoName: string, slug: string): string {
  const raw = `${repoName}-${slug}`;
  const lower = raw.toLowerCase();
  const valid = lower
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  if (valid === raw) return valid;
  return `${valid.replace(/-$/, '') || 'vtree'}-${shortHash(raw)}`;
}
