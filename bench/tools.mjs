// Package managers other than npm, for the benchmark's comparison rows and for the tests that
// install with them: installed with npm into a private prefix on first use, never into the
// project's package.json.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { $ } from 'zx';

/**
 * Every tool this helper installs: the npm package it comes from, and the sub-prefix it goes
 * into when its bin name collides with another's (yarn classic and yarn berry are both `yarn`).
 */
const TOOLS = /** @type {const} */ ({
  pnpm: { spec: 'pnpm@latest', bin: 'pnpm' },
  bun: { spec: 'bun@latest', bin: 'bun' },
  yarn: { spec: 'yarn@1', bin: 'yarn', prefix: 'yarn-classic' },
  'yarn-berry': { spec: '@yarnpkg/cli-dist@4', bin: 'yarn', prefix: 'yarn-berry' },
});

/**
 * Finds the tools `names` (default pnpm and bun) in `toolsDir`, installing what is missing
 * (`npm install --prefix`). A tool that cannot be installed or does not run is returned with the
 * reason, so its row can say "not available" (or its test skip) and the rest goes on.
 * @param {{ toolsDir: string, env: NodeJS.ProcessEnv, install: boolean, log: (line: string) => void, names?: Array<keyof typeof TOOLS> }} options
 * @returns {Promise<import('./fixture.mjs').Tools>}
 */
export async function prepareTools({ toolsDir, env, install, log, names = ['pnpm', 'bun'] }) {
  const tools = /** @type {import('./fixture.mjs').Tools} */ ({});
  for (const name of names) {
    const { spec, bin: binName, prefix: sub } = TOOLS[name];
    const prefix = sub ? join(toolsDir, sub) : toolsDir;
    const bin = join(prefix, 'node_modules', '.bin', binName);
    let version = await versionOf(bin, env);
    if (version === undefined && !install) {
      tools[name] = { reason: `not installed (--no-tools)` };
      continue;
    }
    if (version === undefined) {
      log(`installing ${spec} into ${prefix} (first run only)...`);
      await mkdir(prefix, { recursive: true });
      const result = await $({ cwd: prefix, env, quiet: true, nothrow: true })`npm install --prefix ${prefix} --no-audit --no-fund --loglevel=error ${spec}`;
      if (result.exitCode !== 0) {
        tools[name] = { reason: `npm install ${spec} failed: ${lastLine(result.stderr)}` };
        continue;
      }
      version = await versionOf(bin, env);
    }
    tools[name] = version === undefined ? { reason: `${bin} does not run` } : { bin, version };
  }
  return tools;
}

async function versionOf(bin, env) {
  if (!existsSync(bin)) return undefined;
  // Outside any project: yarn berry would otherwise read the caller's package.json.
  const result = await $({ cwd: '/', env, quiet: true, nothrow: true, timeout: '30s' })`${bin} --version`;
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

function lastLine(text) {
  return text.trim().split('\n').at(-1) ?? '';
}
