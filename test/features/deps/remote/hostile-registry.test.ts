import { createHash } from 'node:crypto';
import { lstat, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { listEntries, type EntryMeta } from '../../../../src/features/deps/cache.js';
import { OCI_MANIFEST } from '../../../../src/features/deps/remote/client.js';
import { ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, openRemote, pullEntry } from '../../../../src/features/deps/remote/remote-cache.js';
import { git, npmProjectsForFile, requirePrereq, tempDir, treeOf, vtree } from '../../../helpers.js';

// A hostile team registry: artifacts tagged with a real lockfile's key, pushed by hand with the
// project's own client (the OCI distribution API), whose layer or meta is crafted. Each must be
// refused with one line while `add` installs instead, remembered so that it is not pulled again,
// and leave nothing outside and nothing in the local cache.

/** The test registry (127.0.0.1:5000 unless VTREE_TEST_REGISTRY_PORT says otherwise). */
let REGISTRY = '';
/** A fresh repository name per run: the registry outlives test runs. */
const run_ = `hostile${Date.now().toString(36)}${process.pid}`;

const { warmedRepo } = npmProjectsForFile();

type Entry = { name: string; type?: 'file' | 'directory' | 'symlink'; linkname?: string; body?: string; size?: number };

/** A gzipped tar of `entries`; an entry with `size` and no body is that many zero bytes, streamed. */
async function layerOf(entries: Entry[]): Promise<Buffer> {
  const packer = pack();
  const gzipped = buffer(Readable.from(packer as unknown as Readable).pipe(createGzip({ level: 1 })));
  for (const { body, size, ...header } of entries) {
    if (size === undefined) {
      packer.entry({ type: 'file', mode: 0o644, ...header }, body ?? '');
      continue;
    }
    const sink = packer.entry({ type: 'file', mode: 0o644, size, ...header });
    const chunk = Buffer.alloc(2 ** 20);
    for (let left = size; left > 0; left -= chunk.length) {
      if (!sink.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise((resolve) => sink.once('drain', resolve));
    }
    await new Promise((resolve) => sink.end(resolve));
  }
  packer.finalize();
  return gzipped;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Pushes an artifact tagged `key` with `meta` as its config and `layer`: what a hostile pusher can do. Returns the layer's digest. */
async function pushCrafted(repository: string, key: string, meta: unknown, layer: Buffer): Promise<string> {
  const remote = openRemote(`${REGISTRY}/${repository}`, { timeoutMs: 30_000, push: true });
  const configBytes = Buffer.from(JSON.stringify(meta));
  const config = { mediaType: CONFIG_MEDIA_TYPE, digest: sha256(configBytes), size: configBytes.length };
  const tree = { mediaType: LAYER_MEDIA_TYPE, digest: sha256(layer), size: layer.length };
  await remote.client.uploadBlob(config, () => configBytes);
  await remote.client.uploadBlob(tree, () => layer);
  await remote.client.putManifest(key, { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: ARTIFACT_TYPE, config, layers: [tree] });
  return tree.digest;
}

/** A warmed repository (its lockfile's entry in the local cache) and a clone of it with an empty cache, pointed at `repository`. */
async function victim(repository: string): Promise<{ key: string; meta: EntryMeta; clone: string; cacheDir: string }> {
  const first = await warmedRepo();
  const [entry] = await listEntries(join(first, '.git/vibetrees/cache'));
  const parent = await tempDir('vtree-hostile-clone-');
  const clone = join(parent, 'app');
  await git(parent, 'clone', '-q', first, clone);
  await git(clone, 'config', 'vtree.cache.remote', `${REGISTRY}/${repository}`);
  return { key: entry!.key, meta: { ...entry!.meta, hits: 0 }, clone, cacheDir: join(clone, '.git/vibetrees/cache') };
}

/** `add <branch> --json`: exit code, the deps facts, the `remote cache` lines of stderr. */
async function add(repo: string, branch: string) {
  const result = await vtree(repo, ['add', branch, '--json']);
  const facts = result.code === 0 ? (JSON.parse(result.stdout) as { facts: { deps: Record<string, unknown> }; path: string }) : undefined;
  return { ...result, deps: facts?.facts.deps, path: facts?.path ?? '', remoteLines: result.stderr.split('\n').filter((l) => l.includes('remote cache')) };
}

/** The layer: `D/s` back to the tree root, `D/t` one climb more, `.bin` out through `t`. */
const CLIMBING: Entry[] = [
  { name: 'node_modules/is-number/index.js', body: 'module.exports = 1;\n' },
  { name: 'node_modules/a/D/s', type: 'symlink', linkname: '../../..' },
  { name: 'node_modules/a/D/t', type: 'symlink', linkname: 's/../../..' },
  { name: 'node_modules/.bin', type: 'symlink', linkname: '../node_modules/a/D/t/outside' },
];

describe('a hostile registry', () => {
  beforeEach(async (ctx) => {
    REGISTRY = (await requirePrereq('registry', ctx)).address;
  });

  it('refuses a layer whose links climb out through each other; remembers it, so the next add does not pull it again', async () => {
    const repository = `${run_}/links`;
    const { key, meta, clone, cacheDir } = await victim(repository);
    const digest = await pushCrafted(repository, key, meta, await layerOf(CLIMBING));

    const pulled = await vtree(clone, ['cache', 'pull', key]);
    expect(pulled.code).toBe(1);
    expect(pulled.stderr).toMatch(/refused .*:\w{12}: node_modules\/(a\/D\/t|\.bin) links outside the tree/);
    expect(await listEntries(cacheDir)).toEqual([]);
    // Remembered by the artifact's digest, with why.
    const refused = JSON.parse(await readFile(join(cacheDir, 'refused.json'), 'utf8')) as Record<string, { key: string; reason: string }>;
    expect(Object.values(refused)).toEqual([expect.objectContaining({ key, reason: expect.stringMatching(/links outside the tree/) })]);

    // The layer is gone from the registry now: pulling it again would fail otherwise.
    const gone = await fetch(`http://${REGISTRY}/v2/${repository}/blobs/${digest}`, { method: 'DELETE' });
    expect(gone.status).toBe(202);
    const added = await add(clone, 'one');
    expect(added.code, added.stderr).toBe(0);
    expect(added.deps?.source).toBe('miss');
    expect(added.remoteLines).toEqual([expect.stringMatching(/^warning: remote cache .*: .*:\w{12} was refused on \d{4}-\d\d-\d\d \(.*links outside the tree.*\); not pulled again until a new push replaces it; installing instead$/)]);
    expect((await lstat(join(added.path, 'node_modules/.bin'))).isDirectory()).toBe(true);
    await expect(lstat(join(added.path, 'node_modules/a'))).rejects.toThrow(/ENOENT/);
  }, 240_000);

  it('refuses a layer that unpacks past its declared size at the first header past the bound, and add installs', async () => {
    const repository = `${run_}/bomb`;
    const { key, meta, clone, cacheDir } = await victim(repository);
    // 256 MB of zeros, a few hundred KB gzipped; the meta declares the real tree's few hundred KB.
    const layer = await layerOf([{ name: 'node_modules/is-number/index.js', body: 'x' }, { name: 'node_modules/zeros', size: 256 * 2 ** 20 }]);
    expect(layer.length).toBeLessThan(4 * 2 ** 20);
    await pushCrafted(repository, key, meta, layer);
    const added = await add(clone, 'one');
    expect(added.code, added.stderr).toBe(0);
    expect(added.deps?.source).toBe('miss');
    expect(added.remoteLines).toEqual([expect.stringMatching(/refused .*: it unpacks to more than \d+ bytes \(at node_modules\/zeros, 268435456 bytes\), past what its meta declares; installing instead$/)]);
    await expect(lstat(join(added.path, 'node_modules/zeros'))).rejects.toThrow(/ENOENT/);
    // Nothing of it stayed in the cache (its temp directory included).
    expect((await listEntries(cacheDir)).filter((e) => e.meta.source === 'remote')).toEqual([]);
    expect(await readdir(join(cacheDir, 'tmp')).catch(() => [])).toEqual([]);
  }, 240_000);

  it('refuses meta whose package directories reach into .git, and every later add still works', async () => {
    const repository = `${run_}/gitdir`;
    const { key, meta, clone } = await victim(repository);
    const hostile = { ...meta, project: { ...meta.project, packageDirs: ['', '.git'] } };
    await pushCrafted(repository, key, hostile, await layerOf([{ name: 'node_modules/is-number/index.js', body: 'x' }, { name: '.git/node_modules/x.js', body: 'planted' }]));
    const added = await add(clone, 'one');
    expect(added.code, added.stderr).toBe(0);
    expect(added.deps?.source).toBe('miss');
    expect(added.remoteLines).toEqual([expect.stringMatching(/refused .*: package directories \["",".git"\] are not the worktree's workspaces; installing instead$/)]);
    const again = await add(clone, 'two');
    expect(again.code, again.stderr).toBe(0);
    expect(await treeOf(join(again.path, 'node_modules'))).toEqual(await treeOf(join(added.path, 'node_modules')));
  }, 240_000);

  it('pullEntry refuses the same artifacts through the API, and a genuine push under the same tag is pulled again', async () => {
    const repository = `${run_}/repush`;
    const { key, meta, cacheDir } = await victim(repository);
    await pushCrafted(repository, key, meta, await layerOf(CLIMBING));
    const remote = openRemote(`${REGISTRY}/${repository}`, { timeoutMs: 30_000, push: false });
    await expect(pullEntry(remote, cacheDir, key)).rejects.toThrow(/links outside the tree/);
    await expect(pullEntry(remote, cacheDir, key)).rejects.toThrow(/was refused on/);
    // Another artifact under the tag (another digest): judged afresh.
    await pushCrafted(repository, key, meta, await layerOf([{ name: 'node_modules/is-number/index.js', body: 'module.exports = 2;\n' }]));
    const pulled = await pullEntry(remote, cacheDir, key);
    expect(pulled?.entry.meta.source).toBe('remote');
  }, 240_000);
});
