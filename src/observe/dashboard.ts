import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, VtreeError } from '../core/errors.js';
import { readMetrics } from './metrics.js';
import { buildStats, performanceMetrics, type StatsFilter } from './stats.js';

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
  warn?: (line: string) => void;
}

/** A running dashboard. */
export interface Dashboard {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the metrics dashboard on 127.0.0.1: `GET /` is one self-contained page (table,
 * waterfall of the latest creation or of `?run=<id>`, chart of recent creation times) that polls
 * `GET /api/performance/stats` (the `stats --json` document); `GET /api/performance/metrics`
 * answers in the seed plan's shape. metrics.json is read afresh on every request.
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
      const nonce = randomBytes(16).toString('base64');
      response.setHeader('Content-Security-Policy', `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:`);
      return send(response, 200, 'text/html; charset=utf-8', dashboardPage(nonce));
    }
    case '/api/performance/metrics':
    case '/api/performance/stats': {
      const { runs } = await readMetrics(options.commonDir, options.warn);
      const runId = url.searchParams.get('run') ?? undefined;
      let report;
      try {
        report = buildStats(runs, options.filter ?? {}, runId ? { runId } : {});
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

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  response.end(body);
}

/**
 * The page. Data is put into the DOM with textContent and CSSOM only (never innerHTML), so a
 * branch name cannot inject markup; the nonce lets the CSP allow exactly this script and style.
 */
export function dashboardPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>git vtree · performance</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">
  :root { color-scheme: light dark; --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa;
          --crit: #cf222e; --step: #0969da; --nested: #54aeff; --bg-run: #8c959f; --ok: #1a7f37; --fail: #bc4c00; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --bg: #0d1117; --panel: #161b22; } }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 16px 24px; color: var(--fg); background: var(--bg); }
  h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 24px 0 8px; }
  .muted { color: var(--muted); } .summary { margin: 4px 0 0; }
  table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
  th:first-child, td:first-child { text-align: left; } th { background: var(--panel); font-weight: 600; }
  .grid { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
  .waterfall { position: relative; max-width: 1000px; }
  .wf-row { display: flex; align-items: center; height: 20px; }
  .wf-label { width: 240px; flex: none; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-family: ui-monospace, monospace; font-size: 12px; }
  .wf-track { position: relative; flex: 1; height: 14px; background: var(--panel); }
  .wf-bar { position: absolute; top: 0; height: 14px; min-width: 2px; background: var(--step); border-radius: 2px; }
  .wf-bar.critical { background: var(--crit); } .wf-bar.nested { background: var(--nested); height: 10px; top: 2px; }
  .wf-bar.background { background: var(--bg-run); } .wf-bar.failed { outline: 2px dashed var(--crit); }
  .wf-end { position: absolute; top: -3px; height: 20px; border-left: 1px dashed var(--fg); }
  .wf-time { width: 130px; flex: none; text-align: right; font-size: 12px; font-variant-numeric: tabular-nums; }
  .legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; border-radius: 2px; }
  .legend .critical { background: var(--crit); } .legend .step { background: var(--step); } .legend .nested { background: var(--nested); } .legend .background { background: var(--bg-run); }
  .legend .end { width: 0; border-left: 1px dashed var(--fg); border-radius: 0; }
  svg text { fill: var(--muted); font-size: 11px; } #chart rect { cursor: pointer; }
  .legend .run-ok { background: var(--step); } .legend .run-failed { background: var(--fail); }
  #empty { padding: 24px; background: var(--panel); border-radius: 6px; }
</style>
</head>
<body>
<h1>git vtree · performance</h1>
<p class="muted summary" id="summary">Loading…</p>
<div id="empty" hidden>No runs recorded yet: run <code>git vtree add &lt;branch&gt;</code>; this page refreshes on its own.</div>
<div id="content" hidden>
  <div class="grid">
    <section>
      <h2>Operations (spans)</h2>
      <table id="operations"><thead><tr><th>operation</th><th>count</th><th>avg</th><th>p50</th><th>p95</th><th>min</th><th>max</th><th>total</th></tr></thead><tbody></tbody></table>
    </section>
    <section>
      <h2>Commands (whole runs, wall clock)</h2>
      <table id="commands"><thead><tr><th>command</th><th>count</th><th>avg</th><th>p50</th><th>p95</th><th>min</th><th>max</th><th>failed</th><th>refused</th></tr></thead><tbody></tbody></table>
      <h2>Worktree creation, last runs</h2>
      <svg id="chart" width="420" height="176" role="img" aria-label="creation time of recent runs"></svg>
      <div class="legend muted" id="chart-legend"><span class="run-ok"></span>add or hook run<span class="run-failed"></span>failed run · height: wall-clock time · click a bar for its waterfall</div>
      <p class="muted" id="deps"></p>
    </section>
  </div>
  <h2 id="waterfall-title">Latest worktree creation</h2>
  <div class="legend muted"><span class="critical"></span>critical path<span class="step"></span>other step<span class="nested"></span>nested<span class="background"></span>background run<span class="end"></span>command returned</div>
  <div class="waterfall" id="waterfall"></div>
</div>
<p class="muted">Refreshes every ${REFRESH_SECONDS} s · <a href="/api/performance/metrics">/api/performance/metrics</a> · <a href="/api/performance/stats">/api/performance/stats</a> · updated <span id="updated">never</span></p>
<script nonce="${nonce}">
const $ = (id) => document.getElementById(id);
const ms = (v) => v >= 1000 ? (v / 1000).toFixed(2) + ' s' : Math.round(v) + ' ms';
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
function drawWaterfall(w) {
  const box = $('waterfall');
  if (!w) { box.replaceChildren(); return; }
  $('waterfall-title').textContent = 'Run ' + w.runId + ' · ' + w.command + (w.branch ? ' ' + w.branch : '') + ' · ' + ms(w.duration) + ' wall clock' + (w.ok ? '' : ' · failed') +
    (w.spanSum > w.busy + 0.5 ? ' · steps overlapped ' + (w.spanSum / w.busy).toFixed(1) + '×' : '');
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
  const width = 420, height = 160, pad = 44;
  const max = Math.max(1, ...points.map((p) => p.duration));
  const step = points.length ? Math.min(24, (width - pad) / points.length) : 0;
  const nodes = [];
  const text = (x, y, content) => { const t = document.createElementNS(NS, 'text'); t.setAttribute('x', x); t.setAttribute('y', y); t.textContent = content; return t; };
  // Axes: time up the left, runs oldest to newest along the bottom.
  nodes.push(text(0, 12, ms(max)), text(0, height - 4, '0 ms'), text(pad, height + 14, 'older'), text(width - 40, height + 14, 'newer →'));
  points.forEach((p, i) => {
    const h = Math.max(1, (height - 20) * p.duration / max);
    const rect = document.createElementNS(NS, 'rect');
    rect.setAttribute('x', pad + i * step + 1);
    rect.setAttribute('y', height - 4 - h);
    rect.setAttribute('width', Math.max(1, step - 2));
    rect.setAttribute('height', h);
    rect.style.fill = p.ok ? 'var(--step)' : 'var(--fail)';
    rect.dataset.run = p.id;
    rect.addEventListener('click', () => { location.search = '?run=' + encodeURIComponent(p.id); });
    const title = document.createElementNS(NS, 'title');
    title.textContent = p.command + ' ' + p.startedAt.slice(0, 19).replace('T', ' ') + ': ' + ms(p.duration) + (p.depsSource ? ' (deps: ' + p.depsSource + ')' : '');
    rect.append(title);
    nodes.push(rect);
  });
  svg.replaceChildren(...nodes);
}
async function refresh() {
  try {
    // The page's own ?run=<id> picks the waterfall, as --run does on the terminal.
    const run = new URLSearchParams(location.search).get('run');
    const response = await fetch('/api/performance/stats' + (run ? '?run=' + encodeURIComponent(run) : ''), { cache: 'no-store' });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    const report = await response.json();
    const empty = report.runs.matched === 0;
    $('empty').hidden = !empty;
    $('content').hidden = empty;
    $('summary').textContent = empty ? report.runs.recorded + ' runs recorded' :
      report.runs.matched + ' runs · wall-clock total ' + ms(report.totalTime) + (report.avgWorktreeCreation ? ' · average worktree creation ' + ms(report.avgWorktreeCreation) : '');
    fillTable('operations', report.operations, (o) => [o.name, String(o.count), ms(o.avg), ms(o.p50), ms(o.p95), ms(o.min), ms(o.max), ms(o.total)]);
    fillTable('commands', report.commands, (c) => [c.command, String(c.count), ms(c.avg), ms(c.p50), ms(c.p95), ms(c.min), ms(c.max), String(c.failed), String(c.refused)]);
    const d = report.deps;
    $('deps').textContent = d.runs ? 'Dependencies: ' + d.sources.filter((s) => s.count).map((s) => s.source + ' ' + Math.round(s.share * 100) + '%').join(', ') +
      ' · median warm ' + (d.warm.count ? ms(d.warm.p50) : '–') + ' vs cold ' + (d.cold.count ? ms(d.cold.p50) : '–') : '';
    drawChart(report.creations);
    // By default the waterfall is of the latest worktree creation, not of whatever ran last (an rm).
    const latestAdd = report.creations.length ? report.creations[report.creations.length - 1].id : undefined;
    let waterfall = report.waterfall;
    if (!run && latestAdd && waterfall && waterfall.runId !== latestAdd) {
      const own = await fetch('/api/performance/stats?run=' + encodeURIComponent(latestAdd), { cache: 'no-store' });
      if (own.ok) waterfall = (await own.json()).waterfall;
    }
    drawWaterfall(waterfall);
    $('updated').textContent = new Date().toLocaleTimeString();
  } catch (error) {
    $('summary').textContent = 'Could not load metrics: ' + error.message;
  }
}
refresh();
setInterval(refresh, ${REFRESH_SECONDS * 1000});
</script>
</body>
</html>
`;
}
