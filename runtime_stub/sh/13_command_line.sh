# --- the command line -----------------------------------------------------------------

af_usage() {
    printf '%s\n' "usage: $AF_PROG COMMAND [OPTIONS]" "" \
        "flow $AF_FLOW_ID, compiled from $AF_SOURCE" "" \
        "commands:" \
        "  run         run the flow (exit 0 no job failed, 1 a job failed, 2 config error," \
        "              3 a lock is held or the run id runs in another process)" \
        "                --run-id ID        run id (an earlier run id resumes that run)" \
        "                --resume           resume the latest run of this flow unless it succeeded" \
        "                --job ID           run only this job (repeatable)" \
        "                --env-file F       dotenv file added to the env snapshot (repeatable)" \
        "                --keep-going       run the remaining jobs after a job fails" \
        "                --log-format FMT   text or json events on stderr" \
        "                --json-summary F   write the final status object to F" \
        "  plan        print the jobs and steps" \
        "  check-env   list the env variables the flow reads; exit 2 if one is missing" \
        "  status      job and step statuses from the state store" \
        "                --run-id ID        (default: the latest run)" \
        "                --json             print one JSON object" \
        "  verify      check every file of the dist against manifest.json (exit 2 when one differs;" \
        "              a --single-file script has no dist to check)" \
        "  --version   print the compiler version and the source hash"
}

af_main() {
    AF_PROG=${0##*/}
    [ $# -gt 0 ] || { af_usage >&2; exit 2; }
    case $1 in
        -h | --help) af_usage; exit 0 ;;
        --version) printf '%s: compiled by aetherflow-compiler %s from %s (sha256 %s)\n' \
            "$AF_FLOW_ID" "$AF_COMPILER_VERSION" "$AF_SOURCE" "$AF_SOURCE_SHA256"; exit 0 ;;
        run | plan | check-env | status) AF_COMMAND=$1; shift ;;
        *) printf 'error: unknown command %s\n\n' "$1" >&2; af_usage >&2; exit 2 ;;
    esac
    AF_RUN_ID=; AF_RESUME=0; AF_SELECTED=; AF_KEEP_GOING=0; AF_JSON=0; af_env_files=
    af_log_format=; AF_JSON_SUMMARY=; AF_LOG_STYLE=text
    while [ $# -gt 0 ]; do
        af_opt=$1
        af_val=
        case $af_opt in
            --*=*) af_val=${af_opt#*=}; af_opt=${af_opt%%=*}; af_has=1 ;;
            *) af_has=0 ;;
        esac
        case $AF_COMMAND:$af_opt in
            run:--resume | run:--keep-going | status:--json)
                [ "$af_has" = 0 ] || af_die_usage "option $af_opt takes no value"
                case $af_opt in --resume) AF_RESUME=1 ;; --keep-going) AF_KEEP_GOING=1 ;; *) AF_JSON=1 ;; esac ;;
            run:--run-id | run:--job | run:--env-file | run:--log-format | run:--json-summary | \
            status:--run-id | status:--env-file | check-env:--env-file)
                if [ "$af_has" = 0 ]; then
                    [ $# -ge 2 ] || af_die_usage "option $af_opt needs a value"
                    shift; af_val=$1
                fi
                case $af_opt in
                    --run-id) AF_RUN_ID=$af_val ;;
                    --job) AF_SELECTED="$AF_SELECTED $af_val " ;;
                    --log-format)
                        case $af_val in text | json) af_log_format=$af_val ;; *) af_die_usage "--log-format must be text or json" ;; esac ;;
                    --json-summary) AF_JSON_SUMMARY=$af_val ;;
                    *) af_env_files="$af_env_files$af_val$AF_NL" ;;
                esac ;;
            *) af_die_usage "unknown option '$1' for $AF_COMMAND" ;;
        esac
        shift
    done
    [ -n "$AF_RUN_ID" ] && [ "$AF_RESUME" = 1 ] && af_die_usage "use either --run-id or --resume"
    af_snapshot
    AF_ENV_PREFIX=
    if [ -n "${AETHERFLOW_ENV_FILES_JSON-}" ]; then
        af_code=$(printf '%s' "$AETHERFLOW_ENV_FILES_JSON" | af_json_env_awk specs) || exit 2
        eval "$af_code"
    fi
    af_todo_envfiles=$af_env_files
    while [ -n "$af_todo_envfiles" ]; do
        af_f=${af_todo_envfiles%%"$AF_NL"*}; af_todo_envfiles=${af_todo_envfiles#"$af_f"}; af_todo_envfiles=${af_todo_envfiles#"$AF_NL"}
        [ -n "$af_f" ] && af_env_file "$af_f"
    done
    AF_LOG_LEVEL=${AETHERFLOW_LOG_LEVEL:-INFO}
    af_lower "${af_log_format:-${AETHERFLOW_LOG_FORMAT:-}}" text
    # How step events are written: quiet (WARNING, ERROR), text (INFO, inline), debug, json.
    case $REPLY:$AF_LOG_LEVEL in
        json:*) AF_LOG_STYLE=json ;;
        *:WARNING | *:ERROR) AF_LOG_STYLE=quiet ;;
        *:DEBUG) AF_LOG_STYLE=debug ;;
        *) AF_LOG_STYLE=text ;;
    esac
    case $AF_COMMAND in
        run)
            af_settings
            # The templates an env value can make the engine's validation refuse, where the flow has some.
            ! command -v af_start_checks >/dev/null || af_start_checks
            af_cmd_run ;;
        plan) af_plan; exit 0 ;;
        check-env) af_check_env ;;
        status) af_settings; af_cmd_status ;;
    esac
}

af_start_refused() {  # JOB STEP SECTION: a template af_rendered refused (AF_SYNTAX) stops the run before it starts
    af_die "job '$1', step '$2', $3: $AF_SYNTAX (the engine's validation renders step templates with the environment and refuses the run)"
}

af_sandbox_setting() {  # AETHERFLOW_STRICT_SANDBOX (default true) -> AF_SANDBOX 1 or 0
    if af_on "${AETHERFLOW_STRICT_SANDBOX:-true}"; then AF_SANDBOX=1; else AF_SANDBOX=0; fi
}

af_die_usage() {
    printf 'error: %s\n\n' "$1" >&2
    af_usage >&2
    exit 2
}

af_check_env() {  # every env variable the flow reads: set, default, or MISSING
    af_missing_names=
    af_todo_vars=$AF_ENV_VARS
    while [ -n "$af_todo_vars" ]; do
        af_entry=${af_todo_vars%%"$AF_NL"*}; af_todo_vars=${af_todo_vars#"$af_entry"}; af_todo_vars=${af_todo_vars#"$AF_NL"}
        [ -n "$af_entry" ] || continue
        af_name=${af_entry% *}
        eval "af_v=\${AFE_$af_name-}"
        if [ -n "$af_v" ]; then af_state='set'
        elif [ "${af_entry##* }" = 1 ]; then af_state='not set, has a default'
        else af_state=MISSING; af_missing_names="$af_missing_names${af_missing_names:+, }$af_name"
        fi
        printf '%-32s %s\n' "$af_name" "$af_state"
    done
    if [ -n "$af_missing_names" ]; then
        printf 'missing required env variables: %s\n' "$af_missing_names" >&2
        exit 2
    fi
    exit 0
}

af_check_run_id() {
    case $1 in
        '' | [!A-Za-z0-9_]* | *[!A-Za-z0-9_.-]*) af_die "invalid run id '$1': use letters, digits, '_', '.' and '-'" ;;
    esac
    [ "${#1}" -le 128 ] || af_die "invalid run id '$1': at most 128 characters"
}

af_state_open() {
    mkdir -p "$AF_STATE_DIR/runs" "$AF_STATE_DIR/locks" 2>/dev/null \
        || af_die "cannot open the state store $AF_STATE_DIR"
}

af_hex12() {  # N -> REPLY: 12 hex digits (no command substitution: that would fork)
    af_v=$1; REPLY=
    while [ ${#REPLY} -lt 12 ]; do
        af_d=$((af_v % 16)); af_v=$((af_v / 16))
        case $af_d in 10) af_d=a ;; 11) af_d=b ;; 12) af_d=c ;; 13) af_d=d ;; 14) af_d=e ;; 15) af_d=f ;; esac
        REPLY=$af_d$REPLY
    done
}

af_cmd_run() {
    if [ "$AF_RESUME" = 1 ]; then
        if ! af_latest_run; then
            printf 'nothing to resume: no run of %s recorded\n' "$AF_FLOW_ID" >&2; exit 0
        fi
        if [ "$AF_LATEST_STATUS" = SUCCESS ]; then
            printf 'nothing to resume: the latest run %s succeeded\n' "$AF_LATEST" >&2; exit 0
        fi
        AF_RUN_ID=$AF_LATEST
    fi
    for af_j in $AF_SELECTED; do
        case " $AF_JOB_IDS " in
            *" $af_j "*) ;;
            *) af_die "unknown job '$af_j' (jobs: $AF_JOB_IDS)" ;;
        esac
    done
    # Checked before anything runs, as in the Python artifact: fail fast, not after the run.
    [ -z "$AF_JSON_SUMMARY" ] || ! af_unwritable "$AF_JSON_SUMMARY" \
        || af_die "--json-summary $AF_JSON_SUMMARY $REPLY"
    # The start time: ns (for ordering runs), s and UTC from one `date`.
    # shellcheck disable=SC2046  # the words are digits and one timestamp
    set -- $(LC_ALL=C date -u '+%s%N %s %Y-%m-%dT%H:%M:%SZ')
    af_now_ns=$1
    af_clock_start "$@"
    if [ -z "$AF_RUN_ID" ]; then
        # A new run's id: 12 hex digits from the ns clock mixed with the pid, or from
        # /dev/urandom where `date` has no %N (busybox) or the id is taken already.
        case $af_now_ns in
            *[!0-9]*) ;;
            *) af_hex12 $(( (af_now_ns ^ ($$ << 24)) & 0xFFFFFFFFFFFF )); AF_RUN_ID=$REPLY ;;
        esac
        if [ -z "$AF_RUN_ID" ] || [ -e "$AF_STATE_DIR/runs/$AF_RUN_ID" ]; then
            # shellcheck disable=SC2046  # six hex words
            set -- $(LC_ALL=C od -An -N6 -tx1 /dev/urandom)
            AF_RUN_ID=$1$2$3$4$5$6
        fi
    fi
    case $af_now_ns in *[!0-9]*) af_now_ns=${AF_EPOCH}000000000 ;; esac
    af_check_run_id "$AF_RUN_ID"
    AF_RUN_DIR=$AF_STATE_DIR/runs/$AF_RUN_ID
    # The lock directories stay from one run to the next; the run's own are made later.
    { [ -d "$AF_STATE_DIR/af_locks" ] && [ -d "$AF_STATE_DIR/locks" ]; } \
        || LC_ALL=C mkdir -p "$AF_STATE_DIR/af_locks" "$AF_STATE_DIR/locks" 2>/dev/null \
        || af_die "cannot open the state store $AF_STATE_DIR"
    AF_HELD=; AF_LATER=; AF_KEEPER=
    af_run_lease  # exit 3 if another process runs this run id; the state is read after it
    # Only a run that has a directory already can have step records to resume from.
    AF_RESUMING=0
    [ -d "$AF_RUN_DIR" ] && AF_RESUMING=1
    if af_run_info "$AF_RUN_DIR"; then
        af_json_str "$AF_FLOW_ID"
        [ "$AF_I_FLOW" = "$REPLY" ] || af_die "run id $AF_RUN_ID already belongs to flow $AF_I_FLOW in the state store $AF_STATE_DIR; use another run id"
        AF_STARTED_NS=$AF_I_STARTED
    else
        AF_STARTED_NS=$af_now_ns
    fi
    AF_RUN_DIRS=0
    AF_WHICH=; AF_EXIT=0; AF_STOP=0; AF_ANY_FAILED=0; AF_ENV_FAILURE=0; AF_REPORT=
    AF_MSG_OK=; AF_WATCHING=0
    # What every step's program finds in its environment (unless the user set them).
    AETHERFLOW_FLOW_ID=${AETHERFLOW_FLOW_ID-$AF_FLOW_ID}
    AETHERFLOW_RUN_ID=${AETHERFLOW_RUN_ID-$AF_RUN_ID}
    export AETHERFLOW_FLOW_ID AETHERFLOW_RUN_ID
    # And, as the engine sets them whatever the environment said, for programs and templates
    # alike: the workspace root as written, or the bundle's folder (docs/compatibility.md).
    if [ "$AF_BUNDLE_DIRS" = 1 ]; then
        case $0 in */*) af_d=${0%/*} ;; *) af_d=. ;; esac
        case $af_d in /*) ;; *) af_d=$PWD/$af_d ;; esac
        af_norm "$af_d"; af_d=${AETHERFLOW_BUNDLE_ROOT:-$REPLY}
    else
        af_path_text "$AF_ROOT_AS_WRITTEN"; af_d=$REPLY
    fi
    for af_name in AETHERFLOW_LOCAL_ROOT_DIR AETHERFLOW_ACTIVE_DIR AETHERFLOW_CACHE_DIR; do
        eval "$af_name=\$af_d; AFE_$af_name=\$af_d"; export "${af_name?}"
    done
    trap 'af_interrupted 143' TERM
    trap 'af_interrupted 130' INT
    # A closed stderr (a log reader that went away) must not end the run: writes to it fail
    # instead, as in the Python artifact. Caught, not ignored, so that programs get SIGPIPE.
    trap : PIPE
    af_event INFO run_start "source=$AF_SOURCE"
    # Settings that name Python modules (the shell runs none) and the metrics textfile
    # of the Python artifact (docs/sh-target.md).
    [ -z "${AETHERFLOW_METRICS_MODULE:-}" ] || af_event WARNING setting_ignored "detail=AETHERFLOW_METRICS_MODULE: a shell artifact runs no Python module"
    [ -z "${AETHERFLOW_SETTINGS_MODULE:-}" ] || af_event WARNING setting_ignored "detail=AETHERFLOW_SETTINGS_MODULE: a shell artifact runs no Python module"
    [ -z "${AETHERFLOW_METRICS_TEXTFILE:-}" ] || af_event WARNING setting_ignored "detail=AETHERFLOW_METRICS_TEXTFILE: a shell artifact writes no metrics file (only the Python artifact does)"
    af_sql_open
    if [ "$AF_LOCK_SCOPE" = flow ] && ! af_lock_acquire "flow:$AF_FLOW_ID" "$AF_LOCK_TTL" "$AF_FLOW_LOCK_NAME"; then
        af_event ERROR lock_held "key=flow:$AF_FLOW_ID" "detail=another run of this flow holds the flow lock"
        exit 3
    fi
    af_jobs
    if [ "$AF_EXIT" = 0 ] && [ "$AF_ANY_FAILED" = 1 ]; then
        AF_EXIT=1
        [ "$AF_ENV_FAILURE" = 1 ] && AF_EXIT=2
    fi
    case $AF_EXIT in
        0) af_status=SUCCESS ;;
        3) af_status=LOCKED ;;
        *) af_status=FAILED ;;
    esac
    af_clock_fresh
    af_release_all
    [ "$AF_RUN_DIRS" = 1 ] || af_run_dirs
    af_write_run "$af_status"
    if [ "$AF_LOG_STYLE" = json ] || [ -n "$AF_JSON_SUMMARY" ]; then
        af_run_info "$AF_RUN_DIR"  # the status just written, for the JSON below
    fi
    if [ "$AF_LOG_STYLE" = json ]; then  # in json, the events are all there is on stderr
        af_run_jobs_json
        af_event INFO run_end "status=$af_status" "jobs=$REPLY"
    else
        af_event INFO run_end "status=$af_status"
        printf 'run %s of %s: %s (exit %s)\n' "$AF_RUN_ID" "$AF_FLOW_ID" "$af_status" "$AF_EXIT" >&2
        af_print_report >&2
    fi
    if [ -n "$AF_JSON_SUMMARY" ]; then  # the object `status --json` prints
        AF_JSON=1
        if ! { af_status_print >"$AF_JSON_SUMMARY"; } 2>/dev/null; then
            # A full disk: the run is recorded as it ended, `status --json` prints it.
            printf 'error: cannot write --json-summary %s\n' "$AF_JSON_SUMMARY" >&2
            AF_EXIT=2
        fi
    fi
    exit "$AF_EXIT"
}

af_unwritable() {  # PATH: 0 with the reason in REPLY when it cannot be (re)written as a file
    if [ -d "$1" ]; then REPLY='is a directory'; return 0; fi
    if [ -e "$1" ]; then
        [ -w "$1" ] && return 1
        REPLY='is not writable'; return 0
    fi
    case $1 in /*) af_norm "$1" ;; *) af_norm "$PWD/$1" ;; esac
    af_dir=${REPLY%/*}
    af_dir=${af_dir:-/}
    if [ ! -d "$af_dir" ]; then REPLY="cannot be created: $af_dir is not a directory"; return 0; fi
    [ -w "$af_dir" ] && [ -x "$af_dir" ] && return 1
    REPLY="cannot be created: $af_dir is not writable"
}

af_interrupted() {  # CODE: a signal ends the run: locks released, run recorded INTERRUPTED
    trap '' TERM INT
    # In a watched step (af_watch) this shell's stderr is the job message's file and the
    # run's is fd 8: the end is told there (once the step has ended, fd 8 is closed).
    [ "$AF_WATCHING" = 0 ] || af_interrupted_end "$1" 2>/dev/null 2>&8
    af_interrupted_end "$1"
}

af_interrupted_end() {  # CODE
    af_clock
    af_release_all
    [ "${AF_RUN_DIRS-0}" = 1 ] && af_write_run INTERRUPTED
    af_event INFO run_end status=INTERRUPTED
    exit "$1"
}

af_cmd_status() {
    af_state_open
    if [ -z "$AF_RUN_ID" ]; then
        af_latest_run || af_die "no run of $AF_FLOW_ID is recorded in the state store"
        AF_RUN_ID=$AF_LATEST
    fi
    af_check_run_id "$AF_RUN_ID"
    AF_RUN_DIR=$AF_STATE_DIR/runs/$AF_RUN_ID
    af_run_info "$AF_RUN_DIR" || af_die "run $AF_RUN_ID is not recorded in the state store"
    af_status_print
    exit 0
}

af_run_jobs_json() {  # -> REPLY: the "jobs" object of the run's status (af_run_info read), on one line as json.dumps
    af_lines=$(AF_JSON=1 af_status_print)
    REPLY=; af_sep=
    while IFS= read -r af_line; do
        af_line=${af_line#"${af_line%%[! ]*}"}
        REPLY="$REPLY$af_sep$af_line"
        case $af_line in *,) af_sep=' ' ;; *) af_sep= ;; esac
    done <<EOF_AF
$af_lines
EOF_AF
    REPLY=${REPLY#*'"jobs": '}; REPLY=${REPLY%'}'}
}

af_status_print() {  # the statuses of run AF_RUN_ID (AF_JSON=1: as one JSON object)
    af_json_str "$AF_FLOW_ID"; af_flow_json=$REPLY
    af_json_str "$AF_RUN_ID"; af_run_json=$REPLY
    if [ "$AF_JSON" = 1 ]; then
        printf '{\n  "flow_id": %s,\n  "run_id": %s,\n  "status": "%s",\n  "jobs": {' "$af_flow_json" "$af_run_json" "${AF_I_STATUS:-UNKNOWN}"
    else
        printf 'run %s of %s: %s\n' "$AF_RUN_ID" "$AF_FLOW_ID" "${AF_I_STATUS:-UNKNOWN}"
    fi
    af_sep=
    af_jpos=0
    af_todo_jobs=$AF_JOB_STEPS
    while [ -n "$af_todo_jobs" ]; do
        af_entry=${af_todo_jobs%%"$AF_NL"*}; af_todo_jobs=${af_todo_jobs#"$af_entry"}; af_todo_jobs=${af_todo_jobs#"$AF_NL"}
        [ -n "$af_entry" ] || continue
        af_jpos=$((af_jpos + 1))
        af_job=${af_entry%% *}
        af_steps=${af_entry#"$af_job"}
        af_record_read "$AF_RUN_DIR/jobs/$af_job.json" || continue
        af_job_state=$AF_R_STATUS
        af_map_json "$AF_R_MAP" '      ' pretty; af_outputs=$REPLY
        if [ "$AF_JSON" = 1 ]; then
            af_json_str "$af_job"
            printf '%s\n    %s: {\n      "status": "%s",\n      "outputs": %s,\n      "steps": {' "$af_sep" "$REPLY" "$af_job_state" "$af_outputs"
        else
            printf '  %-24s %s\n' "$af_job" "$af_job_state"
        fi
        af_sep2=
        af_log_load "$af_jpos" "$af_job"
        af_k=0
        for af_step_id in $af_steps; do
            af_k=$((af_k + 1))
            eval "af_state=\${AF_LS_${af_jpos}_$af_k-}"
            # A run of the Python artifact (backend file) has a record file per step.
            [ -n "$af_state" ] || ! af_record_read "$AF_RUN_DIR/steps/$af_job/$af_step_id.json" || af_state=$AF_R_STATUS
            [ -n "$af_state" ] || continue
            if [ "$AF_JSON" = 1 ]; then
                af_json_str "$af_step_id"
                printf '%s\n        %s: "%s"' "$af_sep2" "$REPLY" "$af_state"
                af_sep2=,
            else
                printf '    %-22s %s\n' "$af_step_id" "$af_state"
            fi
        done
        if [ "$AF_JSON" = 1 ]; then
            if [ -n "$af_sep2" ]; then printf '\n      }\n    }'; else printf '}\n    }'; fi
        fi
        af_sep=,
    done
    if [ "$AF_JSON" = 1 ]; then
        if [ -n "$af_sep" ]; then printf '\n  }\n}\n'; else printf '}\n}\n'; fi
    fi
}
