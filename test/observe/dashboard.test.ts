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
import { BIN, git, makeRepo as makeGitRepo, requirePrereq, testEnv, vtree } from '../helpers.js';

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
    expect(await page.textContent('#waterfall-title')).toContain('Latest add · run run-2 · add feat-two · 300 ms wall clock');
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
    expect(await page.textContent('#waterfall-title')).toContain('Latest add · run run-3 · add feat/<b>one</b>');
    expect(await page.$$eval('#waterfall b', (b) => b.length)).toBe(0);

    // An rm after it: the waterfall stays on the latest worktree creation.
    await appendRun(join(repo, '.git'), { id: 'run-4', command: 'rm', startedAt: '2026-11-23T10:00:00.000Z', duration: 40, ok: true, facts: {}, version: '0.1.0', spans: [span(1, null, 'locate', 0, 10)] });
    await page.waitForSelector('#commands tbody tr >> text=rm', { timeout: 15_000 });
    expect(await page.textContent('#waterfall-title')).toContain('Latest add · run run-3 · add');
    expect(await page.textContent('#commands')).toContain('refused');
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

  it('draws the latest add, not a later rm; labels both charts; a bar opens its run', async () => {
    await appendRun(join(repo, '.git'), { ...RUNS[1]!, id: 'run-rm', command: 'rm', startedAt: '2026-11-23T10:00:00.000Z', facts: {}, spans: [span(1, null, 'services-down', 0, 40)] });
    const page = await browser.newPage();
    await page.goto(dashboard.url);
    // Drawn from the first response, before any poll.
    expect(await page.textContent('#waterfall-title')).toMatch(/^Latest add · run run-3 · add /);
    const legends = await page.$$eval('.legend', (divs) => divs.map((d) => d.textContent));
    expect(legends).toEqual(['succeededfailed · click a bar to open its run', 'critical pathother stepnestedbackground runfailed stepcommand returned']);
    const colour = (selector: string) => page.$eval(selector, (e) => getComputedStyle(e).backgroundColor);
    expect(await colour('.legend i.fail')).not.toBe(await colour('.legend i.critical'));
    const texts = await page.$$eval('#chart text', (t) => t.map((n) => n.textContent));
    expect(texts).toEqual(expect.arrayContaining(['0 ms', '150 ms', '300 ms', 'wall clock', 'add/hook runs, oldest → newest (UTC)', '11-20 10:00', 'newest 11-22 10:00']));
    await page.click('#chart rect[data-run="run-1"]');
    await page.waitForURL(/\?run=run-1$/);
    await page.waitForSelector('#waterfall-title >> text=Run run-1 · add');
    const stats = (await (await fetch(new URL('/api/performance/stats', dashboard.url))).json()) as { waterfall: { runId: string } };
    expect(stats.waterfall.runId).toBe('run-3');
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

/** Starts `git vtree stats --serve --port 0` in `cwd`: its URL, what it printed, and `stop` (Ctrl-C; resolves with its exit code). */
async function serveIn(cwd: string): Promise<{ url: string; stdout: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'stats', '--serve', '--port', '0'], { cwd, env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: string) => {
        stdout += d;
        const match = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code} before serving: ${stdout}`)));
    });
    return {
      url,
      stdout,
      stop: async () => {
        if (child.exitCode !== null) return child.exitCode;
        const exited = once(child, 'exit');
        child.kill('SIGINT');
        return (await exited)[0] as number | null;
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

describe('git vtree stats --serve', () => {
  it('serves on 127.0.0.1 with --port 0 and stops on Ctrl-C', async () => {
    const repo = await makeRepo(RUNS);
    const served = await serveIn(repo);
    try {
      expect(served.stdout).toMatch(/^Dashboard on http:\/\/127\.0\.0\.1:\d+\/ \(only this machine can reach it\); Ctrl-C stops it\.\n$/);
      const metrics = (await (await fetch(new URL('/api/performance/metrics', served.url))).json()) as { totalTime: number };
      expect(metrics.totalTime).toBe(400);
      expect(await served.stop()).toBe(0);
    } finally {
      await served.stop();
      await rm(repo, { recursive: true, force: true });
    }
  });
});

describe('the control room: git vtree stats --serve in headless Chromium', () => {
  it('lists the worktrees that exist in its first response, a failed task with its log tail, and a new worktree without a reload', async (ctx) => {
    const { path: chromiumPath } = await requirePrereq('chromium', ctx);
    const { repo, cleanup } = await makeGitRepo();
    let served: Awaited<ReturnType<typeof serveIn>> | undefined;
    let browser: Browser | undefined;
    try {
      // A background project task that fails: the worktree stays, marked failed.
      await git(repo, 'config', 'vtree.task.seed.run', 'echo loading fixtures; echo "ERROR: relation users does not exist" >&2; exit 3');
      await git(repo, 'config', 'vtree.task.seed.background', 'true');
      expect((await vtree(repo, ['add', 'broken'])).code).toBe(0);
      expect((await vtree(repo, ['wait', 'broken'])).code).toBe(1);
      await git(repo, 'config', '--remove-section', 'vtree.task.seed');
      expect((await vtree(repo, ['add', 'first'])).code).toBe(0);

      served = await serveIn(repo);
      // Rendered on the server: a page that runs no script already shows the worktrees.
      const html = await (await fetch(served.url)).text();
      expect(html).toContain('3 worktrees · 2 ready · 1 failed · 0 containers running');
      expect(html).toMatch(/<tr class="wt failed"><td><div class="branch">broken<\/div>/);
      expect(html).toMatch(/<tr class="wt ready"><td><div class="branch">first<\/div>/);
      expect(html).toContain('ERROR: relation users does not exist');
      expect(html).not.toContain('Loading');
      const api = (await (await fetch(new URL('/api/worktrees', served.url))).json()) as Array<{ branch: string; state: string; failure?: { phase: string; lastLines: string[] } }>;
      expect(api.find((w) => w.branch === 'broken')).toMatchObject({ state: 'failed', failure: { phase: 'task seed', lastLines: expect.arrayContaining(['loading fixtures', 'ERROR: relation users does not exist', '[exit code 3]']) } });

      browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(served.url);
      const branches = () => page.$$eval('#worktrees-table tr.wt .branch', (divs) => divs.map((d) => d.textContent).sort());
      expect(await branches()).toEqual(['broken', 'first', 'main (main)']);
      expect(await page.textContent('#worktrees-table tr.failure')).toMatch(/^task seed exited with code 3: .* · log .*task-seed-.*\.log\$ echo loading fixtures.*\nloading fixtures\nERROR: relation users does not exist\n\[exit code 3\]$/s);
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));

      expect((await vtree(repo, ['add', 'second'])).code).toBe(0);
      await page.waitForSelector('#worktrees-table .branch >> text=second', { timeout: 20_000 });
      expect(await branches()).toEqual(['broken', 'first', 'main (main)', 'second']);
      expect(await page.textContent('#worktrees-summary')).toBe('4 worktrees · 3 ready · 1 failed · 0 containers running');
      // The same document: it was updated in place, not reloaded.
      expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
      expect(problems).toEqual([]);
    } finally {
      await browser?.close();
      await served?.stop();
      await cleanup();
    }
  }, 90_000);
});
