import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  adoptEntry,
  cacheDirOf,
  cacheWorktree,
  changedFiles,
  cleanStaleTemps,
  dropEntry,
  foreignEntryProblem,
  linksOnDiskProblem,
  listEntries,
  newTempPath,
  openEntry,
  uniqueBytes,
  type CacheEntry,
  type EntryMeta,
} from '../features/deps/cache.js';
import { cacheKey, lockfileKey } from '../features/deps/cache-key.js';
import type { Args } from './spec.js';
import { RefusedInput } from '../core/confine.js';
import { parseDuration } from '../core/duration.js';
import { parseSize } from '../core/size.js';
import { errorMessage, ExitCode, UsageError, VtreeError } from '../core/errors.js';
import { readJsonFile } from '../core/files.js';
import { parseLinkMode, resolveLinkMode } from '../features/deps/link-modes.js';
import { formatBytes, type Io } from '../core/output.js';
import { commitFiles, detectProject, diskFiles, installCommand, nodeModulesDirs, reconcileCommand, type Project } from '../features/deps/package-manager.js';
import { describeEdits, fewOf, forgetRepairedTaint, quarantine, taintedFiles, whoShares, type EditedFile } from '../features/deps/taint.js';
import type { Config } from '../git/config.js';
import { git, run } from '../core/exec.js';
import { resolveRepoStage } from '../pipelines/repo-stage.js';
import type { Repo } from '../git/repo.js';
import { sparesWanted } from '../git/spare-worktree.js';
import { listSpares, makeSpares, pruneSpares } from '../features/deps/spares.js';
import { readWorktreeState, worktreeGitDir, writeWorktreeState } from '../git/worktree-state.js';
import { isSpare } from '../git/worktree.js';
import { entriesInUse, entriesPastLimits } from '../features/deps/lru.js';

type Action = (args: Args, io: Io, cache: CacheContext) => Promise<number>;

interface CacheContext {
  repo: Repo;
  config: Config;
  dir: string;
  spares: number;
  linkMode: string | undefined;
}

/** The subcommands of `git vtree cache`, by name. */
const ACTIONS = {
  status,
  prune,
  verify,
  warm,
  export: exportCache,
  import: importCache,
  push,
  pull,
} satisfies Record<string, Action>;

/** Names of the `git vtree cache` subcommands, for the CLI's choices. */
export const CACHE_ACTIONS = Object.keys(ACTIONS);

/** `git vtree cache <status|prune|verify|warm|export|import|push|pull>`: the dependency cache. */
export default async function cache(args: Args, io: Io): Promise<number> {
  const action = ACTIONS[String(args.action) as keyof typeof ACTIONS];
  if (!action) throw new UsageError(`unknown cache action '${String(args.action)}'`, `use one of: ${CACHE_ACTIONS.join(', ')}`);
  const { repo, config } = await resolveRepoStage(process.cwd());
  return action(args, io, { repo, config, dir: cacheDirOf(repo, config), spares: config.integer('vtree.cache.spares', 1), linkMode: config.string('vtree.linkMode') });
}

async function status(_args: Args, io: Io, cache: CacheContext): Promise<number> {
  const { sparesStatus } = await import('../pipelines/spare-pool.js');
  const [entries, spares, used, worktrees] = await Promise.all([listEntries(cache.dir), listSpares(cache.dir), entriesInUse(cache.repo), sparesStatus(cache)]);
  const spareWorktrees = { wanted: sparesWanted(cache.config), count: worktrees.length, bytes: worktrees.reduce((sum, w) => sum + w.bytes, 0), worktrees };
  const rows = entries.map((e) => ({
    key: e.key,
    packageManager: e.meta.packageManager,
    source: e.meta.source,
    files: e.meta.files,
    bytes: e.meta.bytes,
    hits: e.meta.hits,
    createdAt: e.meta.createdAt,
    lastUsedAt: e.meta.lastUsedAt,
    spares: spares.filter((s) => s.key === e.key).length,
    usedBy: used.get(e.key) ?? [],
  }));
  const bytes = uniqueBytes(entries.map((e) => e.manifest));
  const isolation = await isolationCost(cache, entries[0]);
  if (io.json) {
    io.out(JSON.stringify({ dir: cache.dir, entries: rows, spares: spares.length, bytes, spareWorktrees, isolation }));
    return ExitCode.ok;
  }
  const poolLine = `Spare worktrees: ${spareWorktrees.count} (pool size ${spareWorktrees.wanted}, vtree.spares.worktrees), ${formatBytes(spareWorktrees.bytes)}${worktrees.length ? `: ${worktrees.map((w) => `${w.state} at ${w.head.slice(0, 12)}`).join(', ')}` : ''}`;
  if (rows.length === 0) {
    io.out(`No cache entries in ${cache.dir}; the next \`git vtree add\` makes one (or run \`git vtree cache warm\`).`);
    io.out(poolLine);
    return ExitCode.ok;
  }
  const { default: Table } = await import('cli-table3');
  const table = new Table({ head: ['key', 'manager', 'source', 'files', 'size', 'hits', 'last used', 'spares', 'used by'], style: { head: [], border: [] } });
  for (const row of rows) {
    table.push([row.key.slice(0, 12), row.packageManager, row.source, row.files, formatBytes(row.bytes), row.hits, row.lastUsedAt.slice(0, 16).replace('T', ' '), row.spares, row.usedBy.length]);
  }
  io.out(table.toString());
  io.out(`${rows.length} entries, ${spares.length} spares, ${formatBytes(bytes)} (hardlinked files counted once) in ${cache.dir}`);
  io.out(poolLine);
  if (isolation) io.out(isolation.text);
  return ExitCode.ok;
}

/**
 * What isolation costs in disk for each worktree beyond the first, with the most recently used
 * entry (docs/dependencies.md): its bytes where files are copied (ext4), nothing new where the
 * filesystem clones (blocks are shared until written) or where the user chose links.
 */
async function isolationCost(cache: CacheContext, entry: CacheEntry | undefined): Promise<{ setting: string; mode: string; bytesPerWorktree: number; text: string } | undefined> {
  if (!entry) return undefined;
  const setting = parseLinkMode(cache.linkMode);
  const probe = newTempPath(cache.dir, 'isolation-probe');
  let mode: string;
  try {
    mode = await resolveLinkMode(setting, entry.manifest, entry.tree, join(probe, 'tree'), () => undefined);
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
  const bytesPerWorktree = mode === 'copy' ? entry.meta.bytes : 0;
  const text =
    mode === 'copy'
      ? `Isolation (vtree.linkMode ${setting}): each worktree's node_modules is a copy of its own: ${formatBytes(bytesPerWorktree)} per extra worktree for ${entry.key.slice(0, 12)} (this filesystem cannot clone)`
      : mode === 'reflink'
        ? `Isolation (vtree.linkMode ${setting}): each worktree's node_modules is a clone of its own: no new blocks until a file is written`
        : `No isolation (vtree.linkMode ${setting}): worktrees share the cache's files (no extra disk; an edit in place reaches every worktree sharing the file)`;
  return { setting, mode, bytesPerWorktree, text };
}

async function prune(args: Args, io: Io, cache: CacheContext): Promise<number> {
  const maxBytes = args.maxSize === undefined ? undefined : parseSize(String(args.maxSize));
  const olderThanMs = args.olderThan === undefined ? undefined : parseDuration(String(args.olderThan));
  const includeUsed = Boolean(args.includeUsed);
  const [entries, used] = await Promise.all([listEntries(cache.dir), entriesInUse(cache.repo)]);
    const past = entriesPastLimits(entries, includeUsed ? new Set() : new Set(used.keys()), { ...(maxBytes !== undefined ? { maxBytes } : {}), ...(olderThanMs !== undefined ? { olderThanMs } : {}) });
  for (const e of past) await dropEntry(cache.dir, e.key);
  const dropped = past.map((e) => e.key);
  const kept = [...entries].reverse().filter((e) => !dropped.includes(e.key));
  const [{ pruneSparePool }, { pruneGoldensPastLimits }] = await Promise.all([import('../pipelines/spare-pool.js'), import('../pipelines/seed.js')]);
  const [spares, temps, spareWorktrees, goldens] = await Promise.all([
    pruneSpares(cache.dir, new Set(kept.map((e) => e.key))),
    cleanStaleTemps(cache.dir),
    pruneSparePool(cache.repo.cwd, Boolean(args.spares === 0)),
    // Seeded volumes' golden copies live in the same cache: the same limits, over their own total.
    pruneGoldensPastLimits(cache.repo.cwd, { ...(maxBytes !== undefined ? { maxBytes } : {}), ...(olderThanMs !== undefined ? { olderThanMs } : {}) }, includeUsed),
  ]);
  const bytes = uniqueBytes(kept.map((e) => e.manifest));
  const goldensDropped = goldens.map(({ volume, key, bytes }) => ({ volume, key, bytes }));
  if (io.json) io.out(JSON.stringify({ dropped, kept: kept.map((e) => e.key), sparesRemoved: spares, spareWorktreesRemoved: spareWorktrees, tempsRemoved: temps, bytes, goldensDropped }));
  else {
    io.out(`Dropped ${dropped.length} entries, ${spares} spares and ${spareWorktrees} spare worktrees; ${kept.length} entries (${formatBytes(bytes)}) kept.`);
    if (goldens.length > 0) io.out(`Dropped ${goldens.length} golden cop${goldens.length === 1 ? 'y' : 'ies'} of seeded volumes (${formatBytes(goldens.reduce((n, g) => n + g.bytes, 0))}).`);
    const keptUsed = kept.filter((e) => used.has(e.key) && !includeUsed).length;
    if (keptUsed > 0 && (maxBytes !== undefined || olderThanMs !== undefined)) io.log(`  ${keptUsed} entries in use by a worktree were kept (--include-used drops them too)`);
  }
  return ExitCode.ok;
}

async function verify(args: Args, io: Io, cache: CacheContext): Promise<number> {
  // Entries whose manifest or tree may not be restored (a link out of the tree): dropped, said.
  const unsafe: Array<{ key: string; why: string }> = [];
  const entries: CacheEntry[] = [];
  for (const entry of await listEntries(cache.dir, (key, why) => unsafe.push({ key, why }))) {
    const why = await linksOnDiskProblem(entry);
    if (!why) entries.push(entry);
    else {
      unsafe.push({ key: entry.key, why });
      await dropEntry(cache.dir, entry.key);
    }
  }
  const worktrees = cache.repo.worktrees.filter((w) => !w.bare && !w.prunable && !isSpare(w)).map((w) => w.path);
  const results: Array<{ entry: CacheEntry; edited: EditedFile[] }> = [];
  for (const entry of entries) {
    const changed = await changedFiles(entry, { inodes: true });
    results.push({ entry, edited: changed.length > 0 ? await whoShares(entry, changed, worktrees) : [] });
  }
  const broken = results.filter((r) => r.edited.length > 0);
  const trees = await editedTrees(cache, worktrees, broken.flatMap((r) => r.edited));
  const repaired: string[] = [];
  const reinstalled: string[] = [];
  if (!args.dryRun) {
    for (const r of broken) await quarantine(cache.dir, r.entry, r.edited.map((e) => e.path));
    await pruneSpares(cache.dir, new Set(results.filter((r) => r.edited.length === 0).map((r) => r.entry.key)));
    if (args.repair) {
      for (const r of broken) if (await reinstall(cache, r.entry.key, io)) repaired.push(r.entry.key);
      // What verify names, --repair re-installs: every worktree holding an edit, the main one included.
      for (const t of trees) if (await reinstallWorktree(cache, t.path, io)) reinstalled.push(t.path);
      await forgetRepairedTaint(cache.dir, worktrees);
    }
  }
  if (io.json) {
    const json = broken.map((r) => ({ key: r.entry.key, files: r.edited.map((e) => e.path), edited: r.edited, repaired: repaired.includes(r.entry.key) }));
    const edited = trees.map((t) => ({ ...t, repair: t.repair.text, repaired: reinstalled.includes(t.path) }));
    io.out(JSON.stringify({ checked: results.length + unsafe.length, broken: json, unsafe, dropped: !args.dryRun, worktrees: trees.map((t) => t.path), trees: edited }));
  } else {
    for (const u of unsafe) io.out(`${u.key.slice(0, 12)}: ${u.why}: dropped`);
    for (const r of broken) {
      const what = args.dryRun ? '' : repaired.includes(r.entry.key) ? ': re-installed clean' : ': dropped; the next add of that lockfile installs afresh';
      io.out(`${r.entry.key.slice(0, 12)}: ${r.edited.length} files edited through a hardlink: ${describeEdits(r.edited)}${what}`);
    }
    for (const t of trees) {
      const files = fewOf(t.files);
      const fix = reinstalled.includes(t.path) ? 're-installed clean' : `reinstall its dependencies there to drop it (${t.repair.text}; --repair does it)`;
      io.out(`  ${t.path} still has the edit (${files}): ${fix}`);
    }
    const unsafeNote = unsafe.length > 0 ? `${unsafe.length} unsafe (dropped), ` : '';
    const entriesLine = unsafeNote + (broken.length === 0 ? (unsafe.length ? 'the rest intact' : 'all intact') : `${broken.length} ${args.dryRun ? 'broken' : args.repair ? `dropped, ${repaired.length} re-installed` : 'dropped; the next add re-creates them (--repair re-installs them now)'}`);
    const treesLine = trees.length === 0 ? '' : `; ${trees.length} worktree(s) hold an edit${args.repair && !args.dryRun ? `, ${reinstalled.length} re-installed` : ''}`;
    io.out(`Checked ${results.length + unsafe.length} entries and ${worktrees.length} worktrees: ${entriesLine}${treesLine}.`);
  }
  const unrepaired = args.repair && !args.dryRun && (reinstalled.length < trees.length || repaired.length < broken.length);
  return (args.dryRun && (broken.length > 0 || trees.length > 0 || unsafe.length > 0)) || unrepaired ? ExitCode.failed : ExitCode.ok;
}

/** A worktree holding a file edited through a hardlink, and the repair `--repair` makes. */
interface EditedTree {
  path: string;
  files: string[];
  repair: { text: string };
}

/**
 * Every worktree (the main one included) known to hold an edit made through a hardlink: one
 * sharing an edited file of an entry (`edited`), one still holding an edited inode of an entry
 * dropped earlier (by `add`, a background job or an earlier `verify`: `tainted/`), and one whose
 * isolation job found a file edited before its copy was made (its state's `deps.edited`).
 */
async function editedTrees(cache: CacheContext, worktrees: readonly string[], edited: readonly EditedFile[]): Promise<EditedTree[]> {
  const trees: EditedTree[] = [];
  for (const path of worktrees) {
    const state = await readWorktreeState(await worktreeGitDir(path));
    const files = new Set([...edited.filter((e) => e.sharedWith.includes(path)).map((e) => e.path), ...(await taintedFiles(cache.dir, path)), ...(((state?.deps as { edited?: string[] } | undefined)?.edited) ?? [])]);
    if (files.size === 0) continue;
    const project = await detectProject(diskFiles(path)).catch(() => undefined);
    const install = project ? await installCommand(project.manager, Object.keys(project.lockfiles).length > 0) : undefined;
    trees.push({ path, files: [...files].sort(), repair: { text: `rm -rf node_modules, then ${install ? `${install.command} ${install.args.join(' ')}` : 'your package manager\'s install'}` } });
  }
  return trees;
}

/** Throws one line unless the user approved what an install of `project` runs of the repository's own (asked on a terminal). */
async function requireInstallConsent(cache: CacheContext, project: Project): Promise<void> {
  const { installConsent } = await import('../features/deps/consent.js');
  const { refused } = await installConsent(cache.repo.mainPath, project, cache.config, { interactive: true });
  if (refused) throw new Error(`${refused}; review and approve them with: git vtree trust`);
}

/**
 * Re-installs the dependencies of the worktree at `path` (its dependency dirs removed, then the
 * package manager's clean install from its lockfile), dropping an edit made through a link, and
 * forgets the edits its state recorded. False when it failed (said).
 */
async function reinstallWorktree(cache: CacheContext, path: string, io: Io): Promise<boolean> {
  try {
    const project = await detectProject(diskFiles(path));
    if (!project) throw new Error('no package.json');
    await requireInstallConsent(cache, project);
    const { command, args } = await installCommand(project.manager, Object.keys(project.lockfiles).length > 0);
    io.log(`${path}: ${command} ${args.join(' ')} in place of its edited dependencies...`);
    await Promise.all(nodeModulesDirs(project).map((dir) => rm(join(path, dir), { recursive: true, force: true })));
    await run(command, args, { cwd: path });
    const gitDir = await worktreeGitDir(path);
    const state = await readWorktreeState(gitDir);
    const deps = state?.deps as Record<string, unknown> | undefined;
    if (state && deps?.edited) {
      const { edited: _, ...rest } = deps;
      await writeWorktreeState(gitDir, { ...state, deps: rest });
    }
    return true;
  } catch (error) {
    io.warn(`${path}: re-install failed: ${errorMessage(error)}`);
    return false;
  }
}

/**
 * Re-creates entry `key` from a clean install: in a scratch checkout of the HEAD of a worktree
 * whose committed lockfiles give that key, the package manager installs (no links to any tree
 * that held the edit), the result is snapshotted, the checkout removed. False when no worktree
 * is on that lockfile, or the install failed (said).
 */
async function reinstall(cache: CacheContext, key: string, io: Io): Promise<boolean> {
  let found: { path: string; project: Project } | undefined;
  for (const w of cache.repo.worktrees.filter((w) => !w.bare && !w.prunable)) {
    const project = await detectProject(commitFiles(w.path, 'HEAD')).catch(() => undefined);
    if (project && cacheKey(project) === key) found = { path: w.path, project };
    if (found) break;
  }
  if (!found) {
    io.warn(`${key.slice(0, 12)}: no worktree's HEAD is on that lockfile; the next add of it installs afresh`);
    return false;
  }
  const scratch = newTempPath(cache.dir, `repair-${key}`);
  await mkdir(join(scratch, '..'), { recursive: true });
  try {
    await requireInstallConsent(cache, found.project);
    await git(found.path, ['worktree', 'add', '--detach', '--quiet', scratch, 'HEAD']);
    // The reconcile install: on an empty node_modules it is a clean install, and it tolerates a
    // committed lockfile that this npm would write differently (npm ci refuses those).
    const { command, args } = reconcileCommand(found.project.manager);
    io.log(`${key.slice(0, 12)}: ${command} ${args.join(' ')} in a scratch checkout of ${found.path}'s HEAD...`);
    await run(command, args, { cwd: scratch });
    // Linked: the scratch checkout is removed below, so the entry shares its files with no worktree.
    return (await cacheWorktree(cache.dir, scratch, key, 'miss', io.warn, 'hardlink')) !== undefined;
  } catch (error) {
    io.warn(`${key.slice(0, 12)}: re-install failed: ${errorMessage(error)}`);
    return false;
  } finally {
    await git(found.path, ['worktree', 'remove', '--force', scratch]).catch(() => rm(scratch, { recursive: true, force: true }));
    await git(found.path, ['worktree', 'prune']).catch(() => undefined);
  }
}

async function warm(args: Args, io: Io, cache: CacheContext): Promise<number> {
  const spares = args.spares === undefined ? Math.max(1, cache.spares) : Number(args.spares);
  const setting = parseLinkMode(cache.linkMode);
  const here = cache.repo.toplevel;
  let hot: string | undefined;
  const seen = new Set<string>();
  // Every worktree with a complete install seeds its entry (links, no install); the current one is the hot one.
  for (const w of cache.repo.worktrees.filter((w) => !w.bare && !w.prunable)) {
    const project = await detectProject(diskFiles(w.path)).catch(() => undefined);
    const key = lockfileKey(project);
    if (!key || project?.pnp) continue;
    if (seen.has(key) && w.path !== here) continue;
    seen.add(key);
    const entry = await cacheWorktree(cache.dir, w.path, key, 'seed', io.warn, setting).catch((error: unknown) => {
      io.warn(errorMessage(error));
      return undefined;
    });
    if (entry) io.log(`${w.path}: entry ${key.slice(0, 12)} (${entry.meta.files} files)`);
    if (w.path === here) hot = entry?.key;
  }
  const made = hot ? await makeSpares(cache.dir, hot, spares, setting, io.warn) : 0;
  if (hot) io.out(`Cache warm: entry ${hot.slice(0, 12)} with ${made} new spare(s) (pool size ${spares}).`);
  else io.out(here ? `No complete install in ${here} to cache; install its dependencies first, then run this again.` : 'Run this inside a worktree.');
  // Spare worktrees last: their dependencies come from the entries just made.
  if (sparesWanted(cache.config) > 0) {
    const { maintainSparePool } = await import('../pipelines/spare-pool.js');
    const pool = await maintainSparePool(cache.repo.cwd, io);
    io.out(`Spare worktrees: ${pool.ready}/${pool.wanted} ready (${pool.built} built, ${pool.refreshed} brought forward, ${pool.recycled} recycled, ${pool.removed} removed).`);
  }
  return ExitCode.ok;
}

async function exportCache(args: Args, io: Io, cache: CacheContext): Promise<number> {
  if (!args.file) throw new UsageError('cache export needs a file', 'git vtree cache export vtree-cache.tar.gz');
  const file = String(args.file);
  const keys: string[] = [];
  for (const entry of (await listEntries(cache.dir)).filter((e) => !args.key || e.key.startsWith(String(args.key)))) {
    // What a tampered tree holds now is what would be packed: never carried on.
    const why = await linksOnDiskProblem(entry);
    if (why) io.warn(`not exporting ${entry.key.slice(0, 12)}: ${why} (git vtree cache verify drops it)`);
    else keys.push(entry.key);
  }
  if (keys.length === 0) throw new VtreeError('no cache entries to export', 'git vtree cache warm');
  const [{ pack }, { createGzip }] = await Promise.all([import('tar-fs'), import('node:zlib')]);
  const stream = pack(join(cache.dir, 'entries'), { entries: keys });
  await (file.endsWith('gz') ? pipeline(stream, createGzip(), createWriteStream(file)) : pipeline(stream, createWriteStream(file)));
  io.out(`Exported ${keys.length} entries to ${file}.`);
  return ExitCode.ok;
}

async function importCache(args: Args, io: Io, cache: CacheContext): Promise<number> {
  if (!args.file) throw new UsageError('cache import needs a file', 'git vtree cache import vtree-cache.tar.gz');
  const file = String(args.file);
  const [{ unpackTar }, { createGunzip }] = await Promise.all([import('../features/deps/remote/unpack.js'), import('node:zlib')]);
  const temp = newTempPath(cache.dir, 'import');
  await mkdir(temp, { recursive: true });
  try {
    // The registry's unpacker: no path or link of the archive may lead out of `temp`, judged by
    // where the links lead once all are placed; hardlinks are skipped.
    const source = createReadStream(file);
    const stream = file.endsWith('gz') ? source.pipe(createGunzip()) : source;
    source.on('error', (error) => stream.destroy(error));
    await unpackTar(stream, temp).catch((error: unknown) => {
      throw error instanceof RefusedInput ? new VtreeError(`refused ${file}: ${error.message}`, 'import only archives made by `git vtree cache export`') : error;
    });
    const imported: string[] = [];
    const refused: string[] = [];
    for (const key of await readdir(temp)) {
      const dir = join(temp, key);
      const meta = await readJsonFile<EntryMeta>(join(dir, 'meta.json')).catch(() => undefined);
      const problem = foreignEntryProblem(meta, key);
      if (problem || !meta) {
        refused.push(`${key.slice(0, 12)} (${problem})`);
        continue;
      }
      try {
        await adoptEntry(cache.dir, dir, meta, 'import');
      } catch (error) {
        refused.push(`${key.slice(0, 12)} (${errorMessage(error)})`);
        continue;
      }
      imported.push(key);
    }
    for (const r of refused) io.warn(`refused ${r}`);
    if (io.json) io.out(JSON.stringify({ imported, refused }));
    else io.out(`Imported ${imported.length} entries into ${cache.dir}${refused.length ? `; refused ${refused.length}` : ''}.`);
    return imported.length === 0 && refused.length > 0 ? ExitCode.failed : ExitCode.ok;
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

async function push(args: Args, io: Io, cache: CacheContext): Promise<number> {
  const { requireRemote, pushEntry } = await import('../features/deps/remote/remote-cache.js');
  const remote = requireRemote(cache.config);
  let keys: string[];
  if (args.all) keys = (await listEntries(cache.dir)).map((e) => e.key);
  else {
    const here = cache.repo.toplevel;
    const project = here ? await detectProject(diskFiles(here)) : undefined;
    const key = lockfileKey(project);
    if (!key || !(await openEntry(cache.dir, key))) throw new VtreeError(`no cache entry for ${here ?? 'this directory'}'s lockfile to push`, 'git vtree cache warm   (or git vtree cache push --all)');
    keys = [key];
  }
  const results = [];
  for (const key of keys) {
    const started = Date.now();
    const result = await pushEntry(remote, cache.dir, key);
    results.push({ key, ...result, ms: Date.now() - started });
    io.log(`${key.slice(0, 12)}: ${result.pushed ? `pushed (${formatBytes(result.bytes)} in ${Date.now() - started} ms)` : 'in the registry already'}`);
  }
  const where = `${remote.ref.registry}/${remote.ref.repository}`;
  if (io.json) io.out(JSON.stringify({ remote: where, entries: results }));
  else io.out(`Pushed ${results.filter((r) => r.pushed).length} of ${results.length} entries to ${where}.`);
  return ExitCode.ok;
}

async function pull(args: Args, io: Io, cache: CacheContext): Promise<number> {
  const { requireRemote, pullEntry } = await import('../features/deps/remote/remote-cache.js');
  const remote = requireRemote(cache.config);
  let key = args.file === undefined ? undefined : String(args.file);
  if (args.forCommit !== undefined) {
    const cwd = cache.repo.toplevel ?? cache.repo.mainPath;
    const commit = await git(cwd, ['rev-parse', '--verify', '--end-of-options', `${String(args.forCommit)}^{commit}`]).catch(() => {
      throw new UsageError(`no commit '${String(args.forCommit)}'`, 'git vtree cache pull --for-commit <branch|commit>');
    });
    key = lockfileKey(await detectProject(commitFiles(cwd, commit)));
    if (!key) throw new VtreeError(`${String(args.forCommit)} has no lockfile: nothing to pull`);
  }
  if (!key || !/^[0-9a-f]{40}$/.test(key)) throw new UsageError('cache pull needs a cache key (40 hex digits) or --for-commit <ref>', 'git vtree cache pull --for-commit main');
  const where = `${remote.ref.registry}/${remote.ref.repository}`;
  const existing = await openEntry(cache.dir, key);
  const started = Date.now();
  const result = existing ? undefined : await pullEntry(remote, cache.dir, key);
  if (!existing && !result) throw new VtreeError(`${where} has no entry ${key.slice(0, 12)}`, 'push it from a machine that has it: git vtree cache push');
  const entry = existing ?? result!.entry;
  if (io.json) io.out(JSON.stringify({ remote: where, key, pulled: Boolean(result), bytes: result?.bytes ?? 0, files: entry.meta.files, ms: Date.now() - started }));
  else io.out(result ? `Pulled ${key.slice(0, 12)} from ${where} (${formatBytes(result.bytes)}, ${entry.meta.files} files, ${Date.now() - started} ms).` : `Entry ${key.slice(0, 12)} is in the local cache already.`);
  return ExitCode.ok;
}
