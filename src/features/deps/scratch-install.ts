import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { errorMessage } from '../../core/errors.js';
import { git, run } from '../../core/exec.js';
import { isErrno, readJsonFile, writeFileAtomic } from '../../core/files.js';
import { withLock } from '../../core/lock.js';
import { tempName } from '../../core/temp-name.js';
import { judgeInstall, type Verdict } from './completeness.js';
import { findEmbeddedPaths, FS_CONCURRENCY, isRewrittenInPlace, pump, scanTree, type Manifest } from './manifest.js';
import { nodeModulesDirs, scratchInstallCommand, type Project } from './package-manager.js';

/**
 * What a clean install of one cache key gives on this machine, found by running it in a scratch
 * copy when the completeness check cannot tell (a binary `bun.lockb`): `<cache>/decided/<key>.json`.
 * The key fixes the lockfile, the dependency fields, the manager, Node.js major and platform, so
 * one such install answers for every later tree of that key: it is made once.
 */
export interface Reference {
  key: string;
  decidedAt: string;
  /** The install that made it, as run. */
  command: string;
  dirs: string[];
  /** path, size, SHA-1 of the content; `''`: compared by presence only (state files, files naming the scratch copy). */
  files: Array<[path: string, size: number, sha1: string]>;
  links: Array<[path: string, target: string]>;
  /**
   * Package directories with install scripts (`preinstall`, `install`, `postinstall`, or a
   * `binding.gyp` npm builds): the scratch install runs no program of the project, so what a
   * script adds or changes in them is not compared; what the install itself puts there must exist.
   */
  scripted: string[];
}

/** How {@link judgeWithReference} may decide. */
export interface JudgeOptions {
  /** Make the reference when there is none yet (a background job); else "cannot tell" stays the answer. */
  install: boolean;
  /** Compare file contents (SHA-1), not only the file set and sizes: off the critical path only. */
  hashes: boolean;
  log?: (line: string) => void;
}

/**
 * {@link judgeInstall}, and where it cannot tell, the tree compared with what a frozen install of
 * its key gives ({@link Reference}), made now in a scratch copy with `install`. Without a
 * reference and without `install`, the verdict still says `cannotTell`.
 */
export async function judgeWithReference(cacheDir: string, base: string, project: Project, key: string, options: JudgeOptions): Promise<Verdict> {
  const verdict = await judgeInstall(base, project);
  if (verdict.complete || !verdict.cannotTell) return verdict;
  let reference = await readReference(cacheDir, key);
  if (!reference && options.install) {
    try {
      // One scratch install per key: a second job waits for the first one's answer.
      reference = await withLock(join(cacheDir, 'locks', `decide-${key}.lock`), async () => (await readReference(cacheDir, key)) ?? makeReference(cacheDir, base, project, key, options.log), {
        timeoutMs: 30 * 60_000,
      });
    } catch (error) {
      // Undecided, and not remembered: the next snapshot of this key tries again.
      return { ...verdict, problem: `${verdict.problem}, and deciding by a frozen install in a scratch copy failed: ${errorMessage(error)}` };
    }
  }
  if (!reference) return verdict;
  const problem = await referenceProblem(base, project, reference, options.hashes);
  return problem === undefined ? { complete: true } : { complete: false, problem: `${verdict.problem}; a frozen install of its lockfile in a scratch copy gives another tree: ${problem}` };
}

/** Where the reference of `key` is kept. */
export function referencePath(cacheDir: string, key: string): string {
  return join(cacheDir, 'decided', `${key}.json`);
}

export async function readReference(cacheDir: string, key: string): Promise<Reference | undefined> {
  const found = await readJsonFile<Reference>(referencePath(cacheDir, key)).catch(() => undefined);
  return found?.key === key && Array.isArray(found.files) && Array.isArray(found.links) && Array.isArray(found.dirs) && Array.isArray(found.scripted) ? found : undefined;
}

/**
 * Copies the project at `base` (its files git lists, tracked or not ignored, without any
 * node_modules; cloned where the filesystem clones) to a scratch directory in the cache's
 * `tmp/` (a crash leaves it to the stale-temp reclaim), runs the manager's frozen install there
 * without the project's programs, and records what it made.
 */
async function makeReference(cacheDir: string, base: string, project: Project, key: string, log: (line: string) => void = () => undefined): Promise<Reference> {
  const scratch = join(cacheDir, 'tmp', tempName(`decide-${key}`));
  try {
    await copySources(base, scratch);
    const { command, args, env } = scratchInstallCommand(project.manager);
    const shown = `${command} ${args.join(' ')}`;
    log(`deciding whether ${base} is a complete install: ${shown} in a scratch copy`);
    const result = await run(command, args, { cwd: scratch, env: { ...process.env, ...env }, okCodes: Array.from({ length: 256 }, (_, i) => i) });
    if (result.code !== 0) {
      const last = `${result.stderr}\n${result.stdout}`.split('\n').filter((l) => l.trim()).at(-1) ?? '';
      throw new Error(`${shown} failed in a scratch copy (exit code ${result.code}): ${last.trim()}`);
    }
    const made = await findEmbeddedPaths(scratch, await scanTree(scratch, nodeModulesDirs(project)));
    const reference: Reference = {
      key,
      decidedAt: new Date().toISOString(),
      command: shown,
      dirs: made.dirs,
      files: await hashFiles(scratch, made),
      links: made.links,
      scripted: await scriptedPackages(scratch, made),
    };
    await mkdir(dirname(referencePath(cacheDir, key)), { recursive: true });
    await writeFileAtomic(referencePath(cacheDir, key), JSON.stringify(reference));
    log(`a clean install of ${key} makes ${reference.files.length} files (${reference.scripted.length} packages with install scripts not run)`);
    return reference;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The project's files (what `git ls-files` lists, tracked or untracked and not ignored), outside every node_modules, copied to `to`. */
async function copySources(base: string, to: string): Promise<void> {
  const listed = (await git(base, ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])).split('\0');
  const paths = [...new Set(listed)].filter((p) => p && !p.split('/').includes('node_modules'));
  const dirs = [...new Set(paths.map((p) => posix.dirname(p)))].filter((d) => d !== '.');
  await mkdir(to, { recursive: true });
  await Promise.all(dirs.map((d) => mkdir(join(to, d), { recursive: true })));
  await pump(paths, FS_CONCURRENCY, (path, done) => {
    const source = join(base, path);
    fs.lstat(source, (error, info) => {
      // Listed but deleted since: the install sees it as absent, as in the worktree.
      if (error) return done(isErrno(error, 'ENOENT', 'ENOTDIR') ? null : error);
      if (info.isSymbolicLink()) return fs.readlink(source, (e, target) => (e ? done(e) : fs.symlink(target, join(to, path), done)));
      if (!info.isFile()) return done();
      fs.copyFile(source, join(to, path), fs.constants.COPYFILE_FICLONE, done);
    });
  });
}

/** Each file of `manifest` with its size and SHA-1 (`''` for files compared by presence only). */
async function hashFiles(root: string, manifest: Manifest): Promise<Reference['files']> {
  const presenceOnly = new Set(manifest.rewrite ?? []);
  const out: Reference['files'] = manifest.files.map(([path, , size]) => [path, size, '']);
  await pump(out, FS_CONCURRENCY, (file, done) => {
    if (presenceOnly.has(file[0]) || isRewrittenInPlace(file[0])) return done();
    sha1Of(join(root, file[0])).then((sha1) => {
      file[2] = sha1;
      done();
    }, done);
  });
  return out;
}

function sha1Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha1');
    fs.createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** A package's own directory: `.../node_modules/<name>` or `.../node_modules/@scope/<name>`. */
const PACKAGE_JSON = /(?:^|\/)node_modules\/(?:@[^/]+\/)?[^/@][^/]*\/package\.json$/;

/** Package directories of `manifest` whose install would run a script ({@link Reference.scripted}). */
async function scriptedPackages(root: string, manifest: Manifest): Promise<string[]> {
  const files = new Set(manifest.files.map(([path]) => path));
  const candidates = manifest.files.map(([path]) => path).filter((path) => PACKAGE_JSON.test(path));
  const scripted = await Promise.all(
    candidates.map(async (path) => {
      const dir = posix.dirname(path);
      if (files.has(`${dir}/binding.gyp`)) return dir;
      const scripts = (JSON.parse(await readFile(join(root, path), 'utf8').catch(() => '{}')) as { scripts?: Record<string, unknown> }).scripts ?? {};
      return ['preinstall', 'install', 'postinstall'].some((s) => typeof scripts[s] === 'string') ? dir : undefined;
    }),
  );
  return scripted.filter((dir): dir is string => dir !== undefined).sort();
}

/**
 * Why the tree at `base` differs from `reference`, or `undefined`: every directory, link and file
 * the clean install makes is there (links to the same target; files of the same size, and with
 * `hashes` the same content), and nothing more, except inside packages with install scripts
 * ({@link Reference.scripted}), where only what the install makes must exist.
 */
export async function referenceProblem(base: string, project: Project, reference: Reference, hashes: boolean): Promise<string | undefined> {
  const tree = await scanTree(base, nodeModulesDirs(project));
  const scripted = new Set(reference.scripted);
  const underScript = (path: string) => {
    for (let dir = posix.dirname(path); dir !== '.'; dir = posix.dirname(dir)) if (scripted.has(dir)) return true;
    return scripted.has(path);
  };
  const sizes = new Map(tree.files.map(([path, , size]) => [path, size]));
  const links = new Map(tree.links);
  const dirs = new Set(tree.dirs);
  const missing = [
    ...reference.dirs.filter((d) => !dirs.has(d)),
    ...reference.files.filter(([path]) => !sizes.has(path)).map(([path]) => path),
    ...reference.links.filter(([path, target]) => (underScript(path) ? !links.has(path) : links.get(path) !== target)).map(([path]) => path),
  ];
  if (missing.length > 0) return `${missing.length} of its files are missing or different (${missing[0]})`;
  const known = new Set([...reference.dirs, ...reference.files.map(([path]) => path), ...reference.links.map(([path]) => path)]);
  const extra = [...tree.dirs, ...tree.files.map(([path]) => path), ...tree.links.map(([path]) => path)].filter((path) => !known.has(path) && !underScript(path));
  if (extra.length > 0) return `${extra.length} files a clean install does not make (${extra[0]})`;
  const compared = reference.files.filter(([path, , sha1]) => sha1 !== '' && !underScript(path));
  const resized = compared.find(([path, size]) => sizes.get(path) !== size);
  if (resized) return `${resized[0]} differs in size`;
  if (!hashes) return undefined;
  const changed: string[] = [];
  await pump(compared, FS_CONCURRENCY, ([path, , sha1], done) => {
    sha1Of(join(base, path)).then((found) => {
      if (found !== sha1) changed.push(path);
      done();
    }, done);
  });
  return changed.length > 0 ? `${changed.length} files differ in content (${changed.sort()[0]})` : undefined;
}
