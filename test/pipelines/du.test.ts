import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addWorktree, git, requirePrereq, testEnv, vtree } from '../helpers.js';

const execFileAsync = promisify(execFile);
const MB = 1024 * 1024;

interface Report {
  rows: Array<{ kind: string; path: string; branch?: string; bytes: number; own: number; shared: { cache: number; main: number; worktrees: number } }>;
  totals: { main: number; worktree: number; all: number };
}

/** A repository in `parent` whose main worktree holds a 4 MB ignored file, and worktrees a (a hard link of it), b (a copy) and c (a clone, where `clone`). */
async function setUp(parent: string, clone: boolean): Promise<{ repo: string; report: Report }> {
  const repo = join(parent, 'app');
  await execFileAsync('git', ['init', '-q', '-b', 'main', repo], { env: testEnv() });
  await writeFile(join(repo, '.gitignore'), 'big/\n.env\n');
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-qm', 'initial');
  await mkdir(join(repo, 'big'));
  await writeFile(join(repo, 'big', 'data'), randomBytes(4 * MB));
  const [a, b, c] = [await addWorktree(repo, 'a'), await addWorktree(repo, 'b'), await addWorktree(repo, 'c')];
  for (const w of [a, b, c]) await mkdir(join(w, 'big'));
  await link(join(repo, 'big', 'data'), join(a, 'big', 'data'));
  // Written, not copyFile: on XFS copy_file_range clones.
  await writeFile(join(b, 'big', 'data'), await readFile(join(repo, 'big', 'data')));
  if (clone) await execFileAsync('cp', ['--reflink=always', join(repo, 'big', 'data'), join(c, 'big', 'data')]);
  const result = await vtree(repo, ['du', '--json']);
  expect(result.code, result.stderr).toBe(0);
  return { repo, report: JSON.parse(result.stdout) as Report };
}

const row = (report: Report, branch: string) => report.rows.find((r) => r.branch === branch)!;

describe('git vtree du', () => {
  it('counts a hard-linked file once, as shared with the main worktree, and a copy as the worktree\'s own', async () => {
    const parent = await mkdtemp('/tmp/vtree-du-');
    try {
      const { report } = await setUp(parent, false);
      expect(row(report, 'a').shared.main).toBeGreaterThanOrEqual(4 * MB);
      expect(row(report, 'a').own).toBeLessThan(MB);
      expect(row(report, 'b').own).toBeGreaterThanOrEqual(4 * MB);
      expect(row(report, 'b').shared.main).toBeLessThan(MB);
      // Main's file and b's copy, once each: the hard link adds nothing.
      expect(report.totals.all).toBeGreaterThanOrEqual(8 * MB);
      expect(report.totals.all).toBeLessThan(9 * MB);
      expect(report.totals.main).toBeGreaterThanOrEqual(4 * MB);
      const one = await vtree(join(parent, 'app'), ['du', 'a', '--json']);
      expect((JSON.parse(one.stdout) as Report).rows.map((r) => r.branch)).toEqual(['a']);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('counts a cloned extent once on XFS (FIEMAP), as shared with the main worktree', async (ctx) => {
    const { mount } = await requirePrereq('xfs', ctx);
    const parent = await mkdtemp(join(mount, 'vtree-du-'));
    try {
      const { report } = await setUp(parent, true);
      expect(row(report, 'c').bytes).toBeGreaterThanOrEqual(4 * MB);
      expect(row(report, 'c').shared.main).toBeGreaterThanOrEqual(4 * MB);
      expect(row(report, 'c').own).toBeLessThan(MB);
      // Main's file (shared by a's link and c's clone) and b's copy.
      expect(report.totals.all).toBeGreaterThanOrEqual(8 * MB);
      expect(report.totals.all).toBeLessThan(9 * MB);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});
