import { UsageError } from '../../../core/errors.js';

/** Where the remote dependency cache lives: `vtree.cache.remote = <registry>/<repository>`. */
export interface RemoteRef {
  /** Host and port as written (`ghcr.io`, `127.0.0.1:5000`): the key of Docker's credential store. */
  registry: string;
  /** Repository path inside the registry (`team/app-deps`). */
  repository: string;
  /** `https://<registry>`, or `http://` for a registry on this machine only. */
  base: string;
}

/** The OCI distribution spec's repository name grammar (path components of lowercase words). */
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/**
 * Parses `vtree.cache.remote`: `ghcr.io/team/app-deps`, `127.0.0.1:5000/app-deps`. The first path
 * component is the registry. Plain HTTP is used for loopback hosts only (localhost, 127.0.0.1,
 * [::1]); every other registry is spoken to over HTTPS, so credentials never cross a network in clear.
 */
export function parseRemoteRef(value: string): RemoteRef {
  const text = value.trim().replace(/^oci:\/\//, '');
  const slash = text.indexOf('/');
  const registry = slash === -1 ? '' : text.slice(0, slash);
  const repository = slash === -1 ? '' : text.slice(slash + 1).replace(/\/+$/, '');
  const hint = 'git config vtree.cache.remote ghcr.io/<team>/<repository>';
  if (!registry || !/^[A-Za-z0-9.-]+(?::\d+)?$|^\[[0-9a-fA-F:]+\](?::\d+)?$/.test(registry)) {
    throw new UsageError(`vtree.cache.remote '${value}' names no registry: write <registry>/<repository>`, hint);
  }
  if (!REPOSITORY.test(repository)) throw new UsageError(`vtree.cache.remote '${value}': '${repository}' is not a repository name (lowercase words separated by / . _ -)`, hint);
  return { registry, repository, base: `${isLoopback(registry) ? 'http' : 'https'}://${registry}` };
}

/** True for registries on this machine, the only ones spoken to over plain HTTP. */
export function isLoopback(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(0, registry.indexOf(']') + 1) : registry.split(':')[0]!;
  return host === 'localhost' || host === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(host);
}
