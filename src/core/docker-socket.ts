import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// The Docker Engine API over its local socket. Asking the docker CLI costs a process per question
// and a plugin scan (about 100 ms here, more under load); the socket answers in a few ms. Every
// caller falls back to the CLI when the socket is not plain to see or does not answer, so the
// CLI's own resolution and its error messages still apply there.

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

/** The engine's answer: its status code and body text. */
export interface EngineAnswer {
  status: number;
  body: string;
}

/** One request to the engine at `socket`, with a JSON body when `body` is given; rejects when it does not answer. */
export async function engineRequest(socket: string, method: string, path: string, body?: unknown): Promise<EngineAnswer> {
  const { request } = await import('node:http');
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers = payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) };
    const req = request({ socketPath: socket, path, method, headers, timeout: SOCKET_TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`engine did not answer within ${SOCKET_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * One request to the engine the docker CLI would talk to, over its socket; undefined when that
 * socket is not plain to see or does not answer: then the caller asks the CLI, which explains.
 */
export async function askDocker(method: string, path: string, body?: unknown, env: NodeJS.ProcessEnv = process.env): Promise<EngineAnswer | undefined> {
  const socket = dockerSocket(env);
  return socket ? engineRequest(socket, method, path, body).catch(() => undefined) : undefined;
}

/** A GET whose answer must be 200 with JSON. */
export async function getJson(socket: string, path: string): Promise<unknown> {
  const answer = await engineRequest(socket, 'GET', path);
  if (answer.status !== 200) throw new Error(`engine answered ${answer.status} to ${path}`);
  return JSON.parse(answer.body);
}
