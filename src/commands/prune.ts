import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { canAsk, confirm } from '../core/prompt.js';
import { parseDuration } from '../core/duration.js';
import { describeOrphan } from '../pipelines/orphans.js';
import { applyPrune, planPrune, type PrunePlan } from '../pipelines/prune.js';

/**
 * `git vtree prune [--idle <age>] [--force] [--delete-branch] [--yes] [--json]`: lists the
 * worktrees that are done with (merged, upstream gone, idle) and vtree's own leftovers, and
 * removes them with `--yes` or after a prompt on a terminal; otherwise only lists.
 */
export default async function prune(args: Args, io: Io): Promise<number> {
  const request = {
    cwd: process.cwd(),
    ...(args.idle !== undefined ? { idleMs: parseDuration(String(args.idle), '--idle') } : {}),
    force: Boolean(args.force),
    deleteBranch: Boolean(args.deleteBranch),
    keepProcesses: Boolean(args.keepProcesses),
  };
  const plan = await planPrune(request);
  if (!args.yes) {
    if (io.json) {
      io.out(JSON.stringify({ ok: true, applied: false, ...plan }));
      return ExitCode.ok;
    }
    show(plan, request.force, io);
    if (isEmpty(plan, request.force)) return ExitCode.ok;
    if (!canAsk()) {
      io.log('Nothing removed: run git vtree prune --yes to remove these.');
      return ExitCode.ok;
    }
    if (!(await confirm('Remove these?'))) return ExitCode.ok;
  } else if (!io.json) show(plan, request.force, io);
  const outcome = await applyPrune(plan, request, io);
  if (io.json) io.out(JSON.stringify({ ok: outcome.failed.length === 0, applied: true, ...plan, outcome }));
  else {
    io.log(
      `Removed ${outcome.removed.length} worktree(s), ${outcome.orphans.length} leftover stack(s)/lease set(s), ${outcome.spareWorktrees} spare worktree(s), ${outcome.cacheEntries.length} cache entr${outcome.cacheEntries.length === 1 ? 'y' : 'ies'}, ${outcome.staging} staging dir(s)` +
        (outcome.trashLog ? `; the trash is deleted in the background (log: ${outcome.trashLog})` : ''),
    );
    for (const r of outcome.removed) if (r.kept) io.log(`  kept your changed ignored files of ${r.path} in ${r.kept.dir}`);
    for (const o of outcome.orphans) if (o.held.length > 0) io.warn(`kept the lease of port(s) ${o.held.join(', ')} of ${o.path}: still in use`);
  }
  return outcome.failed.length === 0 ? ExitCode.ok : ExitCode.failed;
}

function isEmpty(plan: PrunePlan, force: boolean): boolean {
  return plan.worktrees.every((w) => w.kept && !force) && plan.orphans.length + plan.spareWorktrees + plan.trash + plan.staging + plan.cacheEntries.length === 0;
}

/** The plan, one line per thing and why (stderr: the listing is for the human). */
function show(plan: PrunePlan, force: boolean, io: Io): void {
  if (plan.worktrees.length === 0 && isEmpty(plan, force)) {
    io.log('Nothing to prune.');
    return;
  }
  for (const w of plan.worktrees) {
    const what = `${w.branch ?? '(detached)'}  ${w.path}: ${w.reasons.join(', ')}`;
    io.log(w.kept && !force ? `keep    ${what}; has ${w.kept} (--force removes it, keeping them as rm --force does)` : `remove  ${what}${w.kept ? `; has ${w.kept}` : ''}`);
  }
  for (const o of plan.orphans) io.log(`reclaim ${describeOrphan(o)}`);
  if (plan.spareWorktrees > 0) io.log(`remove  ${plan.spareWorktrees} spare worktree(s) past vtree.spares.maxAge/maxBehind or beyond vtree.spares.worktrees`);
  if (plan.cacheEntries.length > 0) io.log(`drop    ${plan.cacheEntries.length} cache entr${plan.cacheEntries.length === 1 ? 'y' : 'ies'} no worktree uses, past vtree.cache.maxAge/maxSize`);
  if (plan.trash > 0) io.log(`delete  ${plan.trash} item(s) in the trash`);
  if (plan.staging > 0) io.log(`delete  ${plan.staging} stale staging dir(s) of the cache`);
}
