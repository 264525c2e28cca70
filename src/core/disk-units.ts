import type { Stats } from 'node:fs';
import { lstat, readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';

// The true disk use of several directory trees that share data: every byte on disk is a "unit"
// (an inode's blocks; on a filesystem that clones, a range of physical blocks, as FIEMAP tells it
// through `filefrag -v`), and each unit is counted once, with the set of trees that use it.

/** Bytes on disk used by exactly the trees in `owners`. */
export interface DiskUnit {
  bytes: number;
  owners: ReadonlySet<number>;
}

/** Filesystems whose files may share extents (reflink clones): XFS, btrfs. */
const CLONING_FS = new Set([0x58465342, 0x9123683e]);

/** Files per `filefrag` call. */
const FILEFRAG_BATCH = 400;

/**
 * Walks every tree (`roots[i]`, skipping the names in `skip`) and returns its disk use as units:
 * hard links are one inode, counted once; on XFS and btrfs a file's extents are resolved to
 * physical blocks, so a cloned extent is counted once however many files share it.
 */
export async function diskUnits(roots: ReadonlyArray<{ path: string; skip?: readonly string[] }>): Promise<DiskUnit[]> {
  const inodes = new Map<string, { bytes: number; owners: Set<number> }>();
  const extents: Array<{ dev: number; start: number; end: number; owner: number }> = [];
  for (const [owner, root] of roots.entries()) {
    const cloning = CLONING_FS.has(Number((await statfs(root.path).catch(() => undefined))?.type));
    const files: Array<{ path: string; info: Stats }> = [];
    const byInode = (info: Stats) => {
      const key = `${info.dev}:${info.ino}`;
      const unit = inodes.get(key) ?? { bytes: info.blocks * 512, owners: new Set<number>() };
      unit.owners.add(owner);
      inodes.set(key, unit);
    };
    await walk(root.path, new Set(root.skip ?? []), (path, info) => {
      if (cloning && info.isFile() && info.blocks > 0) files.push({ path, info });
      else byInode(info);
    });
    for (let i = 0; i < files.length; i += FILEFRAG_BATCH) {
      const batch = files.slice(i, i + FILEFRAG_BATCH);
      const found = await physicalExtents(batch.map((f) => f.path));
      for (const file of batch) {
        const mine = found.get(file.path);
        // Not yet on disk (delayed allocation) or unreadable: its blocks are its own, by inode.
        if (!mine || mine.unplaced) byInode(file.info);
        else for (const e of mine.extents) extents.push({ dev: file.info.dev, start: e.start, end: e.end, owner });
      }
    }
  }
  return [...inodes.values(), ...segments(extents)];
}

async function walk(dir: string, skip: ReadonlySet<string>, visit: (path: string, info: Stats) => void, top = true): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  await Promise.all(
    entries.map(async (entry) => {
      if (top && skip.has(entry.name)) return;
      const path = join(dir, entry.name);
      const info = await lstat(path).catch(() => undefined);
      if (!info) return;
      visit(path, info);
      if (info.isDirectory()) await walk(path, skip, visit, false);
    }),
  );
  if (top) {
    const self = await lstat(dir).catch(() => undefined);
    if (self) visit(dir, self);
  }
}

/** Physical byte ranges of each file's extents, from `filefrag -v` (FIEMAP); `unplaced` when one has no location yet. */
async function physicalExtents(paths: readonly string[]): Promise<Map<string, { extents: Array<{ start: number; end: number }>; unplaced: boolean }>> {
  // Without filefrag (e2fsprogs) every file is counted by inode, as on a filesystem that does not clone.
  const { stdout } = await run('filefrag', ['-v', ...paths], { okCodes: [0, 1] }).catch(() => ({ stdout: '' }));
  const out = new Map<string, { extents: Array<{ start: number; end: number }>; unplaced: boolean }>();
  let current: { extents: Array<{ start: number; end: number }>; unplaced: boolean } | undefined;
  let blockSize = 4096;
  for (const line of stdout.split('\n')) {
    const head = /^File size of (.*) is \d+ \(\d+ blocks? of (\d+) bytes\)/.exec(line);
    if (head) {
      current = { extents: [], unplaced: false };
      out.set(head[1]!, current);
      blockSize = Number(head[2]);
      continue;
    }
    const extent = /^\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+)\.\.\s*(\d+):\s+(\d+):/.exec(line);
    if (!extent || !current) continue;
    if (/unknown_loc|delalloc|inline/.test(line)) current.unplaced = true;
    else current.extents.push({ start: Number(extent[1]) * blockSize, end: (Number(extent[2]) + 1) * blockSize });
  }
  return out;
}

/** Splits overlapping physical ranges into pieces, each with the set of trees that use it. */
function segments(extents: ReadonlyArray<{ dev: number; start: number; end: number; owner: number }>): DiskUnit[] {
  const units: DiskUnit[] = [];
  const byDev = new Map<number, Array<(typeof extents)[number]>>();
  for (const e of extents) {
    const list = byDev.get(e.dev) ?? [];
    list.push(e);
    byDev.set(e.dev, list);
  }
  for (const list of byDev.values()) {
    const events = list.flatMap((e) => [{ at: e.start, owner: e.owner, delta: 1 }, { at: e.end, owner: e.owner, delta: -1 }]).sort((a, b) => a.at - b.at);
    const active = new Map<number, number>();
    let last = 0;
    for (const event of events) {
      if (event.at > last && active.size > 0) units.push({ bytes: event.at - last, owners: new Set(active.keys()) });
      last = event.at;
      const count = (active.get(event.owner) ?? 0) + event.delta;
      if (count === 0) active.delete(event.owner);
      else active.set(event.owner, count);
    }
  }
  return units;
}
