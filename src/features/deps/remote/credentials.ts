import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../core/exec.js';
import { errorMessage, VtreeError } from '../../../core/errors.js';

/** A user name and secret for a registry (a password, a personal access token, or an identity token). */
export interface Credentials {
  username: string;
  password: string;
  /** Where they came from, for error messages (`~/.docker/config.json`, `docker-credential-osxkeychain`). */
  from: string;
}

/** The parts of Docker's `config.json` that say where credentials are. */
interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Docker's client config: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

/**
 * The credentials Docker would use for `registry`, looked up as `docker login` stores them: a
 * per-registry `credHelpers` entry first, then an inline `auths` entry (base64 `user:password`),
 * then the default `credsStore`. Helpers are run as `docker-credential-<name> get` with the
 * registry on stdin, as the Docker CLI does. `undefined` when nothing is stored (anonymous access).
 */
export async function dockerCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  const path = dockerConfigPath(env);
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as DockerConfig;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new VtreeError(`cannot read Docker's credentials in ${path}: ${errorMessage(error)}`, `fix or remove ${path}, or run \`docker login ${registry}\``);
  }
  const helper = config.credHelpers?.[registry];
  if (helper) return fromHelper(helper, registry, env);
  const inline = authsEntry(config.auths ?? {}, registry);
  if (inline?.auth) {
    const decoded = Buffer.from(inline.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), from: path };
  }
  if (inline?.username && inline.password) return { username: inline.username, password: inline.password, from: path };
  if (inline?.identitytoken) return { username: '<token>', password: inline.identitytoken, from: path };
  if (config.credsStore) return fromHelper(config.credsStore, registry, env);
  return undefined;
}

/** The `auths` entry of `registry`, whether stored as `host`, `https://host` or `https://host/v1/`. */
function authsEntry(auths: NonNullable<DockerConfig['auths']>, registry: string): NonNullable<DockerConfig['auths']>[string] | undefined {
  for (const [key, value] of Object.entries(auths)) {
    const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (host === registry) return value;
  }
  return undefined;
}

async function fromHelper(name: string, registry: string, env: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  let stdout: string;
  try {
    ({ stdout } = await run(program, ['get'], { input: registry, env }));
  } catch (error) {
    // Helpers answer "credentials not found" with a non-zero exit: anonymous, as with Docker.
    if (/not found/i.test(errorMessage(error))) return undefined;
    throw new VtreeError(`${program} could not give the credentials of ${registry}: ${errorMessage(error)}`, `check \`${program} list\`, or run \`docker login ${registry}\``);
  }
  const answer = JSON.parse(stdout) as { Username?: string; Secret?: string };
  return answer.Secret ? { username: answer.Username ?? '', password: answer.Secret, from: program } : undefined;
}
