// What the benchmark prints and which of the issue's targets the figures meet. It reports; it
// never fails on a timing.
import Table from 'cli-table3';

/**
 * One measured row as run.mjs collects it.
 * @typedef {{
 *   id: string, label: string, group: string, repo: string, what: string, expect?: string, linkMode?: string, ref?: string,
 *   status: 'measured' | 'not available' | 'failed', reason?: string,
 *   samples: number[], stats: ReturnType<typeof import('./measure.mjs').summarize> | null,
 *   failures: number, errors: string[],
 *   ratioToWorktree: number | null, ratioToVtree: number | null, ratioToNode?: number | null,
 *   observedLinkMode?: string | null, depsRestored: boolean | null, asExpected?: boolean | null, outcomes?: Record<string, number>, observed: string,
 *   steps: Record<string, number>,
 *   maxRssMb: number | null,
 *   runs: Array<Record<string, unknown>>,
 * }} RowResult
 */

/** The row every "× vtree add" ratio divides by: `git vtree add` as users get it (default config). */
export const REFERENCE_VTREE_ROWS = ['vtree-spare', 'vtree-hit'];

/**
 * Fills in both ratio columns: to `git worktree add` alone and to `git vtree add`.
 * @param {RowResult[]} rows
 * @returns {{ worktree: string | null, vtree: string | null }} the ids of the rows divided by
 */
export function addRatios(rows) {
  const median = (id) => rows.find((r) => r.id === id && r.stats)?.stats?.median;
  const vtreeId = REFERENCE_VTREE_ROWS.find((id) => median(id) !== undefined) ?? null;
  const vtree = vtreeId ? median(vtreeId) : undefined;
  for (const row of rows) {
    // A row of another repository (or command) divides by its own floor: `ref`.
    const worktree = median(row.ref ?? 'worktree');
    row.ratioToWorktree = row.stats && worktree ? row.stats.median / worktree : null;
    row.ratioToVtree = row.stats && vtree ? row.stats.median / vtree : null;
  }
  return { worktree: median('worktree') ? 'worktree' : null, vtree: vtreeId };
}

/**
 * A short account of what a vtree run's deps step reported (its facts in the `--json` output),
 * for the "observed" column, so a row that did not do what its name says is visible: for example
 * `spare (hit) · hardlink · 11569 files`. Facts of another shape are shown as `key=value`.
 * @param {Record<string, unknown> | undefined} facts
 * @param {Array<{ name: string, detail?: Record<string, unknown> }>} steps
 */
export function describeDeps(facts, steps) {
  const deps = facts && typeof facts.deps === 'object' && facts.deps !== null ? /** @type {Record<string, unknown>} */ (facts.deps) : undefined;
  if (deps && typeof deps.source === 'string') {
    const source = deps.spare === true ? `spare (${deps.source})` : deps.source;
    return [source, deps.linkMode, typeof deps.files === 'number' ? `${deps.files} files` : undefined].filter((part) => part !== undefined && part !== null).join(' · ');
  }
  const detail = deps ?? steps.find((s) => /dep/.test(s.name))?.detail;
  if (!detail) return 'no deps facts';
  return Object.entries(detail)
    .filter(([, v]) => ['number', 'boolean'].includes(typeof v) || (typeof v === 'string' && v.length <= 20))
    .slice(0, 4)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/**
 * Where a vtree run's dependencies came from, as the row names it (`spare`, `hit`, `seed`,
 * `partial`, `miss`), or undefined when the deps facts do not say.
 * @param {Record<string, unknown> | undefined} facts
 */
export function depsOutcome(facts) {
  const deps = /** @type {Record<string, unknown> | undefined} */ (facts?.deps);
  if (!deps || typeof deps !== 'object') return undefined;
  if (deps.inSpareWorktree === true) return 'spare worktree';
  if (deps.spare === true) return 'spare';
  return typeof deps.source === 'string' ? deps.source : undefined;
}

/**
 * The issue's targets, each with the ratio measured and whether it was met. A target whose vtree
 * row did not restore node_modules in every run is not met, however fast that row was.
 * @param {RowResult[]} rows
 * @param {RowResult[]} startup
 * @param {RowResult[]} [lists] the `git vtree list` rows
 * @returns {Array<{ id: string, target: string, status: 'met' | 'not met' | 'not measured', value: number | null, detail: string }>}
 */
export function evaluateTargets(rows, startup, lists = []) {
  const byId = (list, id) => list.find((r) => r.id === id);
  const compare = (id, target, numeratorId, denominatorId, limit, list = rows, strict = false) => {
    const a = byId(list, numeratorId);
    const b = byId(list, denominatorId);
    if (!a?.stats || !b?.stats) {
      const [missingId, missing] = a?.stats ? [denominatorId, b] : [numeratorId, a];
      const why = missing ? `${missing.label}: ${missing.reason ?? 'no figures'}` : `row ${missingId} was not run`;
      return { id, target, status: 'not measured', value: null, detail: why };
    }
    const value = a.stats.median / b.stats.median;
    const fast = strict ? value < limit : value <= limit;
    const broken = [a, b].find((r) => r.depsRestored === false);
    const unlike = [a, b].find((r) => r.asExpected === false);
    const detail =
      `${a.label} / ${b.label} = ${value.toFixed(2)}× (limit ${strict ? '<' : '≤'} ${limit}×)` +
      `${broken ? `; ${broken.label} restored no node_modules in some runs` : ''}` +
      `${unlike ? `; ${unlike.label} reported ${Object.keys(unlike.outcomes).join('/')} instead of ${unlike.expect}` : ''}`;
    return { id, target, status: fast && !broken && !unlike ? 'met' : 'not met', value, detail };
  };
  const targets = [
    compare('spare-vs-node-floor', 'with a spare ready: git vtree add ≤ 1.3× (node -e 0 + git worktree add)', 'vtree-spare', 'node+worktree', 1.3),
    compare('hit-vs-cp-al', 'cache hit without a spare ≤ 1.1× the cp -al floor', 'vtree-hit', 'cp-al', 1.1),
    compare('hit-vs-bun', 'cache hit without a spare faster than git worktree add + bun install', 'vtree-hit', 'bun', 1, rows, true),
  ];
  // Copy mode is exempt; so is a mode the filesystem turned into a copy (reflink on ext4).
  // The npm fixture's link modes; the pnpm project's hit has its own target below.
  const hitRows = rows.filter((r) => r.group === 'vtree' && r.expect === 'hit' && r.repo !== 'pnpm');
  const copies = hitRows.filter((r) => r.linkMode === 'copy' || r.observedLinkMode === 'copy');
  const modeRows = hitRows.filter((r) => !copies.includes(r));
  const modeResults = modeRows.map((r) => compare(`${r.id}-vs-pnpm`, '', r.id, 'pnpm', 1, rows, true));
  const measured = modeResults.filter((m) => m.status !== 'not measured');
  targets.push({
    id: 'modes-vs-pnpm',
    target: 'faster than git worktree add + pnpm install --offline in every mode but copy',
    status: measured.length === 0 ? 'not measured' : measured.every((m) => m.status === 'met') ? 'met' : 'not met',
    value: measured.length ? Math.max(...measured.map((m) => /** @type {number} */ (m.value))) : null,
    detail:
      [...new Set((measured.length ? measured : modeResults).map((m) => m.detail))].join('; ') +
      (copies.length ? `; exempt as copies: ${copies.map((r) => `${r.id}${r.linkMode === 'copy' ? '' : ` (restored by ${r.observedLinkMode})`}`).join(', ')}` : ''),
  });
  targets.push(compare('pnpm-hit-vs-pnpm', 'pnpm project with optional platform packages: cache hit faster than git worktree add + pnpm install --offline --frozen-lockfile', 'vtree-hit-pnpm', 'pnpm', 1, rows, true));
  targets.push(compare('seed-vs-hit', 'seeded first-ever add within 1.2× of a cache hit', 'vtree-seed', 'vtree-hit', 1.2));
  targets.push(compare('startup', 'start-up: git vtree --version ≤ 1.6× node -e 0', 'git-vtree-version-via-git', 'node-e0', 1.6, startup));
  // Issue 12: spare worktrees.
  targets.push(compare('spare-wt', 'spare worktree, 2,000-file fixture: git vtree add ≤ 0.3× git worktree add', 'vtree-spare-wt', 'worktree', 0.3));
  targets.push(compare('spare-wt-100k', 'spare worktree, 100,000-file repository: git vtree add ≤ 0.1× git worktree add', 'vtree-spare-wt-100k', 'worktree-100k', 0.1));
  targets.push(compare('spare-wt-flat', 'spare worktree: 100,000 files ≤ 1.5× 2,000 files (flat in repository size)', 'vtree-spare-wt-100k', 'vtree-spare-wt', 1.5));
  targets.push(compare('rm', 'git vtree rm of a clean worktree ≤ 0.5× git worktree remove', 'vtree-rm', 'git-rm', 0.5));
  targets.push(compare('rm-recycled', 'git vtree rm recycling a clean worktree ≤ 0.5× git worktree remove', 'vtree-rm-recycled', 'git-rm', 0.5));
  // Issue 22: removal that does not wait.
  targets.push(compare('rm-stack', 'git vtree rm of a worktree whose stack runs ≤ 0.5× git worktree remove --force of the same', 'vtree-rm-stack', 'git-rm-force', 0.5));
  const prune = rows.find((r) => r.id === 'vtree-prune-50');
  targets.push({
    id: 'prune-50',
    target: 'git vtree prune --yes of 50 merged worktrees under 10 s of foreground time',
    status: !prune?.stats ? 'not measured' : prune.stats.median < 10_000 && prune.asExpected !== false ? 'met' : 'not met',
    // Milliseconds, not a ratio: the target is absolute.
    value: prune?.stats?.median ?? null,
    detail: !prune?.stats ? (prune ? `${prune.label}: ${prune.reason ?? 'no figures'}` : 'row vtree-prune-50 was not run') : `${prune.label}: median ${formatMs(prune.stats.median)} (limit < 10 s)${prune.ratioToWorktree ? `; ${prune.ratioToWorktree.toFixed(2)}× 50 × git worktree remove --force` : ''}`,
  });
  targets.push(compare('list-50', 'git vtree list --fast, 50 worktrees ≤ 1.3× (node -e 0 + git worktree list)', 'vtree-list-50', 'node+git-list-50', 1.3, lists));
  targets.push(compare('list-board-50', 'git vtree list (board columns), 50 worktrees ≤ 2× (node -e 0 + git worktree list)', 'vtree-list-board-50', 'node+git-list-50', 2, lists));
  const rss = rows.filter((r) => r.maxRssMb !== null);
  const peak = rss.length ? Math.max(...rss.map((r) => /** @type {number} */ (r.maxRssMb))) : null;
  targets.push({
    id: 'memory',
    target: 'peak memory of git vtree add under 150 MB',
    status: peak === null ? 'not measured' : peak < 150 ? 'met' : 'not met',
    value: peak,
    detail: peak === null ? 'no vtree row ran' : rss.map((r) => `${r.id} ${r.maxRssMb?.toFixed(0)} MB`).join(', '),
  });
  return targets;
}

/** `1.23 s` or `456 ms`. */
export function formatMs(ms) {
  if (ms === null || ms === undefined) return '–';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

function formatRatio(ratio) {
  return ratio === null || ratio === undefined ? '–' : `${ratio.toFixed(2)}×`;
}

/**
 * The tables and target lines, as printed.
 * @param {{ rows: RowResult[], startup: RowResult[], targets: ReturnType<typeof evaluateTargets>, reference: { worktree: string | null, vtree: string | null }, heading: string, lists?: RowResult[] }} report
 */
export function renderReport({ rows, startup, targets, reference, heading, lists = [] }) {
  const out = [heading, ''];
  const main = new Table({
    head: ['row', 'median', 'min', 'max', 'n', '× worktree', `× vtree`, 'observed'],
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    style: { head: [], border: [], compact: true },
    wordWrap: true,
    colWidths: [null, null, null, null, null, null, null, 40],
  });
  for (const row of rows) {
    if (!row.stats) {
      main.push([row.label, { colSpan: 7, content: `${row.status}: ${row.reason ?? ''}` }]);
      continue;
    }
    const failed = row.failures ? ` (${row.failures} failed)` : '';
    main.push([row.label, formatMs(row.stats.median), formatMs(row.stats.min), formatMs(row.stats.max), `${row.stats.n}${failed}`, formatRatio(row.ratioToWorktree), formatRatio(row.ratioToVtree), row.observed]);
  }
  out.push(main.toString());
  out.push(`× worktree: median / median of '${rowLabel(rows, reference.worktree)}'. × vtree: median / median of '${rowLabel(rows, reference.vtree)}'.`, '');

  const start = new Table({ head: ['start-up', 'median', 'min', 'max', 'n', '× node -e 0'], colAligns: ['left', 'right', 'right', 'right', 'right', 'right'], style: { head: [], border: [], compact: true } });
  for (const row of startup) {
    if (!row.stats) start.push([row.label, { colSpan: 5, content: `${row.status}: ${row.reason ?? ''}` }]);
    else start.push([row.label, formatMs(row.stats.median), formatMs(row.stats.min), formatMs(row.stats.max), String(row.stats.n), formatRatio(row.ratioToNode)]);
  }
  out.push(start.toString(), '');
  if (lists.length) {
    const list = new Table({ head: ['list', 'median', 'min', 'max', 'n', '× node + git list'], colAligns: ['left', 'right', 'right', 'right', 'right', 'right'], style: { head: [], border: [], compact: true } });
    for (const row of lists) {
      if (!row.stats) list.push([row.label, { colSpan: 5, content: `${row.status}: ${row.reason ?? ''}` }]);
      else list.push([row.label, formatMs(row.stats.median), formatMs(row.stats.min), formatMs(row.stats.max), String(row.stats.n), formatRatio(row.ratioToWorktree)]);
    }
    out.push(list.toString(), '');
  }

  const stepRows = rows.filter((r) => Object.keys(r.steps).length);
  if (stepRows.length) {
    out.push('git vtree add steps (median ms of each top-level step, from --json; steps overlap):');
    for (const row of stepRows) out.push(`  ${row.id}: ${Object.entries(row.steps).map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(' · ')}`);
    out.push('');
  }

  out.push('Targets (issues 4 and 12):');
  for (const t of targets) {
    const mark = t.status === 'met' ? 'met' : t.status === 'not met' ? 'NOT MET' : 'not measured';
    const value = t.value === null ? '' : t.id === 'memory' ? ` (${t.value.toFixed(0)} MB)` : t.id === 'prune-50' ? ` (${formatMs(t.value)})` : ` (${t.value.toFixed(2)}×)`;
    out.push(`  [${mark}] ${t.target}${value}`);
    out.push(`      ${t.detail}`);
  }
  return out.join('\n');
}

function rowLabel(rows, id) {
  return rows.find((r) => r.id === id)?.label ?? 'n/a';
}
