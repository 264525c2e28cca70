import { createHash } from 'node:crypto';

// The settings a project's committed package-manager config gives its install. They change what
// the install puts in node_modules (npm's `omit`, pnpm's `nodeLinker`, ...), so they go into the
// cache key; and some name a program or set how programs run (`node-options`, `script-shell`,
// `git`, ...), which the clone brought, so they wait for the user's approval like its scripts.

/** A program of the project's own that its install runs. */
export interface InstallProgram {
  /** Where it is, as the user reads it: `package.json postinstall`, `.pnpmfile.cjs`, `.npmrc script-shell`. */
  name: string;
  /** The script's text or the setting's value, or `file <git blob id>` for a file of code: an edit of it asks again. */
  text: string;
  /** Runs even with lifecycle scripts off: pnpm's pnpmfile, the yarn release and plugins, a `git` setting. */
  always: boolean;
}

/** One setting as a committed file gives it: the key in kebab case (`nodeOptions` is `node-options`), its value as written. */
export interface InstallSetting {
  file: string;
  key: string;
  value: string;
}

/**
 * Keys that cannot change what an install puts on disk: registries and their credentials,
 * network, logging, output, publishing. Everything else counts, so an unknown key costs a cache
 * miss, never a wrong tree; and no credential ever reaches a key's inputs (an entry's meta is
 * pushed to the team's registry).
 */
const NOT_SHAPING =
  /^(\/\/|@)|registr|auth|token|pass|user|email|proxy|^(ca|cafile|cert|key|certfile|keyfile)$|-file-path$|ssl|^log|progress|color|^fund$|^audit|notifier|^fetch-|network|timeout|retr|^maxsockets$|offline|telemetry|^cache(-dir|-folder)?$|^global-folder$|^init-|publish|^git-tag|^sign-git|^otp$|^editor$|^browser$|^npm-scopes$/;

/**
 * Keys that name a program (or a file of code, or other config) the install runs, or set how the
 * programs it runs behave; `always`: it runs even with lifecycle scripts off. yarn's release and
 * plugins (`yarnPath`, `plugins`) are files of code, asked for by their content (package-manager.ts).
 */
const PROGRAM_KEYS: ReadonlyMap<string, boolean> = new Map([
  ['git', true],
  ['pnpmfile', true],
  ['global-pnpmfile', true],
  // pnpm loads the pnpmfile of a config dependency named `pnpm-plugin-*` on every command.
  ['config-dependencies', true],
  ['onload-script', true],
  ['userconfig', true],
  ['globalconfig', true],
  ['script-shell', false],
  ['shell', false],
  ['node-options', false],
  ['node-gyp', false],
  ['use-node-version', false],
  ['execution-env', false],
  ['inject-environment-files', false],
]);

/** The settings the config files `read` (those of `texts`, path → text, that exist) give an install, file by file, in their order. */
export async function installSettings(read: readonly string[], texts: ReadonlyMap<string, string>): Promise<InstallSetting[]> {
  const settings: InstallSetting[] = [];
  for (const file of read) {
    const text = texts.get(file);
    if (text === undefined) continue;
    const add = (key: string, value: string) => settings.push({ file, key: kebab(key), value });
    if (file === '.npmrc') iniPairs(text).forEach(([key, value]) => add(key, value));
    else if (file === '.yarnrc') yarnrcPairs(text).forEach(([key, value]) => add(key, value));
    else if (file === 'bunfig.toml') add('(file)', createHash('sha1').update(text).digest('hex'));
    else {
      const { parse } = await import('yaml');
      let doc: unknown;
      try {
        doc = parse(text);
      } catch {
        // The manager refuses a file it cannot parse, and installs nothing: any text of it is one setting.
        doc = { '(unparsed)': createHash('sha1').update(text).digest('hex') };
      }
      for (const [key, value] of Object.entries(doc && typeof doc === 'object' ? doc : {})) {
        // pnpm's workspace globs are read as workspaces (the manifests they match are in the key).
        if (file === 'pnpm-workspace.yaml' && key === 'packages') continue;
        add(key, typeof value === 'string' ? value : JSON.stringify(value));
      }
    }
  }
  return settings;
}

/** The settings that shape the install, as the cache key takes them (`<file> <key>=<value>`). */
export function keySettings(settings: readonly InstallSetting[]): string[] {
  return settings.filter((s) => !NOT_SHAPING.test(s.key)).map((s) => `${s.file} ${s.key}=${s.value}`);
}

/** The settings that name a program or set how programs run, as programs the user approves. */
export function settingPrograms(settings: readonly InstallSetting[]): InstallProgram[] {
  return settings.flatMap((s) => (PROGRAM_KEYS.has(s.key) ? [{ name: `${s.file} ${s.key}`, text: s.value, always: PROGRAM_KEYS.get(s.key)! }] : []));
}

/** `nodeOptions`, `node_options`, `--install.node-options` → `node-options` (npm, pnpm and yarn spell keys several ways). */
function kebab(key: string): string {
  return key
    .replace(/^--/, '')
    .replace(/\[\]$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .replace(/^[a-z]+\./, (scope) => (key.startsWith('//') || key.startsWith('@') ? scope : ''))
    .toLowerCase();
}

/** `key=value` lines of an ini file as npm reads `.npmrc` (`;` and `#` comments, quotes dropped). */
function iniPairs(text: string): Array<[string, string]> {
  return text.split(/\r?\n/).flatMap((line): Array<[string, string]> => {
    const trimmed = line.trim();
    const eq = trimmed.indexOf('=');
    if (!trimmed || trimmed.startsWith(';') || trimmed.startsWith('#') || trimmed.startsWith('[') || eq <= 0) return [];
    return [[trimmed.slice(0, eq).trim(), unquote(trimmed.slice(eq + 1).trim())]];
  });
}

/** `key value` lines of yarn classic's `.yarnrc` (`#` comments, quotes dropped). */
function yarnrcPairs(text: string): Array<[string, string]> {
  return text.split(/\r?\n/).flatMap((line): Array<[string, string]> => {
    const match = /^\s*("[^"]+"|[^\s#"]+)\s+(.*?)\s*$/.exec(line);
    return match && !line.trim().startsWith('#') ? [[unquote(match[1]!), unquote(match[2]!)]] : [];
  });
}

function unquote(value: string): string {
  return /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
}
