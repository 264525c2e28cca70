import { run } from '../../core/exec.js';
import { dockerSocket, getJson } from '../../core/docker-socket.js';

// Every Compose project on the Docker engine, as its containers' labels describe it: what finds
// the stack of a worktree that was removed behind vtree's back (plain `git worktree remove`), and
// the ports containers still publish, which no lease may be freed from.

/** A Compose project on the engine. */
export interface EngineStack {
  project: string;
  /** `com.docker.compose.project.working_dir`: the worktree the stack was started in. */
  workingDir: string;
  /** `com.docker.compose.project.config_files`: vtree's override lives in the worktree's git dir. */
  configFiles: string[];
  containers: number;
  running: number;
  /** Host ports its containers publish. */
  ports: number[];
}

interface ApiContainer {
  Labels?: Record<string, string>;
  State?: string;
  Ports?: Array<{ PublicPort?: number }>;
}

const PROJECT = 'com.docker.compose.project';

/**
 * The Compose projects on the engine the docker CLI talks to (its socket when plain to see, else
 * the CLI), or undefined when no engine answers: then nothing can be said about stacks.
 */
export async function engineStacks(): Promise<EngineStack[] | undefined> {
  const containers = (await fromSocket()) ?? (await fromCli());
  if (!containers) return undefined;
  const stacks = new Map<string, EngineStack>();
  for (const c of containers) {
    const labels = c.Labels ?? {};
    const project = labels[PROJECT];
    if (!project) continue;
    const stack = stacks.get(project) ?? { project, workingDir: labels[`${PROJECT}.working_dir`] ?? '', configFiles: (labels[`${PROJECT}.config_files`] ?? '').split(',').filter(Boolean), containers: 0, running: 0, ports: [] };
    stack.containers++;
    if (c.State === 'running') stack.running++;
    for (const p of c.Ports ?? []) if (p.PublicPort && !stack.ports.includes(p.PublicPort)) stack.ports.push(p.PublicPort);
    stacks.set(project, stack);
  }
  return [...stacks.values()];
}

async function fromSocket(): Promise<ApiContainer[] | undefined> {
  const socket = dockerSocket();
  if (!socket) return undefined;
  const filters = encodeURIComponent(JSON.stringify({ label: [PROJECT] }));
  return (await getJson(socket, `/containers/json?all=1&filters=${filters}`).catch(() => undefined)) as ApiContainer[] | undefined;
}

async function fromCli(): Promise<ApiContainer[] | undefined> {
  const format = [`{{.Label "${PROJECT}"}}`, `{{.Label "${PROJECT}.working_dir"}}`, `{{.Label "${PROJECT}.config_files"}}`, '{{.State}}', '{{.Ports}}'].join('\t');
  const result = await run('docker', ['ps', '-a', '--filter', `label=${PROJECT}`, '--format', format], { okCodes: [0, 1] }).catch(() => undefined);
  if (!result || result.code !== 0) return undefined;
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [project = '', workingDir = '', configFiles = '', state = '', ports = ''] = line.split('\t');
      const published = [...ports.matchAll(/:(\d+)->/g)].map((m) => ({ PublicPort: Number(m[1]) }));
      return { Labels: { [PROJECT]: project, [`${PROJECT}.working_dir`]: workingDir, [`${PROJECT}.config_files`]: configFiles }, State: state, Ports: published };
    });
}
