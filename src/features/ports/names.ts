/**
 * Which port variable names a clone may make vtree set. A name from the committed `.vtreeconfig`
 * (`vtree.ports.vars`) or from a compose file (`${API_PORT:-3000}`) ends up in the worktree's
 * `.env`, in Compose's environment and in every project task's: a name such as `BASH_ENV`,
 * `LD_PRELOAD` or `NODE_OPTIONS` would then change how those programs run (`BASH_ENV=29917`
 * makes every bash source the committed file `./29917`). So a clone's name must look like a port
 * (a plain name with `PORT` in it) and belong to no family that programs read as settings. Names
 * from the user's own git config are not judged.
 */
export function isHarmlessPortVariable(name: string): boolean {
  return PORT_SHAPE.test(name) && !SETTINGS.test(name);
}

/** A plain variable name with `PORT` in it: `PORT`, `API_PORT`, `VTREE_PORT_WEB_80`, `PORT_HTTP`. */
const PORT_SHAPE = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * Names (and families) that loaders, shells, runtimes and tools read as settings, beside
 * anything without `PORT` in it (`BASH_ENV`, `ENV`, `PATH`, `IFS`, ...).
 */
const SETTINGS = new RegExp(
  [
    '^(?!.*PORT)',
    '^(BASH|LD|DYLD|NODE|NPM|NPM_CONFIG|YARN|PNPM|BUN|DENO|GIT|SSH|GNUPG|GPG|DOCKER|COMPOSE|BUILDKIT|JAVA|_JAVA|JDK|MAVEN|GRADLE|LC|XDG|GCONV|MALLOC|GLIBC|CURL|WGET|PIP|CONDA|VIRTUAL|UV|POETRY|CARGO|RUST|GO|CGO|DOTNET|PHP|COMPOSER|LUA|TCL|TERM|LESS|PAGER|EDITOR|VISUAL|SUDO|KUBE|AWS|GOOGLE|AZURE)_',
    '^VTREE_(?!PORT_)',
    '^(PYTHON|PERL|RUBY|GEM|BUNDLE)',
  ].join('|'),
  'i',
);
