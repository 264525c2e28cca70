import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import { resolvesInside } from '../../core/confine.js';
import { errorMessage } from '../../core/errors.js';
import { readJsonFile, writeFileAtomic } from '../../core/files.js';
import { readCommittedTexts } from '../../git/objects.js';
import { OVERRIDE_FILE_NAME, overridePath } from '../../core/paths.js';

/** File names Compose looks for in the project directory, in its order of preference. */
export const COMPOSE_FILE_NAMES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'] as const;

/** Override files Compose adds to the first of {@link COMPOSE_FILE_NAMES} it finds, in its order of preference. */
export const COMPOSE_OVERRIDE_NAMES = ['compose.override.yml', 'compose.override.yaml', 'docker-compose.override.yml', 'docker-compose.override.yaml'] as const;

/** Name of the per-worktree override vtree generates, kept in the worktree's git dir so it never dirties the checkout. */

/** A host port variable the worktree needs a value for. */
export interface PortVar {
  /** `API_PORT` from `"${API_PORT:-3000}:3000"`, or an invented `VTREE_PORT_API_3000` for a literal `"3000:3000"`. */
  name: string;
  service: string;
  containerPort: number;
  /** The port the compose file uses when the variable is unset. */
  default?: number;
}

/** One entry of a service's `ports:` list, classified by how its host port is given. */
export interface PortEntry {
  /** The entry as written (string, number or long-syntax mapping). */
  raw: unknown;
  kind: 'literal' | 'variable' | 'ephemeral' | 'unmapped';
  hostIp?: string;
  hostPort?: number;
  containerPort?: number;
  protocol?: string;
  /** The variable (`kind: 'variable'`, or the invented one for `kind: 'literal'`). */
  variable?: string;
  default?: number;
}

/** What vtree needs to know of one Compose service. */
export interface ComposeService {
  name: string;
  image?: string;
  /** Built from a Dockerfile rather than pulled. */
  build: boolean;
  dependsOn: string[];
  profiles: string[];
  containerName?: string;
  /** The service sets `networks:` or `network_mode:` itself. */
  ownNetworks: boolean;
  ports: PortEntry[];
}

/** A top-level volume or network with a fixed `name:` that would be shared by every worktree's stack. */
export interface FixedName {
  kind: 'volumes' | 'networks';
  key: string;
  name: string;
}

/**
 * Something a service (or the top level of a file) asks of the host, as the file says it: a
 * flag (`privileged`, host network, an added capability, ...) or a host path it reaches (a bind
 * mount, an env file, a build context). Paths are judged on disk later (`./consent.ts`): one
 * inside the worktree is no host access.
 */
export interface HostAccess {
  /** The service, or `(top level)`. */
  service: string;
  /** What it asks, as shown for approval (`privileged`, `bind mount /:/host`). */
  what: string;
  /** The host path it reaches, as written (relative to the project directory). */
  path?: string;
}

/** The project's compose files, merged as far as vtree cares. */
export interface ComposeModel {
  /** Files, relative to the worktree root (or absolute when configured so), in Compose's order. */
  files: string[];
  /** How the list was chosen. */
  origin: 'config' | 'COMPOSE_FILE' | 'default' | 'none';
  services: ComposeService[];
  portVars: PortVar[];
  fixedNames: FixedName[];
  /** Everything the files ask of the host, before paths are judged. */
  hostAccess: HostAccess[];
  /** One line when a file could not be parsed; then `services` is empty. */
  error?: string;
}

/** Where compose files are read from: a commit in the object store, or a directory. */
export interface ComposeSource {
  /** Contents of those of `paths` that exist, by path. */
  read(paths: readonly string[]): Promise<Map<string, string>>;
}

/**
 * Reads files as committed in `commit`, with one `git cat-file --batch`, so discovery need not
 * wait for `git worktree add` to write them.
 */
export function objectStoreSource(repoDir: string, commit: string): ComposeSource {
  return {
    async read(paths) {
      const relativePaths = paths.filter((p) => !isAbsolute(p) && !p.startsWith('..'));
      const texts = await readCommittedTexts(repoDir, commit, relativePaths.map((p) => p.split(sep).join('/')));
      return new Map(relativePaths.flatMap((p) => {
        const text = texts.get(p.split(sep).join('/'));
        return text === undefined ? [] : [[p, text] as const];
      }));
    },
  };
}

/**
 * Reads files from a directory (a checked-out worktree). Absolute paths (the user's git config or
 * environment) are read as they are; a relative one only while it resolves inside `dir` on disk,
 * so a committed symlink cannot make vtree read a file elsewhere as the project's.
 */
export function directorySource(dir: string): ComposeSource {
  return {
    async read(paths) {
      const readInside = async (p: string) => ((await resolvesInside(dir, join(dir, p))) ? readFile(join(dir, p), 'utf8') : undefined);
      const found = await Promise.all(paths.map(async (p) => [p, await (isAbsolute(p) ? readFile(p, 'utf8') : readInside(p)).catch(() => undefined)] as const));
      return new Map(found.filter((entry): entry is readonly [string, string] => entry[1] !== undefined));
    },
  };
}


/** How the list of compose files is configured, strongest first. */
export interface ComposeFileSettings {
  /** `vtree.compose.files`. */
  configured: readonly string[];
  /** `COMPOSE_FILE` from the environment or the main worktree's `.env`. */
  composeFileVariable?: string;
  /** `COMPOSE_PATH_SEPARATOR`, default `:` (`;` on Windows). */
  pathSeparator?: string;
}

/**
 * Finds and parses the project's compose files the way Compose chooses them: `vtree.compose.files`,
 * else `COMPOSE_FILE`, else the first of {@link COMPOSE_FILE_NAMES} plus the first of
 * {@link COMPOSE_OVERRIDE_NAMES}. Never throws for a broken file: the model carries the error.
 */
export async function discoverCompose(source: ComposeSource, settings: ComposeFileSettings, cacheDir?: string): Promise<ComposeModel> {
  const explicit = settings.configured.length > 0 ? { origin: 'config' as const, files: [...settings.configured] } : fromVariable(settings);
  let files: string[];
  let texts: Map<string, string>;
  let origin: ComposeModel['origin'];
  if (explicit) {
    origin = explicit.origin;
    texts = await source.read(explicit.files);
    files = explicit.files;
    const missing = files.filter((f) => !texts.has(f));
    if (missing.length > 0) return { ...emptyModel(files, origin), error: `${missing.join(', ')}: no such compose file (set by ${origin === 'config' ? 'vtree.compose.files' : 'COMPOSE_FILE'})` };
  } else {
    texts = await source.read([...COMPOSE_FILE_NAMES, ...COMPOSE_OVERRIDE_NAMES]);
    const main = COMPOSE_FILE_NAMES.find((name) => texts.has(name));
    const override = COMPOSE_OVERRIDE_NAMES.find((name) => texts.has(name));
    files = main ? [main, ...(override ? [override] : [])] : [];
    origin = main ? 'default' : 'none';
  }
  if (files.length === 0) return emptyModel([], 'none');
  // Parsing (and loading the YAML library) is most of discovery's time, and most worktrees of a
  // repository share their compose files: models are cached by the files' content.
  const cached = cacheDir ? join(cacheDir, `${modelKey(files, texts)}.json`) : undefined;
  const hit = cached ? await readJsonFile<ComposeModel>(cached).catch(() => undefined) : undefined;
  if (hit) return { ...hit, origin };
  const model = await parseModel(files, origin, texts);
  if (cached) await writeFileAtomic(cached, JSON.stringify(model), { durable: false }).catch(() => undefined);
  return model;
}

/** Version of the cached model's shape: a change of {@link ComposeModel} must change it. */
const MODEL_VERSION = 2;

function modelKey(files: readonly string[], texts: ReadonlyMap<string, string>): string {
  const hash = createHash('sha256').update(`v${MODEL_VERSION}\0`);
  for (const file of files) hash.update(`${file}\0${texts.get(file)}\0`);
  return hash.digest('hex').slice(0, 32);
}

async function parseModel(files: string[], origin: ComposeModel['origin'], texts: ReadonlyMap<string, string>): Promise<ComposeModel> {
  const { parse } = await import('yaml');
  const documents: Array<{ file: string; doc: unknown }> = [];
  for (const file of files) {
    try {
      documents.push({ file, doc: parse(texts.get(file)!, { merge: true, logLevel: 'error', uniqueKeys: false }) });
    } catch (error) {
      return { ...emptyModel(files, origin), error: `${file} is not valid YAML: ${firstLine(errorMessage(error))}` };
    }
  }
  const bad = documents.find(({ doc }) => doc !== null && doc !== undefined && !isRecord(doc));
  if (bad) return { ...emptyModel(files, origin), error: `${bad.file} is not a Compose file (its top level is not a mapping)` };
  return { files, origin, ...modelOf(documents.map((d) => (d.doc ?? {}) as Record<string, unknown>)) };
}

function fromVariable(settings: ComposeFileSettings): { origin: 'COMPOSE_FILE'; files: string[] } | undefined {
  const value = settings.composeFileVariable?.trim();
  if (!value) return undefined;
  const separator = settings.pathSeparator || (process.platform === 'win32' ? ';' : ':');
  // Our own generated override (in a git dir) is an output of discovery, never an input.
  const files = value.split(separator).filter((f) => f && !f.endsWith(OVERRIDE_FILE_NAME));
  return files.length > 0 ? { origin: 'COMPOSE_FILE', files } : undefined;
}

function emptyModel(files: string[], origin: ComposeModel['origin']): ComposeModel {
  return { files, origin, services: [], portVars: [], fixedNames: [], hostAccess: [] };
}

/** Merges the files' services as Compose would for the keys vtree reads, and names their port variables. */
function modelOf(docs: readonly Record<string, unknown>[]): Pick<ComposeModel, 'services' | 'portVars' | 'fixedNames' | 'hostAccess'> {
  const services = new Map<string, ComposeService>();
  const fixed = new Map<string, FixedName>();
  const access = new Map<string, HostAccess>();
  for (const doc of docs) {
    for (const item of hostAccessOf(doc)) access.set(`${item.service}\0${item.what}`, item);
    for (const [name, body] of Object.entries(asRecord(doc.services))) {
      const spec = asRecord(body);
      const service = services.get(name) ?? { name, build: false, dependsOn: [], profiles: [], ownNetworks: false, ports: [] };
      if (typeof spec.image === 'string') service.image = spec.image;
      if (spec.build !== undefined) service.build = true;
      if (typeof spec.container_name === 'string') service.containerName = spec.container_name;
      if (Array.isArray(spec.profiles)) service.profiles = spec.profiles.map(String);
      if (spec.networks !== undefined || spec.network_mode !== undefined) service.ownNetworks = true;
      const deps = Array.isArray(spec.depends_on) ? spec.depends_on.map(String) : Object.keys(asRecord(spec.depends_on));
      service.dependsOn = [...new Set([...service.dependsOn, ...deps])];
      for (const raw of Array.isArray(spec.ports) ? spec.ports : []) {
        if (!service.ports.some((p) => JSON.stringify(p.raw) === JSON.stringify(raw))) service.ports.push(classifyPort(raw));
      }
      services.set(name, service);
    }
    for (const kind of ['volumes', 'networks'] as const) {
      for (const [key, body] of Object.entries(asRecord(doc[kind]))) {
        const spec = asRecord(body);
        const id = `${kind}/${key}`;
        if (spec.external === true || isRecord(spec.external)) fixed.delete(id);
        else if (typeof spec.name === 'string') fixed.set(id, { kind, key, name: spec.name });
      }
    }
  }
  const list = [...services.values()];
  return { services: list, portVars: namePortVars(list), fixedNames: [...fixed.values()], hostAccess: [...access.values()] };
}

/** Service keys whose value `host` shares a namespace of the host. */
const HOST_NAMESPACES: Readonly<Record<string, string>> = { network_mode: 'host network', pid: 'host pid namespace', ipc: 'host ipc namespace', uts: 'host uts namespace', userns_mode: 'host user namespace', cgroup: 'host cgroup namespace' };

/**
 * What one compose document asks of the host (see {@link HostAccess}): per service `privileged`,
 * host namespaces, devices, added capabilities, security options, and every host path (bind
 * mounts, env files, build contexts, `extends` files); at the top level, `include`d files (whose
 * content vtree does not read), volumes bound to a host device or directory, and file-based
 * configs and secrets.
 */
function hostAccessOf(doc: Record<string, unknown>): HostAccess[] {
  const items: HostAccess[] = [];
  const top = '(top level)';
  for (const [service, body] of Object.entries(asRecord(doc.services))) {
    const spec = asRecord(body);
    const add = (what: string, path?: string) => items.push({ service, what, ...(path !== undefined ? { path } : {}) });
    // Compose interpolates variables (from the environment and `.env`) before it reads a value:
    // a value with `$` in it cannot be judged, so it counts.
    if (spec.privileged !== undefined && spec.privileged !== false && spec.privileged !== 'false') add(`privileged${variable(spec.privileged)}`);
    for (const [key, label] of Object.entries(HOST_NAMESPACES)) {
      const value = spec[key];
      if (value === 'host') add(label);
      else if (typeof value === 'string' && (value.includes('$') || value.startsWith('container:'))) add(`${key} ${value}`);
    }
    for (const device of list(spec.devices)) add(`device ${typeof device === 'string' ? device : JSON.stringify(device)}`);
    for (const rule of list(spec.device_cgroup_rules)) add(`device rule ${String(rule)}`);
    if (spec.gpus !== undefined) add('gpus');
    for (const cap of list(spec.cap_add)) add(`capability ${String(cap)}`);
    for (const option of list(spec.security_opt)) add(`security option ${String(option)}`);
    for (const from of list(spec.volumes_from)) if (typeof from !== 'string' || from.startsWith('container:') || from.includes('$')) add(`volumes from ${String(from)}`);
    for (const volume of list(spec.volumes)) {
      const text = typeof volume === 'string' ? volume : JSON.stringify(volume);
      if (text.includes('$')) add(`bind mount ${text}`);
      else {
        const source = bindSource(volume);
        if (source !== undefined) add(`bind mount ${typeof volume === 'string' ? volume : `${source}:${String(asRecord(volume).target)}`}`, source);
      }
    }
    for (const file of list(spec.env_file)) {
      const path = typeof file === 'string' ? file : asRecord(file).path;
      if (typeof path === 'string') add(`env file ${path}`, path);
    }
    const build = typeof spec.build === 'string' ? { context: spec.build } : asRecord(spec.build);
    const contexts = [build.context, ...Object.values(asRecord(build.additional_contexts)), ...(Array.isArray(build.additional_contexts) ? build.additional_contexts.map((c) => String(c).replace(/^[^=]*=/, '')) : [])];
    for (const context of contexts) {
      if (typeof context === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(context) && !context.startsWith('git@')) add(`build context ${context}`, context);
    }
    if (build.ssh !== undefined) add('build with the host ssh agent or keys');
    if (build.network === 'host') add('build on the host network');
    if (build.privileged === true || build.entitlements !== undefined) add('privileged build');
    const extendsFile = asRecord(spec.extends).file;
    if (typeof extendsFile === 'string') add(`extends ${extendsFile}`, extendsFile);
  }
  // Files vtree does not parse: what they ask cannot be judged, so they count as host access.
  for (const entry of list(doc.include)) items.push({ service: top, what: `include ${typeof entry === 'string' ? entry : JSON.stringify(entry)}` });
  for (const [key, body] of Object.entries(asRecord(doc.volumes))) {
    const device = asRecord(asRecord(body).driver_opts).device;
    if (typeof device === 'string') items.push({ service: top, what: `volume ${key} on ${device}`, path: device });
  }
  for (const kind of ['configs', 'secrets'] as const) {
    for (const [key, body] of Object.entries(asRecord(doc[kind]))) {
      const file = asRecord(body).file;
      if (typeof file === 'string') items.push({ service: top, what: `${kind.slice(0, -1)} ${key} from ${file}`, path: file });
    }
  }
  return items;
}

/** ` (<value>)` when Compose would take the value from a variable, to show which. */
function variable(value: unknown): string {
  return typeof value === 'string' && value.includes('$') ? ` (${value})` : '';
}

/** The host path a `volumes:` entry binds, or undefined for a named volume, tmpfs or anything else. */
function bindSource(volume: unknown): string | undefined {
  if (isRecord(volume)) return volume.type === 'bind' && typeof volume.source === 'string' ? volume.source : undefined;
  if (typeof volume !== 'string') return undefined;
  // `source:target[:mode]`; a source that is a path (not a volume name) is a bind mount.
  const colon = volume.indexOf(':');
  if (colon <= 0) return undefined;
  const source = volume.slice(0, colon);
  return /^[./~$]/.test(source) ? source : undefined;
}

function list(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  return value === undefined || value === null ? [] : [value];
}

/** Gives every literal host port a stable invented variable and collects every port variable once. */
function namePortVars(services: readonly ComposeService[]): PortVar[] {
  const vars = new Map<string, PortVar>();
  for (const service of services) {
    for (const port of service.ports) {
      if (port.kind === 'literal') {
        const base = `VTREE_PORT_${envName(service.name)}_${port.containerPort}${port.protocol && port.protocol !== 'tcp' ? `_${envName(port.protocol)}` : ''}`;
        let name = base;
        for (let n = 2; vars.has(name); n++) name = `${base}_${n}`;
        port.variable = name;
      }
      if ((port.kind === 'literal' || port.kind === 'variable') && port.variable && !vars.has(port.variable)) {
        const portVar: PortVar = { name: port.variable, service: service.name, containerPort: port.containerPort! };
        const fallback = port.kind === 'literal' ? port.hostPort : port.default;
        if (fallback !== undefined) portVar.default = fallback;
        vars.set(port.variable, portVar);
      }
    }
  }
  return [...vars.values()];
}

function envName(text: string): string {
  return text.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '') || 'X';
}

const VARIABLE = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))$/;

/** Classifies one `ports:` entry: short syntax (`[ip:][host:]container[/proto]`) or long syntax. */
export function classifyPort(raw: unknown): PortEntry {
  if (typeof raw === 'number') return { raw, kind: 'ephemeral', containerPort: raw };
  if (isRecord(raw)) {
    const containerPort = Number(raw.target);
    const base: PortEntry = { raw, kind: 'unmapped', containerPort, ...(typeof raw.host_ip === 'string' ? { hostIp: raw.host_ip } : {}), ...(typeof raw.protocol === 'string' ? { protocol: raw.protocol } : {}) };
    if (!Number.isInteger(containerPort)) return base;
    return { ...base, ...classifyHost(raw.published === undefined ? '' : String(raw.published)) };
  }
  if (typeof raw !== 'string') return { raw, kind: 'unmapped' };
  const [spec, protocol] = splitOutside(raw, '/');
  const parts = splitAll(spec ?? '', ':');
  const containerPort = Number(parts.at(-1));
  const entry: PortEntry = { raw, kind: 'unmapped', ...(protocol ? { protocol } : {}) };
  if (!Number.isInteger(containerPort) || parts.length > 3) return entry;
  entry.containerPort = containerPort;
  if (parts.length === 1) return { ...entry, kind: 'ephemeral' };
  if (parts.length === 3) entry.hostIp = parts[0]!;
  return { ...entry, ...classifyHost(parts.at(-2)!) };
}

function classifyHost(host: string): Pick<PortEntry, 'kind' | 'hostPort' | 'variable' | 'default'> {
  if (host === '') return { kind: 'ephemeral' };
  if (/^\d+$/.test(host)) return { kind: 'literal', hostPort: Number(host) };
  const match = VARIABLE.exec(host);
  if (!match) return { kind: 'unmapped' };
  const name = match[1] ?? match[4]!;
  const fallback = match[2]?.includes('-') && /^\d+$/.test(match[3] ?? '') ? Number(match[3]) : undefined;
  return { kind: 'variable', variable: name, ...(fallback !== undefined ? { default: fallback } : {}) };
}

/** Splits at every `separator` outside `${...}` and `[...]` (IPv6 addresses). */
function splitAll(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '{' || char === '[') depth++;
    else if ((char === '}' || char === ']') && depth > 0) depth--;
    if (char === separator && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts;
}

function splitOutside(text: string, separator: string): [string, string | undefined] {
  const parts = splitAll(text, separator);
  return parts.length === 1 ? [text, undefined] : [parts.slice(0, -1).join(separator), parts.at(-1)];
}

/** What the generated override changes; recorded as facts. */
export interface OverridePlan {
  /** The override's YAML, or undefined when nothing would collide between worktrees. */
  yaml?: string;
  remappedPorts: number;
  containerNames: number;
  fixedNames: number;
  /** Host ports vtree cannot remap (ranges, computed values): they may collide. */
  unmapped: string[];
}

/**
 * The per-worktree override: literal host ports become `${VTREE_PORT_...:-<leased>}` (published
 * on an ephemeral port when no lease exists), `container_name` gets the project prefix (the old
 * name stays a network alias), and volumes or networks with a fixed `name:` become project-scoped.
 * Variables already in the files are left to the `.env` block.
 */
export function planOverride(model: ComposeModel, projectName: string, ports: Readonly<Record<string, number>>): OverridePlan {
  const lines: string[] = [];
  const plan: OverridePlan = { remappedPorts: 0, containerNames: 0, fixedNames: 0, unmapped: [] };
  for (const service of model.services) {
    const body: string[] = [];
    const hasLiteral = service.ports.some((p) => p.kind === 'literal');
    if (hasLiteral) {
      body.push('    ports: !override');
      for (const port of service.ports) body.push(`      - ${JSON.stringify(port.kind === 'literal' ? remapped(port, ports[port.variable!]) : port.raw)}`);
      plan.remappedPorts += service.ports.filter((p) => p.kind === 'literal').length;
    }
    for (const port of service.ports) if (port.kind === 'unmapped' && typeof port.raw !== 'number') plan.unmapped.push(`${service.name}: ${JSON.stringify(port.raw)}`);
    if (service.containerName !== undefined) {
      body.push(`    container_name: ${JSON.stringify(`${projectName}-${service.name}`)}`);
      if (!service.ownNetworks) body.push('    networks:', '      default:', `        aliases: [${JSON.stringify(service.containerName)}]`);
      plan.containerNames++;
    }
    if (body.length > 0) lines.push(`  ${JSON.stringify(service.name)}:`, ...body);
  }
  const topLevel: string[] = [];
  for (const kind of ['volumes', 'networks'] as const) {
    const named = model.fixedNames.filter((f) => f.kind === kind);
    if (named.length === 0) continue;
    topLevel.push(`${kind}:`, ...named.flatMap((f) => [`  ${JSON.stringify(f.key)}:`, `    name: ${JSON.stringify(`${projectName}_${f.name}`)}`]));
    plan.fixedNames += named.length;
  }
  if (lines.length === 0 && topLevel.length === 0) return plan;
  plan.yaml = [
    '# Generated by git vtree for this worktree; rewritten by `git vtree setup`. Do not edit:',
    '# it gives the stack its own host ports and names so every worktree can run at once.',
    ...(lines.length > 0 ? ['services:', ...lines] : []),
    ...topLevel,
    '',
  ].join('\n');
  return plan;
}

/** A literal port entry re-published on `${VAR:-leased}`, or on an ephemeral host port without a lease. */
function remapped(port: PortEntry, leased: number | undefined): unknown {
  const published = leased === undefined ? '' : `\${${port.variable}:-${leased}}`;
  if (isRecord(port.raw)) {
    const { published: _old, ...rest } = port.raw;
    return published === '' ? rest : { ...rest, published };
  }
  const host = port.hostIp !== undefined ? `${port.hostIp}:${published}:` : published === '' ? '' : `${published}:`;
  return `${host}${port.containerPort}${port.protocol ? `/${port.protocol}` : ''}`;
}

/** Writes (or, with no YAML, deletes) the worktree's override. */
export async function writeOverride(worktreeGitDir: string, yaml: string | undefined): Promise<string | undefined> {
  const path = overridePath(worktreeGitDir);
  if (yaml === undefined) {
    await rm(path, { force: true });
    return undefined;
  }
  await writeFileAtomic(path, yaml);
  return path;
}

/** The `COMPOSE_FILE` value: the project's files and the override, joined as Compose expects. */
export function composeFileValue(files: readonly string[], override: string | undefined, pathSeparator = process.platform === 'win32' ? ';' : ':'): string {
  return [...files, ...(override ? [override] : [])].join(pathSeparator);
}

/**
 * The file settings Compose itself would apply in `dotenvDir` (the main worktree, whose `.env`
 * a new worktree inherits): `vtree.compose.files`, else `COMPOSE_FILE` from the environment,
 * else from that `.env`.
 */
export async function composeFileSettings(configured: readonly string[], dotenvDir: string, env: NodeJS.ProcessEnv = process.env): Promise<ComposeFileSettings> {
  const settings: ComposeFileSettings = { configured };
  if (env.COMPOSE_PATH_SEPARATOR) settings.pathSeparator = env.COMPOSE_PATH_SEPARATOR;
  const fromEnv = env.COMPOSE_FILE || dotenvValue(await readFile(join(dotenvDir, '.env'), 'utf8').catch(() => ''), 'COMPOSE_FILE');
  if (fromEnv) settings.composeFileVariable = fromEnv;
  return settings;
}

/** Images the stack pulls (not built, no variables in the name), each once. */
export function pulledImages(model: ComposeModel): string[] {
  return [...new Set(model.services.filter((s) => !s.build && s.image && !s.image.includes('$')).map((s) => s.image!))];
}

/** The last value of `name` in a dotenv text (a worktree's `.env`), if set there. */
export function dotenvValue(text: string, name: string): string | undefined {
  let value: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (match?.[1] === name) value = match[2]!.trim().replace(/^(['"])(.*)\1$/, '$2');
  }
  return value || undefined;
}

/** `COMPOSE_PROJECT_NAME` as Compose would take it in `dir`: the environment, else its `.env`. */
export async function projectNameIn(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  return env.COMPOSE_PROJECT_NAME || dotenvValue(await readFile(join(dir, '.env'), 'utf8').catch(() => ''), 'COMPOSE_PROJECT_NAME');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim().replace(/:$/, '');
}
