/**
 * MCP: writes the worktree's `.mcp.json` for coding agents, with the main worktree's ports and
 * paths in its server definitions replaced by this worktree's (`config.ts`).
 *
 * Plugs into the checkout stage, after ports.
 */
export { mcpFeature } from './feature.js';
