import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from '../../../core/files.js';
import { withLock } from '../../../core/lock.js';

// Registry artifacts this cache refused (a link out of the tree, a layer past its declared size,
// meta that does not fit), in `refused.json` of the cache directory, by manifest digest. The
// content under a digest cannot change, so a refused one is never pulled again; a new push under
// the same tag is another digest, judged afresh.

/** Why and when an artifact of the registry was refused. */
export interface Refusal {
  key: string;
  reason: string;
  at: string;
}

function refusedFile(cacheDir: string): string {
  return join(cacheDir, 'refused.json');
}

/** The refusal of the artifact with manifest digest `digest`, if this cache refused it before. */
export async function refusalOf(cacheDir: string, digest: string): Promise<Refusal | undefined> {
  const known = await readJsonFile<Record<string, Refusal>>(refusedFile(cacheDir)).catch(() => undefined);
  const refusal = known && Object.hasOwn(known, digest) ? known[digest] : undefined;
  return typeof refusal?.reason === 'string' && typeof refusal.at === 'string' ? refusal : undefined;
}

/** Remembers that the artifact `digest` (tagged `key`) was refused for `reason`. */
export async function rememberRefusal(cacheDir: string, digest: string, key: string, reason: string): Promise<void> {
  await withLock(join(cacheDir, 'locks', 'refused.lock'), async () => {
    const known = (await readJsonFile<Record<string, Refusal>>(refusedFile(cacheDir)).catch(() => undefined)) ?? {};
    known[digest] = { key, reason, at: new Date().toISOString() };
    await writeFileAtomic(refusedFile(cacheDir), JSON.stringify(known, null, 2));
  });
}
