import * as fs from 'node:fs';
import { dirname, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { linkLeavingTree, RefusedInput } from '../../../core/confine.js';
import { FS_CONCURRENCY } from '../manifest.js';

/** Bytes of file contents held in memory while their writes are in flight, at most. */
const MAX_BUFFERED = 64 * 2 ** 20;
/** A file larger than this streams to disk on its own rather than being read whole first. */
const STREAM_ABOVE = 2 ** 20;

/** How much an archive may unpack to: past either bound it is refused before the excess is read. */
export interface UnpackBounds {
  /** Bytes of file contents, in all. */
  bytes: number;
  /** Entries of the archive (files, directories, links, skipped ones), in all. */
  entries: number;
}

/**
 * Unpacks a tar stream (regular files, directories, symlinks) into `dir`, which must exist. Unlike
 * tar-fs, which does one file at a time (open, write, close, chmod, utimes, each a thread-pool
 * round trip), file contents are read from the stream in order and written concurrently, up to
 * {@link FS_CONCURRENCY} at once: a dependency tree is ten thousand small files, and this is what
 * makes a pull several times faster. An archive from a registry is not trusted: a path that is
 * absolute, has a `..` component, or goes through (or replaces) a symlink of the archive is refused,
 * and so is an absolute symlink, and, once all are placed, any symlink that leads out of `dir`
 * through the others ({@link linkLeavingTree}: links are judged by where they lead, not by their
 * letters); hardlinks and devices are skipped; modes lose setuid/setgid; owners and times are not
 * applied (files belong to this user, as an install's do). With `bounds`, an archive whose
 * headers declare more bytes or entries is refused at the first header past the bound, so a few
 * compressed megabytes of zeros never become gigabytes on disk; a large file streams to disk
 * rather than into memory. Refusals are {@link RefusedInput}; what was written stays in `dir` for
 * the caller to remove.
 */
export async function unpackTar(source: Readable, dir: string, bounds?: UnpackBounds): Promise<void> {
  const { extract } = await import('tar-stream');
  const parser = extract();
  const links = new Map<string, string>();
  let bytes = 0;
  let entries = 0;
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
  try {
    for await (const entry of parser) {
      const { header } = entry;
      // The root itself (`./`, as `tar -C dir .` and tar-fs write it): there already.
      if (header.type === 'directory' && ROOT.test(header.name)) {
        entry.resume();
        continue;
      }
      const path = confined(header.name, links);
      const target = `${dir}/${path}`;
      const size = header.size ?? 0;
      if (bounds && (++entries > bounds.entries || (bytes += size) > bounds.bytes)) {
        const over = entries > bounds.entries ? `more than ${bounds.entries} entries` : `more than ${bounds.bytes} bytes (at ${path}, ${size} bytes)`;
        failure ??= new RefusedInput(`it unpacks to ${over}, past what its meta declares`);
        break;
      }
      if (header.type === 'directory') {
        fs.mkdirSync(target, { recursive: true, mode: 0o755 });
      } else if (header.type === 'symlink') {
        const to = header.linkname ?? '';
        if (!to || posix.isAbsolute(to)) throw new RefusedInput(`${path} links outside the tree (${to})`);
        fs.mkdirSync(dirname(target), { recursive: true });
        fs.symlinkSync(to, target);
        links.set(path, to);
      } else if ((header.type === 'file' || header.type === 'contiguous-file') && size > STREAM_ABOVE) {
        fs.mkdirSync(dirname(target), { recursive: true });
        await pipeline(entry, fs.createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o1777, flags: 'wx' }));
        continue;
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
  } catch (error) {
    // Writes still in flight finish first: the caller removes `dir` once this returns.
    failure ??= error as Error;
  }
  while (inFlight > 0) await room();
  if (failure) {
    parser.destroy();
    throw failure;
  }
  const leaving = linkLeavingTree(links);
  if (leaving) throw new RefusedInput(`${leaving[0]} links outside the tree (${String(leaving[1])})`);
}

/** `.`, `./`, `.//`: the directory unpacked into. */
const ROOT = /^\.\/*$/;

/** The entry's path, normalised, refused when it could land outside the tree or through a symlink. */
function confined(name: string, links: ReadonlyMap<string, string>): string {
  const path = posix.normalize(name).replace(/\/+$/, '');
  if (!path || path === '.' || posix.isAbsolute(path) || path.split('/').includes('..')) throw new RefusedInput(`'${name}' is not a path inside the tree`);
  for (let at = path; at !== '.'; at = posix.dirname(at)) if (links.has(at)) throw new RefusedInput(`'${name}' goes through the symlink ${at}`);
  return path;
}
