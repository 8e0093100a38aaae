# --- external.process -----------------------------------------------------------------

af_process_reset() {  # defaults of every external.process input
    AF_P_SHELL=0; AF_P_CWD=; AF_P_TIMEOUT=; AF_P_GRACE=15; AF_P_INHERIT=1; AF_P_ENV=
    AF_P_ENV_ODD=0; AF_P_ENV_BAD=
    AF_P_STDOUT=inherit; AF_P_STDERR=inherit; AF_P_MAX_KB=1024; AF_P_LOG_FILE=
    AF_P_CODES=' 0 '; AF_P_RETRY_MAX=1; AF_P_RETRY_CODES=' '; AF_P_RETRY_TIMEOUT=0
    AF_P_BACKOFF=0; AF_P_MULT=1; AF_P_MAX_BACKOFF=0
    AF_P_STRATEGY=none; AF_P_MARKER=; AF_P_TEMP_DIR=; AF_P_FINAL_DIR=; AF_P_RENAME=1
    AF_P_REQUIRE=; AF_P_GLOBS=; AF_P_FORBID=; AF_P_SUCCESS_MARKER=
    # Templated settings that Python converts late (JSON literals; '' when not templated).
    AF_PJ_RETRY_MAX=; AF_PJ_BACKOFF=; AF_PJ_MULT=; AF_PJ_MAX_BACKOFF=; AF_PJ_RETRY_CODES=
    AF_PJ_RETRY_TIMEOUT=; AF_PJ_RENAME=
}

# NAME VALUE: an env entry for the child. A name the shell cannot hold as a variable
# (A-B, 1X, ü_V) reaches the child through `env NAME=VALUE` (AF_P_ENV_ODD); one that no
# environment can hold ('', A=B) fails the step when it would start, as in Python.
af_env_set() {
    case $1 in
        '' | *=*) AF_P_ENV_BAD=${AF_P_ENV_BAD:-$1} ;;
        [!A-Za-z_]* | *[!A-Za-z0-9_]*) AF_P_ENV_ODD=1 ;;
    esac
    AF_P_ENV="$AF_P_ENV$1$AF_NL"
    eval "AF_PE_$AF_P_ENV_N=\$2"
    AF_P_ENV_N=$((AF_P_ENV_N + 1))
}

# The templated retry settings (and atomic_rename, at the end), converted where Python
# converts them: after the marker check and the atomic_dir temp dir, in its order.
af_process_late() {
    if [ -n "$AF_PJ_RETRY_MAX" ]; then
        af_to_int "$AF_PJ_RETRY_MAX" retry.max_attempts || return 1
        AF_P_RETRY_MAX=$REPLY
    fi
    if [ "$AF_P_RETRY_MAX" -lt 1 ]; then  # the engine makes no attempt at all and fails the step
        af_step_fail "external.process retry.max_attempts is $AF_P_RETRY_MAX: the command is never run"; return 1
    fi
    if [ -n "$AF_PJ_BACKOFF" ]; then af_to_num "$AF_PJ_BACKOFF" retry.backoff_seconds || return 1; AF_P_BACKOFF=$REPLY; fi
    if [ -n "$AF_PJ_MULT" ]; then af_to_num "$AF_PJ_MULT" retry.backoff_multiplier || return 1; AF_P_MULT=$REPLY; fi
    if [ -n "$AF_PJ_MAX_BACKOFF" ]; then
        af_to_num "$AF_PJ_MAX_BACKOFF" retry.max_backoff_seconds || return 1
        AF_P_MAX_BACKOFF=$REPLY
    fi
    if [ -n "$AF_PJ_RETRY_CODES" ]; then  # one JSON literal per line: an integer or a list of them
        af_todo_late=$AF_PJ_RETRY_CODES
        AF_P_RETRY_CODES=' '
        while [ -n "$af_todo_late" ]; do
            af_lit=${af_todo_late%%"$AF_NL"*}; af_todo_late=${af_todo_late#*"$AF_NL"}
            af_int_list "$af_lit" retry.retry_on_exit_codes || return 1
            AF_P_RETRY_CODES="$AF_P_RETRY_CODES$REPLY"
        done
    fi
    if [ -n "$AF_PJ_RETRY_TIMEOUT" ]; then
        af_to_bool "$AF_PJ_RETRY_TIMEOUT" retry.retry_on_timeout || return 1
        AF_P_RETRY_TIMEOUT=$REPLY
    fi
    return 0
}

# STATUS [MESSAGEFILE] -> REPLY: the exit code Python reports for the program: -N for a
# program killed by signal N. The shell's status is 128+N for it, as for a program that
# exits 128+N by itself (a shell passing on the status of its own child). MESSAGEFILE
# holds what the shell wrote on its stderr while it waited (af_watch): its job message
# ("Terminated", "Killed") says a signal. dash, busybox sh and bash write none for INT and
# PIPE: those two statuses, and every one of 129..192 where there is no MESSAGEFILE (the
# direct paths), count as the signal (N at most 64, SIGRTMAX on Linux; docs/sh-target.md).
af_exit_code() {
    REPLY=$1
    [ "$1" -gt 128 ] && [ "$1" -le 192 ] || return 0
    if [ $# -ge 2 ] && [ ! -s "$2" ]; then
        case $1 in 130 | 141) ;; *) return 0 ;; esac
    fi
    REPLY=$((128 - $1))
}

af_ambiguous() {  # CODES: 0 when a list " a b " holds a signal's code (-N) or one of 129..192
    case $1 in
        *' -'[1-9]* | *' 129 '* | *' 1'[3-8][0-9]' '* | *' 19'[0-2]' '*) return 0 ;;
    esac
    return 1
}

# CWD OUT ERR TEMPDIR ARGV...: af_child with this shell's stderr in a file while it waits
# (the program gets the run's stderr back from fd 8), where the shell writes its job
# message for a child killed by a signal -> AF_RC (af_exit_code). The file is the run's
# .af-job-message, made once (none without a stderr or where it cannot be made).
af_watch() {
    if [ -z "$AF_MSG_OK" ]; then
        AF_MSG=$AF_RUN_DIR/.af-job-message; AF_MSG_OK=0
        true >&2 && true 2>/dev/null >"$AF_MSG" && AF_MSG_OK=1
    fi
    AF_RC=
    if [ "$AF_MSG_OK" = 1 ]; then
        AF_WATCHING=1
        { af_child "$@"; AF_RC=$?; } 8>&2 2>"$AF_MSG"
        AF_WATCHING=0
    fi
    if [ -n "$AF_RC" ]; then
        af_exit_code "$AF_RC" "$AF_MSG"
    else
        af_child "$@"
        af_exit_code "$?"
    fi
    AF_RC=$REPLY
}

af_check_success() {  # 0 when the success files are right; AF_REASON otherwise
    af_all=$AF_P_REQUIRE
    [ -n "$AF_P_SUCCESS_MARKER" ] && af_all="$af_all$AF_P_SUCCESS_MARKER$AF_NL"
    af_todo_files=$af_all
    while [ -n "$af_todo_files" ]; do
        af_f=${af_todo_files%%"$AF_NL"*}; af_todo_files=${af_todo_files#"$af_f"}; af_todo_files=${af_todo_files#"$AF_NL"}
        [ -n "$af_f" ] || continue
        af_path "$af_f" || return 2
        [ -e "$REPLY" ] || { AF_REASON="missing_required_file:$af_f"; return 1; }
    done
    af_todo_globs=$AF_P_GLOBS
    while [ -n "$af_todo_globs" ]; do
        af_f=${af_todo_globs%%"$AF_NL"*}; af_todo_globs=${af_todo_globs#"$af_f"}; af_todo_globs=${af_todo_globs#"$AF_NL"}
        [ -n "$af_f" ] || continue
        af_path "$af_f" || return 2
        af_glob_matches "$REPLY" || { AF_REASON="missing_required_glob:$af_f"; return 1; }
    done
    af_todo_forbid=$AF_P_FORBID
    while [ -n "$af_todo_forbid" ]; do
        af_f=${af_todo_forbid%%"$AF_NL"*}; af_todo_forbid=${af_todo_forbid#"$af_f"}; af_todo_forbid=${af_todo_forbid#"$AF_NL"}
        [ -n "$af_f" ] || continue
        af_path "$af_f" || return 2
        [ -e "$REPLY" ] && { AF_REASON="forbidden_file_present:$af_f"; return 1; }
    done
    return 0
}

af_glob_matches() {  # RESOLVED: the pattern applies to the last part; * matches dot files too
    af_dir=${1%/*}
    af_pat=${1##*/}
    [ -d "$af_dir" ] || return 1
    for af_cand in "$af_dir"/* "$af_dir"/.*; do
        af_name=${af_cand##*/}
        case $af_name in . | ..) continue ;; esac
        [ -e "$af_cand" ] || continue
        # shellcheck disable=SC2254  # the pattern comes from the flow on purpose
        case $af_name in $af_pat) return 0 ;; esac
    done
    return 1
}

af_quote() {  # WORD -> REPLY quoted for sh (as Python's shlex.quote)
    case $1 in
        '') REPLY="''" ;;
        *[!A-Za-z0-9_@%+=:,./-]*)
            af_q=$1; REPLY=
            while :; do
                case $af_q in
                    *\'*) REPLY="$REPLY${af_q%%\'*}'\"'\"'"; af_q=${af_q#*\'} ;;
                    *) REPLY="'$REPLY$af_q'"; break ;;
                esac
            done ;;
        *) REPLY=$1 ;;
    esac
}

# ARGV...: run with the AF_P_* settings; records the result keys. Returns 1 (step failed,
# already recorded) or 0; AF_STEP_STATUS is SKIPPED when a marker says it was done.
af_process() {
    af_cwd=
    if [ -n "$AF_P_CWD" ]; then
        af_path "$AF_P_CWD" || { af_step_fail "$AF_ERROR"; return 1; }
        af_cwd=$REPLY
    fi
    for af_mode in "$AF_P_STDOUT stdout" "$AF_P_STDERR stderr"; do
        case ${af_mode%% *} in
            inherit | capture | file | discard) ;;
            *) af_json_str "${af_mode%% *}"; af_repr "$REPLY"
               af_step_fail "unknown log mode $REPLY for ${af_mode##* }"; return 1 ;;
        esac
    done
    af_log=
    if [ -n "$AF_P_LOG_FILE" ]; then
        af_path "$AF_P_LOG_FILE" || { af_step_fail "$AF_ERROR"; return 1; }
        af_log=$REPLY
    fi
    case " $AF_P_STDOUT $AF_P_STDERR " in
        *' file '*) [ -n "$af_log" ] || { af_step_fail "log.file_path is required when stdout/stderr mode is 'file'"; return 1; } ;;
    esac
    if [ "$AF_P_STRATEGY" = marker ]; then
        af_m=${AF_P_MARKER:-$AF_P_SUCCESS_MARKER}
        if [ -n "$af_m" ]; then
            af_path "$af_m" || { af_step_fail "$AF_ERROR"; return 1; }
            af_marker=$REPLY
            if [ -e "$af_marker" ]; then
                af_check_success; af_ok=$?
                [ "$af_ok" = 2 ] && { af_step_fail "$AF_ERROR"; return 1; }
                if [ "$af_ok" = 0 ]; then
                    AF_STEP_STATUS=SKIPPED
                    af_result skipped true
                    af_json_str "$af_marker"; af_result marker "$REPLY"
                    af_result reason '"marker_present"'
                    return 0
                fi
            fi
        fi
    fi
    af_temp=; af_final=
    if [ "$AF_P_STRATEGY" = atomic_dir ]; then
        if [ -z "$AF_P_TEMP_DIR" ] || [ -z "$AF_P_FINAL_DIR" ]; then
            af_step_fail "atomic_dir requires temp_output_dir and final_output_dir"; return 1
        fi
        af_path "$AF_P_TEMP_DIR" || { af_step_fail "$AF_ERROR"; return 1; }
        af_temp=$REPLY
        af_path "$AF_P_FINAL_DIR" || { af_step_fail "$AF_ERROR"; return 1; }
        af_final=$REPLY
        [ -e "$af_temp" ] && rm -rf "$af_temp"
        mkdir -p "$af_temp" 2>/dev/null || { af_step_fail "cannot create temp_output_dir $af_temp"; return 1; }
    fi
    af_process_late || return 1
    if [ "$AF_P_SHELL" = 1 ]; then
        af_cmd=
        for af_word in "$@"; do
            af_quote "$af_word"
            af_cmd="$af_cmd${af_cmd:+ }$REPLY"
        done
        set -- /bin/sh -c "$af_cmd"
    fi
    af_attempt=0
    while :; do
        af_attempt=$((af_attempt + 1))
        if [ "$af_attempt" -gt 1 ] && [ "$AF_P_BACKOFF" != 0 ]; then
            af_delay=$(LC_ALL=C awk -v b="$AF_P_BACKOFF" -v m="$AF_P_MULT" -v n="$af_attempt" -v c="$AF_P_MAX_BACKOFF" \
                'BEGIN { d = b * m ^ (n - 2); if (c > 0 && d > c) d = c; printf "%.3f", d }')
            sleep "$af_delay"
        fi
        af_event DEBUG process_start "job_id=$AF_JOB" "step_id=$AF_STEP" "attempt=$af_attempt"
        af_run_once "$af_cwd" "$af_log" "$af_temp" "$@" || return 1  # the step failed before its program started
        af_rc=$AF_RC
        if [ "$AF_TIMED_OUT" = 1 ]; then
            af_event ERROR process_timeout "job_id=$AF_JOB" "step_id=$AF_STEP" "attempt=$af_attempt"
            if [ "$AF_P_RETRY_TIMEOUT" = 1 ] && [ "$af_attempt" -lt "$AF_P_RETRY_MAX" ]; then continue; fi
            af_step_fail "external.process timed out after ${AF_P_TIMEOUT}s"
            return 1
        fi
        case $AF_P_CODES in
            *" $af_rc "*) break ;;
        esac
        af_event ERROR process_exit "job_id=$AF_JOB" "step_id=$AF_STEP" "attempt=$af_attempt" "exit_code=$af_rc"
        case $AF_P_RETRY_CODES in
            *" $af_rc "*) [ "$af_attempt" -lt "$AF_P_RETRY_MAX" ] && continue ;;
        esac
        af_detail=
        [ -n "$AF_ERR_TEXT" ] && af_detail=" $AF_ERR_TEXT"
        af_step_fail "external.process failed with exit code $af_rc$af_detail"
        return 1
    done
    if [ -n "$af_temp" ]; then
        af_finalize "$af_temp" "$af_final" || return 1
    fi
    af_check_success; af_ok=$?
    [ "$af_ok" = 2 ] && { af_step_fail "$AF_ERROR"; return 1; }
    if [ "$af_ok" = 1 ]; then
        af_step_fail "external.process outputs invalid: $AF_REASON"
        return 1
    fi
    af_result exit_code "$af_rc"
    af_result attempts "$af_attempt"
    [ "$AF_P_STDOUT" = capture ] && af_result stdout "$AF_OUT_JSON"
    [ "$AF_P_STDERR" = capture ] && af_result stderr "$AF_ERR_JSON"
    if [ -n "$af_log" ]; then
        case " $AF_P_STDOUT $AF_P_STDERR " in
            *' file '*) af_json_str "$af_log"; af_result log_file "$REPLY" ;;
        esac
    fi
    return 0
}

af_finalize() {  # TEMP FINAL: atomic_dir's last move, as Python's os.replace (no parent made) or moves
    if [ -n "$AF_PJ_RENAME" ]; then af_to_bool "$AF_PJ_RENAME" atomic_rename || return 1; AF_P_RENAME=$REPLY; fi
    if [ "$AF_P_RENAME" != 1 ]; then
        LC_ALL=C mkdir -p "$2"
        for af_f in "$1"/* "$1"/.*; do
            case ${af_f##*/} in . | ..) continue ;; esac
            [ -e "$af_f" ] && mv "$af_f" "$2/"
        done
        rm -rf "$1"
        return 0
    fi
    af_fin=$2
    while :; do case $af_fin in ?*/) af_fin=${af_fin%/} ;; *) break ;; esac; done
    # A directory in the way goes first (shutil.rmtree, errors ignored); the rename then
    # fails where os.replace does: no parent directory, or something still in the way.
    [ -d "$af_fin" ] && [ ! -h "$af_fin" ] && LC_ALL=C rm -rf "$af_fin" 2>/dev/null
    af_errno=
    if [ ! -d "${af_fin%/*}/" ]; then af_errno='[Errno 2] No such file or directory'
    elif [ -d "$af_fin" ] && [ ! -h "$af_fin" ]; then af_errno='[Errno 39] Directory not empty'
    elif [ -e "$af_fin" ] || [ -h "$af_fin" ]; then af_errno='[Errno 20] Not a directory'
    elif ! LC_ALL=C mv "$1" "$af_fin"; then af_errno='cannot rename'
    fi
    [ -z "$af_errno" ] && return 0
    af_json_str "$1"; af_repr "$REPLY"; af_from=$REPLY
    af_json_str "$2"; af_repr "$REPLY"
    af_step_fail "$af_errno: $af_from -> $REPLY"
}

af_stream() {  # MODE NAME -> REPLY: where the stream goes
    case $1 in
        capture) REPLY=$AF_SCRATCH/.af-$AF_STEP.$2 ;;
        file) REPLY=$af_log ;;
        discard) REPLY=/dev/null ;;
        *) REPLY= ;;
    esac
}

af_reason() {  # PATH dir|file -> REPLY: why it cannot be entered or opened, as Python's OSError says
    af_up=${1%/*}
    if [ "$2" = dir ] && [ -e "$1" ] && [ ! -d "$1" ]; then REPLY='Not a directory'
    elif [ "$2" = file ] && [ -d "$1" ]; then REPLY='Is a directory'
    elif [ -e "$1" ] || { [ -d "${af_up:-/}" ] && [ ! -x "${af_up:-/}" ]; }; then REPLY='Permission denied'
    elif [ -e "${af_up:-/}" ] && [ ! -d "${af_up:-/}" ]; then REPLY='Not a directory'
    else REPLY='No such file or directory'
    fi
}

# CWD LOG TEMPDIR ARGV...: one attempt -> AF_RC, AF_TIMED_OUT, AF_OUT_JSON, AF_ERR_JSON, AF_ERR_TEXT
af_run_once() {
    af_c=$1; af_log=$2; af_t=$3
    shift 3
    AF_TIMED_OUT=0; AF_OUT_JSON='""'; AF_ERR_JSON='""'; AF_ERR_TEXT=
    af_stream "$AF_P_STDOUT" out; af_o=$REPLY
    af_stream "$AF_P_STDERR" err; af_e=$REPLY
    if [ -n "$af_log" ]; then
        case " $AF_P_STDOUT $AF_P_STDERR " in
            *' file '*)  # opened (made) for each attempt before the program starts, as in Python
                LC_ALL=C mkdir -p "${af_log%/*}" 2>/dev/null
                { : >>"$af_log"; } 2>/dev/null || {
                    af_reason "$af_log" file
                    af_step_fail "cannot open log.file_path $af_log: $REPLY"; return 1; } ;;
        esac
    fi
    # A value held a NUL (AF_NUL: argv, env or cwd): Popen refuses it after the log file is opened.
    [ -z "$AF_NUL" ] || { af_step_fail 'embedded null byte'; return 1; }
    if [ -n "$af_c" ] && ! { [ -d "$af_c" ] && [ -x "$af_c" ]; }; then  # Popen fails before the program runs
        af_reason "$af_c" dir; af_why=$REPLY
        if [ "$AF_P_SHELL" = 1 ]; then af_json_str "$3"; else af_json_str "$1"; fi
        af_repr "$REPLY"
        af_step_fail "cannot start $REPLY: $af_why"; return 1
    fi
    if [ -n "$AF_P_ENV_BAD" ]; then
        af_step_fail "illegal environment variable name"; return 1
    fi
    [ "$AF_P_STDOUT" = capture ] && : >"$af_o"
    [ "$AF_P_STDERR" = capture ] && : >"$af_e"
    # The direct path keeps the shell's own stderr where the program's goes (dash and busybox
    # redirect in the shell itself): a stderr kept in a file takes the child's path, or the
    # shell's job message ("Terminated") for a program killed by a signal would be in it.
    # A step that lists a code a status cannot tell apart (a signal, or 129..192) takes the
    # child's path too, where the shell's job message tells (af_watch).
    if [ -z "$AF_P_TIMEOUT$af_c$af_t$AF_P_ENV" ] && [ "$AF_P_INHERIT" = 1 ] \
        && [ "$AF_P_STDERR" != file ] && [ "$AF_P_STDERR" != capture ] \
        && ! af_ambiguous "$AF_P_CODES$AF_P_RETRY_CODES" && af_which "$1"; then
        shift
        af_direct "$af_o" "$af_e" "$REPLY" "$@"
        af_exit_code "$?"; AF_RC=$REPLY
    elif [ -z "$AF_P_TIMEOUT" ]; then
        af_watch "$af_c" "$af_o" "$af_e" "$af_t" "$@"
    else
        # With a timeout the program still runs in the foreground: `wait PID` for one of
        # several children can miss its end in dash and busybox sh (then it waits for the
        # next child to end). The watchdog is not a child of this shell (a subshell starts
        # it and exits): it reads the program's pid from AF_PIDFILE at the deadline.
        af_mark=$AF_SCRATCH/.af-$AF_STEP.timedout
        AF_PIDFILE=$AF_SCRATCH/.af-$AF_STEP.pid
        rm -f "$af_mark" "$AF_PIDFILE"
        AF_SETSID=
        command -v setsid >/dev/null 2>&1 && AF_SETSID=setsid
        # (A subshell, not the function itself, takes the redirections: a function call
        # would keep a copy of this substitution's pipe open, and it would not end.)
        af_wd=$( (af_watchdog "$af_mark") </dev/null >/dev/null 2>&1 7>&- & echo "$!")
        af_watch "$af_c" "$af_o" "$af_e" "$af_t" "$@"
        if [ -e "$af_mark" ]; then AF_TIMED_OUT=1; else kill "$af_wd" 2>/dev/null; fi
        rm -f "$af_mark" "$AF_PIDFILE"
    fi
    if [ "$AF_P_STDOUT" = capture ]; then
        AF_OUT_JSON=$( { dd if="$af_o" bs=1024 count="$AF_P_MAX_KB" 2>/dev/null; printf x; } | af_json_awk)
        rm -f "$af_o"
    fi
    if [ "$AF_P_STDERR" = capture ]; then
        AF_ERR_JSON=$( { dd if="$af_e" bs=1024 count="$AF_P_MAX_KB" 2>/dev/null; printf x; } | af_json_awk)
        af_text "$AF_ERR_JSON"; AF_ERR_TEXT=$REPLY
        rm -f "$af_e"
    fi
    return 0
}

af_watchdog() {  # MARK: at the deadline, mark the timeout and TERM the program's group; KILL after the grace
    af_sleeper=
    trap 'kill "$af_sleeper" 2>/dev/null; exit 0' TERM
    sleep "$AF_P_TIMEOUT" &
    af_sleeper=$!
    wait "$af_sleeper" || exit 0
    : >"$1"
    af_pid=
    [ -f "$AF_PIDFILE" ] && read -r af_pid <"$AF_PIDFILE"
    [ -n "$af_pid" ] || exit 0
    af_signal TERM "$af_pid"
    sleep "$AF_P_GRACE" &
    af_sleeper=$!
    wait "$af_sleeper" || exit 0
    af_signal KILL "$af_pid"
}

af_signal() {  # SIG PID: the whole process group when the child has one
    # `kill -SIG -PGID`: dash's `kill -s SIG` reads a negative pid as an option.
    if [ -n "$AF_SETSID" ]; then
        kill "-$1" "-$2" 2>/dev/null || kill "-$1" "$2" 2>/dev/null
    else
        kill "-$1" "$2" 2>/dev/null
    fi
}

# NAME -> REPLY: the file `exec NAME` would run (PATH search); 1 if none. Absolute results
# are remembered for the run in AF_WHICH (lines "NAME PATH"); PATH does not change in a run.
af_which() {
    case $1 in
        */*) REPLY=$1; return 0 ;;
        '' | *"$AF_NL"*) return 1 ;;
    esac
    case $AF_WHICH in
        *"$AF_NL$1 /"*)
            REPLY=${AF_WHICH#*"$AF_NL$1 "}
            REPLY=${REPLY%%"$AF_NL"*}
            return 0 ;;
    esac
    af_find "$1" "$PATH" || return 1
    case $REPLY in /*) AF_WHICH="$AF_WHICH$AF_NL$1 $REPLY" ;; esac
    return 0
}

af_find() {  # NAME SEARCH -> REPLY: the first executable file NAME in the folders of SEARCH; 1 if none
    case $1 in */*) REPLY=$1; return 0 ;; esac
    af_todo_path=$2:
    while [ -n "$af_todo_path" ]; do
        af_dir=${af_todo_path%%:*}; af_todo_path=${af_todo_path#*:}
        REPLY=${af_dir:-.}/$1
        [ -f "$REPLY" ] && [ -x "$REPLY" ] && return 0
    done
    return 1
}

# ARGV...: external.process for a step that sets no input but command and args (the
# compiler knows which): every other input has its default, so the program runs as a simple
# command with stdin from /dev/null, and the result is its exit code and one attempt.
af_plain() {
    [ -z "$AF_NUL" ] || { af_step_fail 'embedded null byte'; return 1; }  # in an argv item (af_text)
    if ! af_which "$1"; then
        af_process_reset  # not found: the general path fails the step as exec reports it
        af_process "$@"
        return
    fi
    shift
    af_event DEBUG process_start "job_id=$AF_JOB" "step_id=$AF_STEP" attempt=1
    af_direct '' '' "$REPLY" "$@"
    af_rc=$?
    if [ "$af_rc" != 0 ]; then
        af_exit_code "$af_rc"; af_rc=$REPLY
        af_event ERROR process_exit "job_id=$AF_JOB" "step_id=$AF_STEP" attempt=1 "exit_code=$af_rc"
        af_step_fail "external.process failed with exit code $af_rc"
        return 1
    fi
    AF_RESULT=$AF_PLAIN_RESULT
}

# A step that is only a literal command (no other input, no outputs, no on_no_data): the
# commonest step, in one call. A run that resumes, or a job an earlier step skips, takes
# the general path; so does a program that is not found.
af_plain_step() {  # ID index=INDEX PROGRAM [ARG...]
    if [ -n "$AF_JOB_SKIP" ] || [ "$AF_RESUMING" = 1 ] || [ "$AF_SQL" = 1 ] || ! af_which "$3"; then
        af_step "$1" external.process "$2" || return 0
        shift 2
        af_plain "$@" || return 1
        af_step_end
        return
    fi
    AF_STEP=$1; AF_STEP_INDEX=${2#index=}; AF_STEP_STATUS=SUCCESS; AF_CLOCK_FRESH=0
    case $AF_LOG_STYLE in
        quiet) ;;
        text) printf '                     INFO    step_start job_id=%s step_id=%s step_type=external.process\n' \
               "$AF_JOB" "$1" >&2 ;;
        *) af_step_event step_start "step_id=$1 step_type=external.process"
           af_event DEBUG process_start "job_id=$AF_JOB" "step_id=$1" attempt=1 ;;
    esac
    shift 3
    "$REPLY" "$@" 7>&-
    af_rc=$?
    if [ "$af_rc" != 0 ]; then
        af_exit_code "$af_rc"; af_rc=$REPLY
        af_event ERROR process_exit "job_id=$AF_JOB" "step_id=$AF_STEP" attempt=1 "exit_code=$af_rc"
        af_step_fail "external.process failed with exit code $af_rc"
        return 1
    fi
    printf '{\n"step": "%s",\n"status": "SUCCESS",\n"result": %s,\n"promoted": {}\n}\n' "$AF_STEP" \
        "$AF_PLAIN_RESULT_JSON" >&7
    case $AF_LOG_STYLE in
        quiet) ;;
        text) printf '                     INFO    step_end job_id=%s step_id=%s status=SUCCESS\n' "$AF_JOB" "$AF_STEP" >&2 ;;
        *) af_step_event step_end "step_id=$AF_STEP status=SUCCESS" ;;
    esac
    return 0
}

# The result of a plain step that succeeded, as a map and as written in its record.
AF_PLAIN_RESULT="\"exit_code\": 0$AF_NL\"attempts\": 1$AF_NL"
AF_PLAIN_RESULT_JSON="{$AF_NL    \"exit_code\": 0,$AF_NL    \"attempts\": 1$AF_NL  }"

# OUT ERR PROGRAM ARGS...: the common case (no cwd, env, temp dir or timeout) as a simple
# command: dash starts it with vfork, where the subshell of af_child copies the shell
# first. PROGRAM has a slash, so it never names a builtin or a function.
af_direct() {  # OUT ERR PROGRAM [ARG...]: the program in this shell's environment (stdin inherited, as in Python)
    af_o=$1; af_e=$2
    shift 2
    if [ -z "$af_o$af_e" ]; then
        "$@" 7>&-
    elif [ -z "$af_e" ]; then
        "$@" >>"$af_o" 7>&-
    elif [ -z "$af_o" ]; then
        "$@" 2>>"$af_e" 7>&-
    else
        "$@" >>"$af_o" 2>>"$af_e" 7>&-
    fi
}

# CWD OUT ERR TEMPDIR ARGV...: the child itself, with its env, directory and streams.
# Its env is the shell's exports plus the step's env; with inherit_env false, or a step env
# name the shell cannot hold as a variable, `env` (-i: from empty) starts the program with
# NAME=VALUE words instead, the program found where Python finds it: in the PATH of the
# child's env, or /bin:/usr/bin (Python's os.defpath) when that env has none.
af_child() {
    af_c=$1; af_o=$2; af_e=$3; af_t=$4
    shift 4
    (
        exec 7>&-  # the job's log stays with the runtime
        [ "$AF_WATCHING" = 0 ] || exec 2>&8 8>&-  # the run's stderr (af_watch)
        if [ -n "$af_c" ]; then cd "$af_c" || exit 127; fi
        if [ "$AF_P_INHERIT" = 1 ]; then
            [ -n "$af_t" ] && export AETHERFLOW_OUTPUT_DIR="${AETHERFLOW_OUTPUT_DIR-$af_t}"
            af_words=$AF_P_ENV_ODD; af_search=$PATH
        else
            af_words=1; af_search=/bin:/usr/bin
        fi
        if [ "$af_words" = 1 ]; then
            af_i=0; af_todo_env=$AF_P_ENV
            while [ -n "$af_todo_env" ]; do  # the step env's PATH is where the program is looked up
                af_name=${af_todo_env%%"$AF_NL"*}; af_todo_env=${af_todo_env#*"$AF_NL"}
                [ "$af_name" = PATH ] && eval "af_search=\$AF_PE_$af_i"
                af_i=$((af_i + 1))
            done
            if ! af_find "$1" "$af_search"; then
                printf '%s: %s: not found\n' "$0" "$1" >&2
                exit 127
            fi
            case $REPLY in
                *=*) printf '%s: %s: a program path with "=" cannot be started by env\n' "$0" "$REPLY" >&2; exit 126 ;;
            esac
            shift
            set -- "$REPLY" "$@"
            if [ "$AF_P_INHERIT" = 0 ]; then
                for af_name in AETHERFLOW_OUTPUT_DIR AETHERFLOW_RUN_ID AETHERFLOW_FLOW_ID; do
                    case $af_name:$af_t:$AF_NL$AF_P_ENV in
                        AETHERFLOW_OUTPUT_DIR::* | *"$AF_NL$af_name$AF_NL"*) ;;  # none, or the step's own
                        AETHERFLOW_OUTPUT_DIR:*) set -- "$af_name=$af_t" "$@" ;;
                        AETHERFLOW_RUN_ID:*) set -- "$af_name=$AF_RUN_ID" "$@" ;;
                        *) set -- "$af_name=$AF_FLOW_ID" "$@" ;;
                    esac
                done
            fi
        fi
        af_i=0
        af_todo_env=$AF_P_ENV
        while [ -n "$af_todo_env" ]; do
            af_name=${af_todo_env%%"$AF_NL"*}; af_todo_env=${af_todo_env#*"$AF_NL"}
            if [ "$af_words" = 1 ]; then
                eval "set -- \"\$af_name=\$AF_PE_$af_i\" \"\$@\""
            else
                eval "export $af_name=\"\$AF_PE_$af_i\""
            fi
            af_i=$((af_i + 1))
        done
        if [ "$af_words" = 1 ]; then
            if [ "$AF_P_INHERIT" = 1 ]; then set -- env "$@"; else set -- env -i "$@"; fi
        fi
        [ -n "$af_o" ] && exec >>"$af_o"
        [ -n "$af_e" ] && exec 2>>"$af_e"
        if [ -n "$AF_P_TIMEOUT" ]; then
            # The program's pid for the watchdog: the sh started here writes its own, then
            # becomes the program (in a new process group when setsid exists).
            exec ${AF_SETSID:+"$AF_SETSID"} sh -c "echo \"\$\$\" >\"\$0\" && exec \"\$@\"" "$AF_PIDFILE" "$@"
        fi
        exec "$@"
    )
}

