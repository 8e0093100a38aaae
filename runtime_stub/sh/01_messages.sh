# --- messages --------------------------------------------------------------------------

# Programs the runtime itself runs (date, mkdir, rm, od) run with LC_ALL=C: their output
# does not depend on the locale, and they start faster without loading one.
#
# The clock: AF_EPOCH (seconds, for records and lock expiry) and AF_NOW (UTC, for run and
# job events). `date` gives both at run start. On Linux later readings come from
# /proc/uptime, read by the `read` builtin: the start's wall clock plus the time elapsed
# since (no process); elsewhere each reading runs `date`. Readings happen only where time
# may have passed since the last: after a step ran or a wait. A job's start, its end when
# no step ran, and the run's end right after its last job reuse the reading.
af_clock() {
    if [ -n "$AF_UP0" ] && read -r af_up af_rest </proc/uptime; then
        af_ms=$((AF_MS0 + (${af_up%.*} * 100 + 1${af_up#*.} - 100 - AF_UP0) * 10))
        AF_EPOCH=$((af_ms / 1000))
        af_iso "$AF_EPOCH"
        AF_NOW=$REPLY
    else
        af_t=$(LC_ALL=C date -u '+%s %Y-%m-%dT%H:%M:%SZ')
        AF_EPOCH=${af_t%% *}
        AF_NOW=${af_t#* }
    fi
    AF_CLOCK_FRESH=1
}

af_clock_start() {  # NS SECONDS UTC from `date` at run start: the base of later readings
    AF_EPOCH=$2; AF_NOW=$3; AF_CLOCK_FRESH=1; AF_UP0=
    case $1 in
        *[!0-9]*) AF_MS0=${2}000 ;;
        *) AF_MS0=$(($1 / 1000000)) ;;
    esac
    if [ -r /proc/uptime ] && read -r af_up af_rest </proc/uptime; then
        case $af_up in
            *[0-9].[0-9][0-9]) AF_UP0=$((${af_up%.*} * 100 + 1${af_up#*.} - 100)) ;;
        esac
    fi
}

af_iso() {  # EPOCH -> REPLY: YYYY-MM-DDTHH:MM:SSZ (UTC; the civil calendar from days since 1970)
    af_z=$(($1 / 86400 + 719468)); af_s=$(($1 % 86400))
    af_era=$((af_z / 146097)); af_doe=$((af_z - af_era * 146097))
    af_yoe=$(((af_doe - af_doe / 1460 + af_doe / 36524 - af_doe / 146096) / 365))
    af_doy=$((af_doe - (365 * af_yoe + af_yoe / 4 - af_yoe / 100)))
    af_mp=$(((5 * af_doy + 2) / 153))
    af_d=$((af_doy - (153 * af_mp + 2) / 5 + 1))
    af_m=$((af_mp < 10 ? af_mp + 3 : af_mp - 9))
    af_y=$((af_yoe + af_era * 400 + (af_m <= 2)))
    af_hh=$((af_s / 3600)); af_mm=$((af_s % 3600 / 60)); af_ss=$((af_s % 60))
    [ "$af_m" -lt 10 ] && af_m=0$af_m
    [ "$af_d" -lt 10 ] && af_d=0$af_d
    [ "$af_hh" -lt 10 ] && af_hh=0$af_hh
    [ "$af_mm" -lt 10 ] && af_mm=0$af_mm
    [ "$af_ss" -lt 10 ] && af_ss=0$af_ss
    REPLY="$af_y-$af_m-${af_d}T$af_hh:$af_mm:${af_ss}Z"
}

af_clock_fresh() {  # af_clock unless nothing that takes time happened since the last reading
    [ "$AF_CLOCK_FRESH" = 1 ] || af_clock
}

# The end-of-run summary: a job's line, then a line for each step it reached: the status
# kept in AF_RS_<job>_<index> (with a note), or SUCCESS for a plain step that kept none.
af_report_step() {  # ID STATUS [NOTE]
    eval "AF_RS_${AF_JI}_$AF_STEP_INDEX=\"\$2|\${3-}\""
}

af_report_job() {  # ID STATUS SECONDS [NOTE]
    AF_REPORT="${AF_REPORT}job|$1|$2|$3|${4-}$AF_NL"
    af_job_step_ids "$1"
    af_k=0
    for af_id in $REPLY; do
        af_k=$((af_k + 1))
        [ "$af_k" -le "$AF_STEP_INDEX" ] || break
        eval "af_line=\${AF_RS_${AF_JI}_$af_k-SUCCESS|}"
        AF_REPORT="${AF_REPORT}step|$af_id|${af_line%%|*}||${af_line#*|}$AF_NL"
    done
}

af_job_step_ids() {  # JOBID -> REPLY: its step ids, from AF_JOB_STEPS
    af_todo_lines=$AF_JOB_STEPS
    while [ -n "$af_todo_lines" ]; do
        af_entry=${af_todo_lines%%"$AF_NL"*}; af_todo_lines=${af_todo_lines#*"$AF_NL"}
        case $af_entry in "$1" | "$1 "*) REPLY=${af_entry#"$1"}; return 0 ;; esac
    done
    REPLY=
}

af_print_report() {
    af_todo_report=$AF_REPORT
    while [ -n "$af_todo_report" ]; do
        af_entry=${af_todo_report%%"$AF_NL"*}; af_todo_report=${af_todo_report#"$af_entry"}; af_todo_report=${af_todo_report#"$AF_NL"}
        af_kind=${af_entry%%|*}; af_entry=${af_entry#*|}
        af_id=${af_entry%%|*}; af_entry=${af_entry#*|}
        af_state=${af_entry%%|*}; af_entry=${af_entry#*|}
        af_secs=${af_entry%%|*}; af_note=${af_entry#*|}
        case $af_kind in
            job) printf '  %-24s %-11s %6s s%s\n' "$af_id" "$af_state" "$af_secs" "$af_note" ;;
            step) printf '    %-22s %-11s%s\n' "$af_id" "$af_state" "$af_note" ;;
        esac
    done
}

af_event() {  # LEVEL EVENT [k=v ...]: one event line on stderr (no fork for step events)
    case $1 in
        DEBUG) [ "$AF_LOG_LEVEL" = DEBUG ] || return 0; af_line='DEBUG  ' ;;
        INFO) case $AF_LOG_LEVEL in WARNING | ERROR) return 0 ;; esac; af_line='INFO   ' ;;
        WARNING) [ "$AF_LOG_LEVEL" = ERROR ] && return 0; af_line='WARNING' ;;
        *) af_line='ERROR  ' ;;
    esac
    [ "$AF_LOG_STYLE" != json ] || { af_event_json "$@"; return 0; }
    shift
    case $1 in
        run_* | job_*) af_line="$AF_NOW $af_line" ;;
        *) af_line="                     $af_line" ;;
    esac
    for af_part in "$@"; do
        case $af_part in
            *=) ;;
            *"$AF_NL"*) af_one_line "$af_part"; af_line="$af_line $REPLY" ;;
            *) af_line="$af_line $af_part" ;;
        esac
    done
    printf '%s\n' "$af_line" >&2
    return 0  # a closed stderr does not fail the caller
}

af_step_event() {  # EVENT "step_id=ID KEY=VALUE": an INFO step event (text: no escaping needed)
    case $AF_LOG_STYLE in
        quiet) ;;
        json) af_v=${2#step_id=}; af_k=${af_v##* }; af_event INFO "$1" "job_id=$AF_JOB" "step_id=${af_v% *}" "$af_k" ;;
        *) printf '                     INFO    %s job_id=%s %s\n' "$1" "$AF_JOB" "$2" >&2 ;;
    esac
    return 0
}

# --log-format json: one object per line, the keys of the Python artifact's events in its
# order. ts_ms is the runtime's last clock reading (whole seconds: see docs/sh-target.md).
af_event_json() {  # LEVEL EVENT [k=v ...] (REPLY is kept: callers hold values in it)
    af_keep=$REPLY
    af_json_str "$2"
    af_line="{\"event\": $REPLY, \"ts_ms\": ${AF_EPOCH:-0}000, \"level\": \"$1\""
    shift 2
    af_json_str "$AF_FLOW_ID"; af_fj=$REPLY
    af_rj=null
    [ -z "${AF_RUN_ID:-}" ] || { af_json_str "$AF_RUN_ID"; af_rj=$REPLY; }
    af_job_j=null; af_step_j=null; af_status_j=null; af_rest=
    for af_part in "$@"; do
        af_k=${af_part%%=*}; af_v=${af_part#*=}
        case $af_k:$af_v in
            *:) af_vj=null ;;
            jobs:*) af_vj=$af_v ;;  # a JSON object already
            attempt:* | exit_code:* | duration_ms:*)
                case $af_v in *[!0-9-]*) af_json_str "$af_v"; af_vj=$REPLY ;; *) af_vj=$af_v ;; esac ;;
            *) af_json_str "$af_v"; af_vj=$REPLY ;;
        esac
        case $af_k in
            job_id) af_job_j=$af_vj ;;
            step_id) af_step_j=$af_vj ;;
            status) af_status_j=$af_vj ;;
            *) af_rest="$af_rest, \"$af_k\": $af_vj" ;;
        esac
    done
    printf '%s, "flow_id": %s, "run_id": %s, "job_id": %s, "step_id": %s, "status": %s, "duration_ms": null%s}\n' \
        "$af_line" "$af_fj" "$af_rj" "$af_job_j" "$af_step_j" "$af_status_j" "$af_rest" >&2
    REPLY=$af_keep
    return 0
}

af_die() {  # MESSAGE: a configuration error (exit 2)
    printf 'error: %s\n' "$1" >&2
    exit 2
}

