# fish completion for git vtree: `git-vtree <TAB>`, `git vtree <TAB>` (fish's git completion
# forwards to `complete -C "git-vtree ..."` when git-vtree is on PATH), and `vtree <TAB>` after
# `git vtree shell-init fish | source`. Save it as ~/.config/fish/completions/git-vtree.fish.
# Completing never starts Node.js: the words are listed here, and branches and worktrees come
# from git. Keep the lists in sync with src/cli.ts (test/completion.test.ts compares them with
# `git-vtree --help`).

# True when no vtree command is on the line yet.
function __git_vtree_needs_command
    set -l tokens (commandline -opc)
    test (count $tokens) -eq 1
end

# True when the vtree command on the line is one of $argv.
function __git_vtree_using
    set -l tokens (commandline -opc)
    test (count $tokens) -ge 2; and contains -- $tokens[2] $argv
end

# Local branches, and remote branches both as origin/x and as x (`git vtree add x` tracks it).
function __git_vtree_branches
    for ref in (git for-each-ref --format='%(refname)' refs/heads refs/remotes 2>/dev/null)
        switch $ref
            case 'refs/heads/*'
                string replace -- refs/heads/ '' $ref
            case 'refs/remotes/*/HEAD'
            case 'refs/remotes/*'
                set -l name (string replace -- refs/remotes/ '' $ref)
                echo $name
                string replace -r -- '^[^/]*/' '' $name
        end
    end
end

# The linked worktrees, by branch (or by directory name when detached).
function __git_vtree_worktrees
    set -l count 0
    set -l dir
    for line in (git worktree list --porcelain 2>/dev/null)
        switch $line
            case 'worktree *'
                set dir (string replace -- 'worktree ' '' $line)
                set count (math $count + 1)
            case 'branch refs/heads/*'
                test $count -gt 1; and string replace -- 'branch refs/heads/' '' $line
            case detached
                test $count -gt 1; and path basename -- $dir
        end
    end
end

complete -c git-vtree -f

# `git vtree <TAB>`: forwarded to the completions above. fish's git completion does this itself for
# git-* commands on PATH, but not in every version (3.6.0 does not); these lines make it work
# wherever this file is sourced (`git vtree shell-init fish`).
function __git_vtree_forward
    set -l tokens (commandline -opc)
    set -l at (contains -i -- vtree $tokens)
    set -e tokens[1..$at]
    complete -C (string join ' ' -- git-vtree (string escape -- $tokens) (commandline -ct))
end
complete -c git -n '__fish_seen_subcommand_from vtree' -f -a '(__git_vtree_forward)'
complete -c git -n 'test (count (commandline -opc)) -eq 1' -f -a vtree -d 'Worktrees that are ready to work in'

# Commands.
complete -c git-vtree -n __git_vtree_needs_command -a add -d 'Create a worktree for a branch and set it up'
complete -c git-vtree -n __git_vtree_needs_command -a list -d 'List worktrees and what vtree knows of them'
complete -c git-vtree -n __git_vtree_needs_command -a ls -d 'List worktrees (alias of list)'
complete -c git-vtree -n __git_vtree_needs_command -a rm -d 'Remove a worktree, its stack, its ports'
complete -c git-vtree -n __git_vtree_needs_command -a remove -d 'Remove a worktree (alias of rm)'
complete -c git-vtree -n __git_vtree_needs_command -a setup -d 'Set up an existing worktree'
complete -c git-vtree -n __git_vtree_needs_command -a hooks -d 'Install, remove or inspect the post-checkout hook'
complete -c git-vtree -n __git_vtree_needs_command -a init -d 'Set this repository up for vtree'
complete -c git-vtree -n __git_vtree_needs_command -a completion -d 'Print the completion script for a shell'
complete -c git-vtree -n __git_vtree_needs_command -a shell-init -d 'Print shell code: completion and the vtree function'
complete -c git-vtree -n __git_vtree_needs_command -a stats -d 'Where the time goes'
complete -c git-vtree -n __git_vtree_needs_command -a bench -d 'Time git worktree add + install against git vtree add'
complete -c git-vtree -n __git_vtree_needs_command -a ports -d 'Port leases on this machine'
complete -c git-vtree -n __git_vtree_needs_command -a up -d "Start the worktree's Compose stack"
complete -c git-vtree -n __git_vtree_needs_command -a down -d "Stop and remove the worktree's Compose stack"
complete -c git-vtree -n __git_vtree_needs_command -a status -d "Show the state of the worktree's Compose stack"
complete -c git-vtree -n __git_vtree_needs_command -a logs -d "Show the logs of the worktree's Compose services"
complete -c git-vtree -n __git_vtree_needs_command -a cache -d 'The dependency cache: status, prune, verify, warm, export, import'

# Flags every command has.
complete -c git-vtree -l verbose -d 'Show stack traces and subprocess output on errors'
complete -c git-vtree -s h -l help -d 'Show help'
complete -c git-vtree -n __git_vtree_needs_command -s V -l version -d 'Show version'

# add and setup.
complete -c git-vtree -n '__git_vtree_using add setup' -l deps -d 'Restore dependencies'
complete -c git-vtree -n '__git_vtree_using add setup' -l no-deps -d 'Do not restore dependencies'
complete -c git-vtree -n '__git_vtree_using add setup' -l services -d 'Start the Compose stack in the background'
complete -c git-vtree -n '__git_vtree_using add setup' -l no-services -d 'Do not start the Compose stack'
complete -c git-vtree -n '__git_vtree_using add setup' -l wait -d 'Wait until critical services are up'
complete -c git-vtree -n '__git_vtree_using add setup' -l link-mode -x -a 'auto reflink hardlink copy symlink' -d 'How dependencies are restored'
complete -c git-vtree -n '__git_vtree_using add' -l from -x -a '(__git_vtree_branches)' -d 'Start a new branch here'
complete -c git-vtree -n '__git_vtree_using add' -l path -x -a '(__fish_complete_directories)' -d 'Worktree directory'
complete -c git-vtree -n '__git_vtree_using add' -a '(__git_vtree_branches)'

# Commands that name a worktree.
complete -c git-vtree -n '__git_vtree_using rm remove setup' -a '(__git_vtree_worktrees)'
complete -c git-vtree -n '__git_vtree_using rm remove' -s f -l force -d 'Remove even with uncommitted or untracked changes'
complete -c git-vtree -n '__git_vtree_using rm remove' -s d -l delete-branch -d 'Also delete the branch'
complete -c git-vtree -n '__git_vtree_using rm remove' -l volumes -d "Also remove the Compose stack's volumes"

complete -c git-vtree -n '__git_vtree_using add setup list ls rm remove hooks init stats bench ports up down status logs cache' -l json -d 'Print JSON'
complete -c git-vtree -n '__git_vtree_using list ls' -l all -d "Also list vtree's spare worktrees"
complete -c git-vtree -n '__git_vtree_using hooks' -a 'install uninstall status'
complete -c git-vtree -n '__git_vtree_using completion shell-init' -a 'bash zsh fish'

complete -c git-vtree -n '__git_vtree_using stats' -l since -x -d 'Only runs since a duration ago (30m, 12h, 7d) or a date'
complete -c git-vtree -n '__git_vtree_using stats' -l last -x -d 'Only the newest N runs'
complete -c git-vtree -n '__git_vtree_using stats' -l op -x -d 'Only this operation (span name)'
complete -c git-vtree -n '__git_vtree_using stats' -l worktree -x -a '(__git_vtree_worktrees)' -d 'Only runs of this worktree'
complete -c git-vtree -n '__git_vtree_using stats' -l run -x -d 'Draw the waterfall of this run id'
complete -c git-vtree -n '__git_vtree_using stats' -l serve -d 'Serve a live dashboard on 127.0.0.1'
complete -c git-vtree -n '__git_vtree_using stats' -l port -x -d 'Port for --serve'

complete -c git-vtree -n '__git_vtree_using bench' -l runs -x -d 'Measured runs of each way'
complete -c git-vtree -n '__git_vtree_using bench' -l keep -d 'Keep the worktrees and branches it made'

complete -c git-vtree -n '__git_vtree_using ports' -l prune -d 'First free the leases of worktrees that no longer exist'

# The worktree's Compose stack.
complete -c git-vtree -n '__git_vtree_using up down status logs' -s w -l worktree -x -a '(__git_vtree_worktrees)' -d 'The worktree (default: the one you are in)'
complete -c git-vtree -n '__git_vtree_using up' -l wait -d 'Wait until they run'
complete -c git-vtree -n '__git_vtree_using down' -l volumes -d "Also remove the stack's volumes"
complete -c git-vtree -n '__git_vtree_using logs' -s f -l follow -d 'Keep following new lines'
complete -c git-vtree -n '__git_vtree_using logs' -l tail -x -d 'Lines from the end of each log'
complete -c git-vtree -n '__git_vtree_using logs' -l job -d 'Show the log of the background job that started the stack'

# The dependency cache.
complete -c git-vtree -n '__git_vtree_using cache; and test (count (commandline -opc)) -eq 2' -a 'status prune verify warm export import'
complete -c git-vtree -n '__git_vtree_using cache; and __fish_seen_subcommand_from export import' -F
complete -c git-vtree -n '__git_vtree_using cache' -l max-size -x -d 'prune: drop least recently used entries until the cache is this small'
complete -c git-vtree -n '__git_vtree_using cache' -l older-than -x -d 'prune: drop entries unused this long'
complete -c git-vtree -n '__git_vtree_using cache' -l include-used -d 'prune: also drop entries worktrees were restored from'
complete -c git-vtree -n '__git_vtree_using cache' -l dry-run -d 'verify: report, drop nothing'
complete -c git-vtree -n '__git_vtree_using cache' -l spares -x -d 'warm: spares to keep ready'
complete -c git-vtree -n '__git_vtree_using cache' -l key -x -d 'export: only entries whose key starts with this'
