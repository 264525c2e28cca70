import type { Feature } from './context.js';
import { depsFeature } from '../tasks/deps.js';
import { envFilesFeature } from '../tasks/env-files.js';
import { portsFeature } from '../tasks/ports.js';
import { envBlockFeature } from '../tasks/env-block.js';
import { servicesFeature } from '../tasks/services.js';
import { mcpFeature } from '../tasks/mcp.js';

/** Every feature that takes part in setting a worktree up, in the order their tasks are listed. */
export const FEATURES: readonly Feature[] = [depsFeature, envFilesFeature, portsFeature, envBlockFeature, servicesFeature, mcpFeature];
