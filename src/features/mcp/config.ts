import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readTextIfPresent } from '../../git/worktree-file.js';
import { VtreeError } from '../../core/errors.js';
import { readJsonFile, writeFileAtomic } from '../../core/files.js';
import { mcpCachePath } from '../../core/paths.js';
import { escapeRegExp } from '../../core/regexp.js';

/** The file AI agents (Claude Code and others) read a project's MCP servers from. */
export const MCP_FILE = '.mcp.json';
/** Where the worktree's config goes when `.mcp.json` is tracked by git (never dirty a tracked file). */
export const FALLBACK_MCP_FILE = '.mcp.vtree.json';
/** Directory of a project's own MCP servers, one per subdirectory. */
export const MCP_SERVERS_DIR = 'mcp-servers';

/** One server entry of `.mcp.json`, kept as the user wrote it (unknown fields included). */
export interface McpServer {
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  url?: string;
  [field: string]: unknown;
}

/** A `.mcp.json` document. */
export interface McpDocument {
  mcpServers?: Record<string, McpServer>;
  [field: string]: unknown;
}

/** Where a server was found. */
export type McpSource = 'mcp.json' | 'mcp-servers' | 'package.json';

/** What discovery found in the main worktree; cached per repository. */
export interface McpDiscovery {
  /** The main worktree's `.mcp.json`, if it has one. */
  document?: McpDocument;
  /** Servers found besides those the document configures, by name. */
  found: Record<string, McpServer>;
  sources: Record<string, McpSource>;
}

/** A server launched from an entry file of `mcp-servers/<name>/`: first match wins. */
const ENTRY_FILES = [
  { file: 'index.js', command: 'node', args: [] },
  { file: 'index.mjs', command: 'node', args: [] },
  { file: 'server.js', command: 'node', args: [] },
  { file: 'dist/index.js', command: 'node', args: [] },
  { file: 'build/index.js', command: 'node', args: [] },
  { file: 'index.ts', command: 'npx', args: ['tsx'] },
  { file: 'server.ts', command: 'npx', args: ['tsx'] },
  { file: 'server.py', command: 'python3', args: [] },
  { file: 'main.py', command: 'python3', args: [] },
] as const satisfies ReadonlyArray<{ file: string; command: string; args: readonly string[] }>;

/** npm packages that are MCP servers, and the server name each gets: ordered, first match wins. */
const SERVER_PACKAGES = [
  { pattern: /^@modelcontextprotocol\/server-(.+)$/, name: (m: RegExpExecArray) => m[1]! },
  { pattern: /^(?:@[^/]+\/)?(.+)-mcp-server$/, name: (m: RegExpExecArray) => m[1]! },
] as const;

/**
 * The MCP servers the project in `mainPath` uses: its `.mcp.json`, `mcp-servers/*` with an entry
 * file, and MCP server packages in `package.json`. The result is cached in the common git dir,
 * keyed by a hash of `.mcp.json`, `package.json` and the `mcp-servers` listing, so a change to
 * any of them invalidates it.
 */
export async function discoverMcpServers(mainPath: string, commonDir: string): Promise<McpDiscovery & { cache: 'hit' | 'miss' }> {
  const [mcpText, packageText, serverDirs] = await Promise.all([
    readTextIfPresent(join(mainPath, MCP_FILE)),
    readTextIfPresent(join(mainPath, 'package.json')),
    readdir(join(mainPath, MCP_SERVERS_DIR), { withFileTypes: true }).then(
      (entries) => entries.filter((e) => e.isDirectory()).map((e) => e.name).sort(),
      () => [] as string[],
    ),
  ]);
  const key = createHash('sha256').update(JSON.stringify([mcpText, packageText, serverDirs])).digest('hex');
  const cachePath = mcpCachePath(commonDir);
  const cached = await readJsonFile<{ key: string; discovery: McpDiscovery }>(cachePath).catch(() => undefined);
  if (cached?.key === key) return { ...cached.discovery, cache: 'hit' };

  const document = mcpText === null ? undefined : parseDocument(mcpText, join(mainPath, MCP_FILE));
  const configured = Object.values(document?.mcpServers ?? {});
  const mentioned = (needle: string) => configured.some((s) => [s.command, ...(s.args ?? [])].some((a) => typeof a === 'string' && a.includes(needle)));
  const discovery: McpDiscovery = { ...(document ? { document } : {}), found: {}, sources: {} };
  for (const name of Object.keys(document?.mcpServers ?? {})) discovery.sources[name] = 'mcp.json';
  const add = (name: string, server: McpServer, source: McpSource) => {
    if (discovery.sources[name] !== undefined) return;
    discovery.found[name] = server;
    discovery.sources[name] = source;
  };

  for (const [name, server] of await Promise.all(serverDirs.map(async (dir) => [dir, await serverInDirectory(mainPath, dir)] as const))) {
    if (server && !mentioned(`${MCP_SERVERS_DIR}/${name}`)) add(name, server, 'mcp-servers');
  }
  for (const pkg of dependencyNames(packageText)) {
    for (const { pattern, name } of SERVER_PACKAGES) {
      const match = pattern.exec(pkg);
      if (!match) continue;
      if (!mentioned(pkg)) add(name(match), { command: 'npx', args: [pkg] }, 'package.json');
      break;
    }
  }
  await writeFileAtomic(cachePath, JSON.stringify({ key, discovery }) + '\n');
  return { ...discovery, cache: 'miss' };
}

/** `mcp-servers/<dir>` as a server entry, launched from its first entry file, with the path relative to the worktree. */
async function serverInDirectory(root: string, dir: string): Promise<McpServer | undefined> {
  const base = `${MCP_SERVERS_DIR}/${dir}`;
  const pkg = await readTextIfPresent(join(root, base, 'package.json'));
  const main = pkg === null ? undefined : (safeParse(pkg) as { main?: unknown } | undefined)?.main;
  if (typeof main === 'string' && (await isFile(join(root, base, main)))) return { command: 'node', args: [`${base}/${main.replace(/^\.\//, '')}`] };
  for (const entry of ENTRY_FILES) {
    if (await isFile(join(root, base, entry.file))) return { command: entry.command, args: [...entry.args, `${base}/${entry.file}`] };
  }
  return undefined;
}

/** Names in `dependencies`, `devDependencies` and `optionalDependencies` of a package.json text. */
function dependencyNames(packageText: string | null): string[] {
  const pkg = packageText === null ? undefined : (safeParse(packageText) as Record<string, unknown> | undefined);
  const names = ['dependencies', 'devDependencies', 'optionalDependencies'].flatMap((field) => {
    const deps = pkg?.[field];
    return deps && typeof deps === 'object' ? Object.keys(deps) : [];
  });
  return [...new Set(names)].sort();
}

/** How a worktree's ports differ from the main worktree's. */
export interface PortRewrite {
  /** Variable → this worktree's port. */
  ports: Readonly<Record<string, number>>;
  /** Variable → the port the main worktree uses (its `.env`, else the Compose default). */
  mainPorts: Readonly<Record<string, number>>;
  /** The main worktree's path, replaced by the worktree's in paths. */
  mainPath: string;
  worktree: string;
}

/**
 * The worktree's `.mcp.json`: the project's servers plus those discovered (their entry paths made
 * absolute in the worktree), with every reference to the main worktree's ports and path
 * rewritten to this worktree's. Env values (secrets) are copied as they are, apart from ports.
 */
export function worktreeMcpDocument(source: McpDocument | undefined, found: Readonly<Record<string, McpServer>>, rewrite: PortRewrite): { document: McpDocument; substitutions: number } {
  let substitutions = 0;
  const byPort = new Map<number, number>();
  for (const [variable, port] of Object.entries(rewrite.ports)) {
    const old = rewrite.mainPorts[variable];
    if (old !== undefined && old !== port) byPort.set(old, port);
  }
  const local = '(localhost|127\\.0\\.0\\.1|0\\.0\\.0\\.0|\\[::1\\]|host\\.docker\\.internal)';
  const rewriteString = (text: string): string => {
    let out = text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced?: string, bare?: string) => {
      const port = rewrite.ports[(braced ?? bare)!];
      return port === undefined ? whole : String(port);
    });
    out = out.replace(new RegExp(`${local}:(\\d{1,5})(?!\\d)`, 'g'), (whole, host: string, port: string) => {
      const next = byPort.get(Number(port));
      return next === undefined ? whole : `${host}:${next}`;
    });
    out = out.replace(new RegExp(`(^|[\\s="'])${escapeRegExp(rewrite.mainPath)}(?=$|[/\\s"'])`, 'g'), (_whole, before: string) => `${before}${rewrite.worktree}`);
    if (out !== text) substitutions++;
    return out;
  };
  const walk = (value: unknown, key?: string): unknown => {
    if (typeof value === 'string') {
      // `"API_PORT": "3000"` in a server's env: the variable itself names the port.
      if (key !== undefined && rewrite.ports[key] !== undefined && /^\d+$/.test(value) && Number(value) !== rewrite.ports[key]) {
        substitutions++;
        return String(rewrite.ports[key]);
      }
      return rewriteString(value);
    }
    if (Array.isArray(value)) return value.map((v) => walk(v));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
    return value;
  };
  const document = walk(source ?? {}) as McpDocument;
  const servers: Record<string, McpServer> = { ...(document.mcpServers ?? {}) };
  for (const [name, server] of Object.entries(found)) {
    servers[name] = { ...server, args: (server.args ?? []).map((a) => (a.startsWith(`${MCP_SERVERS_DIR}/`) ? join(rewrite.worktree, a) : a)) };
  }
  return { document: { ...document, mcpServers: servers }, substitutions };
}

/** The port each variable has in the main worktree's `.env` (`API_PORT=3000`), if it sets one. */
export function portsInDotenv(text: string | null, variables: readonly string[]): Record<string, number> {
  const ports: Record<string, number> = {};
  if (text === null) return ports;
  for (const variable of variables) {
    const matches = [...text.matchAll(new RegExp(`^\\s*(?:export\\s+)?${variable}\\s*=\\s*["']?(\\d{1,5})["']?\\s*$`, 'gm'))];
    const last = matches.at(-1);
    if (last) ports[variable] = Number(last[1]);
  }
  return ports;
}

function parseDocument(text: string, path: string): McpDocument {
  const parsed = safeParse(text);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new VtreeError(`${path} is not a JSON object`, `fix it (it configures MCP servers), then: git vtree setup`);
  }
  return parsed as McpDocument;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
