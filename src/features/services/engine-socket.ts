import { existsSync } from 'node:fs';
import { getJson } from '../../core/docker-socket.js';
import { isErrno } from '../../core/files.js';

// The one question `rm` asks of every worktree that has a compose file (is anything of its
// Compose project on the engine?) and the stack's containers, over Docker's socket.

/**
 * Whether containers, networks or (with `volumes`) volumes labelled with Compose project
 * `project` exist on the Docker engine at `socket`; `no engine` when the socket does not exist or
 * nothing listens on it (no engine runs); `undefined` when the engine could not be asked (then the caller asks the CLI,
 * which explains).
 */
export async function projectOnEngine(socket: string, project: string, volumes: boolean): Promise<boolean | 'no engine' | undefined> {
  if (!existsSync(socket)) return 'no engine';
  const filters = projectFilter(project);
  const paths = [`/containers/json?all=1&filters=${filters}`, `/networks?filters=${filters}`, ...(volumes ? [`/volumes?filters=${filters}`] : [])];
  try {
    const answers = await Promise.all(paths.map((path) => getJson(socket, path)));
    return answers.some((answer) => (Array.isArray(answer) ? answer.length > 0 : ((answer as { Volumes?: unknown[] } | null)?.Volumes?.length ?? 0) > 0));
  } catch (error) {
    // The socket file outlives a stopped engine (systemd keeps docker.socket; dockerd leaves it):
    // nobody listening is as plain an answer as no socket at all.
    if (isErrno(error, 'ECONNREFUSED')) return 'no engine';
    return undefined;
  }
}

/** Every container of Compose project `project` (stopped ones too), as the Engine API lists them; undefined when the engine does not answer. */
export async function projectContainers(socket: string, project: string): Promise<unknown[] | undefined> {
  const answer = await getJson(socket, `/containers/json?all=1&filters=${projectFilter(project)}`).catch(() => undefined);
  return Array.isArray(answer) ? answer : undefined;
}

/** The API's `filters` query value selecting what is labelled with Compose project `project`. */
function projectFilter(project: string): string {
  return encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${project}`] }));
}
