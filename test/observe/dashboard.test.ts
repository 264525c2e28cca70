import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/observe/dashboard.js';
import { appendRun, type MetricsFile, type RunRecord } from '../../src/observe/metrics.js';
import type { Span } from '../../src/core/profiler.js';
import { BIN, requirePrereq } from '../helpers.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function span(id: number, parent: number | null, name: string, start: number, duration: number): Span {
  return { id, parent, name, start, duration, ok: true };
}

const RUNS: RunRecord[] = [
  {
    id: 'run-1',
    command: 'add',
    startedAt: '2026-11-20T10:00:00.000Z',
    duration: 100,
    ok: true,
    branch: 'feat/<b>one</b>',
    facts: { deps: { source: 'hit' } },
    version: '0.1.0',
    spans: [span(1, null, 'resolve-repo', 0, 10), span(2, null, 'git-worktree-add', 10, 50), span(3, null, 'deps-restore', 10, 80), span(4, 3, 'link-files', 12, 60)],
  },
  {
    id: 'run-2',
    command: 'add',
    startedAt: '2026-11-21T10:00:00.000Z',
    duration: 300,
    ok: true,
    branch: 'feat-two',
    facts: { deps: { source: 'miss' } },
    version: '0.1.0',
    spans: [span(1, null, 'resolve-repo', 0, 30), span(2, null, 'git-worktree-add', 30, 70), span(3, null, 'deps-restore', 30, 260)],
  },
];

async function makeRepo(runs: RunRecord[] | undefined): Promise<string> {
  const repo = await mkdtemp(join(tmpdir(), 'vtree-dashboard-'));
  execFileSync('git', ['init', '-q', repo]);
  if (runs) {
    await mkdir(join(repo, '.git', 'vibetrees'), { recursive: true });
    await writeFile(join(repo, '.git', 'vibetrees', 'metrics.json'), JSON.stringify({ schema: 1, runs } satisfies MetricsFile));
  }
  return repo;
}

/** A raw HTTP request, so the Host header and method can be anything. */
function rawRequest(port: number, options: { method?: string; path?: string; host?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.host ? { host: options.host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the dashboard server', () => {
  let repo: string;
  let dashboard: Dashboard;

  beforeAll(async () => {
    repo = await makeRepo(RUNS);
    dashboard = await startDashboard({ commonDir: join(repo, '.git'), port: 0 });
  });
  afterAll(async () => {
    await dashboard.close();
    await rm(repo, { recursive: true, force: true });
  });

  it('answers /api/performance/metrics on 127.0.0.1 in the seed shape plus p50/p95', async () => {
    expect(dashboard.url).toBe(`http://127.0.0.1:${dashboard.port}/`);
    const response = await fetch(new URL('/api/performance/metrics', dashboard.url));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['operations', 'totalTime', 'avgWorktreeCreation']);
    expect(body.totalTime).toBe(400);
    expect(body.avgWorktreeCreation).toBe(200);
    expect(body.operations).toEqual([
      { name: 'deps-restore', count: 2, avg: 170, min: 80, max: 260, p50: 170, p95: 251, total: 340 },
      { name: 'git-worktree-add', count: 2, avg: 60, min: 50, max: 70, p50: 60, p95: 69, total: 120 },
      { name: 'link-files', count: 1, avg: 60, min: 60, max: 60, p50: 60, p95: 60, total: 60 },
      { name: 'resolve-repo', count: 2, avg: 20, min: 10, max: 30, p50: 20, p95: 29, total: 40 },
    ]);
  });

  it('serves the stats document, and refuses other hosts, methods and paths', async () => {
    const stats = (await (await fetch(new URL('/api/performance/stats', dashboard.url))).json()) as { runs: { matched: number }; waterfall: { runId: string } };
    expect(stats.runs.matched).toBe(2);
    expect(stats.waterfall.runId).toBe('run-2');
    const byRun = (await (await fetch(new URL('/api/performance/stats?run=run-1', dashboard.url))).json()) as { waterfall: { runId: string } };
    expect(byRun.waterfall.runId).toBe('run-1');
    expect((await rawRequest(dashboard.port, { path: '/api/performance/stats?run=nope' })).status).toBe(404);
    // DNS rebinding: a foreign name pointed at 127.0.0.1 gets nothing.
    expect(await rawRequest(dashboard.port, { host: 'attacker.example:80' })).toEqual({ status: 421, body: 'unknown host\n' });
    expect((await rawRequest(dashboard.port, { host: `localhost:${dashboard.port}` })).status).toBe(200);
    expect((await rawRequest(dashboard.port, { method: 'POST' })).status).toBe(405);
    expect((await rawRequest(dashboard.port, { path: '/etc/passwd' })).status).toBe(404);
  });

  it('is not reachable on any other interface', async (context) => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (!external) {
      context.skip('this machine has no non-loopback IPv4 address to try');
      return;
    }
    await expect(fetch(`http://${external.address}:${dashboard.port}/`)).rejects.toThrow();
  });
});

describe('the dashboard page in headless Chromium', () => {
  let browser: Browser;
  let repo: string;
  let emptyRepo: string;
  let dashboard: Dashboard;
  let emptyDashboard: Dashboard;

  beforeEach(async (ctx) => {
    const { path } = await requirePrereq('chromium', ctx);
    browser ??= await chromium.launch({ executablePath: path, args: CHROMIUM_ARGS });
  });
  beforeAll(async () => {
    repo = await makeRepo(RUNS);
    emptyRepo = await makeRepo(undefined);
    dashboard = await startDashboard({ commonDir: join(repo, '.git'), port: 0 });
    emptyDashboard = await startDashboard({ commonDir: join(emptyRepo, '.git'), port: 0 });
  });
  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    await emptyDashboard?.close();
    await rm(repo, { recursive: true, force: true });
    await rm(emptyRepo, { recursive: true, force: true });
  });

  it('renders the table rows, the waterfall of the latest run and the chart, without errors, and refreshes', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    await page.goto(dashboard.url);
    await page.waitForSelector('#operations tbody tr');

    const rows = await page.$$eval('#operations tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(rows).toEqual([
      ['deps-restore', '2', '170 ms', '170 ms', '251 ms', '80 ms', '260 ms', '340 ms'],
      ['git-worktree-add', '2', '60 ms', '60 ms', '69 ms', '50 ms', '70 ms', '120 ms'],
      ['link-files', '1', '60 ms', '60 ms', '60 ms', '60 ms', '60 ms', '60 ms'],
      ['resolve-repo', '2', '20 ms', '20 ms', '29 ms', '10 ms', '30 ms', '40 ms'],
    ]);
    const commands = await page.$$eval('#commands tbody tr', (trs) => trs.map((tr) => tr.textContent));
    expect(commands).toEqual(['add2200 ms200 ms290 ms100 ms300 ms00']);
    expect(await page.textContent('#summary')).toBe('2 runs · wall-clock total 400 ms · average worktree creation 200 ms');

    // Waterfall of run-2: deps-restore (30..290) is the critical step, git-worktree-add (30..100) overlaps it.
    expect(await page.textContent('#waterfall-title')).toContain('Run run-2 · add feat-two · 300 ms wall clock');
    const bars = await page.$$eval('.wf-row', (divs) =>
      divs.map((d) => ({ label: d.querySelector('.wf-label')!.textContent, className: d.querySelector('.wf-bar')!.className, left: (d.querySelector('.wf-bar') as HTMLElement).style.left })),
    );
    expect(bars).toEqual([
      { label: 'resolve-repo', className: 'wf-bar critical', left: '0%' },
      { label: 'git-worktree-add', className: 'wf-bar', left: '10%' },
      { label: 'deps-restore', className: 'wf-bar critical', left: '10%' },
    ]);
    expect(await page.$$eval('#chart rect', (rects) => rects.length)).toBe(2);
    expect(await page.textContent('#deps')).toBe('Dependencies: hit 50%, miss 50% · median warm 100 ms vs cold 300 ms');

    // A new run appears without reloading the page; a branch name is text, never markup.
    await appendRun(join(repo, '.git'), {
      ...RUNS[0]!,
      id: 'run-3',
      startedAt: '2026-11-22T10:00:00.000Z',
      spans: [span(1, null, 'fresh-step', 0, 5)],
    });
    await page.waitForSelector('#operations tbody tr >> text=fresh-step', { timeout: 15_000 });
    expect(await page.textContent('#waterfall-title')).toContain('Run run-3 · add feat/<b>one</b>');
    expect(await page.$$eval('#waterfall b', (b) => b.length)).toBe(0);

    // An rm after it: the waterfall stays on the latest worktree creation.
    await appendRun(join(repo, '.git'), { id: 'run-4', command: 'rm', startedAt: '2026-11-23T10:00:00.000Z', duration: 40, ok: true, facts: {}, version: '0.1.0', spans: [span(1, null, 'locate', 0, 10)] });
    await page.waitForSelector('#commands tbody tr >> text=rm', { timeout: 15_000 });
    expect(await page.textContent('#waterfall-title')).toContain('Run run-3 · add');
    // The chart says what its colours and axes are, and a bar opens its run.
    expect(await page.textContent('#chart-legend')).toContain('failed run');
    expect(await page.$$eval('#chart text', (texts) => texts.map((t) => t.textContent))).toEqual(expect.arrayContaining(['0 ms', 'older', 'newer →']));
    await page.click('#chart rect[data-run="run-1"]');
    await page.waitForURL(/\?run=run-1$/);
    await page.waitForSelector('#waterfall-title >> text=Run run-1');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('draws the run that ?run= names', async () => {
    const page = await browser.newPage();
    await page.goto(`${dashboard.url}?run=run-1`);
    await page.waitForSelector('.wf-row');
    expect(await page.textContent('#waterfall-title')).toContain('Run run-1 · add feat/<b>one</b> · 100 ms wall clock · steps overlapped');
    expect(await page.$$eval('.wf-label', (labels) => labels.map((l) => l.textContent))).toEqual(['resolve-repo', 'git-worktree-add', 'deps-restore', '\u00a0\u00a0\u00a0link-files']);
    await page.close();
  });

  it('says there is nothing yet when no run was recorded', async () => {
    const page = await browser.newPage();
    await page.goto(emptyDashboard.url);
    await page.waitForSelector('#empty:not([hidden])');
    expect(await page.isHidden('#content')).toBe(true);
    expect(await page.textContent('#empty')).toContain('No runs recorded yet');
    await page.close();
  });
});

describe('git vtree stats --serve', () => {
  it('serves on 127.0.0.1 with --port 0 and stops on Ctrl-C', async () => {
    const repo = await makeRepo(RUNS);
    const child = spawn(process.execPath, [BIN, 'stats', '--serve', '--port', '0'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stdout = '';
      child.stdout.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: string) => {
          stdout += d;
          const match = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code} before serving: ${stdout}`)));
      });
      expect(stdout).toMatch(/^Dashboard on http:\/\/127\.0\.0\.1:\d+\/ \(only this machine can reach it\); Ctrl-C stops it\.\n$/);
      const metrics = (await (await fetch(new URL('/api/performance/metrics', url))).json()) as { totalTime: number };
      expect(metrics.totalTime).toBe(400);
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      expect((await exited)[0]).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await rm(repo, { recursive: true, force: true });
    }
  });
});
