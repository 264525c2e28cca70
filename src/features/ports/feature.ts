import { UsageError } from '../../core/errors.js';
import type { Feature, RemoveTarget, RepoStage, TargetStage } from '../feature.js';
import type { PortLease } from './registry.js';

/** Name of the task that leases the worktree's ports; its result is `Record<variable, port>`. */
export const PORTS_TASK = 'ports';

/** The part of the `compose-discover` result (services feature) this feature reads. */
export interface DiscoveredPortVars {
  portVars?: ReadonlyArray<{ name: string }>;
}

/**
 * Per-worktree port leases from the machine-wide registry, one per variable: those Compose
 * publishes (`compose-discover`, when the services feature is in the graph) and the extra ones
 * of `vtree.ports.vars`. Released by `rm`; rolled back when the run fails.
 */
export const portsFeature: Feature = {
  name: 'ports',
  setupTasks: (stages) => [
    {
      name: PORTS_TASK,
      deps: [stages.repo, stages.target],
      after: ['compose-discover'],
      async run({ shared, span }, deps): Promise<Record<string, number>> {
        const { repo, config } = deps[stages.repo] as RepoStage;
        const target = deps[stages.target] as TargetStage;
        const discovered = deps['compose-discover'] as DiscoveredPortVars | undefined;
        const { isPortVariable, leasePorts, parsePortRange, DEFAULT_PORT_RANGE } = await import('./registry.js');
        const configured = config.list('vtree.ports.vars');
        const invalid = configured.filter((v) => !isPortVariable(v));
        if (invalid.length > 0) {
          throw new UsageError(`config vtree.ports.vars: '${invalid[0]}' is not a variable name`, 'git config vtree.ports.vars "PORT VITE_PORT"');
        }
        const variables = [...new Set([...(discovered?.portVars ?? []).map((v) => v.name), ...configured])].sort();
        span.set('variables', variables.length);
        if (variables.length === 0) return {};
        const range = parsePortRange(config.string('vtree.ports.range', DEFAULT_PORT_RANGE));
        const outcome = await leasePorts({ worktree: target.path, repo: repo.commonDir }, variables, range, { warn: shared.warn, forSetUp: true });
        span.set('leased', outcome.created.length);
        span.set('kept', outcome.kept);
        if (outcome.busy.length > 0) span.set('busySkipped', outcome.busy.length);
        if (outcome.reclaimed.length > 0) span.set('reclaimed', outcome.reclaimed.length);
        shared.facts.ports = { ...outcome.ports };
        shared.state.ports = { ...outcome.ports };
        shared.log(`ports: ${Object.entries(outcome.ports).map(([k, v]) => `${k}=${v}`).join(' ')}`);
        CREATED.set(outcome.ports, outcome.created);
        return outcome.ports;
      },
      async undo(_ctx, result) {
        const created = CREATED.get(result as object) ?? [];
        if (created.length === 0) return;
        const { releasePorts } = await import('./registry.js');
        const first = created[0]!;
        await releasePorts({ worktree: first.worktree, repo: first.repo }, created.map((l) => l.port));
      },
    },
  ],
  teardownTasks: ({ cleared }) => [
    {
      name: 'release-ports',
      deps: [cleared],
      // Ports stay leased until the stack that listens on them is down.
      after: ['services-down'],
      async run({ shared, span }, deps): Promise<PortLease[]> {
        const target = deps[cleared] as RemoveTarget;
        const { releasePorts } = await import('./registry.js');
        const released = await releasePorts({ worktree: target.path, repo: target.repo.commonDir }, undefined, { warn: shared.warn });
        span.set('released', released.length);
        shared.facts.portsReleased = released.length;
        return released;
      },
      // The worktree stays when a later step of `rm` fails: give it its ports back.
      async undo(_ctx, released) {
        const { restoreLeases } = await import('./registry.js');
        await restoreLeases(released as PortLease[]);
      },
    },
  ],
};

/**
 * The leases each run created, by its result object, so that `undo` releases exactly those while
 * every consumer of the result sees a plain `Record<variable, port>`.
 */
const CREATED = new WeakMap<object, PortLease[]>();
