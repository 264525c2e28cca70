// pnpm and bun for the benchmark's comparison rows: installed with npm into a private prefix
// of the benchmark on first use, never into the project's package.json.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { $ } from 'zx';

/** The tools the comparison rows need, with the npm package each comes from. */
const TOOLS = /** @type {const} */ ({ pnpm: 'pnpm@latest', bun: 'bun@latest' });

/**
 * Finds pnpm and bun in `toolsDir`, installing what is missing (`npm install --prefix`). A tool
 * that cannot be installed or does not run is returned with the reason, so its row can say
 * "not available" and the benchmark goes on.
 * @param {{ toolsDir: string, env: NodeJS.ProcessEnv, install: boolean, log: (line: string) => void }} options
 * @returns {Promise<import('./fixture.mjs').Tools>}
 */
export async function prepareTools({ toolsDir, env, install, log }) {
  const tools = /** @type {import('./fixture.mjs').Tools} */ ({});
  for (const [name, spec] of Object.entries(TOOLS)) {
    const bin = join(toolsDir, 'node_modules', '.bin', name);
    let version = await versionOf(bin, env);
    if (version === undefined && !install) {
      tools[name] = { reason: `not installed (--no-tools)` };
      continue;
    }
    if (version === undefined) {
      log(`installing ${spec} into ${toolsDir} (first run only)...`);
      await mkdir(toolsDir, { recursive: true });
      const result = await $({ cwd: toolsDir, env, quiet: true, nothrow: true })`npm install --prefix ${toolsDir} --no-audit --no-fund --loglevel=error ${spec}`;
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
  const result = await $({ env, quiet: true, nothrow: true, timeout: '30s' })`${bin} --version`;
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

function lastLine(text) {
  return text.trim().split('\n').at(-1) ?? '';
}
