import { run } from '../core/exec.js';

/**
 * Reads `paths` (relative, `/`-separated) as committed in `commit` straight from the object store
 * with one `git cat-file --batch`, so a task can read a lockfile or a compose file while
 * `git worktree add` is still writing the checkout. Paths that do not exist, or are not files,
 * are absent from the result.
 *
 * (isomorphic-git reads blobs without a subprocess too, but measured here it needs ~45 ms to load
 * and ~20 ms per blob from a pack, against ~5 ms for this one git call.)
 */
export async function readCommittedTexts(cwd: string, commit: string, paths: readonly string[]): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  if (paths.length === 0) return texts;
  const { stdoutBytes: out } = await run('git', ['cat-file', '--batch'], { cwd, input: paths.map((p) => `${commit}:${p}\n`).join('') });
  let at = 0;
  for (const path of paths) {
    const eol = out.indexOf(10, at);
    if (eol === -1) break;
    const header = out.subarray(at, eol).toString('utf8');
    at = eol + 1;
    // "<object> missing" / "<object> ambiguous": no content follows.
    const match = /^[0-9a-f]+ (\w+) (\d+)$/.exec(header);
    if (!match) continue;
    const size = Number(match[2]);
    if (match[1] === 'blob') texts.set(path, out.subarray(at, at + size).toString('utf8'));
    at += size + 1;
  }
  return texts;
}

/**
 * The committed files under `paths` in `commit`, as `<mode> <object id> <path>` lines sorted by
 * path: object ids are hashes of content, so the lines change exactly when a file under one of the
 * paths is added, removed or edited. One `git ls-tree` call; a path that does not exist adds nothing.
 */
export async function committedEntries(cwd: string, commit: string, paths: readonly string[]): Promise<string[]> {
  if (paths.length === 0) return [];
  const { stdout } = await run('git', ['ls-tree', '-r', '--full-tree', commit, '--', ...paths], { cwd });
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [meta = '', path = ''] = line.split('\t');
      const [mode, , oid] = meta.split(' ');
      return { path, line: `${mode} ${oid} ${path}` };
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((entry) => entry.line);
}
