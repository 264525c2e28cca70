import type { Feature } from '../features/feature.js';
import { depsFeature } from '../features/deps/index.js';
import { envBlockFeature, envFilesFeature } from '../features/env/index.js';
import { mcpFeature } from '../features/mcp/index.js';
import { portsFeature } from '../features/ports/index.js';
import { seedFeature } from '../features/seed/index.js';
import { servicesFeature } from '../features/services/index.js';
import { tasksFeature } from '../features/tasks/index.js';

/** Every feature that takes part in setting a worktree up, in the order their tasks are listed. */
export const FEATURES: readonly Feature[] = [depsFeature, envFilesFeature, portsFeature, envBlockFeature, seedFeature, servicesFeature, mcpFeature, tasksFeature];
