import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { notExcludedWarning, readTextIfPresent, undoFileWrite, writeWorktreeFile, type FileWrite } from '../../git/worktree-file.js';
import { errorMessage, VtreeError } from '../../core/errors.js';
import { git } from '../../core/exec.js';
import type { CheckoutStage, Feature, RepoStage } from '../feature.js';
import { readWorktreeState } from '../../git/worktree-state.js';

/** The part of the `compose-discover` result (services feature) this feature reads. */
interface DiscoveredPortDefaults {
  portVars?: ReadonlyArray<{ name: string; default?: number }>;
}

/** What the `mcp-config` task recorded; persisted as the worktree's `mcp` state. */
export interface McpResult {
  /** The file written, relative to the worktree. */
  file?: string;
  /** Server names (never their env: it may hold secrets). */
  servers: string[];
  /** sha256 of the bytes vtree wrote, so a later run can tell its own file from the user's edits. */
  written?: string;
}

/**
 * The worktree's `.mcp.json` for AI agents: the project's MCP servers (its `.mcp.json`,
 * `mcp-servers/*`, MCP server packages) with this worktree's ports and paths in place of the
 * main worktree's. A broken `.mcp.json` costs one warning, never the worktree.
 */
export const mcpFeature: Feature = {
  name: 'mcp',
  setupTasks: (stages) => [
    {
      name: 'mcp-config',
      deps: [stages.repo, stages.checkout],
      after: ['ports', 'env-files', 'compose-discover'],
      async run({ shared, span }, deps): Promise<McpResult & { write?: FileWrite }> {
        const { repo } = deps[stages.repo] as RepoStage;
        const { path, gitDir } = deps[stages.checkout] as CheckoutStage;
        if (path === repo.mainPath) return { servers: [] };
        const { discoverMcpServers, FALLBACK_MCP_FILE, MCP_FILE, portsInDotenv, worktreeMcpDocument } = await import('./config.js');
        let discovery: Awaited<ReturnType<typeof discoverMcpServers>>;
        try {
          discovery = await discoverMcpServers(repo.mainPath, repo.commonDir);
        } catch (error) {
          if (!(error instanceof VtreeError)) throw error;
          shared.warn(`MCP config skipped: ${errorMessage(error)}`);
          span.set('skipped', errorMessage(error));
          return { servers: [] };
        }
        span.set('cache', discovery.cache);
        const tracked = (await git(path, ['ls-files', '--', MCP_FILE])) !== '';
        // A tracked .mcp.json is the branch's own: start from it, and write beside it.
        const source = tracked ? parseOrUndefined(await readTextIfPresent(join(path, MCP_FILE))) : discovery.document;
        const file = tracked ? FALLBACK_MCP_FILE : MCP_FILE;
        if (!source && Object.keys(discovery.found).length === 0) {
          span.set('servers', 0);
          return { servers: [] };
        }

        const ports = (deps['ports'] as Record<string, number> | undefined) ?? {};
        const defaults = Object.fromEntries(
          ((deps['compose-discover'] as DiscoveredPortDefaults | undefined)?.portVars ?? []).flatMap((v) => (v.default === undefined ? [] : [[v.name, v.default]])),
        );
        const mainPorts = { ...defaults, ...portsInDotenv(await readTextIfPresent(join(repo.mainPath, '.env')), Object.keys(ports)) };
        const { document, substitutions } = worktreeMcpDocument(source, discovery.found, { ports, mainPorts, mainPath: repo.mainPath, worktree: path });
        const text = JSON.stringify(document, null, 2) + '\n';
        const servers = Object.keys(document.mcpServers ?? {});
        span.set('servers', servers.length);
        span.set('substitutions', substitutions);
        if (tracked && substitutions === 0 && Object.keys(discovery.found).length === 0) return { servers };

        const [mainText, current, previous] = await Promise.all([
          readTextIfPresent(join(repo.mainPath, MCP_FILE)),
          readTextIfPresent(join(path, file)),
          readWorktreeState(gitDir).then((state) => (state?.mcp as McpResult | undefined)?.written),
        ]);
        // Only a file vtree wrote, or an untouched copy of the main worktree's, is replaced: the
        // user's own edits in this worktree are kept.
        const ours = current === null || current === text || current === mainText || sha256(current) === previous;
        if (!ours) {
          shared.warn(`kept your edited ${file}; delete it and run \`git vtree setup\` to regenerate it`);
          return { file, servers };
        }
        const mainMode = await stat(join(repo.mainPath, MCP_FILE)).then((s) => s.mode & 0o777, () => undefined);
        const write = await writeWorktreeFile(path, repo.commonDir, file, () => text, mainMode);
        const notHidden = notExcludedWarning(write, file);
        if (notHidden) shared.warn(notHidden);
        if (tracked) shared.warn(`.mcp.json is tracked by git, so this worktree's MCP config is ${file}: claude --mcp-config ${file}`);
        const result: McpResult = { file, servers, written: sha256(text) };
        shared.facts.mcp = { file, servers, cache: discovery.cache, substitutions };
        shared.state.mcp = result;
        return { ...result, write };
      },
      async undo(_ctx, result) {
        const { write } = result as { write?: FileWrite };
        if (write) await undoFileWrite(write);
      },
    },
  ],
};

function parseOrUndefined(text: string | null): Record<string, unknown> | undefined {
  if (text === null) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
