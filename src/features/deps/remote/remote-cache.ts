import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { durationMs } from '../../../core/duration.js';
import { RefusedInput } from '../../../core/confine.js';
import { errorMessage, UsageError } from '../../../core/errors.js';
import type { Config } from '../../../git/config.js';
import { adoptEntry, foreignEntryProblem, newTempPath, openEntry, type CacheEntry, type EntryMeta } from '../cache.js';
import { RegistryClient, RegistryError, OCI_MANIFEST, type Descriptor, type OciManifest } from './client.js';
import { dockerCredentials } from './credentials.js';
import { parseRemoteRef, type RemoteRef } from './reference.js';
import { refusalOf, rememberRefusal } from './refused.js';
import { unpackTar, type UnpackBounds } from './unpack.js';

/** The artifact type of a vtree dependency cache entry (OCI 1.1 `artifactType`). */
export const ARTIFACT_TYPE = 'application/vnd.vtree.deps.v1';
/** Media type of the config blob: the entry's meta (key inputs, platform, size). */
export const CONFIG_MEDIA_TYPE = 'application/vnd.vtree.deps.config.v1+json';
/** Media type of the one layer: the entry's tree, node_modules roots at the top, as a gzipped tar. */
export const LAYER_MEDIA_TYPE = 'application/vnd.vtree.deps.tree.v1.tar+gzip';

/** Annotation keys of the manifest, for registry UIs and `oras manifest fetch`. */
const ANNOTATION = {
  created: 'org.opencontainers.image.created',
  title: 'org.opencontainers.image.title',
  key: 'dev.vtree.deps.key',
  manager: 'dev.vtree.deps.manager',
  node: 'dev.vtree.deps.node',
  platform: 'dev.vtree.deps.platform',
  size: 'dev.vtree.deps.size',
  files: 'dev.vtree.deps.files',
} as const;

/** Default of `vtree.cache.remoteTimeout`: how long `add` waits for a registry before installing. */
const DEFAULT_TIMEOUT = '3s';

/** The remote cache as configured, and the client to reach it. */
export interface Remote {
  ref: RemoteRef;
  client: RegistryClient;
  /** Bound of the lookup (connect, manifest, config), and of any silence while a layer streams. */
  timeoutMs: number;
  /** `vtree.cache.push`: push entries made by real installs. */
  push: boolean;
}

/**
 * The remote cache from git config (`vtree.cache.remote`, `vtree.cache.push`,
 * `vtree.cache.remoteTimeout`), or `undefined` when none is set. Git config only (see
 * `src/git/config.ts`): a cloned repository must not point vtree at a registry of its choosing.
 */
export function remoteFromConfig(config: Config, env: NodeJS.ProcessEnv = process.env): Remote | undefined {
  const value = config.string('vtree.cache.remote');
  if (!value) return undefined;
  const raw = config.string('vtree.cache.remoteTimeout', DEFAULT_TIMEOUT);
  const timeoutMs = durationMs(raw);
  if (timeoutMs === undefined) throw new UsageError(`config vtree.cache.remoteTimeout must be a duration, not '${raw}'`, 'git config vtree.cache.remoteTimeout 3s');
  return openRemote(value, { timeoutMs, push: config.boolean('vtree.cache.push', false), env });
}

/** The remote cache from git config ({@link remoteFromConfig}), or a usage error saying how to set one. */
export function requireRemote(config: Config): Remote {
  const remote = remoteFromConfig(config);
  if (!remote) throw new UsageError('no remote cache configured (vtree.cache.remote)', 'git config vtree.cache.remote <registry>/<repository>   (for example ghcr.io/team/app-deps)');
  return remote;
}

/** A remote cache at `value` (`<registry>/<repository>`), credentials from Docker's config in `env`. */
export function openRemote(value: string, options: { timeoutMs: number; push: boolean; env?: NodeJS.ProcessEnv }): Remote {
  const ref = parseRemoteRef(value);
  const client = new RegistryClient(ref, () => dockerCredentials(ref.registry, options.env));
  return { ref, client, timeoutMs: options.timeoutMs, push: options.push };
}

/** What a push did. */
export interface PushResult {
  /** False when the registry had the entry already. */
  pushed: boolean;
  /** Bytes uploaded (the compressed layer and the config; 0 when nothing was). */
  bytes: number;
}

/**
 * Pushes cache entry `key` as one OCI artifact tagged with the key: a config blob holding its meta
 * and one gzipped tar of its tree, with annotations naming the package manager, Node.js major,
 * platform, creation time and size. Nothing is sent when the tag exists. The layer is written to a
 * temp file first (its digest must be known before the upload closes, and a file has a length).
 */
export async function pushEntry(remote: Remote, cacheDir: string, key: string, signal?: AbortSignal): Promise<PushResult> {
  const entry = await openEntry(cacheDir, key);
  if (!entry) throw new UsageError(`no cache entry ${key.slice(0, 12)} to push`, 'git vtree cache status');
  if (await remote.client.manifest(key, signal)) return { pushed: false, bytes: 0 };
  const { pack } = await import('tar-fs');
  const { createGzip } = await import('node:zlib');
  await mkdir(join(cacheDir, 'tmp'), { recursive: true });
  const file = newTempPath(cacheDir, `push-${key}`);
  try {
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(pack(entry.tree, { entries: entry.manifest.roots }), createGzip(), hashing, createWriteStream(file), { signal });
    const layer: Descriptor = { mediaType: LAYER_MEDIA_TYPE, digest: `sha256:${hash.digest('hex')}`, size: (await stat(file)).size, annotations: { [ANNOTATION.title]: `${key}.tar.gz` } };
    const configBytes = Buffer.from(JSON.stringify(artifactMeta(entry.meta)));
    const config: Descriptor = { mediaType: CONFIG_MEDIA_TYPE, digest: `sha256:${createHash('sha256').update(configBytes).digest('hex')}`, size: configBytes.length };
    const sentConfig = await remote.client.uploadBlob(config, () => configBytes, signal);
    const sentLayer = await remote.client.uploadBlob(layer, () => createReadStream(file), signal);
    const manifest: OciManifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: ARTIFACT_TYPE, config, layers: [layer], annotations: annotations(entry) };
    await remote.client.putManifest(key, manifest, signal);
    return { pushed: true, bytes: (sentConfig ? config.size : 0) + (sentLayer ? layer.size : 0) };
  } finally {
    await rm(file, { force: true });
  }
}

/** What a pull did. */
export interface PullResult {
  entry: CacheEntry;
  /** Bytes downloaded (compressed layer and config). */
  bytes: number;
}

/**
 * Pulls entry `key` from the registry into the local cache, or `undefined` when the registry has
 * no such tag. The lookup (manifest and config) must finish within `remote.timeoutMs`, and the
 * layer may stall no longer than that between two chunks. The entry is refused (a
 * {@link RegistryError}) when it is not a vtree entry, its meta says another platform, Node.js
 * major or cache format, its key does not match its inputs or its package directories leave the
 * worktree; when its layer unpacks past what its meta declares ({@link layerBounds}) or holds a
 * path or link leading out of the tree (see {@link unpackTar}). A refusal is remembered by the
 * manifest's digest ({@link rememberRefusal}): that artifact is not pulled again. The layer is
 * unpacked while it streams and published only once its digest and size match.
 */
export async function pullEntry(remote: Remote, cacheDir: string, key: string, signal?: AbortSignal): Promise<PullResult | undefined> {
  const lookup = AbortSignal.any([AbortSignal.timeout(remote.timeoutMs), ...(signal ? [signal] : [])]);
  const found = await remote.client.manifest(key, lookup);
  if (!found) return undefined;
  const where = `${remote.ref.registry}/${remote.ref.repository}:${key.slice(0, 12)}`;
  const before = await refusalOf(cacheDir, found.digest);
  if (before) throw new RegistryError(`${where} was refused on ${before.at.slice(0, 10)} (${before.reason}); not pulled again until a new push replaces it`);
  try {
    return await pullArtifact(remote, cacheDir, key, found.manifest, lookup, signal);
  } catch (error) {
    if (!(error instanceof RefusedInput)) throw error;
    await rememberRefusal(cacheDir, found.digest, key, error.message);
    throw new RegistryError(`refused ${where}: ${error.message}`);
  }
}

async function pullArtifact(remote: Remote, cacheDir: string, key: string, manifest: OciManifest, lookup: AbortSignal, signal?: AbortSignal): Promise<PullResult> {
  const layer = Array.isArray(manifest.layers) && manifest.layers.length === 1 ? manifest.layers[0] : undefined;
  if (manifest.config?.mediaType !== CONFIG_MEDIA_TYPE || layer?.mediaType !== LAYER_MEDIA_TYPE) {
    throw new RefusedInput(`not a vtree dependency cache entry (artifact type ${manifest.artifactType ?? manifest.config?.mediaType ?? 'unknown'})`);
  }
  let meta: EntryMeta;
  try {
    meta = JSON.parse((await remote.client.blobBytes(manifest.config, lookup)).toString('utf8')) as EntryMeta;
  } catch (error) {
    throw error instanceof SyntaxError ? new RefusedInput(`its meta is not JSON: ${errorMessage(error)}`) : error;
  }
  const problem = foreignEntryProblem(meta, key);
  if (problem) throw new RefusedInput(problem);
  const temp = newTempPath(cacheDir, `pull-${key}`);
  await mkdir(join(temp, 'tree'), { recursive: true });
  try {
    const bytes = await download(remote, layer, join(temp, 'tree'), layerBounds(meta), signal);
    await writeFile(join(temp, 'meta.json'), JSON.stringify(meta));
    return { entry: await adoptEntry(cacheDir, temp, meta, 'remote'), bytes: bytes + manifest.config.size };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/**
 * What a layer may unpack to: what its meta declares (checked to be counts by
 * {@link foreignEntryProblem}), with a margin for what the count leaves out (its directories and
 * links, and a file the tree holds under two names, counted once).
 */
function layerBounds(meta: EntryMeta): UnpackBounds {
  return { bytes: Math.ceil(meta.bytes * 1.5) + 16 * 2 ** 20, entries: meta.files * 3 + 1000 };
}

/**
 * Streams `layer` through gunzip into `dir`, checking its digest and size; returns its size. The
 * stall bound counts only the registry's silence: any progress on either side of gunzip restarts
 * it, so a slow disk holding the stream back (backpressure) is never taken for a stalled registry.
 */
async function download(remote: Remote, layer: Descriptor, dir: string, bounds: UnpackBounds, signal?: AbortSignal): Promise<number> {
  const { createGunzip } = await import('node:zlib');
  const idle = new AbortController();
  const stalled = () => idle.abort(new RegistryError(`${remote.ref.registry} stopped sending ${layer.digest.slice(0, 19)} for ${remote.timeoutMs} ms`));
  let timer = setTimeout(stalled, remote.timeoutMs);
  const progress = () => {
    clearTimeout(timer);
    timer = setTimeout(stalled, remote.timeoutMs);
  };
  const abort = AbortSignal.any([idle.signal, ...(signal ? [signal] : [])]);
  const hash = createHash('sha256');
  let size = 0;
  const received = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      progress();
      done(null, chunk);
    },
  });
  const unpacked = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      progress();
      done(null, chunk);
    },
  });
  try {
    const response = await remote.client.blob(layer.digest, abort);
    if (!response.body) throw new RegistryError(`${remote.ref.registry} sent no body for ${layer.digest}`);
    const flowing = pipeline(Readable.fromWeb(response.body as never), received, createGunzip(), unpacked, { signal: abort });
    try {
      await unpackTar(unpacked, dir, bounds);
      await flowing;
    } catch (error) {
      unpacked.destroy();
      await flowing.catch(() => undefined);
      throw error;
    }
  } catch (error) {
    throw abort.aborted && abort.reason instanceof RegistryError ? abort.reason : error;
  } finally {
    clearTimeout(timer);
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (digest !== layer.digest || size !== layer.size) throw new RegistryError(`${remote.ref.registry} sent ${size} bytes with digest ${digest.slice(0, 19)} for ${layer.digest.slice(0, 19)} (${layer.size} bytes): not used`);
  return size;
}

/** The meta a registry keeps: what is true everywhere (no local hit counts or use times). */
function artifactMeta(meta: EntryMeta): EntryMeta {
  return { ...meta, hits: 0, lastUsedAt: meta.createdAt };
}

function annotations(entry: CacheEntry): Record<string, string> {
  const { meta } = entry;
  return {
    [ANNOTATION.created]: meta.createdAt,
    [ANNOTATION.key]: meta.key,
    [ANNOTATION.manager]: meta.packageManager,
    [ANNOTATION.node]: meta.platform.node,
    [ANNOTATION.platform]: `${meta.platform.platform}-${meta.platform.arch}`,
    [ANNOTATION.size]: String(meta.bytes),
    [ANNOTATION.files]: String(meta.files),
  };
}
