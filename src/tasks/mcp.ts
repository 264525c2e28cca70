import type { Feature } from '../pipelines/context.js';

/** The worktree's `.mcp.json` for AI agents, with its own ports (issue #5 fills this in). */
export const mcpFeature: Feature = {
  name: 'mcp',
  setupTasks: (stages) => [
    {
      name: 'mcp-config',
      deps: [stages.checkout],
      after: ['ports'],
      async run({ span }) {
        span.set('status', 'not implemented yet');
      },
    },
  ],
};
