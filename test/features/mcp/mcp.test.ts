import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { discoverMcpServers, portsInDotenv, worktreeMcpDocument, type McpDocument } from '../../../src/features/mcp/config.js';
import { git, makeRepo, tempDir, vtree } from '../../helpers.js';

const SECRET = 's3cr3t-token-value';

/** A main worktree's `.mcp.json` using a database port, an API port variable and an absolute path. */
function mcpJson(mainPath: string): McpDocument {
  return {
    mcpServers: {
      db: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-postgres', 'postgresql://me:pw@localhost:5432/app'], env: { PGPASSWORD: SECRET } },
      api: { type: 'http', url: 'http://127.0.0.1:${API_PORT}/mcp' },
      tools: { command: 'node', args: [`${mainPath}/tools/mcp.js`], env: { API_PORT: '3000', TOKEN: SECRET } },
    },
  };
}

const PACKAGE_JSON = JSON.stringify({
  name: 'app',
  dependencies: { '@modelcontextprotocol/sdk': '^1', '@modelcontextprotocol/server-filesystem': '^1' },
  devDependencies: { '@acme/tickets-mcp-server': '^2', '@modelcontextprotocol/server-postgres': '^1' },
});

let repo: string;
let cleanup: () => Promise<void>;
let state: string;

beforeAll(async () => {
  state = await tempDir('vtree-state-');
});
afterAll(async () => rm(state, { recursive: true, force: true }));
beforeEach(async () => {
  ({ repo, cleanup } = await makeRepo({ 'README.md': '# app\n', '.gitignore': '.env\n.mcp.json\n', 'package.json': PACKAGE_JSON }));
  await mkdir(join(repo, 'mcp-servers', 'notes'), { recursive: true });
  await writeFile(join(repo, 'mcp-servers', 'notes', 'index.js'), 'console.log("notes")\n');
  await mkdir(join(repo, 'mcp-servers', 'empty'), { recursive: true });
  await mkdir(join(repo, 'mcp-servers', 'py'), { recursive: true });
  await writeFile(join(repo, 'mcp-servers', 'py', 'server.py'), 'print(1)\n');
  await git(repo, 'add', '.');
  await git(repo, 'commit', '-qm', 'servers');
  await writeFile(join(repo, '.mcp.json'), JSON.stringify(mcpJson(repo), null, 2));
  await writeFile(join(repo, '.env'), 'DB_PORT=5432\nexport API_PORT="3000"\n');
});
afterEach(async () => cleanup());

describe('discoverMcpServers', () => {
  it('finds .mcp.json servers, mcp-servers/* with an entry file and MCP server packages', async () => {
    const found = await discoverMcpServers(repo, join(repo, '.git'));
    expect(found.cache).toBe('miss');
    expect(found.sources).toEqual({
      db: 'mcp.json',
      api: 'mcp.json',
      tools: 'mcp.json',
      notes: 'mcp-servers',
      py: 'mcp-servers',
      filesystem: 'package.json',
      tickets: 'package.json',
    });
    // server-postgres is configured by .mcp.json already; the SDK is not a server.
    expect(found.found).toEqual({
      notes: { command: 'node', args: ['mcp-servers/notes/index.js'] },
      py: { command: 'python3', args: ['mcp-servers/py/server.py'] },
      filesystem: { command: 'npx', args: ['@modelcontextprotocol/server-filesystem'] },
      tickets: { command: 'npx', args: ['@acme/tickets-mcp-server'] },
    });
  });

  it('caches the result until package.json or .mcp.json changes', async () => {
    const commonDir = join(repo, '.git');
    expect((await discoverMcpServers(repo, commonDir)).cache).toBe('miss');
    expect((await discoverMcpServers(repo, commonDir)).cache).toBe('hit');
    await writeFile(join(repo, 'package.json'), JSON.stringify({ dependencies: { 'weather-mcp-server': '1' } }));
    const changed = await discoverMcpServers(repo, commonDir);
    expect(changed.cache).toBe('miss');
    expect(changed.sources.weather).toBe('package.json');
    expect(changed.sources.filesystem).toBeUndefined();
    expect((await discoverMcpServers(repo, commonDir)).cache).toBe('hit');
    await writeFile(join(repo, '.mcp.json'), '{"mcpServers":{}}');
    const again = await discoverMcpServers(repo, commonDir);
    expect(again.cache).toBe('miss');
    expect(again.sources.db).toBeUndefined();
  });
});

describe('worktreeMcpDocument', () => {
  it('substitutes this worktree’s ports and path, and copies secrets as they are', () => {
    const main = '/src/app';
    const worktree = '/src/app.worktrees/feat';
    const { document, substitutions } = worktreeMcpDocument(mcpJson(main), { notes: { command: 'node', args: ['mcp-servers/notes/index.js'] } }, {
      ports: { DB_PORT: 20111, API_PORT: 20222 },
      mainPorts: portsInDotenv('DB_PORT=5432\nexport API_PORT="3000"\n', ['DB_PORT', 'API_PORT']),
      mainPath: main,
      worktree,
    });
    const servers = document.mcpServers!;
    expect(servers.db!.args![2]).toBe('postgresql://me:pw@localhost:20111/app');
    expect(servers.db!.env).toEqual({ PGPASSWORD: SECRET });
    expect(servers.api!.url).toBe('http://127.0.0.1:20222/mcp');
    expect(servers.tools).toEqual({ command: 'node', args: [`${worktree}/tools/mcp.js`], env: { API_PORT: '20222', TOKEN: SECRET } });
    expect(servers.notes!.args).toEqual([`${worktree}/mcp-servers/notes/index.js`]);
    expect(substitutions).toBe(4);
  });

  it('leaves ports it has no mapping for, and paths that only start like the main worktree', () => {
    const { document, substitutions } = worktreeMcpDocument(
      { mcpServers: { x: { command: 'x', args: ['localhost:6379', '/src/app-other/y', 'redis:5432'] } } },
      {},
      { ports: { DB_PORT: 20111 }, mainPorts: { DB_PORT: 5432 }, mainPath: '/src/app', worktree: '/w' },
    );
    expect(document.mcpServers!.x!.args).toEqual(['localhost:6379', '/src/app-other/y', 'redis:5432']);
    expect(substitutions).toBe(0);
  });
});

describe('git vtree add writes the worktree’s .mcp.json', () => {
  const env = () => ({ XDG_STATE_HOME: state });
  beforeEach(async () => {
    await git(repo, 'config', 'vtree.ports.vars', 'DB_PORT API_PORT');
    await git(repo, 'config', 'vtree.ports.range', '45000-45999');
  });

  it('with its own ports, without printing secrets, and keeps it clean for git', async () => {
    const add = await vtree(repo, ['add', 'feat/mcp', '--no-deps', '--no-services', '--json'], env());
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout + add.stderr).not.toContain(SECRET);
    const { path, facts } = JSON.parse(add.stdout) as { path: string; facts: { ports: Record<string, number>; mcp: { servers: string[]; file: string } } };
    expect(facts.mcp.file).toBe('.mcp.json');
    expect(facts.mcp.servers.sort()).toEqual(['api', 'db', 'filesystem', 'notes', 'py', 'tickets', 'tools']);
    const written = JSON.parse(await readFile(join(path, '.mcp.json'), 'utf8')) as McpDocument;
    const servers = written.mcpServers!;
    expect(servers.db!.args![2]).toBe(`postgresql://me:pw@localhost:${facts.ports.DB_PORT}/app`);
    expect(servers.api!.url).toBe(`http://127.0.0.1:${facts.ports.API_PORT}/mcp`);
    expect(servers.tools!.args).toEqual([`${path}/tools/mcp.js`]);
    expect(servers.tools!.env!.TOKEN).toBe(SECRET);
    expect(servers.notes!.args).toEqual([`${path}/mcp-servers/notes/index.js`]);
    expect(await git(path, 'status', '--porcelain')).toBe('');

    // A re-run changes nothing; an edit of the user's is kept.
    const before = await readFile(join(path, '.mcp.json'), 'utf8');
    expect((await vtree(path, ['setup', '--no-deps', '--no-services'], env())).code).toBe(0);
    expect(await readFile(join(path, '.mcp.json'), 'utf8')).toBe(before);
    // The main worktree's config changes: the worktree's file, vtree's own, follows on setup.
    const changedMain = mcpJson(repo);
    changedMain.mcpServers!.cache = { command: 'redis-mcp', args: ['redis://localhost:6379'] };
    await writeFile(join(repo, '.mcp.json'), JSON.stringify(changedMain));
    expect((await vtree(path, ['setup', '--no-deps', '--no-services'], env())).code).toBe(0);
    expect(Object.keys((JSON.parse(await readFile(join(path, '.mcp.json'), 'utf8')) as McpDocument).mcpServers!)).toContain('cache');
    await writeFile(join(path, '.mcp.json'), '{"mcpServers":{"mine":{"command":"me"}}}\n');
    const setup = await vtree(path, ['setup', '--no-deps', '--no-services'], env());
    expect(setup.code, setup.stderr).toBe(0);
    expect(setup.stderr).toContain('kept your edited .mcp.json');
    expect(await readFile(join(path, '.mcp.json'), 'utf8')).toBe('{"mcpServers":{"mine":{"command":"me"}}}\n');
  });

  it('writes beside a tracked .mcp.json instead of dirtying it', async () => {
    await writeFile(join(repo, '.gitignore'), '.env\n');
    await git(repo, 'add', '.gitignore', '.mcp.json');
    await git(repo, 'commit', '-qm', 'track .mcp.json');
    const add = await vtree(repo, ['add', 'feat/tracked', '--no-deps', '--no-services', '--json'], env());
    expect(add.code, add.stderr).toBe(0);
    const { path, facts } = JSON.parse(add.stdout) as { path: string; facts: { ports: Record<string, number> } };
    expect(await git(path, 'status', '--porcelain')).toBe('');
    expect(await readFile(join(path, '.mcp.json'), 'utf8')).toBe(await readFile(join(repo, '.mcp.json'), 'utf8'));
    const vtreeFile = JSON.parse(await readFile(join(path, '.mcp.vtree.json'), 'utf8')) as McpDocument;
    expect(vtreeFile.mcpServers!.db!.args![2]).toContain(`localhost:${facts.ports.DB_PORT}/`);
    expect(add.stderr).toContain('claude --mcp-config .mcp.vtree.json');
  });

  it('a broken .mcp.json costs a warning, not the worktree', async () => {
    await writeFile(join(repo, '.mcp.json'), '{ not json');
    const add = await vtree(repo, ['add', 'feat/broken', '--no-deps', '--no-services'], env());
    expect(add.code, add.stderr).toBe(0);
    expect(add.stderr).toMatch(/MCP config skipped: .*\.mcp\.json is not a JSON object/);
  });
});
