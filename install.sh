#!/bin/sh
# Installs git vtree from this checkout, for the current user (no sudo):
#   - the npm dependencies (npm ci, only when package-lock.json changed) and the build (dist/);
#   - $PREFIX/git-vtree, a link to bin/git-vtree, so that git finds `git vtree` (PREFIX defaults
#     to ~/.local/bin);
#   - completion where each shell looks for it: bash-completion's and zsh's user directories,
#     fish's completions/ and conf.d/; and, for bash and zsh, one marked line in ~/.bashrc and
#     ~/.zshrc that loads completion for `git vtree` and the `vtree` function (`vtree cd <branch>`);
#   - the man page in $PREFIX/../share/man, where man looks for it, so `git vtree --help` works.
# Running it again updates what is there and adds nothing twice. `./install.sh --uninstall`
# removes all of it (the checkout's node_modules and dist stay: delete the checkout for those).
#
# Usage: ./install.sh [--uninstall] [--no-modify-rc]
set -eu

ROOT=$(cd "$(dirname "$0")" && pwd -P)
PREFIX=${PREFIX:-$HOME/.local/bin}
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
CONFIG=${XDG_CONFIG_HOME:-$HOME/.config}
NODE_MIN=20.19
GIT_MIN=2.31

BASH_COMPLETION=$DATA/bash-completion/completions/git-vtree
ZSH_COMPLETION=$DATA/zsh/site-functions/_git-vtree
FISH_COMPLETION=$CONFIG/fish/completions/git-vtree.fish
FISH_INIT=$CONFIG/fish/conf.d/git-vtree.fish
SHELL_INIT_DIR=$DATA/git-vtree
# man finds pages through PATH: <dir>/bin on PATH means <dir>/share/man. git answers
# `git vtree --help` with `man git-vtree`.
MAN_PAGE=$(dirname "$PREFIX")/share/man/man1/git-vtree.1
RC_BEGIN='# >>> git vtree >>>'
RC_END='# <<< git vtree <<<'

say() { printf '%s\n' "$*"; }
fail() {
  printf 'install.sh: %s\n' "$1" >&2
  [ -z "${2:-}" ] || printf 'hint: %s\n' "$2" >&2
  exit 1
}

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
  # npm records what it installed in node_modules/.package-lock.json: newer than the lockfile
  # means the dependencies are current.
  if [ -f node_modules/.package-lock.json ] && ! [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say 'npm dependencies are up to date'
  else
    say 'Installing npm dependencies (npm ci)...'
    npm ci --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null
  fi
  say 'Building...'
  log=$(mktemp)
  if ! npm run --silent build >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    fail 'the build failed (the compiler output is above)' 'fix it, or run ./install.sh from a released version'
  fi
  rm -f "$log"
}

# Writes $2 (a file to copy) to $1 when they differ, making its directory.
put() {
  mkdir -p "$(dirname "$1")"
  cmp -s "$2" "$1" 2>/dev/null || cp "$2" "$1"
}

# Adds the marked block loading $2 to the rc file $1, unless it is there already.
add_rc_block() {
  rc=$1
  grep -qxF "$RC_BEGIN" "$rc" 2>/dev/null && return 0
  # Keep the file's last line whole.
  [ ! -s "$rc" ] || [ "$(tail -c 1 "$rc" | od -An -c | tr -d ' ')" = '\n' ] || printf '\n' >>"$rc"
  printf '%s\n[ -f "%s" ] && . "%s"\n%s\n' "$RC_BEGIN" "$2" "$2" "$RC_END" >>"$rc"
  say "  added git vtree's line to $rc"
}

# Removes the marked block from the rc file $1, leaving every other byte as it was.
remove_rc_block() {
  rc=$1
  grep -qxF "$RC_BEGIN" "$rc" 2>/dev/null || return 0
  tmp="$rc.git-vtree.$$"
  awk -v begin="$RC_BEGIN" -v end="$RC_END" '$0 == begin { skip = 1 } !skip { print } $0 == end { skip = 0 }' "$rc" >"$tmp"
  cat "$tmp" >"$rc" # keeps the rc file's own mode, owner and links
  rm -f "$tmp"
  say "  removed git vtree's line from $rc"
}

install_completion() {
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
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
  if [ "$modify_rc" = yes ]; then
    [ ! -f "$HOME/.bashrc" ] || add_rc_block "$HOME/.bashrc" "$SHELL_INIT_DIR/init.bash"
    [ ! -f "$HOME/.zshrc" ] || add_rc_block "$HOME/.zshrc" "$SHELL_INIT_DIR/init.zsh"
  fi
  if [ "$modify_rc" = no ] || [ ! -f "$HOME/.bashrc" ] || [ ! -f "$HOME/.zshrc" ]; then
    say "For \`git vtree <TAB>\` and \`vtree cd\` in bash or zsh, add to ~/.bashrc or ~/.zshrc:"
    say "  . \"$SHELL_INIT_DIR/init.bash\"   (zsh: init.zsh)"
  fi
}

do_install() {
  check_tools
  build
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
  case ":$PATH:" in
    *":$PREFIX:"*) ;;
    *) say "Note: $PREFIX is not on your PATH; add it (for example in ~/.profile: export PATH=\"$PREFIX:\$PATH\"), so that git finds git vtree." ;;
  esac
  say "Done: run \`git vtree init\` in a repository to set up worktrees made by plain git worktree add too."
}

do_uninstall() {
  link=$PREFIX/git-vtree
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$ROOT/bin/git-vtree" ]; then
    rm -f "$link"
    say "Removed $link"
  fi
  ensure=$PREFIX/git-vtree-ensure-setup
  if [ -L "$ensure" ] && [ "$(readlink "$ensure")" = "$ROOT/hooks/ensure-setup" ]; then
    rm -f "$ensure"
    say "Removed $ensure"
  fi
  for file in "$BASH_COMPLETION" "$ZSH_COMPLETION" "$FISH_COMPLETION" "$FISH_INIT" "$SHELL_INIT_DIR/init.bash" "$SHELL_INIT_DIR/init.zsh" "$MAN_PAGE"; do
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
      sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) fail "unknown option: $arg" './install.sh [--uninstall] [--no-modify-rc]' ;;
  esac
done
$action
