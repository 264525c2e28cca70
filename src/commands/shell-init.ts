import type { Args } from './spec.js';
import { ExitCode } from '../core/errors.js';
import type { Io } from '../core/output.js';
import { completionScript, type Shell } from './completion.js';

/**
 * awk over `git worktree list --porcelain`: prints the path of the worktree whose path, directory
 * name or branch is $VTREE_WANT (read from the environment, so no escape in it is interpreted).
 */
const FIND_WORKTREE = String.raw`
  /^worktree / { path = substr($0, 10); n = split(path, parts, "/"); name = parts[n]
                 if (path == ENVIRON["VTREE_WANT"] || name == ENVIRON["VTREE_WANT"]) { print path; exit } }
  /^branch refs\/heads\// { if (substr($0, 19) == ENVIRON["VTREE_WANT"]) { print path; exit } }`;

/**
 * `vtree cd <worktree>` and `vtree add ... --cd` for bash and zsh. A function, because only the
 * shell itself can change its directory. `vtree cd` finds the worktree with git alone (by
 * branch, directory name or path), so it is as fast as `cd`; every other word goes to
 * `git vtree`. `git vtree add` prints the new worktree's path as its only stdout line.
 */
const POSIX_FUNCTION = String.raw`
# vtree: git vtree, plus "vtree cd <branch>" and "vtree add <branch> --cd".
vtree() {
  local dir want_cd= n=$#
  if [ "$1" = cd ]; then
    if [ $# -ne 2 ]; then echo 'usage: vtree cd <branch|directory name|path>' >&2; return 2; fi
    dir=$(git worktree list --porcelain 2>/dev/null | VTREE_WANT="$2" awk '${FIND_WORKTREE}')
    if [ -z "$dir" ]; then echo "vtree: no worktree for '$2' (see: git vtree list)" >&2; return 1; fi
    cd "$dir"
    return
  fi
  if [ "$1" = add ]; then
    # Take --cd out of the arguments, keeping the others in order.
    while [ "$n" -gt 0 ]; do
      n=$((n - 1))
      if [ "$1" = --cd ]; then want_cd=1; else set -- "$@" "$1"; fi
      shift
    done
    if [ -n "$want_cd" ]; then
      dir=$(command git vtree "$@") || return
      cd "$dir"
      return
    fi
  fi
  command git vtree "$@"
}
`;

const FISH_FUNCTION = String.raw`
# vtree: git vtree, plus "vtree cd <branch>" and "vtree add <branch> --cd".
function vtree --wraps git-vtree --description 'git vtree, plus vtree cd <branch> and vtree add <branch> --cd'
    if test "$argv[1]" = cd
        if test (count $argv) -ne 2
            echo 'usage: vtree cd <branch|directory name|path>' >&2
            return 2
        end
        set -l dir (git worktree list --porcelain 2>/dev/null | VTREE_WANT=$argv[2] awk '${FIND_WORKTREE}')
        if test -z "$dir"
            echo "vtree: no worktree for '$argv[2]' (see: git vtree list)" >&2
            return 1
        end
        cd $dir
        return
    end
    if test "$argv[1]" = add; and contains -- --cd $argv
        set -l args
        for arg in $argv
            test "$arg" = --cd; or set -a args $arg
        end
        set -l dir (command git vtree $args); or return
        cd $dir[-1]
        return
    end
    command git vtree $argv
end
complete -c vtree -n '__fish_is_first_token' -a cd -d 'Change into a worktree'
complete -c vtree -n '__fish_seen_subcommand_from cd' -f -a '(__git_vtree_worktrees)'
`;

/** What each shell's init prints: completion first, then the function and its completion. */
const SHELL_INIT = {
  bash: (completion) => `${completion}\n${POSIX_FUNCTION}complete -F __git_vtree_main vtree\n`,
  // The zsh completion file is an autoload body: wrap it in a function and register it.
  zsh: (completion) =>
    `_git-vtree() {\n${completion}\n}\n` +
    `zstyle ':completion:*:*:git:*' user-commands vtree:'worktrees that are ready to work in'\n` +
    `(( $+functions[compdef] )) && compdef _git-vtree git-vtree vtree\n${POSIX_FUNCTION}`,
  fish: (completion) => `${completion}\n${FISH_FUNCTION}`,
} satisfies Record<Shell, (completion: string) => string>;

/**
 * `git vtree shell-init <shell>`: shell code for the user's rc file (`eval "$(git vtree
 * shell-init bash)"`): completion for `git vtree`, `git-vtree` and `vtree`, and the `vtree`
 * function. It starts Node.js once, at shell start-up; install.sh saves the output to a file
 * instead, so that no shell start-up runs Node.js.
 */
export default async function shellInit(args: Args, io: Io): Promise<number> {
  const shell = String(args.shell) as Shell;
  io.out(SHELL_INIT[shell](await completionScript(shell)));
  return ExitCode.ok;
}
