import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendRun, newRunId, readMetrics, type RunRecord } from '../../src/observe/metrics.js';
import { metricsPath } from '../../src/core/paths.js';
import { tempDir } from '../helpers.js';
import { rm } from 'node:fs/promises';

function run(id: string): RunRecord {
  return { id, command: 'add', startedAt: new Date().toISOString(), duration: 1, ok: true, facts: {}, spans: [], version: 'test' };
}

let commonDir: string;
beforeEach(async () => {
  commonDir = await tempDir();
});
afterEach(async () => {
  await rm(commonDir, { recursive: true, force: true });
});

describe('metrics store', () => {
  it('appends runs and keeps only the newest maxRuns', async () => {
    for (const id of ['a', 'b', 'c', 'd']) await appendRun(commonDir, run(id), { maxRuns: 3 });
    const file = await readMetrics(commonDir);
    expect(file.schema).toBe(1);
    expect(file.runs.map((r) => r.id)).toEqual(['b', 'c', 'd']);
  });

  it('moves a corrupt file aside with a warning and starts again', async () => {
    await mkdir(join(commonDir, 'vibetrees'), { recursive: true });
    await writeFile(metricsPath(commonDir), '{"schema":1,"runs":[{"id":"x"');
    const warnings: string[] = [];
    await appendRun(commonDir, run('fresh'), { warn: (w) => warnings.push(w) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot be parsed \(.*\); moved it to .*metrics\.json\.corrupt-/);
    expect((await readMetrics(commonDir)).runs.map((r) => r.id)).toEqual(['fresh']);
    const aside = (await readdir(join(commonDir, 'vibetrees'))).filter((f) => f.includes('corrupt'));
    expect(await readFile(join(commonDir, 'vibetrees', aside[0]!), 'utf8')).toBe('{"schema":1,"runs":[{"id":"x"');
  });

  it('treats a file of another shape as corrupt, and a missing file as empty', async () => {
    expect((await readMetrics(commonDir)).runs).toEqual([]);
    await mkdir(join(commonDir, 'vibetrees'), { recursive: true });
    await writeFile(metricsPath(commonDir), '[1,2,3]');
    const warnings: string[] = [];
    expect((await readMetrics(commonDir, (w) => warnings.push(w))).runs).toEqual([]);
    expect(warnings[0]).toMatch(/unknown shape/);
  });

  it('loses no run when many processes append at once', async () => {
    const writers = 8;
    const perWriter = 5;
    const script = fileURLToPath(new URL('../fixtures/append-runs.mjs', import.meta.url));
    await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, [script, commonDir, `w${w}`, String(perWriter)], { stdio: 'inherit' });
          child.on('error', reject);
          child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
        }),
      ),
    );
    const ids = (await readMetrics(commonDir)).runs.map((r) => r.id);
    expect(ids).toHaveLength(writers * perWriter);
    expect(new Set(ids).size).toBe(writers * perWriter);
  });

  it('makes unique, time-ordered run ids', () => {
    const a = newRunId(new Date(1000));
    const b = newRunId(new Date(2000));
    expect(a < b).toBe(true);
    expect(newRunId()).not.toBe(newRunId());
  });
});
