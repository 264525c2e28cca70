import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The layering docs/architecture.md promises, checked over the real import graph of src/:
// entry → commands → pipelines → features → git | observe → core, and no cycles anywhere.

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Rank of each layer: a module may import its own layer or a lower one. */
const LAYERS: Array<{ name: string; rank: number; test: (file: string) => boolean }> = [
  { name: 'entry', rank: 6, test: (f) => !f.includes('/') },
  { name: 'commands', rank: 5, test: (f) => f.startsWith('commands/') },
  { name: 'pipelines', rank: 4, test: (f) => f.startsWith('pipelines/') },
  { name: 'features', rank: 3, test: (f) => f.startsWith('features/') },
  { name: 'git', rank: 2, test: (f) => f.startsWith('git/') },
  { name: 'observe', rank: 2, test: (f) => f.startsWith('observe/') },
  { name: 'core', rank: 1, test: (f) => f.startsWith('core/') },
];

function layerOf(file: string): (typeof LAYERS)[number] {
  const layer = LAYERS.find((l) => l.test(file));
  if (!layer) throw new Error(`${file} is in no layer: put it in one of ${LAYERS.map((l) => l.name).join(', ')}`);
  return layer;
}

/** A feature's own folder (`deps` for `features/deps/cache.ts`), or undefined for the shared interface. */
function featureOf(file: string): string | undefined {
  const parts = file.split('/');
  return parts[0] === 'features' && parts.length > 2 ? parts[1] : undefined;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every relative import of every module (static, dynamic and type-only), as paths under src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const path of sources(SRC)) {
    const file = relative(SRC, path);
    const text = readFileSync(path, 'utf8');
    const targets = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) =>
      relative(SRC, resolve(dirname(path), m[1]!)).replace(/\.js$/, '.ts'),
    );
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/**
 * What loading `file` loads before any of its code runs: the closure of its static value imports
 * (no `import type`, no dynamic `import()`), as paths under src/ plus the `node:` modules.
 */
function loadedAtStart(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(join(SRC, file), 'utf8');
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s*'([^']+)'|^import\s*'([^']+)'/gm)) {
    const spec = (m[1] ?? m[2])!;
    if (spec.startsWith('node:')) seen.add(spec);
    else if (spec.startsWith('.')) loadedAtStart(relative(SRC, resolve(dirname(join(SRC, file)), spec)).replace(/\.js$/, '.ts'), seen);
  }
  return seen;
}

function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

describe('architecture', () => {
  const graph = importGraph();

  it('sees the whole tree', () => {
    expect(graph.size).toBeGreaterThan(60);
    for (const [file, targets] of graph) for (const target of targets) expect(graph.has(target), `${file} imports ${target}, which does not exist`).toBe(true);
  });

  it('has every module in a layer, and imports only point down', () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = layerOf(file);
      for (const target of targets) {
        const to = layerOf(target);
        const sideways = from.rank === to.rank && from.name !== to.name;
        if (to.rank > from.rank || sideways) upward.push(`${file} (${from.name}) → ${target} (${to.name})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('keeps each feature to its own folder (plus the shared Feature interface)', () => {
    const crossing: string[] = [];
    for (const [file, targets] of graph) {
      const own = featureOf(file);
      if (!own) continue;
      for (const target of targets) {
        const other = featureOf(target);
        if (other && other !== own) crossing.push(`${file} → ${target}`);
      }
    }
    expect(crossing).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(findCycles(graph).map((c) => c.join(' → '))).toEqual([]);
  });

  it('keeps what rm and list do not use out of their start-up (docs/performance.md)', () => {
    const rm = loadedAtStart('commands/rm.ts');
    const list = loadedAtStart('commands/list.ts');
    // The set-up code of dependencies, the registry client and the Compose modules load when a run needs them.
    for (const lazy of ['features/deps/plan.ts', 'features/deps/remote/remote-cache.ts', 'features/services/stack.ts', 'features/services/runtime.ts']) {
      expect(rm.has(lazy), `commands/rm.ts loads ${lazy} at start`).toBe(false);
    }
    expect(rm.has('pipelines/remove.ts')).toBe(true);
    expect(list.has('pipelines/list.ts')).toBe(true);
    // node:crypto alone costs list 6 ms of a 150 ms budget.
    expect([...list].filter((m) => m === 'node:crypto' || m === 'node:http')).toEqual([]);
  });

  it('catches what it is meant to catch', () => {
    const bad = new Map([
      ['core/a.ts', ['features/deps/b.ts']],
      ['features/deps/b.ts', ['core/a.ts']],
    ]);
    expect(findCycles(bad)).toHaveLength(1);
    expect(layerOf('core/a.ts').rank).toBeLessThan(layerOf('features/deps/b.ts').rank);
  });
});
