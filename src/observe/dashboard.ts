import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, VtreeError } from '../core/errors.js';
import { controlRoomHtml, type WorktreeView } from './control-room.js';
import { readMetrics, type RunRecord } from './metrics.js';
import { buildStats, filterRuns, performanceMetrics, type StatsFilter, type StatsReport } from './stats.js';

/** The only address the dashboard listens on: metrics name branches and paths, so never all interfaces. */
export const DASHBOARD_HOST = '127.0.0.1';

/** Seconds between the page's refreshes. */
const REFRESH_SECONDS = 5;

/** What {@link startDashboard} needs. */
export interface DashboardOptions {
  /** The repository's common git dir, whose metrics.json is served. */
  commonDir: string;
  /** 0 picks a free port. */
  port: number;
  /** Filters applied to every answer (the `stats` flags given with `--serve`). */
  filter?: StatsFilter;
  /** Reads the repository's worktrees (a pipeline's work, handed in so this layer stays below it); none: no worktrees section. */
  worktrees?: () => Promise<WorktreeView[]>;
  warn?: (line: string) => void;
}

/** A running dashboard. */
export interface Dashboard {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the dashboard on 127.0.0.1, read-only: `GET /` is one self-contained page, its first
 * screen rendered here (the worktrees with their readiness, services, URLs, ports and last failure;
 * the performance tables, the chart of recent creations and the waterfall of the latest `add` or
 * of `?run=<id>`), that then polls `GET /api/worktrees` and `GET /api/performance/stats` (the
 * `stats --json` document); `GET /api/performance/metrics` answers in the seed plan's shape.
 * Everything is read afresh on every request.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const server = createServer((request, response) => {
    handle(request, response, options, server.address() as AddressInfo).catch((error) => {
      options.warn?.(`dashboard: ${errorMessage(error)}`);
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new VtreeError(`port ${options.port} on ${DASHBOARD_HOST} is already in use`, 'git vtree stats --serve --port 0   (any free port)')
          : error,
      ),
    );
    server.listen(options.port, DASHBOARD_HOST, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${DASHBOARD_HOST}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(request: IncomingMessage, response: ServerResponse, options: DashboardOptions, address: AddressInfo): Promise<void> {
  // A page on another site can point a DNS name at 127.0.0.1; only our own host names are served.
  const allowedHosts = [`${DASHBOARD_HOST}:${address.port}`, `localhost:${address.port}`];
  if (!allowedHosts.includes(request.headers.host ?? '')) return send(response, 421, 'text/plain; charset=utf-8', 'unknown host\n');
  if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'text/plain; charset=utf-8', 'only GET\n');
  const url = new URL(request.url ?? '/', `http://${request.headers.host}`);
  switch (url.pathname) {
    case '/':
    case '/index.html': {
      const [report, worktrees] = await Promise.all([statsReport(options, url.searchParams.get('run') ?? undefined).catch(() => null), options.worktrees?.()]);
      const nonce = randomBytes(16).toString('base64');
      response.setHeader('Content-Security-Policy', `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:`);
      return send(response, 200, 'text/html; charset=utf-8', dashboardPage(nonce, { report, worktrees }));
    }
    case '/api/worktrees': {
      if (!options.worktrees) return send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
      return send(response, 200, 'application/json', JSON.stringify(await options.worktrees()));
    }
    case '/api/performance/metrics':
    case '/api/performance/stats': {
      let report;
      try {
        report = await statsReport(options, url.searchParams.get('run') ?? undefined);
      } catch (error) {
        return send(response, 404, 'application/json', JSON.stringify({ error: errorMessage(error) }));
      }
      const body = url.pathname.endsWith('/metrics') ? performanceMetrics(report) : report;
      return send(response, 200, 'application/json', JSON.stringify(body));
    }
    default:
      return send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
  }
}

/** The stats document; its waterfall is of `runId`, else of the latest `add` (an `rm` says little about set-up), else of the latest run. */
async function statsReport(options: DashboardOptions, runId: string | undefined): Promise<StatsReport> {
  const { runs } = await readMetrics(options.commonDir, options.warn);
  const shown = runId ?? latestAdd(runs, options.filter ?? {});
  return buildStats(runs, options.filter ?? {}, shown !== undefined ? { runId: shown } : {});
}

function latestAdd(runs: readonly RunRecord[], filter: StatsFilter): string | undefined {
  return filterRuns(runs, filter).filter((r) => r.command === 'add' && r.linkedTo === undefined).at(-1)?.id;
}

/** JSON inside a `<script type="application/json">`: no `<` can end the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  response.end(body);
}

/**
 * The page. The first screen comes from the server: the worktrees section as HTML, the stats
 * document as inert JSON the script draws before the first paint. Later data is put into the DOM
 * with textContent, CSSOM and the parsed output of {@link controlRoomHtml} (which escapes every
 * value), never by assigning innerHTML; the nonce lets the CSP allow exactly this script and style.
 */
export function dashboardPage(nonce: string, initial: { report: StatsReport | null; worktrees?: WorktreeView[] | undefined } = { report: null }): string {
  const worktreesSection = initial.worktrees
    ? `<section id="worktrees-section"><h2>Worktrees</h2><div id="worktrees">${controlRoomHtml(initial.worktrees)}</div></section>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>git vtree · control room</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">
  :root { color-scheme: light dark; --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa;
          --crit: #cf222e; --step: #0969da; --nested: #54aeff; --bg-run: #8c959f; --ok: #1a7f37; --fail: #bc4c00; --pending: #9a6700; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --bg: #0d1117; --panel: #161b22; } }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 16px 24px; color: var(--fg); background: var(--bg); }
  h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 20px 0 8px; }
  a { color: var(--step); }
  .muted { color: var(--muted); } .summary { margin: 4px 0 8px; }
  table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; vertical-align: top; }
  th:first-child, td:first-child { text-align: left; } th { background: var(--panel); font-weight: 600; }
  #worktrees-table td, #worktrees-table th { text-align: left; white-space: normal; }
  #worktrees-table .branch { font-weight: 600; } #worktrees-table .path { font-size: 12px; font-family: ui-monospace, monospace; }
  .state, .phase { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; border: 1px solid var(--line); margin: 1px 0; white-space: nowrap; }
  .phase b { font-weight: 600; }
  .state.ready, .phase.done { color: var(--ok); border-color: var(--ok); }
  .state.failed, .phase.failed { color: var(--fail); border-color: var(--fail); }
  .state.pending, .phase.pending, .phase.running { color: var(--pending); border-color: var(--pending); }
  .phase.skipped { color: var(--muted); }
  .svc { margin: 1px 0; } .svc a { font-family: ui-monospace, monospace; font-size: 12px; }
  tr.wt.failed td:first-child { box-shadow: inset 3px 0 var(--fail); }
  tr.failure td { border-top: none; padding-top: 0; color: var(--fail); }
  tr.failure pre { margin: 4px 0 2px; padding: 6px 8px; background: var(--panel); color: var(--fg); font-size: 12px; white-space: pre-wrap; max-width: 1100px; }
  .grid { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
  .waterfall { position: relative; max-width: 1000px; }
  .wf-row { display: flex; align-items: center; height: 20px; }
  .wf-label { width: 240px; flex: none; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-family: ui-monospace, monospace; font-size: 12px; }
  .wf-track { position: relative; flex: 1; height: 14px; background: var(--panel); }
  .wf-bar { position: absolute; top: 0; height: 14px; min-width: 2px; background: var(--step); border-radius: 2px; }
  .wf-bar.critical { background: var(--crit); } .wf-bar.nested { background: var(--nested); height: 10px; top: 2px; }
  .wf-bar.background { background: var(--bg-run); } .wf-bar.failed { outline: 2px dashed var(--fail); }
  .wf-end { position: absolute; top: -3px; height: 20px; border-left: 1px dashed var(--fg); }
  .wf-time { width: 130px; flex: none; text-align: right; font-size: 12px; font-variant-numeric: tabular-nums; }
  .legend { font-size: 12px; margin: 4px 0; }
  .legend i { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; border-radius: 2px; vertical-align: -1px; }
  .legend i:first-child { margin-left: 0; }
  .legend .critical { background: var(--crit); } .legend .step { background: var(--step); } .legend .nested { background: var(--nested); } .legend .background { background: var(--bg-run); }
  .legend .ok { background: var(--ok); } .legend .fail { background: var(--fail); } .legend .failed-step { outline: 2px dashed var(--fail); outline-offset: -2px; }
  .legend .end { width: 0; border-left: 1px dashed var(--fg); border-radius: 0; }
  svg text { fill: var(--muted); font-size: 11px; } svg .grid-line { stroke: var(--line); } svg .axis { stroke: var(--muted); }
  svg .bar { cursor: pointer; } svg .bar.ok { fill: var(--ok); } svg .bar.failed { fill: var(--fail); } svg .bar:hover { opacity: 0.7; }
  #empty { padding: 24px; background: var(--panel); border-radius: 6px; }
</style>
</head>
<body>
<h1>git vtree · control room</h1>
${worktreesSection}
<h2>Performance</h2>
<p class="muted summary" id="summary"></p>
<div id="empty" hidden>No runs recorded yet: run <code>git vtree add &lt;branch&gt;</code>; this page refreshes on its own.</div>
<div id="content" hidden>
  <div class="grid">
    <section>
      <h3>Worktree creation, last runs</h3>
      <svg id="chart" width="460" height="200" role="img" aria-label="creation time of recent runs"></svg>
      <div class="legend muted"><i class="ok"></i>succeeded<i class="fail"></i>failed · click a bar to open its run</div>
      <p class="muted" id="deps"></p>
    </section>
    <section>
      <h3>Commands (whole runs, wall clock)</h3>
      <table id="commands"><thead><tr><th>command</th><th>count</th><th>avg</th><th>p50</th><th>p95</th><th>min</th><th>max</th><th>failed</th><th>refused</th></tr></thead><tbody></tbody></table>
    </section>
  </div>
  <h2 id="waterfall-title">Latest add</h2>
  <div class="legend muted"><i class="critical"></i>critical path<i class="step"></i>other step<i class="nested"></i>nested<i class="background"></i>background run<i class="failed-step"></i>failed step<i class="end"></i>command returned</div>
  <div class="waterfall" id="waterfall"></div>
  <h3>Operations (spans)</h3>
  <table id="operations"><thead><tr><th>operation</th><th>count</th><th>avg</th><th>p50</th><th>p95</th><th>min</th><th>max</th><th>total</th></tr></thead><tbody></tbody></table>
</div>
<p class="muted">Read-only · refreshes every ${REFRESH_SECONDS} s · ${initial.worktrees ? '<a href="/api/worktrees">/api/worktrees</a> · ' : ''}<a href="/api/performance/metrics">/api/performance/metrics</a> · <a href="/api/performance/stats">/api/performance/stats</a> · updated <span id="updated">${new Date().toLocaleTimeString('en-GB')}</span></p>
<script type="application/json" id="initial-stats">${scriptJson(initial.report)}</script>
<script nonce="${nonce}">
const $ = (id) => document.getElementById(id);
const ms = (v) => v >= 1000 ? (v / 1000).toFixed(2) + ' s' : Math.round(v) + ' ms';
const chosenRun = new URLSearchParams(location.search).get('run');
const controlRoomHtml = ${controlRoomHtml.toString()};
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}
function fillTable(id, rows, cells) {
  const body = $(id).tBodies[0];
  body.replaceChildren(...rows.map((row) => {
    const tr = el('tr');
    for (const cell of cells(row)) tr.append(el('td', cell));
    return tr;
  }));
}
function openRun(id) { location.search = '?run=' + encodeURIComponent(id); }
function drawWaterfall(w) {
  const box = $('waterfall');
  if (!w) { box.replaceChildren(); return; }
  const title = $('waterfall-title');
  title.replaceChildren((chosenRun ? 'Run ' : 'Latest add · run ') + w.runId + ' · ' + w.command + (w.branch ? ' ' + w.branch : '') + ' · ' + ms(w.duration) + ' wall clock' + (w.ok ? '' : ' · failed') +
    (w.spanSum > w.busy + 0.5 ? ' · steps overlapped ' + (w.spanSum / w.busy).toFixed(1) + '×' : ''));
  if (chosenRun) { const back = el('a', 'latest add', 'muted'); back.href = '/'; title.append(' · ', back); }
  const extent = w.extent || 1;
  box.replaceChildren(...w.rows.map((r) => {
    const row = el('div', undefined, 'wf-row');
    const label = el('div', '\\u00a0'.repeat(r.depth * 3) + r.name, 'wf-label');
    label.title = r.name;
    const track = el('div', undefined, 'wf-track');
    const bar = el('div', undefined, 'wf-bar' + (r.background ? ' background' : r.critical ? ' critical' : r.depth > 0 ? ' nested' : '') + (r.ok ? '' : ' failed'));
    bar.style.left = (100 * r.start / extent) + '%';
    bar.style.width = (100 * r.duration / extent) + '%';
    bar.title = r.name + ': ' + ms(r.start) + ' + ' + ms(r.duration);
    track.append(bar);
    if (w.extent > w.duration) {
      // Where the command returned: what lies right of it ran in the background.
      const end = el('div', undefined, 'wf-end');
      end.style.left = (100 * w.duration / extent) + '%';
      track.append(end);
    }
    row.append(label, track, el('div', ms(r.start) + ' +' + ms(r.duration), 'wf-time'));
    return row;
  }));
}
function drawChart(points) {
  const svg = $('chart');
  const NS = 'http://www.w3.org/2000/svg';
  const width = 460, height = 200, left = 56, bottom = 34, top = 8;
  const plot = height - bottom - top;
  const max = Math.max(1, ...points.map((p) => p.duration));
  const step = points.length ? Math.min(24, (width - left) / points.length) : 0;
  const node = (tag, attrs, content) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (content !== undefined) n.textContent = content;
    return n;
  };
  const nodes = [];
  // y axis: three ticks with grid lines, and its title.
  for (const f of [0, 0.5, 1]) {
    const y = top + plot - plot * f;
    nodes.push(node('line', { x1: left, x2: width, y1: y, y2: y, class: 'grid-line' }), node('text', { x: left - 4, y: y + 4, 'text-anchor': 'end' }, ms(max * f)));
  }
  nodes.push(node('text', { x: 10, y: top + plot / 2, transform: 'rotate(-90 10 ' + (top + plot / 2) + ')', 'text-anchor': 'middle' }, 'wall clock'));
  nodes.push(node('line', { x1: left, x2: left, y1: top, y2: top + plot, class: 'axis' }));
  points.forEach((p, i) => {
    const h = Math.max(1, plot * p.duration / max);
    const rect = node('rect', { x: left + i * step + 1, y: top + plot - h, width: Math.max(1, step - 2), height: h, class: 'bar ' + (p.ok ? 'ok' : 'failed'), 'data-run': p.id });
    rect.append(node('title', {}, p.command + ' ' + p.startedAt.slice(0, 19).replace('T', ' ') + ': ' + ms(p.duration) + (p.ok ? '' : ' (failed)') + (p.depsSource ? ' (deps: ' + p.depsSource + ')' : '') + ' · click to open'));
    rect.addEventListener('click', () => openRun(p.id));
    nodes.push(rect);
  });
  // x axis: when the oldest and the newest run started (at the two ends, so they never overlap), and its title.
  if (points.length) {
    const day = (p) => p.startedAt.slice(5, 16).replace('T', ' ');
    nodes.push(node('text', { x: left, y: top + plot + 13 }, day(points[0])));
    if (points.length > 1) nodes.push(node('text', { x: width, y: top + plot + 13, 'text-anchor': 'end' }, 'newest ' + day(points.at(-1))));
  }
  nodes.push(node('text', { x: left + (width - left) / 2, y: height - 4, 'text-anchor': 'middle' }, 'add/hook runs, oldest → newest (UTC)'));
  svg.replaceChildren(...nodes);
}
function drawStats(report) {
  const empty = report.runs.matched === 0;
  $('empty').hidden = !empty;
  $('content').hidden = empty;
  $('summary').textContent = empty ? report.runs.recorded + ' runs recorded' :
    report.runs.matched + ' runs · wall-clock total ' + ms(report.totalTime) + (report.avgWorktreeCreation ? ' · average worktree creation ' + ms(report.avgWorktreeCreation) : '');
  fillTable('operations', report.operations, (o) => [o.name, String(o.count), ms(o.avg), ms(o.p50), ms(o.p95), ms(o.min), ms(o.max), ms(o.total)]);
  fillTable('commands', report.commands, (c) => [c.command, String(c.count), ms(c.avg), ms(c.p50), ms(c.p95), ms(c.min), ms(c.max), String(c.failed), String(c.refused ?? 0)]);
  const d = report.deps;
  $('deps').textContent = d.runs ? 'Dependencies: ' + d.sources.filter((s) => s.count).map((s) => s.source + ' ' + Math.round(s.share * 100) + '%').join(', ') +
    ' · median warm ' + (d.warm.count ? ms(d.warm.p50) : '–') + ' vs cold ' + (d.cold.count ? ms(d.cold.p50) : '–') : '';
  drawChart(report.creations);
  drawWaterfall(report.waterfall);
}
function drawWorktrees(views) {
  // Parsed, not executed: a DOMParser document runs no script, and controlRoomHtml escapes every value.
  const parsed = new DOMParser().parseFromString(controlRoomHtml(views), 'text/html');
  $('worktrees').replaceChildren(...parsed.body.childNodes);
}
async function getJson(path) {
  const response = await fetch(path, { cache: 'no-store' });
  if (!response.ok) throw new Error(path + ': HTTP ' + response.status);
  return response.json();
}
async function refresh() {
  try {
    const [report, views] = await Promise.all([
      getJson('/api/performance/stats' + (chosenRun ? '?run=' + encodeURIComponent(chosenRun) : '')),
      $('worktrees') ? getJson('/api/worktrees') : null,
    ]);
    drawStats(report);
    if (views) drawWorktrees(views);
    $('updated').textContent = new Date().toLocaleTimeString('en-GB');
  } catch (error) {
    $('summary').textContent = 'Could not load: ' + error.message;
  }
}
const initial = JSON.parse($('initial-stats').textContent);
if (initial) drawStats(initial); else refresh();
setInterval(refresh, ${REFRESH_SECONDS * 1000});
</script>
</body>
</html>
`;
}
