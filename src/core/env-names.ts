/**
 * Environment variable names that change how programs run rather than what they work on:
 * loaders, shells, runtimes and tools read them as settings (`BASH_ENV` makes every bash source a
 * file, `LD_PRELOAD` loads a library into every program, `NODE_OPTIONS` adds flags to every node).
 * A name a clone controls (a port variable of `.vtreeconfig` or a compose file, a line of a
 * worktree's `.env` that `exec` passes on) must never be one of them. One rule for every caller.
 */
export function changesHowProgramsRun(name: string): boolean {
  return EXACT.test(name) || FAMILIES.test(name);
}

/** Single names: the shell's own settings and the search paths. */
const EXACT = /^(PATH|ENV|BASH_ENV|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|IFS|HOME|SHELL|CDPATH|TMPDIR|PERLLIB|RUBYLIB|RUBYOPT)$/i;

/** Families of settings, by prefix. */
const FAMILIES = new RegExp(
  [
    '^(BASH|LD|DYLD|NODE|NPM|NPM_CONFIG|YARN|PNPM|BUN|DENO|GIT|SSH|GNUPG|GPG|DOCKER|COMPOSE|BUILDKIT|JAVA|_JAVA|JDK|MAVEN|GRADLE|LC|XDG|GCONV|MALLOC|GLIBC|CURL|WGET|PIP|CONDA|VIRTUAL|UV|POETRY|CARGO|RUST|GO|CGO|DOTNET|PHP|COMPOSER|LUA|TCL|TERM|LESS|PAGER|EDITOR|VISUAL|SUDO|KUBE|AWS|GOOGLE|AZURE)_',
    '^(PYTHON|PERL|RUBY|GEM|BUNDLE)',
  ].join('|'),
  'i',
);
