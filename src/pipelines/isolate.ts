import { errorMessage } from '../core/errors.js';
import { Profiler } from '../core/profiler.js';
import { openEntry } from '../features/deps/cache.js';
import { isolateTree, type IsolationState } from '../features/deps/isolate.js';
import { scanTree } from '../features/deps/manifest.js';
import { quarantine } from '../features/deps/taint.js';
import { newRunId } from '../observe/metrics.js';
import { readWorktreeState, worktreeGitDir, writeWorktreeState } from '../git/worktree-state.js';
import { recordRun, toRunRecord } from './record.js';
import { resolveRepoStage } from './repo-stage.js';

/**
 * The body of the detached `isolate-deps` job (docs/trust.md, isolation): gives the worktree a
 * copy of its own of every file `add` hardlinked from entry `key`, then records in its state how
 * long files were shared (`deps.isolation.sharedMs`) and any file edited through a link meanwhile
 * (`deps.edited`: the edit stays in the worktree, the entry is dropped, `cache verify` names it),
 * and appends a `deps` run linked to the `add` to metrics.json.
 */
export async function isolateWorktree(cacheDir: string, key: string, worktree: string, linkedTo: string, io: { log(line: string): void; warn(line: string): void }): Promise<void> {
  const profiler = new Profiler();
  const gitDir = await worktreeGitDir(worktree);
  const state = await readWorktreeState(gitDir);
  const deps = state?.deps as { dirs?: string[]; isolation?: IsolationState; edited?: string[] } | undefined;
  if (!state || !deps?.isolation) {
    io.log(`${worktree} is gone or was not restored by hardlink: nothing to isolate`);
    return;
  }
  let failure: unknown;
  let facts: Record<string, unknown> = {};
  try {
    const entry = await openEntry(cacheDir, key);
    // The entry dropped meanwhile (an edit found by another add): its files, still linked here, are judged by link count alone.
    const manifest = entry?.manifest ?? (await scanTree(worktree, deps.dirs ?? ['node_modules']));
    const done = await profiler.time('isolate', null, () => isolateTree(manifest, worktree));
    const sharedMs = Date.now() - Date.parse(deps.isolation.since);
    io.log(`${worktree}: ${done.replaced} files now its own copies; files were shared with the cache for ${sharedMs} ms`);
    if (done.edited.length > 0) {
      io.warn(`${worktree}: ${done.edited.join(', ')} edited in place through a hardlink before its copy was made: the worktree keeps the edit, the cache entry ${key.slice(0, 12)} is dropped (git vtree cache verify names it)`);
      if (entry) await quarantine(cacheDir, entry, done.edited);
    }
    const after = (await readWorktreeState(gitDir)) ?? state;
    const afterDeps = (after.deps ?? {}) as Record<string, unknown>;
    const edited = [...new Set([...((afterDeps.edited as string[] | undefined) ?? []), ...done.edited])].sort();
    const isolation: IsolationState = { ...deps.isolation, state: 'done', sharedMs, replaced: done.replaced };
    await writeWorktreeState(gitDir, { ...after, deps: { ...afterDeps, isolation, ...(edited.length > 0 ? { edited } : {}) } });
    facts = { deps: { isolation: { sharedMs, replaced: done.replaced, edited: done.edited.length } } };
  } catch (error) {
    failure = error;
    io.warn(`${worktree}: could not give it copies of its own: ${errorMessage(error)}`);
    const after = (await readWorktreeState(gitDir)) ?? state;
    const isolation: IsolationState = { ...deps.isolation, state: 'failed' };
    await writeWorktreeState(gitDir, { ...after, deps: { ...(after.deps as object), isolation } }).catch(() => undefined);
  }
  const record = toRunRecord({ id: newRunId(profiler.startedAt), command: 'deps', profiler, error: failure, linkedTo, path: worktree, facts });
  const where = await resolveRepoStage(worktree).catch(() => undefined);
  if (where) await recordRun(where, record, io.warn);
  if (failure !== undefined) throw failure;
}
