import { createHash } from 'node:crypto';
import type { Project } from './package-manager.js';

/** Bumped when the layout of a cache entry changes, so old entries are never misread. */
export const CACHE_FORMAT = 1;

/** What, besides the project, makes node_modules differ: native builds depend on all of it. */
export interface KeyPlatform {
  format: number;
  node: string;
  platform: string;
  arch: string;
}

/** The platform this process would install for. */
export function currentPlatform(): KeyPlatform {
  return { format: CACHE_FORMAT, node: process.versions.node.split('.')[0]!, platform: process.platform, arch: process.arch };
}

/**
 * The cache key of a project's node_modules: a hash of every lockfile's bytes (by blob id), the
 * dependency fields of every workspace package.json (an edit not yet in the lockfile still
 * changes the key), the settings of its committed package-manager config that shape the install
 * (`omit=dev`, `nodeLinker`), the package manager, Node.js major version, platform, architecture
 * and cache format. Never package.json alone: callers do not cache a project without a lockfile.
 */
export function cacheKey(project: Project, platform: KeyPlatform = currentPlatform()): string {
  // Settings only when the config sets some: a project without any keeps the key it always had
  // (and an entry's meta written before settings were recorded has none).
  const settings = project.settings?.length ? { settings: project.settings } : {};
  const material = { ...platform, manager: project.manager, lockfiles: project.lockfiles, manifests: project.manifests, ...settings };
  return createHash('sha256').update(stableJson(material)).digest('hex').slice(0, 40);
}

/** The cache key of `project`, or `undefined` when there is no project or it has no lockfile (nothing vtree caches). */
export function lockfileKey(project: Project | undefined): string | undefined {
  return project && Object.keys(project.lockfiles).length > 0 ? cacheKey(project) : undefined;
}

/** JSON with object keys sorted at every level, so equal content always hashes (and compares) equally. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
