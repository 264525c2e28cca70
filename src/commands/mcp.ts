import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import type { Io } from '../core/output.js';

/**
 * `git vtree mcp`: an MCP server on stdin/stdout for AI agents (tools create, list, status, wait,
 * logs, remove). The MCP SDK is loaded here only, so no other command pays for it.
 */
export default async function mcp(_args: Args, _io: Io): Promise<number> {
  const { serveMcp } = await import('../pipelines/mcp-server.js');
  await serveMcp(process.cwd());
  return ExitCode.ok;
}
