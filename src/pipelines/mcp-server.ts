import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ENTRY_BIN } from '../core/package-root.js';
import { run } from '../core/exec.js';
import { VERSION } from '../core/version.js';

/**
 * Runs one `git vtree` command for a tool call, in its own process: its stdout (the `--json`
 * document) is captured, so nothing a pipeline or a child of it prints can reach the MCP stream
 * on this process's stdout, and a failure is that command's own one-line error.
 */
async function vtreeTool(cwd: string, command: string, args: string[], json = true): Promise<CallToolResult> {
  // Names from the agent go after `--` (or as `--flag=value`), so none is taken for a flag.
  const result = await run(process.execPath, [ENTRY_BIN, command, ...(json ? ['--json'] : []), ...args], { cwd, okCodes: [0, 1, 2, 130] });
  const text = result.stdout.trim();
  if (result.code !== 0) {
    const message = [text, result.stderr.trim()].filter(Boolean).join('\n');
    return { isError: true, content: [{ type: 'text', text: message || `git vtree ${command} exited with code ${result.code}` }] };
  }
  // What was not done and why (a stack not trusted, an install not approved) reaches the agent too.
  const warnings = result.stderr.split('\n').filter((line) => line.startsWith('warning: '));
  const said = warnings.length > 0 ? [{ type: 'text' as const, text: warnings.join('\n') }] : [];
  if (!json) return { content: [{ type: 'text', text: text || '(no output)' }, ...said] };
  const parsed = JSON.parse(text) as Record<string, unknown>;
  return { content: [{ type: 'text', text }, ...said], structuredContent: parsed };
}

const worktree = z.string().describe('Branch, slug (directory name) or path of the worktree');

/**
 * `git vtree mcp`: vtree as an MCP server over stdio, for AI agents. Seven tools, each the
 * command of the same name run in the server's directory: `create` (add), `list`, `status`
 * (the stack and the set-up phases), `wait` (blocks until the worktree is ready: the one thing
 * no other worktree tool tells an agent), `logs`, `exec` and `remove` (rm).
 */
export async function serveMcp(cwd: string): Promise<void> {
  const server = new McpServer({ name: 'git-vtree', version: VERSION });
  server.registerTool(
    'create',
    {
      description: 'Create a worktree for a branch (new, local or remote) and set it up: dependencies, .env, ports, its own Compose stack. Returns its path; call wait before using its services.',
      inputSchema: {
        branch: z.string().describe('Branch to check out or create'),
        from: z.string().optional().describe('Start a new branch here (default: the main worktree HEAD)'),
        services: z.boolean().optional().describe('Start the Compose stack (default true)'),
      },
    },
    ({ branch, from, services }) => vtreeTool(cwd, 'add', [...(from ? [`--from=${from}`] : []), ...(services === false ? ['--no-services'] : []), '--', branch]),
  );
  server.registerTool('list', { description: 'Every worktree of the repository, with what vtree knows of it (setUp false: never set up).' }, () => vtreeTool(cwd, 'list', []));
  server.registerTool(
    'status',
    { description: "A worktree's Compose stack, service by service, and the phases of its set-up (readiness: ready, pending or failed).", inputSchema: { worktree: worktree.optional() } },
    ({ worktree: name }) => vtreeTool(cwd, 'status', name ? [`--worktree=${name}`] : []),
  );
  server.registerTool(
    'wait',
    {
      description: 'Block until the worktree is ready (dependencies, critical services healthy, project tasks done); returns its path, service URLs on 127.0.0.1 and the .env variables vtree set, or the failing step with its last log lines.',
      inputSchema: { worktree, timeout: z.number().positive().optional().describe('Seconds to wait at most (default 600)') },
    },
    ({ worktree: name, timeout }) => vtreeTool(cwd, 'wait', [...(timeout !== undefined ? [`--timeout=${timeout}`] : []), '--', name]),
  );
  server.registerTool(
    'logs',
    {
      description: "The last log lines of a worktree's Compose services, or of the background job that started its stack (job: true).",
      inputSchema: {
        worktree,
        services: z.array(z.string()).optional().describe('Services (default: all)'),
        tail: z.number().int().positive().optional().describe('Lines from the end of each log (default 100)'),
        job: z.boolean().optional().describe('The start job log instead'),
      },
    },
    ({ worktree: name, services, tail, job }) => vtreeTool(cwd, 'logs', [`--worktree=${name}`, ...(job ? ['--job'] : [`--tail=${tail ?? 100}`, '--', ...(services ?? [])])], false),
  );
  server.registerTool(
    'exec',
    {
      description: "Run a command (an argument vector, no shell) in a worktree with its .env and port variables; returns its exit code and the end of its stdout and stderr. Stopped after timeout seconds (exit code 124).",
      inputSchema: {
        worktree,
        command: z.array(z.string()).min(1).describe('The command and its arguments, for example ["npm", "test"]'),
        timeout: z.number().positive().optional().describe('Seconds before the command is stopped (default 600)'),
      },
    },
    async ({ worktree: name, command, timeout }) => {
      // The command's own exit code is an answer, not vtree's failure: any code is read as the document.
      const result = await run(process.execPath, [ENTRY_BIN, 'exec', '--json', `--timeout=${timeout ?? 600}`, '--', name, ...command], { cwd, okCodes: Array.from({ length: 256 }, (_, code) => code) });
      const text = result.stdout.trim();
      if (!text.startsWith('{')) return { isError: true, content: [{ type: 'text', text: result.stderr.trim() || `git vtree exec exited with code ${result.code}` }] };
      const parsed = JSON.parse(text) as Record<string, unknown> & { exitCode?: number };
      return { ...(parsed.exitCode === 0 ? {} : { isError: true }), content: [{ type: 'text', text }], structuredContent: parsed };
    },
  );
  server.registerTool(
    'remove',
    {
      description: 'Remove a worktree: stop its stack, release its ports, delete its files. Refuses uncommitted changes unless force.',
      inputSchema: {
        worktree,
        force: z.boolean().optional().describe('Remove even with uncommitted or untracked changes'),
        deleteBranch: z.boolean().optional().describe('Also delete the branch'),
        volumes: z.boolean().optional().describe("Also remove the stack's volumes"),
      },
    },
    ({ worktree: name, force, deleteBranch, volumes }) => vtreeTool(cwd, 'rm', [...(force ? ['--force'] : []), ...(deleteBranch ? ['--delete-branch'] : []), ...(volumes ? ['--volumes'] : []), '--', name]),
  );
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = resolve;
    process.stdin.once('end', resolve);
  });
  await server.connect(transport);
  await closed;
}
