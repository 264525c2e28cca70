import { run } from '../../core/exec.js';
import type { ComposeRuntime } from './runtime.js';

// Taking a removed worktree's stack down after `rm` has returned: by the ids of the containers it
// had when `rm` ran, never by project name, so that a new worktree of the same branch (same
// Compose project name) made meanwhile keeps its own containers.

/** What `services-down` hands to the background when the stack should stop after `rm` returns. */
export interface StackDown {
  engine: ComposeRuntime['engine'];
  project: string;
  /** The stack's containers when `rm` ran. */
  containers: string[];
  volumes: boolean;
  timeoutSeconds?: number;
  /** Who holds the worktree's port leases until the stack is down (the ports feature moves them there). */
  leaseHolder: string;
}

/** The ids of every container of Compose project `project` (one-off ones included). */
export async function projectContainers(engine: ComposeRuntime['engine'], project: string): Promise<string[]> {
  const { stdout } = await run(engine, ['ps', '-a', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`]);
  return stdout.split('\n').filter(Boolean);
}

/** The same over Docker's socket (a few ms); undefined when it does not answer. */
export async function socketContainers(socket: string, project: string): Promise<string[] | undefined> {
  const { projectContainers } = await import('./engine-socket.js');
  return (await projectContainers(socket, project))?.map((c) => (c as { Id?: string }).Id ?? '').filter(Boolean);
}

/**
 * Stops and removes the containers (with their anonymous volumes under `volumes`), then the
 * project's networks and (under `volumes`) its named volumes, unless a container of the project
 * exists again (a new worktree of the same branch): those are its now. True when the project is
 * down; false when they were left to the new worktree.
 */
export async function takeStackDown(down: StackDown, log: (line: string) => void): Promise<boolean> {
  if (down.containers.length > 0) {
    log(`stopping ${down.containers.length} container(s) of ${down.project}`);
    await run(down.engine, ['stop', '--time', String(down.timeoutSeconds ?? 10), ...down.containers], { okCodes: [0, 1] });
    await run(down.engine, ['rm', '--force', ...(down.volumes ? ['--volumes'] : []), ...down.containers], { okCodes: [0, 1] });
  }
  if ((await projectContainers(down.engine, down.project)).length > 0) {
    log(`${down.project} has new containers (a new worktree of the branch): its networks and volumes stay`);
    return false;
  }
  const filter = ['--filter', `label=com.docker.compose.project=${down.project}`, '--quiet'];
  const networks = (await run(down.engine, ['network', 'ls', ...filter])).stdout.split('\n').filter(Boolean);
  if (networks.length > 0) await run(down.engine, ['network', 'rm', ...networks], { okCodes: [0, 1] });
  if (down.volumes) {
    const volumes = (await run(down.engine, ['volume', 'ls', ...filter])).stdout.split('\n').filter(Boolean);
    if (volumes.length > 0) await run(down.engine, ['volume', 'rm', ...volumes], { okCodes: [0, 1] });
  }
  log(`${down.project} is down${down.volumes ? ', volumes removed' : ''}`);
  return true;
}
