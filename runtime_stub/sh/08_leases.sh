# --- leases: who runs a run id, who holds a lock ----------------------------------------
# Lease files are created with the shell's noclobber option (`set -C`: an exclusive create,
# atomic on every POSIX file system), so one process wins:
# - af_locks/<run_id>.run, the run lease: "PID START HOST SINCE" of the one process running
#   that run id (START: its start time, field 22 of /proc/PID/stat, or - where there is no
#   /proc; SINCE: epoch seconds). It is live while that process is: same host, the pid
#   exists and started at START. A second process of the run id exits 3 naming it.
# - a lock: "RUN_ID EXPIRES TTL"; live until EXPIRES (a TTL of 0 or less: expired at once,
#   as in the engine), which the run's keeper renews. The artifact's own flow and job locks
#   are af_locks/<name>.lock, with_lock keys locks/<name>.lock: two namespaces, as the
#   engine's `locks` table holds only with_lock keys, so that no key a flow chooses is one
#   of the artifact's own locks. A name is "<key, bytes outside [A-Za-z0-9._-] as _, cut
#   at 80>-<cksum>".
# A lease that is empty or unreadable (its writer was killed between the create and the
# write, or garbage) is judged by its age instead. Flow and job lock names are known when
# compiling and come with the call; a with_lock key is named here, once per acquire (the
# release finds it in a one-entry cache). Artifacts compiled before the namespaces kept
# their run lease and own locks in locks/: a run resumed from one of them checks its lease
# there, and removes the locks of its run id it finds there.

af_lock_name() {  # KEY -> REPLY: a file name for it
    if [ -n "${AF_LN_NAME-}" ] && [ "$1" = "$AF_LN_KEY" ]; then REPLY=$AF_LN_NAME; return 0; fi
    # "x" first: cut ends its line with a newline only when there is a line.
    af_n=$(printf 'x%s' "$1" | LC_ALL=C tr -c 'A-Za-z0-9._-' '_' | LC_ALL=C cut -c1-81; printf '%s' "$1" | cksum)
    af_sum=${af_n#*"$AF_NL"}
    af_safe=${af_n%%"$AF_NL"*}
    REPLY="${af_safe#x}-${af_sum%% *}"
    AF_LN_KEY=$1; AF_LN_NAME=$REPLY
}

af_whoami() {  # -> AF_ME "PID START HOST" of this shell, and AF_HOST (builtins only on Linux)
    af_start=-
    if [ -r "/proc/$$/stat" ] && IFS= read -r af_stat <"/proc/$$/stat" && af_proc_start "$af_stat"; then
        af_start=$REPLY
    fi
    AF_HOST=
    [ -r /proc/sys/kernel/hostname ] && read -r AF_HOST </proc/sys/kernel/hostname
    [ -n "$AF_HOST" ] || AF_HOST=$(uname -n 2>/dev/null)
    case $AF_HOST in '' | *[!A-Za-z0-9._-]*) AF_HOST=$(printf '%s' "${AF_HOST:-unknown}" | LC_ALL=C tr -c 'A-Za-z0-9._-' '_') ;; esac
    AF_ME="$$ $af_start $AF_HOST"
}

af_proc_start() {  # a /proc/PID/stat line -> REPLY: field 22, the process's start time; 1 if none
    af_rest=${1##*) }  # after the command name, which may hold spaces and parentheses
    af_k=3
    while [ "$af_k" -lt 22 ]; do
        case $af_rest in *' '*) af_rest=${af_rest#* } ;; *) return 1 ;; esac
        af_k=$((af_k + 1))
    done
    REPLY=${af_rest%% *}
    case $REPLY in '' | *[!0-9]*) return 1 ;; esac
}

af_ident() {  # "PID START HOST SINCE" -> af_i_pid, af_i_start, af_i_host, af_i_since; 1 if it is not one
    case $1 in *' '*' '*' '*) ;; *) return 1 ;; esac
    af_i_pid=${1%% *}; af_rest=${1#* }
    af_i_start=${af_rest%% *}; af_rest=${af_rest#* }
    af_i_host=${af_rest%% *}; af_i_since=${af_rest#* }
    case $af_i_pid in '' | *[!0-9]* | ??????????*) return 1 ;; esac
    case $af_i_start in - | [0-9]*) ;; *) return 1 ;; esac
    case $af_i_start in ?*[!0-9]*) return 1 ;; esac
    case $af_i_host in '' | *[!A-Za-z0-9._-]*) return 1 ;; esac
    case $af_i_since in '' | *[!0-9]* | ???????????????????*) return 1 ;; esac
}

af_alive() {  # PID START HOST: 0 while that process runs (one on another host counts as running)
    [ "$3" = "$AF_HOST" ] || return 0
    if [ -r "/proc/$1/stat" ] && { IFS= read -r af_stat <"/proc/$1/stat"; } 2>/dev/null; then
        [ "$2" = - ] && return 0
        af_proc_start "$af_stat" && [ "$REPLY" = "$2" ]  # else the pid was reused
        return
    fi
    kill -0 "$1" 2>/dev/null && return 0
    # Another user's process (EPERM) is alive; only "no such process" means gone.
    case $(LC_ALL=C kill -0 "$1" 2>&1) in *ermitted*) return 0 ;; esac
    return 1
}

af_older() {  # FILE SECONDS: 0 when FILE was last written more than SECONDS ago (by AF_EPOCH)
    af_iso $((AF_EPOCH - $2))  # sets af_y .. af_ss too
    af_ref=$AF_STATE_DIR/af_locks/.age.$$
    TZ=UTC0 LC_ALL=C touch -t "$af_y$af_m$af_d$af_hh$af_mm.$af_ss" "$af_ref" 2>/dev/null || return 1
    af_found=$(LC_ALL=C find "$1" -prune ! -newer "$af_ref" 2>/dev/null)
    LC_ALL=C rm -f "$af_ref"
    [ -n "$af_found" ]
}

# FILE LINE TAG [SECONDS]: remove the lease FILE if its first line is still LINE, which the
# caller judged stale (with SECONDS: by its age, which must still hold); 1 while another
# process is at it. Breakers of one stale content take turns through the directory
# FILE.break.TAG (mkdir: one wins), TAG naming that content. A lease can change from LINE
# only by its removal here (its holder is gone, and a create fails while it exists), so the
# removal of a fresh lease that replaced the stale one (the ABA race of a read, then a
# rename or remove) cannot happen. A breaker that died inside is passed over by a
# directory inside its own: "next", once its owner is gone or, unnamed, 10 s old.
af_break() {
    af_brk=$1.break.$3
    while ! LC_ALL=C mkdir "$af_brk" 2>/dev/null; do
        [ -d "$af_brk" ] || return 1
        af_line=
        { IFS= read -r af_line <"$af_brk/owner"; } 2>/dev/null
        if af_ident "$af_line"; then
            ! af_alive "$af_i_pid" "$af_i_start" "$af_i_host" || return 1
        else
            af_older "$af_brk" 10 || return 1
        fi
        af_brk=$af_brk/next
    done
    printf '%s %s\n' "$AF_ME" "$AF_EPOCH" >"$af_brk/owner"
    af_line=
    { IFS= read -r af_line <"$1"; } 2>/dev/null
    if [ "$af_line" = "$2" ] && { [ $# -lt 4 ] || af_older "$1" "$4"; }; then
        LC_ALL=C rm -f "$1"
    fi
    LC_ALL=C rm -rf "$1.break.$3"
    return 0
}

# The run lease, taken after the run id is known and before anything of the run is
# written: a second process of a live run id writes nothing, takes no lock, and exits 3.
af_run_lease() {
    af_whoami
    af_legacy_lease
    AF_LEASE=$AF_STATE_DIR/af_locks/$AF_RUN_ID.run
    af_mine="$AF_ME $AF_EPOCH"
    af_tries=0
    while :; do
        set -C
        { printf '%s\n' "$af_mine" >"$AF_LEASE"; } 2>/dev/null
        af_created=$?
        set +C
        if [ "$af_created" = 0 ]; then
            AF_LEASE_LINE=$af_mine
            trap af_run_unlease EXIT
            return 0
        fi
        af_tries=$((af_tries + 1))
        af_line=
        { IFS= read -r af_line <"$AF_LEASE"; } 2>/dev/null
        if af_ident "$af_line"; then
            if af_alive "$af_i_pid" "$af_i_start" "$af_i_host"; then
                af_iso "$af_i_since"
                af_note=
                [ "$af_i_host" = "$AF_HOST" ] || af_note=" (if that host is gone for good, remove $AF_LEASE)"
                af_event ERROR run_live "detail=run $AF_RUN_ID of flow $AF_FLOW_ID is already running: pid $af_i_pid on host $af_i_host, since $REPLY$af_note"
                exit 3
            fi
            af_break "$AF_LEASE" "$af_line" "$af_i_pid.$af_i_start.$af_i_since" && continue
        elif [ ! -e "$AF_LEASE" ]; then
            [ "$af_tries" -le 5 ] && continue  # removed as we looked
            af_die "cannot create the run lease $AF_LEASE"
        elif af_older "$AF_LEASE" 5; then  # its writer was killed before it wrote
            af_tag=empty; [ -z "$af_line" ] || af_tag=garbage
            af_break "$AF_LEASE" "$af_line" "$af_tag" 5 && continue
        fi
        if [ "$af_tries" -gt 2 ]; then
            af_event ERROR run_live "detail=run $AF_RUN_ID of flow $AF_FLOW_ID is being started by another process ($AF_LEASE)"
            exit 3
        fi
        sleep 1  # another process is writing or breaking the lease: look again
        af_clock
    done
}

af_legacy_lease() {  # a run lease of this run id where earlier artifacts kept it: exit 3 while it is live
    af_old=$AF_STATE_DIR/locks/$AF_RUN_ID.run
    [ -e "$af_old" ] || return 0
    af_line=
    { IFS= read -r af_line <"$af_old"; } 2>/dev/null
    if af_ident "$af_line" && af_alive "$af_i_pid" "$af_i_start" "$af_i_host"; then
        af_iso "$af_i_since"
        af_event ERROR run_live "detail=run $AF_RUN_ID of flow $AF_FLOW_ID is already running: pid $af_i_pid on host $af_i_host, since $REPLY ($af_old)"
        exit 3
    fi
    LC_ALL=C rm -f "$af_old"  # its process is gone
}

af_run_unlease() {  # the EXIT trap: the run lease and this run's locks go, in one rm (exit, error or signal)
    af_keeper_stop
    set --
    af_todo_held=$AF_LATER$AF_HELD
    while [ -n "$af_todo_held" ]; do
        af_entry=${af_todo_held%%"$AF_NL"*}; af_todo_held=${af_todo_held#"$af_entry"}; af_todo_held=${af_todo_held#"$AF_NL"}
        af_lease "$af_entry"
        [ "$af_owner" != "$AF_RUN_ID" ] || set -- "$@" "$af_entry"
    done
    af_line=
    { IFS= read -r af_line <"$AF_LEASE"; } 2>/dev/null
    [ "$af_line" != "$AF_LEASE_LINE" ] || set -- "$@" "$AF_LEASE"
    [ "${AF_MSG_OK-}" != 1 ] || set -- "$@" "$AF_MSG"
    [ $# = 0 ] || LC_ALL=C rm -f "$@"
}

# KEY TTL [NAME]: 0 acquired, 1 held by another run (expiry from the last af_clock). With
# NAME: one of the artifact's own locks (af_locks/); without: a with_lock key (locks/).
af_lock_acquire() {
    if [ $# -ge 3 ]; then
        af_lock=$AF_STATE_DIR/af_locks/$3.lock
        # Left in locks/ by an earlier process of this run id, compiled before af_locks/.
        if [ -e "$AF_STATE_DIR/locks/$3.lock" ]; then
            af_lease "$AF_STATE_DIR/locks/$3.lock"
            [ "$af_owner" != "$AF_RUN_ID" ] || LC_ALL=C rm -f "$AF_STATE_DIR/locks/$3.lock"
        fi
    else
        af_lock_name "$1"
        af_lock=$AF_STATE_DIR/locks/$REPLY.lock
    fi
    af_tries=0
    while :; do
        set -C
        { printf '%s %s %s\n' "$AF_RUN_ID" "$((AF_EPOCH + $2))" "$2" >"$af_lock"; } 2>/dev/null
        af_created=$?
        set +C
        if [ "$af_created" = 0 ]; then
            AF_HELD="$AF_HELD$af_lock$AF_NL"
            af_keeper "$2"
            return 0
        fi
        af_lease "$af_lock"
        if [ "$af_owner" = "$AF_RUN_ID" ]; then
            # Left by an earlier process of this run id, which is gone (the run lease): ours.
            printf '%s %s %s\n' "$AF_RUN_ID" "$((AF_EPOCH + $2))" "$2" >"$af_lock"
            case $AF_NL$AF_HELD in *"$AF_NL$af_lock$AF_NL"*) ;; *) AF_HELD="$AF_HELD$af_lock$AF_NL" ;; esac
            af_keeper "$2"
            return 0
        fi
        af_tries=$((af_tries + 1))
        [ "$af_tries" -le 3 ] || return 1
        if [ -n "$af_owner" ]; then
            [ "$af_expires" -le "$AF_EPOCH" ] || return 1  # expired at its second, as in the engine
            af_break "$af_lock" "$af_line" "$af_owner.$af_expires" && continue
        elif [ ! -e "$af_lock" ]; then
            continue  # released as we looked
        elif af_older "$af_lock" "$2"; then  # unreadable, and older than the TTL asked for
            af_tag=empty; [ -z "$af_line" ] || af_tag=garbage
            af_break "$af_lock" "$af_line" "$af_tag" "$2" && continue
        fi
        sleep 1  # being written (or renewed, or broken by another run): look again
        af_clock
    done
}

af_lease() {  # LOCKFILE -> af_line, and af_owner af_expires af_ttl when it reads "RUN_ID EXPIRES TTL"
    af_owner=; af_expires=; af_ttl=; af_line=
    { IFS= read -r af_line <"$1"; } 2>/dev/null
    case $af_line in *' '*' '*) ;; *) return 0 ;; esac
    af_rest=${af_line#* }
    af_expires=${af_rest%% *}; af_ttl=${af_rest#* }
    case ${af_line%% *} in '' | *[!A-Za-z0-9_.-]*) af_expires= ;; esac
    case $af_expires in *[!0-9]* | ??????????????????*) af_expires= ;; esac
    case ${af_ttl#-} in '' | *[!0-9]* | ??????????????????*) af_expires= ;; esac
    [ -z "$af_expires" ] || af_owner=${af_line%% *}
}

# TTL: make sure this run's keeper is running and wakes at least every TTL/3 seconds. One
# background process per run renews the expiry of every lock this run owns, and stops when
# the run ends or is gone (killed), so the locks of a killed run expire.
af_keeper() {
    af_every=$(($1 / 3))
    [ "$af_every" -ge 1 ] || af_every=1
    if [ -n "$AF_KEEPER" ]; then
        [ "$af_every" -lt "$AF_KEEPER_EVERY" ] || return 0
        kill "$AF_KEEPER" 2>/dev/null
    fi
    AF_KEEPER_EVERY=$af_every
    (
        trap 'kill "$af_nap" 2>/dev/null; wait "$af_nap"; exit 0' TERM
        while :; do
            sleep "$af_every" &
            af_nap=$!
            wait "$af_nap"
            kill -0 "$$" 2>/dev/null || exit 0
            af_now=$(LC_ALL=C date +%s)
            for af_lock in "$AF_STATE_DIR"/af_locks/*.lock "$AF_STATE_DIR"/locks/*.lock; do
                af_lease "$af_lock"
                [ "$af_owner" = "$AF_RUN_ID" ] || continue
                printf '%s %s %s\n' "$AF_RUN_ID" "$((af_now + af_ttl))" "$af_ttl" >"$af_lock"
            done
        done
    ) </dev/null >/dev/null 2>&1 7>&- &
    AF_KEEPER=$!
}

af_keeper_stop() {
    [ -n "$AF_KEEPER" ] && kill "$AF_KEEPER" 2>/dev/null
    AF_KEEPER=
}

af_lock_release() {  # KEY [NAME [later]]: later: at the run's end, in the rm that removes the run lease
    if [ $# -ge 2 ]; then
        af_lock=$AF_STATE_DIR/af_locks/$2.lock
    else
        af_lock_name "$1"
        af_lock=$AF_STATE_DIR/locks/$REPLY.lock
    fi
    af_left=
    af_todo_held=$AF_HELD
    while [ -n "$af_todo_held" ]; do
        af_entry=${af_todo_held%%"$AF_NL"*}; af_todo_held=${af_todo_held#"$af_entry"}; af_todo_held=${af_todo_held#"$AF_NL"}
        [ "$af_entry" != "$af_lock" ] && af_left="$af_left$af_entry$AF_NL"
    done
    AF_HELD=$af_left
    if [ "${3-}" = later ]; then AF_LATER="$AF_LATER$af_lock$AF_NL"; return 0; fi
    af_lease "$af_lock"
    [ "$af_owner" = "$AF_RUN_ID" ] && LC_ALL=C rm -f "$af_lock"
    return 0
}

af_release_all() {  # the keeper stops; the locks still held go at the run's end, with the run lease
    af_keeper_stop
    AF_LATER=$AF_LATER$AF_HELD
    AF_HELD=
}

