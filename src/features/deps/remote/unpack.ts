import * as fs from 'node:fs';
import { dirname, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { FS_CONCURRENCY } from '../manifest.js';

/** Bytes of file contents held in memory while their writes are in flight, at most. */
const MAX_BUFFERED = 64 * 2 ** 20;

/**
 * Unpacks a tar stream (regular files, directories, symlinks) into `dir`, which must exist. Unlike
 * tar-fs, which does one file at a time (open, write, close, chmod, utimes, each a thread-pool
 * round trip), file contents are read from the stream in order and written concurrently, up to
 * {@link FS_CONCURRENCY} at once: a dependency tree is ten thousand small files, and this is what
 * makes a pull several times faster. An archive from a registry is not trusted: a path that is
 * absolute, has a `..` component, or goes through (or replaces) a symlink of the archive is refused,
 * and so is a symlink whose target leaves `dir`; hardlinks and devices are skipped; modes lose
 * setuid/setgid; owners and times are not applied (files belong to this user, as an install's do).
 */
export async function unpackTar(source: Readable, dir: string): Promise<void> {
  const { extract } = await import('tar-stream');
  const parser = extract();
  const links = new Set<string>();
  let inFlight = 0;
  let buffered = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const settle = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const room = () => new Promise<void>((resolve) => (wake = resolve));
  source.on('error', (error) => parser.destroy(error));
  source.pipe(parser);
  for await (const entry of parser) {
    const { header } = entry;
    const path = confined(header.name, links);
    const target = `${dir}/${path}`;
    if (header.type === 'directory') {
      fs.mkdirSync(target, { recursive: true, mode: 0o755 });
    } else if (header.type === 'symlink') {
      const to = header.linkname ?? '';
      if (posix.isAbsolute(to) || posix.normalize(posix.join(posix.dirname(path), to)).startsWith('..')) throw new Error(`refused ${path}: links outside the tree (${to})`);
      fs.mkdirSync(dirname(target), { recursive: true });
      fs.symlinkSync(to, target);
      links.add(path);
    } else if (header.type === 'file' || header.type === 'contiguous-file') {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const data = Buffer.concat(chunks);
      fs.mkdirSync(dirname(target), { recursive: true });
      while (!failure && (inFlight >= FS_CONCURRENCY || buffered > MAX_BUFFERED)) await room();
      if (failure) break;
      inFlight++;
      buffered += data.length;
      fs.writeFile(target, data, { mode: (header.mode ?? 0o644) & 0o1777, flag: 'wx' }, (error) => {
        inFlight--;
        buffered -= data.length;
        if (error && !failure) failure = error;
        settle();
      });
      continue;
    }
    entry.resume();
    if (failure) break;
  }
  while (inFlight > 0) await room();
  if (failure) throw failure;
}

/** The entry's path, normalised, refused when it could land outside the tree or through a symlink. */
function confined(name: string, links: ReadonlySet<string>): string {
  const path = posix.normalize(name).replace(/\/+$/, '');
  if (!path || path === '.' || posix.isAbsolute(path) || path.split('/').includes('..')) throw new Error(`refused '${name}': not a path inside the tree`);
  for (let at = path; at !== '.'; at = posix.dirname(at)) if (links.has(at)) throw new Error(`refused '${name}': goes through the symlink ${at}`);
  return path;
}
