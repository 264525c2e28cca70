#!/bin/sh
# Installs git vtree from this checkout, for the current user (no sudo):
#   - the npm dependencies (npm ci, only when package-lock.json changed) and the build (dist/);
#   - $PREFIX/git-vtree, a link to bin/git-vtree, so that git finds `git vtree`. PREFIX defaults
#     to the first writable directory already on PATH of: npm's global bin, /usr/local/bin (root),
#     ~/.local/bin, ~/bin; when none is, ~/.local/bin, added to PATH in the marked block of ~/.bashrc
#     and ~/.zshrc;
#   - completion where each shell looks for it: bash-completion's and zsh's user directories,
#     fish's completions/ and conf.d/; and, for bash and zsh, one marked line in ~/.bashrc and
#     ~/.zshrc that loads completion for `git vtree` and the `vtree` function (`vtree cd <branch>`);
#   - the man page in $PREFIX/../share/man, where man looks for it, so `git vtree --help` works.
# Running it again updates what is there and adds nothing twice. `./install.sh --uninstall`
# removes all of it (the checkout's node_modules and dist stay: delete the checkout for those).
# Standard output is only shell code, for the shell you are in (`export PATH=...` when PREFIX is
# not on its PATH; `false` when the install failed); everything else goes to standard error:
#
#   eval "$(./install.sh)" && cd ~/your/repo && git vtree add my-feature
#
# Usage: ./install.sh [--uninstall] [--no-modify-rc]
set -eu

ROOT=$(cd "$(dirname "$0")" && pwd -P)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
CONFIG=${XDG_CONFIG_HOME:-$HOME/.config}
NODE_MIN=20.19
GIT_MIN=2.31

BASH_COMPLETION=$DATA/bash-completion/completions/git-vtree
ZSH_COMPLETION=$DATA/zsh/site-functions/_git-vtree
FISH_COMPLETION=$CONFIG/fish/completions/git-vtree.fish
FISH_INIT=$CONFIG/fish/conf.d/git-vtree.fish
SHELL_INIT_DIR=$DATA/git-vtree
RC_BEGIN='# >>> git vtree >>>'
RC_END='# <<< git vtree <<<'

# Messages go to standard error: standard output is for the calling shell's eval.
say() { printf '%s\n' "$*" >&2; }
fail() {
  printf 'install.sh: %s\n' "$1" >&2
  [ -z "${2:-}" ] || printf 'hint: %s\n' "$2" >&2
  exit 1
}
# On any failure, `false` for the calling shell: `eval ""` succeeds, so without it
# `eval "$(./install.sh)" && ...` would go on after a failed install.
tmp=
trap 'status=$?; [ -z "$tmp" ] || rm -rf "$tmp"; [ "$status" = 0 ] || [ -t 1 ] || printf "false\n"' EXIT

# True when version $1 (x.y[.z]) is at least $2 (x.y).
at_least() {
  awk -v have="$1" -v need="$2" 'BEGIN {
    split(have, h, "."); split(need, n, ".")
    exit !((h[1] + 0 > n[1] + 0) || (h[1] + 0 == n[1] + 0 && h[2] + 0 >= n[2] + 0))
  }'
}

check_tools() {
  command -v node >/dev/null 2>&1 || fail "Node.js is not installed; git vtree needs Node.js $NODE_MIN or newer" 'install it from your package manager or https://nodejs.org, then run ./install.sh again'
  node_version=$(node -p 'process.versions.node')
  at_least "$node_version" "$NODE_MIN" || fail "Node.js $node_version is too old; git vtree needs $NODE_MIN or newer" 'upgrade Node.js (for example with nvm install 20), then run ./install.sh again'
  command -v npm >/dev/null 2>&1 || fail 'npm is not installed (it comes with Node.js)' 'install npm, then run ./install.sh again'
  command -v git >/dev/null 2>&1 || fail "git is not installed; git vtree needs git $GIT_MIN or newer" 'install git, then run ./install.sh again'
  git_version=$(git --version | awk '{ print $3 }')
  at_least "$git_version" "$GIT_MIN" || fail "git $git_version is too old; git vtree needs $GIT_MIN or newer" 'upgrade git, then run ./install.sh again'
}

build() {
  cd "$ROOT"
  log=$(mktemp)
  # npm records what it installed in node_modules/.package-lock.json: newer than the lockfile
  # means the dependencies are current.
  if [ -f node_modules/.package-lock.json ] && ! [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say 'npm dependencies are up to date; building...'
  else
    say 'Installing npm dependencies (npm ci) and building...'
    npm ci --no-audit --no-fund --no-update-notifier --loglevel=error >"$log" 2>&1 || build_failed
  fi
  npm run --silent build >"$log" 2>&1 || build_failed
  rm -f "$log"
}

build_failed() {
  cat "$log" >&2
  rm -f "$log"
  fail 'npm ci or the build failed (its output is above)' 'fix it, or run ./install.sh from a released version'
}

# Writes $2 (a file to copy) to $1 when they differ, making its directory.
put() {
  mkdir -p "$(dirname "$1")"
  cmp -s "$2" "$1" 2>/dev/null || cp "$2" "$1"
}

# True when the directory $1 is on PATH.
on_path() {
  case ":$PATH:" in *":$1:"*) return 0 ;; esac
  return 1
}

# True when this user can write in directory $1, or make it (its nearest existing ancestor is writable).
writable_dir() {
  dir=$1
  while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
  [ -d "$dir" ] && [ -w "$dir" ]
}

# Where the link goes, unless PREFIX says: the first of these that is on PATH and writable, so that
# `git vtree` works at once, in this shell too. None: ~/.local/bin, which the rc files then put on
# PATH (path_line).
choose_prefix() {
  for candidate in "$(npm prefix -g 2>/dev/null)/bin" /usr/local/bin "$HOME/.local/bin" "$HOME/bin"; do
    [ "$candidate" != /bin ] && on_path "$candidate" || continue
    [ "$candidate" != /usr/local/bin ] || [ "$(id -u)" = 0 ] || continue
    if writable_dir "$candidate"; then
      PREFIX=$candidate
      return 0
    fi
  done
  PREFIX=$HOME/.local/bin
}

# The line putting PREFIX on PATH, when it is not on PATH already.
path_line() {
  on_path "$PREFIX" || printf 'export PATH="%s:$PATH"\n' "$PREFIX"
}

# Makes the marked block of the rc file $1 load $2 (and put PREFIX on PATH when it is not); leaves
# the file alone when the block already says that.
add_rc_block() {
  rc=$1
  line=$(path_line)
  block=$RC_BEGIN
  [ -z "$line" ] || block="$block
$line"
  block="$block
[ -f \"$2\" ] && . \"$2\"
$RC_END"
  current=$(awk -v begin="$RC_BEGIN" -v end="$RC_END" '$0 == begin { keep = 1 } keep { print } $0 == end { keep = 0 }' "$rc")
  [ "$current" != "$block" ] || return 0
  [ -z "$current" ] || remove_rc_block "$rc" quietly
  # Keep the file's last line whole.
  [ ! -s "$rc" ] || [ "$(tail -c 1 "$rc" | od -An -c | tr -d ' ')" = '\n' ] || printf '\n' >>"$rc"
  printf '%s\n' "$block" >>"$rc"
}

# Removes the marked block from the rc file $1, leaving every other byte as it was ($2: say nothing).
remove_rc_block() {
  rc=$1
  grep -qxF "$RC_BEGIN" "$rc" 2>/dev/null || return 0
  tmp="$rc.git-vtree.$$"
  awk -v begin="$RC_BEGIN" -v end="$RC_END" '$0 == begin { skip = 1 } !skip { print } $0 == end { skip = 0 }' "$rc" >"$tmp"
  cat "$tmp" >"$rc" # keeps the rc file's own mode, owner and links
  rm -f "$tmp"
  [ -n "${2:-}" ] || say "  removed git vtree's lines from $rc"
}

install_completion() {
  tmp=$(mktemp -d)
  put "$BASH_COMPLETION" "$ROOT/completions/git-vtree.bash"
  put "$ZSH_COMPLETION" "$ROOT/completions/_git-vtree"
  put "$FISH_COMPLETION" "$ROOT/completions/git-vtree.fish"
  put "$MAN_PAGE" "$ROOT/man/man1/git-vtree.1"
  # Saved once here, so that no shell start-up runs Node.js.
  for shell in bash zsh fish; do
    node "$ROOT/bin/git-vtree" shell-init "$shell" >"$tmp/init.$shell"
  done
  put "$SHELL_INIT_DIR/init.bash" "$tmp/init.bash"
  put "$SHELL_INIT_DIR/init.zsh" "$tmp/init.zsh"
  put "$FISH_INIT" "$tmp/init.fish"
  say "Completion: $BASH_COMPLETION, $ZSH_COMPLETION, $FISH_COMPLETION (fish also loads $FISH_INIT); man page: $MAN_PAGE"
  rcs=
  if [ "$modify_rc" = yes ]; then
    for shell in bash zsh; do
      rc=$HOME/.${shell}rc
      [ -f "$rc" ] || continue
      add_rc_block "$rc" "$SHELL_INIT_DIR/init.$shell"
      rcs="${rcs:+$rcs and }$rc"
    done
  fi
  # One message about shell set-up: what new shells get, or the lines to add when no rc file took them.
  if [ -n "$rcs" ]; then
    say "Shell set-up: new shells get $(on_path "$PREFIX" || printf '%s on PATH, ' "$PREFIX")completion for \`git vtree\` and the \`vtree\` function (\`vtree cd <branch>\`) from $rcs."
  else
    say "Shell set-up: for $(on_path "$PREFIX" || printf '%s on PATH, ' "$PREFIX")completion and the \`vtree\` function in new shells, add to ~/.bashrc (zsh: ~/.zshrc, init.zsh):"
    [ -z "$(path_line)" ] || say "  $(path_line)"
    say "  [ -f \"$SHELL_INIT_DIR/init.bash\" ] && . \"$SHELL_INIT_DIR/init.bash\""
  fi
}

do_install() {
  check_tools
  build
  [ -n "${PREFIX:-}" ] || choose_prefix
  # man finds pages through PATH: <dir>/bin on PATH means <dir>/share/man. git answers
  # `git vtree --help` with `man git-vtree`.
  MAN_PAGE=$(dirname "$PREFIX")/share/man/man1/git-vtree.1
  mkdir -p "$PREFIX"
  link=$PREFIX/git-vtree
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    fail "$link exists and is not a link this script made" "move it away, or run with another PREFIX=<dir>"
  fi
  ln -sfn "$ROOT/bin/git-vtree" "$link"
  say "Installed $link -> $ROOT/bin/git-vtree"
  # The no-Node.js check an agent's session-start hook calls (docs/agents.md).
  ln -sfn "$ROOT/hooks/ensure-setup" "$PREFIX/git-vtree-ensure-setup"
  install_completion
  say "Done: run \`git vtree init\` in a repository to set up worktrees made by plain git worktree add too."
  on_path "$PREFIX" && return 0
  # The shell code for this shell: eval'd by the README's line; on a terminal, the line to run.
  [ ! -t 1 ] || say "$PREFIX is not on this shell's PATH yet; to use git vtree in it, run the line below (or install with: eval \"\$(./install.sh)\")."
  path_line
}

do_uninstall() {
  # Wherever an install put its link: PREFIX, or any directory choose_prefix picks from.
  for dir in ${PREFIX:-} "$(npm prefix -g 2>/dev/null)/bin" /usr/local/bin "$HOME/.local/bin" "$HOME/bin"; do
    link=$dir/git-vtree
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$ROOT/bin/git-vtree" ]; then
      rm -f "$link"
      say "Removed $link"
      man_page=$(dirname "$dir")/share/man/man1/git-vtree.1
      [ ! -f "$man_page" ] || { rm -f "$man_page" && say "Removed $man_page"; }
    fi
    ensure=$dir/git-vtree-ensure-setup
    if [ -L "$ensure" ] && [ "$(readlink "$ensure")" = "$ROOT/hooks/ensure-setup" ]; then
      rm -f "$ensure"
      say "Removed $ensure"
    fi
  done
  for file in "$BASH_COMPLETION" "$ZSH_COMPLETION" "$FISH_COMPLETION" "$FISH_INIT" "$SHELL_INIT_DIR/init.bash" "$SHELL_INIT_DIR/init.zsh"; do
    [ ! -f "$file" ] || { rm -f "$file" && say "Removed $file"; }
  done
  rmdir "$SHELL_INIT_DIR" 2>/dev/null || :
  for rc in "$HOME/.bashrc" "$HOME/.zshrc"; do
    [ ! -f "$rc" ] || remove_rc_block "$rc"
  done
  say "Uninstalled. Repositories where you ran \`git vtree init\` keep their hook until you run \`git vtree hooks uninstall\` there."
}

action=do_install
modify_rc=yes
for arg in "$@"; do
  case $arg in
    --uninstall) action=do_uninstall ;;
    --no-modify-rc) modify_rc=no ;;
    -h | --help)
      awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//' >&2
      exit 0
      ;;
    *) fail "unknown option: $arg" './install.sh [--uninstall] [--no-modify-rc]' ;;
  esac
done
$action
