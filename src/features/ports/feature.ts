import { UsageError } from '../../core/errors.js';
import type { Feature, RemoveTarget, RepoStage, TargetStage } from '../feature.js';
import type { LeaseHolder, PortLease } from './registry.js';

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
        // Names that came with the clone (a compose file, the committed file) may not be ones programs read as settings.
        const { isHarmlessPortVariable } = await import('./names.js');
        const fromClone = [...(discovered?.portVars ?? []).map((v) => v.name), ...(config.fromTeamFile('vtree.ports.vars') ? configured : [])];
        const own = config.fromTeamFile('vtree.ports.vars') ? [] : configured;
        const refused = [...new Set(fromClone.filter((name) => !own.includes(name) && !isHarmlessPortVariable(name)))];
        if (refused.length > 0) {
          span.set('refused', refused);
          shared.warn(`ports: not setting ${refused.join(', ')}: a port variable from the repository's files must be a name with PORT in it that no program reads as a setting (git config vtree.ports.vars <names> sets any name)`);
        }
        const variables = [...new Set([...(discovered?.portVars ?? []).map((v) => v.name), ...configured])].filter((name) => !refused.includes(name)).sort();
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
      async run({ shared, span }, deps): Promise<ReleasedPorts> {
        const target = deps[cleared] as RemoveTarget;
        const holder = { worktree: target.path, repo: target.repo.commonDir };
        const { rekeyLeases, releasePorts } = await import('./registry.js');
        // The stack still stops in the background: its ports go to a holder of their own, freed once it is down.
        const removing = (deps['services-down'] as StackGoingDown | undefined)?.leaseHolder;
        if (removing) {
          const moved = await rekeyLeases(holder, { worktree: removing, repo: holder.repo }, { warn: shared.warn });
          span.set('heldUntilDown', moved.length);
          return { moved: { from: holder, to: { worktree: removing, repo: holder.repo } } };
        }
        const released = await releasePorts(holder, undefined, { warn: shared.warn });
        span.set('released', released.length);
        shared.facts.portsReleased = released.length;
        return { released };
      },
      // The worktree stays when a later step of `rm` fails: give it its ports back.
      async undo(_ctx, result) {
        const { released, moved } = result as ReleasedPorts;
        const { rekeyLeases, restoreLeases } = await import('./registry.js');
        if (moved) await rekeyLeases(moved.to, moved.from);
        if (released) await restoreLeases(released);
      },
    },
  ],
};

/** The part of the `services-down` result (services feature) this feature reads. */
interface StackGoingDown {
  /** The lease holder to hand the worktree's ports to while its stack stops in the background. */
  leaseHolder?: string;
}

/** What `release-ports` did: released the leases, or moved them to the holder of a stack going down. */
interface ReleasedPorts {
  released?: PortLease[];
  moved?: { from: LeaseHolder; to: LeaseHolder };
}

/**
 * The leases each run created, by its result object, so that `undo` releases exactly those while
 * every consumer of the result sees a plain `Record<variable, port>`.
 */
const CREATED = new WeakMap<object, PortLease[]>();
