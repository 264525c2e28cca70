import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isErrno } from '../../core/files.js';

// The Docker Engine API over its local socket, for the one question `rm` asks of every worktree
// that has a compose file: is anything of its Compose project on the engine? Asking the docker
// CLI costs a process per question and a plugin scan (about 100 ms here, more under load); the
// socket answers in a few ms, and a missing socket says at once that no engine runs.

/** The default socket of Docker Engine on Linux and macOS (Docker Desktop links it there too). */
const DEFAULT_SOCKET = '/var/run/docker.sock';

/** How long the engine may take to answer before the CLI is asked instead. */
const SOCKET_TIMEOUT_MS = 2_000;

/**
 * The socket of the engine the docker CLI would talk to, when that is plain to see: `DOCKER_HOST`
 * naming a unix socket, or no `DOCKER_HOST` and the default context. Undefined when the CLI's own
 * resolution is needed (a TCP or SSH host, another context): then the CLI is asked.
 */
export function dockerSocket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env.DOCKER_HOST?.trim();
  if (host) return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
  if (env.DOCKER_CONTEXT && env.DOCKER_CONTEXT !== 'default') return undefined;
  const configDir = env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  try {
    const config = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')) as { currentContext?: string };
    if (config.currentContext && config.currentContext !== 'default') return undefined;
  } catch {
    // No config (or an unreadable one): the CLI uses the default context too.
  }
  return DEFAULT_SOCKET;
}

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

export async function getJson(socket: string, path: string): Promise<unknown> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'GET', timeout: SOCKET_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`engine answered ${res.statusCode} to ${path}`));
        try {
          resolve(JSON.parse(body));
        } catch (error) {
          reject(error);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`engine did not answer within ${SOCKET_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}
