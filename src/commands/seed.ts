import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import { formatBytes, type Io } from '../core/output.js';

/**
 * `git vtree seed [--rebuild]`: builds the golden copy of each seeded volume for the current
 * worktree's commit now (in the foreground); `seed status`: the goldens, their sizes and which
 * worktrees cloned them; `seed prune [--all]`: every golden but the newest of each volume (or all).
 */
export default async function seed(args: Args, io: Io): Promise<number> {
  const action = (args.action as string | undefined) ?? 'build';
  const pipeline = await import('../pipelines/seed.js');
  if (action === 'status') {
    const { cacheDir, goldens } = await pipeline.seedReport(process.cwd());
    if (io.json) {
      io.out(JSON.stringify({ cacheDir, goldens: goldens.map(({ volume, key, service, image, commit, createdAt, lastUsedAt, bytes, buildMs, dir, users }) => ({ volume, key, service, image, commit, createdAt, lastUsedAt, bytes, buildMs, dir, users })) }));
      return ExitCode.ok;
    }
    if (goldens.length === 0) {
      io.out(`no golden copies in ${cacheDir} (declare [vtree "seed.<volume>"], then: git vtree seed)`);
      return ExitCode.ok;
    }
    const { formatColumns } = await import('../core/columns.js');
    io.out(formatColumns(['volume', 'key', 'size', 'built', 'commit', 'worktrees'], goldens.map((g) => [g.volume, g.key.slice(0, 12), formatBytes(g.bytes), g.createdAt, g.commit.slice(0, 10), g.users.length === 0 ? '-' : g.users.join(', ')])));
    return ExitCode.ok;
  }
  if (action === 'prune') {
    const pruned = await pipeline.pruneGoldens(process.cwd(), args.all === true);
    if (io.json) io.out(JSON.stringify({ pruned: pruned.map(({ volume, key, bytes }) => ({ volume, key, bytes })) }));
    else io.log(pruned.length === 0 ? 'nothing to prune' : `pruned ${pruned.length} golden cop${pruned.length === 1 ? 'y' : 'ies'} (${formatBytes(pruned.reduce((n, g) => n + g.bytes, 0))})`);
    return ExitCode.ok;
  }
  const { newRunId } = await import('../observe/metrics.js');
  const outcomes = await pipeline.seedGoldens({ cwd: process.cwd(), rebuild: args.rebuild === true, interactive: !io.json, runId: newRunId(), log: io.log, warn: io.warn });
  if (io.json) io.out(JSON.stringify({ ok: outcomes.every((o) => !o.skipped), volumes: outcomes.map(({ volume, key, built, skipped, golden }) => ({ volume, key, built, ...(skipped ? { skipped } : {}), ...(golden ? { dir: golden.dir, bytes: golden.bytes, createdAt: golden.createdAt } : {}) })) }));
  else {
    if (outcomes.length === 0) io.log('no seeded volumes declared: add [vtree "seed.<volume>"] with service and run (docs/data.md)');
    for (const o of outcomes) if (o.golden && !o.built) io.log(`seed ${o.volume}: golden ${o.key!.slice(0, 12)} is ready (${formatBytes(o.golden.bytes)}, built ${o.golden.createdAt}); --rebuild builds it again`);
  }
  return outcomes.some((o) => o.skipped) ? ExitCode.failed : ExitCode.ok;
}
