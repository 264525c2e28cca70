# bash completion for git vtree: `git vtree <TAB>` (git's own completion calls _git_vtree),
# `git-vtree <TAB>`, and `vtree <TAB>` after `eval "$(git vtree shell-init bash)"`.
# Save it where bash-completion finds it (~/.local/share/bash-completion/completions/git-vtree),
# or source it from ~/.bashrc. Completing never starts Node.js: the words are listed here, and
# branches and worktrees come from git. Keep the lists in sync with src/cli.ts
# (test/completion.test.ts compares them with `git-vtree --help`).

# The words that may follow `git vtree`.
__git_vtree_commands='add list ls rm remove setup hooks init completion shell-init stats bench ports up down status logs cache'

# The flags of one command ($1).
__git_vtree_flags() {
  local setup='--deps --no-deps --services --no-services --wait --link-mode --json'
  case $1 in
    add) echo "$setup --from --path" ;;
    setup) echo "$setup" ;;
    list | ls) echo '--json --all' ;;
    hooks | init) echo '--json' ;;
    rm | remove) echo '--force -f --delete-branch -d --volumes --json' ;;
    stats) echo '--json --since --last --op --worktree --run --serve --port' ;;
    bench) echo '--runs --keep --json' ;;
    ports) echo '--prune --json' ;;
    up) echo '--worktree -w --json --wait' ;;
    down) echo '--worktree -w --json --volumes' ;;
    status) echo '--worktree -w --json' ;;
    logs) echo '--worktree -w --json --follow -f --tail --job' ;;
    cache) echo '--max-size --older-than --include-used --dry-run --spares --key --json' ;;
  esac
  echo '--verbose --help -h'
}

# Prints each argument that starts with $1 (after it), one per line. Unlike `compgen -W`, it
# expands nothing, so a branch named `$HOME` stays as it is.
__git_vtree_match() {
  local cur=$1 word
  shift
  for word in "$@"; do
    [[ $word == "$cur"* ]] && printf '%s\n' "$word"
  done
}

# Local branches, and remote branches both as origin/x and as x (`git vtree add x` tracks it).
__git_vtree_branches() {
  local ref
  local -a names=()
  while IFS= read -r ref; do
    case $ref in
      refs/heads/*) names+=("${ref#refs/heads/}") ;;
      refs/remotes/*/HEAD) ;;
      refs/remotes/*)
        ref=${ref#refs/remotes/}
        names+=("$ref" "${ref#*/}")
        ;;
    esac
  done < <(git for-each-ref --format='%(refname)' refs/heads refs/remotes 2>/dev/null)
  __git_vtree_match "$1" "${names[@]}"
}

# The linked worktrees, by branch (or by directory name when detached).
__git_vtree_worktrees() {
  local line path= main=1
  local -a names=()
  while IFS= read -r line; do
    case $line in
      'worktree '*)
        [[ -n $path ]] && main=
        path=${line#worktree }
        ;;
      'branch refs/heads/'*) [[ -z $main ]] && names+=("${line#branch refs/heads/}") ;;
      detached) [[ -z $main ]] && names+=("${path##*/}") ;;
    esac
  done < <(git worktree list --porcelain 2>/dev/null)
  __git_vtree_match "$1" "${names[@]}"
}

# Prints the candidates for the word being completed. $1: index in COMP_WORDS of the vtree
# command (add, rm, ...); $2: extra commands (`cd` for the vtree function).
__git_vtree_candidates() {
  local at=$1 cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  if ((COMP_CWORD <= at)); then
    __git_vtree_match "$cur" $__git_vtree_commands $2
    return
  fi
  local command=${COMP_WORDS[at]}
  # --link-mode=<TAB>: bash splits the word at `=`.
  if [[ $cur == = ]]; then
    cur=
  elif [[ $prev == = ]]; then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi
  case $prev in
    --link-mode) __git_vtree_match "$cur" auto reflink hardlink copy symlink; return ;;
    --from) __git_vtree_branches "$cur"; return ;;
    --worktree | -w) __git_vtree_worktrees "$cur"; return ;;
    --path) compgen -d -- "$cur"; return ;;
    --since | --last | --op | --run | --port | --runs | --tail | --max-size | --older-than | --spares | --key) return ;;
  esac
  if [[ $cur == -* ]]; then
    __git_vtree_match "$cur" $(__git_vtree_flags "$command")
    return
  fi
  case $command in
    add) __git_vtree_branches "$cur" ;;
    rm | remove | setup | cd) __git_vtree_worktrees "$cur" ;;
    hooks) __git_vtree_match "$cur" install uninstall status ;;
    cache)
      case ${COMP_WORDS[at + 1]} in
        export | import) ((COMP_CWORD > at + 1)) && compgen -f -- "$cur" ;;
        *) __git_vtree_match "$cur" status prune verify warm export import ;;
      esac
      ;;
    completion | shell-init) __git_vtree_match "$cur" bash zsh fish ;;
  esac
}

# Fills COMPREPLY with the candidates, each followed by $1. $2, $3: as __git_vtree_candidates.
__git_vtree_reply() {
  local word suffix=$1
  shift
  COMPREPLY=()
  while IFS= read -r word; do
    COMPREPLY+=("$word$suffix")
  done < <(__git_vtree_candidates "$@")
}

# `git vtree <TAB>`: git's completion calls this. git registers its completion with -o nospace
# and adds the space after a word itself, so this does too.
_git_vtree() {
  local i
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ ${COMP_WORDS[i]} == vtree ]] && break
  done
  __git_vtree_reply ' ' $((i + 1)) ''
}

# `git-vtree <TAB>`, and `vtree <TAB>` (which also has `vtree cd`).
__git_vtree_main() {
  local extra=
  [[ ${COMP_WORDS[0]} == vtree ]] && extra=cd
  __git_vtree_reply '' 1 "$extra"
}
complete -F __git_vtree_main git-vtree
