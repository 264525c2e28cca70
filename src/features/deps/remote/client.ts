import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { errorMessage, VtreeError } from '../../../core/errors.js';
import type { Credentials } from './credentials.js';
import type { RemoteRef } from './reference.js';

/** An OCI content descriptor: what a manifest says of a blob. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** An OCI image manifest (the artifact form: own config and layer media types). */
export interface OciManifest {
  schemaVersion: 2;
  mediaType: typeof OCI_MANIFEST;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** Media type of an OCI image manifest. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** The registry could not be reached, answered with an error, or refused our credentials. */
export class RegistryError extends VtreeError {}

type Scope = 'pull' | 'pull,push';

interface RequestOptions {
  headers?: Record<string, string>;
  /** A body that can be sent twice (the first try may meet an authentication challenge). */
  body?: string | Buffer;
  /** A body read once: sent only after authentication is settled for the scope. */
  stream?: Readable;
  signal?: AbortSignal;
  scope: Scope;
  /** Statuses that are answers (404 for "no such tag"), not failures. */
  ok?: readonly number[];
}

/**
 * A small client of the OCI distribution API over Node's fetch: manifests, blobs and monolithic
 * blob uploads in one repository, with the two authentication schemes registries use: HTTP basic,
 * and bearer tokens from the realm named in a `WWW-Authenticate` challenge (Docker Hub, GHCR, ECR,
 * GitLab, Harbor), asked for with the stored credentials when there are any. Tokens are kept per
 * scope for the life of the client.
 */
export class RegistryClient {
  private readonly authorization = new Map<Scope, string>();
  private credentialsLoaded?: Promise<Credentials | undefined>;

  constructor(
    readonly ref: RemoteRef,
    private readonly loadCredentials: () => Promise<Credentials | undefined>,
  ) {}

  /** The manifest tagged `tag` and its digest, or `undefined` when the repository has no such tag. */
  async manifest(tag: string, signal?: AbortSignal): Promise<{ digest: string; manifest: OciManifest } | undefined> {
    const response = await this.request('GET', `manifests/${tag}`, { headers: { accept: OCI_MANIFEST }, signal, scope: 'pull', ok: [404] });
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const claimed = response.headers.get('docker-content-digest');
    if (claimed && claimed !== digest) throw new RegistryError(`${this.ref.registry} sent a manifest for ${tag} that does not match its digest ${claimed}`);
    return { digest, manifest: JSON.parse(bytes.toString('utf8')) as OciManifest };
  }

  /** A small blob, read whole and checked against its digest. */
  async blobBytes(descriptor: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    const response = await this.blob(descriptor.digest, signal);
    const bytes = Buffer.from(await response.arrayBuffer());
    if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== descriptor.digest) throw new RegistryError(`blob ${descriptor.digest} from ${this.ref.registry} does not match its digest`);
    return bytes;
  }

  /** Starts reading blob `digest`: the response, its body unread (the caller streams and verifies it). */
  blob(digest: string, signal?: AbortSignal): Promise<Response> {
    return this.request('GET', `blobs/${digest}`, { signal, scope: 'pull' });
  }

  /**
   * Uploads a blob unless the repository has it: `POST` opens an upload, one `PUT` with the whole
   * body and its digest closes it (the monolithic form every registry accepts; some refuse a
   * streamed `PATCH` without a length). `body` is called only when the blob is missing.
   */
  async uploadBlob(descriptor: Descriptor, body: () => Readable | Buffer, signal?: AbortSignal): Promise<boolean> {
    const head = await this.request('HEAD', `blobs/${descriptor.digest}`, { signal, scope: 'pull,push', ok: [404] });
    if (head.ok) return false;
    const started = await this.request('POST', 'blobs/uploads/', { signal, scope: 'pull,push', headers: { 'content-length': '0' } });
    const location = started.headers.get('location');
    if (!location) throw new RegistryError(`${this.ref.registry} opened an upload without saying where (no Location header)`);
    const url = new URL(location, `${this.ref.base}/`);
    url.searchParams.set('digest', descriptor.digest);
    const content = body();
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) };
    await this.request('PUT', url.toString(), Buffer.isBuffer(content) ? { body: content, headers, signal, scope: 'pull,push' } : { stream: content, headers, signal, scope: 'pull,push' });
    return true;
  }

  /** Stores `manifest` under `tag`; returns its digest. */
  async putManifest(tag: string, manifest: OciManifest, signal?: AbortSignal): Promise<string> {
    const body = Buffer.from(JSON.stringify(manifest));
    await this.request('PUT', `manifests/${tag}`, { body, headers: { 'content-type': OCI_MANIFEST }, signal, scope: 'pull,push' });
    return `sha256:${createHash('sha256').update(body).digest('hex')}`;
  }

  /** Tags of the repository (first page), for `cache push --all` to skip what is there. */
  async tags(signal?: AbortSignal): Promise<string[]> {
    const response = await this.request('GET', 'tags/list?n=10000', { signal, scope: 'pull', ok: [404] });
    if (response.status === 404) return [];
    return ((await response.json()) as { tags?: string[] | null }).tags ?? [];
  }

  /**
   * One request to the repository (`path` relative to `/v2/<repository>/`, or an absolute URL an
   * upload gave us), answering an authentication challenge once. Non-2xx answers not listed in
   * `ok` become a {@link RegistryError} carrying the registry's own error text.
   */
  private async request(method: string, path: string, options: RequestOptions): Promise<Response> {
    const url = /^https?:\/\//.test(path) ? path : `${this.ref.base}/v2/${this.ref.repository}/${path}`;
    const send = () => {
      const auth = this.authorization.get(options.scope);
      const init: RequestInit & { duplex?: 'half' } = { method, headers: { ...options.headers, ...(auth ? { authorization: auth } : {}) }, signal: options.signal };
      if (options.body !== undefined) init.body = options.body;
      else if (options.stream) {
        init.body = options.stream as unknown as ReadableStream;
        init.duplex = 'half';
      }
      return this.fetch(url, init);
    };
    let response = await send();
    if (response.status === 401 && !options.stream) {
      const challenge = response.headers.get('www-authenticate') ?? '';
      await response.body?.cancel();
      await this.authenticate(challenge, options.scope, options.signal);
      response = await send();
    }
    if (response.ok || options.ok?.includes(response.status)) return response;
    const detail = await registryErrorText(response);
    if (response.status === 401 || response.status === 403) throw await this.authError(response.status, detail);
    throw new RegistryError(`${this.ref.registry}/${this.ref.repository}: ${method} ${new URL(url).pathname} failed: ${response.status} ${detail}`);
  }

  /** Sets the `Authorization` header for `scope` from a `WWW-Authenticate` challenge. */
  private async authenticate(challenge: string, scope: Scope, signal?: AbortSignal): Promise<void> {
    const credentials = await this.credentials();
    const [scheme = '', params] = parseChallenge(challenge);
    if (scheme === 'basic') {
      if (!credentials) throw await this.authError(401, 'credentials required');
      this.authorization.set(scope, basic(credentials));
      return;
    }
    if (scheme !== 'bearer' || !params.realm) throw new RegistryError(`${this.ref.registry} asks for an authentication vtree does not speak ('${challenge.slice(0, 80)}')`);
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', `repository:${this.ref.repository}:${scope}`);
    const response = await this.fetch(realm.toString(), { headers: credentials ? { authorization: basic(credentials) } : {}, signal });
    if (!response.ok) throw await this.authError(response.status, await registryErrorText(response));
    const answer = (await response.json()) as { token?: string; access_token?: string };
    const token = answer.token ?? answer.access_token;
    if (!token) throw new RegistryError(`the token service of ${this.ref.registry} (${realm.origin}) answered without a token`);
    this.authorization.set(scope, `Bearer ${token}`);
  }

  private credentials(): Promise<Credentials | undefined> {
    this.credentialsLoaded ??= this.loadCredentials();
    return this.credentialsLoaded;
  }

  private async authError(status: number, detail: string): Promise<RegistryError> {
    const credentials = await this.credentials().catch(() => undefined);
    const who = credentials ? `the credentials of '${credentials.username}' from ${credentials.from}` : 'anonymous access (no credentials stored)';
    return new RegistryError(`${this.ref.registry} refused ${who}: ${status} ${detail}`.trim(), `docker login ${this.ref.registry}`);
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (init.signal?.aborted) throw new RegistryError(`${this.ref.registry} did not answer in time`, undefined, { cause: error });
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new RegistryError(`cannot reach ${this.ref.registry}: ${cause?.code ?? cause?.message ?? errorMessage(error)}`, undefined, { cause: error });
    }
  }
}

/** `Bearer realm="https://auth",service="reg",scope="x"` → `['bearer', { realm, service, scope }]`. */
export function parseChallenge(header: string): [string | undefined, Record<string, string>] {
  const match = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!match) return [undefined, {}];
  const params: Record<string, string> = {};
  for (const [, key, quoted, bare] of match[2]!.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) params[key!.toLowerCase()] = quoted ?? bare ?? '';
  return [match[1]!.toLowerCase(), params];
}

function basic(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** The registry's own words for a failure: its `errors[]` (code and message), else the status text. */
async function registryErrorText(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const errors = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors ?? [];
    if (errors.length > 0) return errors.map((e) => [e.code, e.message].filter(Boolean).join(' ')).join('; ');
  } catch {
    // not JSON: fall through
  }
  return (text.trim().split('\n')[0] ?? '').slice(0, 200) || response.statusText;
}
