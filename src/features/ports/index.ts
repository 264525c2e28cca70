/**
 * Ports: leases each worktree its own free ports for the variables its compose files and config
 * name, from a machine-wide registry (`registry.ts`) shared by every repository, locked and
 * bind-tested; released on `rm`, reclaimed when a worktree disappears.
 *
 * Plugs into the checkout stage; its results feed the `.env` block, the Compose override and MCP.
 */
export { portsFeature } from './feature.js';
