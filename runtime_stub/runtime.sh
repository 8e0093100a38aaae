# aetherflow runtime for POSIX sh: the shell target's counterpart of aetherflow_runtime/.
# Inlined into every compiled <flow_id>.sh; plain POSIX sh (dash, bash --posix, busybox sh).
#
# Values are carried as JSON literals (3, true, "text") so that outputs keep their types.
# Per step, only shell builtins run besides the step's own program: records are written
# with printf, and a record is complete only when its last line "}" is there (a reader
# ignores a torn record, as a JSON parser would), so no rename is needed per step.

AF_NL='
'
AF_UP0=
AF_NUL=

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

# --- JSON ------------------------------------------------------------------------------

# A string as a JSON literal in REPLY, escaped as Python's json.dumps(ensure_ascii=False).
af_json_str() {
    case $1 in
        *[\"\\]* | *[![:print:]]*) af_json_str_slow "$1" ;;
        *) REPLY="\"$1\"" ;;
    esac
}

af_json_str_slow() {
    REPLY=$(printf '%sx' "$1" | af_json_awk)
}

# stdin -> a JSON string literal; the input ends with one extra character that is dropped.
af_json_awk() {
    LC_ALL=C awk '
        BEGIN {
            for (i = 1; i < 32; i++) esc[sprintf("%c", i)] = sprintf("\\u%04x", i)
            esc["\b"] = "\\b"; esc["\f"] = "\\f"; esc["\n"] = "\\n"; esc["\r"] = "\\r"
            esc["\t"] = "\\t"; esc["\""] = "\\\""; esc["\\"] = "\\\\"
            printf "\""
        }
        {
            if (NR > 1) out = out "\n"
            out = out $0
        }
        END {
            out = substr(out, 1, length(out) - 1)
            while (match(out, /[\\"[:cntrl:]]/)) {
                c = substr(out, RSTART, 1)
                printf "%s%s", substr(out, 1, RSTART - 1), ((c in esc) ? esc[c] : c)
                out = substr(out, RSTART + 1)
            }
            printf "%s\"", out
        }'
}

# A JSON literal -> the text Python's str() gives for it, in REPLY. A string that holds a
# NUL (\u0000) loses it here (a shell variable cannot hold one) and sets AF_NUL: the step's
# program cannot be started then, as in Python ("embedded null byte").
af_text() {
    case $1 in
        true) REPLY=True ;;
        false) REPLY=False ;;
        null) REPLY=None ;;
        \"*)
            case $1 in
                *\\*)
                    REPLY=$(printf '%s' "$1" | af_unjson_awk)
                    case $REPLY in *0) AF_NUL=1 ;; esac
                    REPLY=${REPLY%?} ;;
                *) REPLY=${1#\"}; REPLY=${REPLY%\"} ;;
            esac ;;
        \[* | \{*) REPLY=$(printf '%s' "$1" | af_pyrepr_awk) ;;
        *) REPLY=$1 ;;
    esac
}

# A JSON array or object on stdin (one line) -> Python's str() of it: strings quoted as
# repr() quotes them, True/False/None, ", " and ": " between items. repr() escapes the
# characters that are not printable: \t \n \r, \xhh, \uhhhh, \Uhhhhhhhh; bytes that are not
# UTF-8 are \udcXX (as Python's surrogateescape reads them). Non-ASCII characters that are
# not printable, from Python 3.11's str.isprintable() (Unicode 14.0): ranges after 0x7f,
# each "GAP" or "GAP+LENGTH" in hex from the end of the one before.
af_pyrepr_awk() {
    LC_ALL=C awk '
        BEGIN { for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i }
        { s = (NR > 1) ? s "\n" $0 : $0 }
        END {
            out = ""; n = length(s); i = 1
            while (i <= n) {
                c = substr(s, i, 1)
                if (c == "\"") {
                    j = i + 1
                    while (j <= n && (c = substr(s, j, 1)) != "\"") j += (c == "\\") ? 2 : 1
                    out = out quote(substr(s, i + 1, j - i - 1)); i = j
                } else if (substr(s, i, 4) == "true") { out = out "True"; i += 3 }
                else if (substr(s, i, 5) == "false") { out = out "False"; i += 4 }
                else if (substr(s, i, 4) == "null") { out = out "None"; i += 3 }
                else if (c == ",") out = out ", "
                else if (c == ":") out = out ": "
                else if (c != " ") out = out c
                i++
            }
            printf "%s", out
        }
        function quote(t,   n, k, m, c, e, cp, lo, len, b, sq, dq, q, r) {
            n = 0; k = 1; m = length(t); sq = 0; dq = 0
            while (k <= m) {  # the code points of the JSON string body
                c = substr(t, k, 1); b = ord[c]
                if (c == "\\") {
                    e = substr(t, k + 1, 1); k += 2
                    if (e == "u") {
                        cp = hex(substr(t, k, 4)); k += 4
                        if (cp >= 55296 && cp < 56320 && substr(t, k, 2) == "\\u") {
                            lo = hex(substr(t, k + 2, 4))
                            if (lo >= 56320 && lo < 57344) { cp = 65536 + (cp - 55296) * 1024 + lo - 56320; k += 6 }
                        }
                    } else cp = (e == "n") ? 10 : (e == "t") ? 9 : (e == "r") ? 13 : (e == "b") ? 8 : (e == "f") ? 12 : ord[e]
                } else if (b < 128) { cp = b; k++ }
                else {
                    len = (b >= 194 && b < 224) ? 2 : (b >= 224 && b < 240) ? 3 : (b >= 240 && b < 245) ? 4 : 0
                    cp = utf8_at(t, k, len, b)
                    if (cp < 0) { cp = 56320 + b; k++ } else k += len
                }
                cps[++n] = cp
                if (cp == 39) sq = 1; else if (cp == 34) dq = 1
            }
            q = (sq && !dq) ? "\"" : "\047"; r = q
            for (k = 1; k <= n; k++) {
                cp = cps[k]
                if (cp == 92) r = r "\\\\"
                else if (cp == ord[q]) r = r "\\" q
                else if (cp == 9) r = r "\\t"
                else if (cp == 10) r = r "\\n"
                else if (cp == 13) r = r "\\r"
                else if (cp < 32 || cp == 127) r = r sprintf("\\x%02x", cp)
                else if (cp < 127) r = r sprintf("%c", cp)
                else if (!printable(cp)) r = r sprintf((cp < 256) ? "\\x%02x" : (cp < 65536) ? "\\u%04x" : "\\U%08x", cp)
                else r = r utf8(cp)
            }
            return r q
        }
        function utf8_at(t, k, len, b,   cp, j, x) {  # the code point of a well-formed sequence at k, or -1
            if (!len) return -1
            cp = (len == 2) ? b - 192 : (len == 3) ? b - 224 : b - 240
            for (j = 1; j < len; j++) {
                x = ord[substr(t, k + j, 1)]
                if (x < 128 || x >= 192) return -1
                cp = cp * 64 + x - 128
            }
            if ((len == 3 && (cp < 2048 || (cp >= 55296 && cp < 57344))) || (len == 4 && (cp < 65536 || cp > 1114111))) return -1
            return cp
        }
        function utf8(n) {
            if (n < 2048) return sprintf("%c%c", 192 + int(n / 64), 128 + n % 64)
            if (n < 65536) return sprintf("%c%c%c", 224 + int(n / 4096), 128 + int(n / 64) % 64, 128 + n % 64)
            return sprintf("%c%c%c%c", 240 + int(n / 262144), 128 + int(n / 4096) % 64, 128 + int(n / 64) % 64, 128 + n % 64)
        }
        function hex(h,   v, k) {
            v = 0
            for (k = 1; k <= length(h); k++) v = v * 16 + index("0123456789abcdef", tolower(substr(h, k, 1))) - 1
            return v
        }
        function printable(cp,   l, h, m) {
            if (!NP) nonprintable()
            l = 1; h = NP
            while (l <= h) {
                m = int((l + h) / 2)
                if (cp < LO[m]) h = m - 1; else if (cp > HI[m]) l = m + 1; else return 0
            }
            return 1
        }
        function nonprintable(   t, parts, k, p, at) {
            t = "80+20 d 2cb+1 7+3 8 2 15 18e 27+1 33+1 4 38+7 1c+3 7+10 17 c1 31+1 3c+1 66+d 3c+1 32+1 10 1d+1 2"
            t = t " c+4 20+8 4b a2 9+1 3+1 17 8 2+2 5+1 a+1 3+1 5+7 2+3 3 6+1 1a+1 4 7+3 3+1 17 8 3 3 3+1 2 6+3 3+1"
            t = t " 4+2 2+6 5 2+6 12+9 4 a 4 17 8 3 6+1 b 4 4+1 2+e 5+1 d+6 8 4 9+1 3+1 17 8 3 6+1 a+1 3+1 4+6 4+3 3"
            t = t " 6+1 13+9 3 7+2 4 5+2 3 2 3+2 3+2 4+2 d+3 6+2 4 5+1 2+5 2+d 16+4 e 4 18 11+1 a 4 5+6 3 4+1 2+1"
            t = t " 5+1 b+6 17 4 18 b 6+1 a 4 5+6 3+5 3 5+1 b 3+c e 4 34 4 7+3 11+1 1b 4 13+2 19 a 2+1 8+2 2+3 7 2"
            t = t " 9+5 b+1 4+b 3b+3 1e+24 3 2 6 19 2 18+1 6 2 7+1 b+1 5+1f 49 25+3 28 25 10 e+24 c7 2+4 2+1 17a 5+1"
            t = t " 8 2 5+1 2a 5+1 22 5+1 8 2 5+1 10 3a 5+1 44+1 21+2 1b+5 57+1 7+1 281 1d+2 5a+6 17+8 19+8 15+b e 4"
            t = t " 3+b 5f+1 b+5 b+5 f c+5 5a+6 2c+4 47+9 20 d+3 d+3 2+2 2b+1 6+a 2d+3 1b+5 c+2 3f+1 42 1e+1 c+5 b+5"
            t = t " f+1 20+30 4e+2 30 75+7 3d+2 10+2 3d+6 2c+1 c+7 2c+4 217+1 7+1 27+1 7+1 9 2 2 2 20+1 36 10 f+1 7"
            t = t " 14+1 4 a+10 19+7 30+10 3+1 1c e+2 22+e 22+e 8d+3 298+18 c+14 715+1 21 15e+4 2e 2+4 2+1 39+6 3+d"
            t = t " 19+8 8 8 8 8 8 8 8 8 7f+21 1b 5a+b d7+19 d+4 40 57+1 68+4 2c 5f 55+b 30 726e+2 38+8 15d+13 b9+7"
            t = t " cc+4 3 2 6+17 3c+2 b+5 39+7 47+7 d+5 75+a 1f+2 4f c+3 22 38+8 f+1 b+1 68+17 1d+9 7+1 7+1 7+8 8 8"
            t = t " 3d+3 7f+1 b+5 2ba5+b 18+3 32+2103 16f+1 6b+25 8+b 6+4 1b 6 2 3 3 7e+f 1be+1 37+6 2+1f 2b+5 34 14"
            t = t " 5+3 6 88+3 bf+2 7+1 7+1 7+1 4+2 8 8+c 3+1 d 1b 14 3 10+1 f+21 7c+4 4+3 2e+2 59 e+2 2+2e 2f+81"
            t = t " 1e+2 32+e 1d+3 25+8 1f+4 2c+4 1f 26+3 f+29 9f+1 b+5 25+3 25+3 29+7 35+a d 10 8 3 c 10 8 3+42"
            t = t " 138+8 17+9 9+17 7 2b a+44 7+1 2 2d 3+2 2+1 18 49+7 a+2f 14 3+4 22+2 1c+4 2+3f 39+3 15+1 33 3+4 9"
            t = t " 4 1e+1 4+3 b+6 a+6 41+1f 28+3 d+8 37+2 1e+1 1c+4 1b+6 5+b 8+4f 4a+36 34+c 34+6 2f+7 b+125 20 2b"
            t = t " 4+1 3+4d 29+7 2b+15 1b+25 1d+13 18+8 4f+3 25+8 3f 6+c 1a+6 b+5 36 13+7 28+8 61 15+a 13 2d+40 8 2"
            t = t " 5 10 c+5 3c+4 b+5 5 9+1 3+1 17 8 3 6 b+1 3+1 4+1 2+5 2+4 8+1 8+2 6+8a 5d 6+1d 49+7 b+a5 37+1"
            t = t " 27+21 46+a b+5 e+12 3b+5 b+35 1c+1 10+3 18+b8 3d+63 54+b 9+1 2+1 9 3 1f 3+1 d+8 b+45 9+1 2f+1"
            t = t " c+1a 49+7 54+c 4a+106 a 2e f+9 1e+2 21+1 17 f+48 8 3 2d+2 2 3 a+7 b+5 7 3 26 3 7+6 b+135 1a+b6"
            t = t " 2+e 33+c 39c+65 70 6+a c5+a4b 64+c 430+fd0 248+21b8 23a+6 20 b+3 52 b+5 1f+1 7+9 47+9 b 8 16+4"
            t = t " 14+2af 5c+64 4c+3 3a+6 12+3f 6+a 3+d 17f9+7 4d7+29 a+22e6 5 8 3 124+2c 4+10 5+7 18d+903 6c+4 e+2"
            t = t " a+6 b+1 5+125f 2f+1 18+8 75+3b f7+9 28+1 4b+7 71+14 47+99 15+b 58+8 1a+86 56 48 3+1 2+1 3+1 5 d"
            t = t " 2 8 42 5+1 9 8 1d 5 6 2+2 8 155+1 125+1 2bf+e 6 10+44f 20+e0 8 12+1 8 3 6+d4 2e+2 f+1 b+3 3+13f"
            t = t " 20+10 3b+4 2+4df 8 5 3 10 c6+1 11+28 4d+3 b+3 3+310 45+4b 3e+c1 5 1c 3 2+1 2 b 5 2 2+5 2+3 2 2 2"
            t = t " 4 3 2+1 2 2 2 2 2 3 2+1 5 8 5 5 2 b 12+4 4 6 12+33 3+10d 2d+3 65+b 10+1 10 10 26+9 af+37 1e+c"
            t = t " 2d+3 a+6 3+d 7+99 3d9+4 11+2 e+2 75+b 5a+6 d+3 2+e d+3 39+7 b+5 29+7 1f+1 3+4d 155+b f+1 6+2 6+2"
            t = t " 8+8 1e+2 c+4 7+9 b+5 9+7 8+8 94 38+24 b+405 a6e1+1f 103a+6 df+1 1683+d 1d32+c1e 21f+5e1"
            t = t " 134c+aedb4 f1+2fe0f"
            NP = split(t, parts, " "); at = 0
            for (k = 1; k <= NP; k++) {
                p = index(parts[k], "+")
                if (p) { LO[k] = at + hex(substr(parts[k], 1, p - 1)); HI[k] = LO[k] + hex(substr(parts[k], p + 1)) }
                else { LO[k] = at + hex(parts[k]); HI[k] = LO[k] }
                at = HI[k]
            }
        }'
}

af_unjson_awk() {  # a JSON string literal on stdin -> its text, then "x", or "0" when it held a NUL (dropped)
    LC_ALL=C awk '
        { s = (NR > 1) ? s "\n" $0 : $0 }
        END {
            s = substr(s, 2, length(s) - 2); out = ""; nul = 0
            while ((i = index(s, "\\")) > 0) {
                out = out substr(s, 1, i - 1); c = substr(s, i + 1, 1)
                if (c == "n") out = out "\n"; else if (c == "t") out = out "\t"
                else if (c == "r") out = out "\r"; else if (c == "b") out = out "\b"
                else if (c == "f") out = out "\f"; else if (c == "u") {
                    n = hex(substr(s, i + 2, 4)); i += 4
                    if (n == 0) nul = 1
                    else if (n < 128) out = out sprintf("%c", n)
                    else if (n < 2048) out = out sprintf("%c%c", 192 + int(n / 64), 128 + n % 64)
                    else out = out sprintf("%c%c%c", 224 + int(n / 4096), 128 + int(n / 64) % 64, 128 + n % 64)
                } else out = out c
                s = substr(s, i + 2)
            }
            printf "%s%s", out s, (nul ? "0" : "x")
        }
        function hex(h,   n, k, d) {
            n = 0
            for (k = 1; k <= length(h); k++) {
                d = index("0123456789abcdef", tolower(substr(h, k, 1))) - 1
                n = n * 16 + d
            }
            return n
        }'
}

af_json_items() {  # JSON array literal -> REPLY: its items' JSON literals, one per line
    case $1 in
        '[]') REPLY=; return ;;
    esac
    REPLY=$(printf '%s' "$1" | LC_ALL=C awk '{ s = s $0 } END {
        d = 0; q = 0; item = ""
        for (i = 2; i < length(s); i++) {
            c = substr(s, i, 1)
            if (q) { if (c == "\\") { c = c substr(s, i + 1, 1); i++ } else if (c == "\"") q = 0 }
            else if (c == "\"") q = 1
            else if (c == "[" || c == "{") d++
            else if (c == "]" || c == "}") d--
            else if (c == "," && d == 0) { print item; item = ""; continue }
            else if (c == " " && d == 0) continue
            item = item c
        }
        print item }')
}

af_json_len() {  # JSON array literal -> REPLY: how many items it holds
    [ "$1" = '[]' ] && { REPLY=0; return 0; }
    af_json_items "$1"
    af_n=1
    af_todo=$REPLY
    while :; do
        case $af_todo in *"$AF_NL"*) ;; *) break ;; esac
        af_todo=${af_todo#*"$AF_NL"}
        af_n=$((af_n + 1))
    done
    REPLY=$af_n
}

af_lower() {  # TEXT DEFAULT -> REPLY: TEXT in lower case (ASCII), or DEFAULT when it is empty
    case $1 in
        '') REPLY=$2 ;;
        *[A-Z]*) REPLY=$(printf '%s' "$1" | LC_ALL=C tr '[:upper:]' '[:lower:]') ;;
        *) REPLY=$1 ;;
    esac
}

af_int_list() {  # JSON NAME -> REPLY: " a b " for a list of integers, one integer, or nothing (null)
    case $1 in
        null) REPLY=; return 0 ;;
        \[*) af_json_items "$1" ;;
        *) REPLY=$1 ;;
    esac
    af_todo=$REPLY$AF_NL
    af_codes=
    while [ "$af_todo" != "$AF_NL" ] && [ -n "$af_todo" ]; do
        af_item=${af_todo%%"$AF_NL"*}
        af_todo=${af_todo#*"$AF_NL"}
        af_to_int "$af_item" "$2" || return 1
        af_codes="$af_codes$REPLY "
    done
    REPLY=$af_codes
}

af_argv_json() {  # JSON command|args -> REPLY: the argv items' JSON literals, each on a line of its own
    case $1 in
        \[*) af_json_items "$1"; [ -n "$REPLY" ] && REPLY=$REPLY$AF_NL; return 0 ;;
        \"*) [ "$2" = command ] && { REPLY=$1$AF_NL; return 0; } ;;
        null) [ "$2" = args ] && { REPLY=; return 0; } ;;
    esac
    case $2 in
        command) af_step_fail "external.process inputs.command must be a string or a list" ;;
        *) af_step_fail "external.process inputs.args must be a list" ;;
    esac
}

af_items_count() {  # JSON -> REPLY: how many items check_items counts (a list, or a comma-separated string)
    case $1 in
        \[*) af_json_len "$1" ;;
        \"*) af_text "$1"; af_split_items "$REPLY" ;;
        *) af_step_fail "check_items expects 'items' to be a list or a comma-separated string"; return 1 ;;
    esac
}

af_repr() {  # JSON literal -> REPLY: Python's repr() of the value (for messages)
    REPLY=$(printf '[%s]' "$1" | af_pyrepr_awk)
    REPLY=${REPLY#[}; REPLY=${REPLY%]}
}

# JSON LITERAL NAME [exact] -> REPLY: int() of the value, as Python reads it, in decimal
# digits; the step fails otherwise. With `exact` an integer keeps all its digits (Python's
# ints have no limit); without, one beyond 18 digits is clamped to the shell's 64 bits.
af_to_int() {
    case $1 in
        true) REPLY=1; return 0 ;;
        false) REPLY=0; return 0 ;;
        \"*) af_text "$1"; af_strip "$REPLY" num; af_v=$REPLY ;;
        [0-9]*[eE]* | -[0-9]*[eE]*)  # 1e+20: integral beyond 2^53 (where busybox awk's int() overflows)
            af_v=$(LC_ALL=C awk -v v="$1" 'BEGIN { v += 0; printf "%.0f", (v > 9007199254740992 || v < -9007199254740992) ? v : int(v) }') ;;
        [0-9]*.* | -[0-9]*.*) af_v=${1%%.*} ;;
        *) af_v=$1 ;;
    esac
    af_sign=
    case $af_v in -*) af_sign=-; af_v=${af_v#-} ;; +*) af_v=${af_v#+} ;; esac
    case $af_v in
        '' | *[!0-9]*) af_repr "$1"; af_step_fail "input $2 must be an integer, got $REPLY"; return 1 ;;
    esac
    af_v=${af_v#"${af_v%%[!0]*}"}
    if [ -z "$af_v" ]; then REPLY=0
    elif [ "${#af_v}" -le 18 ] || [ "${3-}" = exact ]; then REPLY=$af_sign$af_v
    elif [ -n "$af_sign" ]; then REPLY=-9223372036854775808
    else REPLY=9223372036854775807
    fi
}

# Python's whitespace as UTF-8 alternatives for awk: what int() and float() strip; str.strip()
# (str.isspace) also strips \034-\037.
AF_WS_RE='[\011-\015 ]|\302\205|\302\240|\341\232\200|\342\200\200|\342\200\201|\342\200\202|\342\200\203|\342\200\204|\342\200\205|\342\200\206|\342\200\207|\342\200\210|\342\200\211|\342\200\212|\342\200\250|\342\200\251|\342\200\257|\342\201\237|\343\200\200'
# The printable ASCII characters: text made of them only is stripped and split here, by
# builtins; other text (a tab, a non-ASCII space) by awk with AF_WS_RE.
AF_ASCII=' !"#$%&'"'"'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~'

af_strip() {  # TEXT [num] -> REPLY: TEXT without the whitespace str.strip() (num: int()) removes at both ends
    case $1 in
        *[!"$AF_ASCII"]*)
            af_ws=$AF_WS_RE
            [ "${2-}" = num ] || af_ws="[\034-\037]|$af_ws"
            REPLY=$(printf '%s' "$1" | LC_ALL=C awk -v ws="$af_ws" '{ p = (NR > 1) ? p "\n" $0 : $0 }
                END { sub("^(" ws ")+", "", p); sub("(" ws ")+$", "", p); printf "%sx", p }')
            REPLY=${REPLY%x} ;;
        *) REPLY=${1#"${1%%[! ]*}"}; REPLY=${REPLY%"${REPLY##*[! ]}"} ;;
    esac
}

af_to_bool() {  # JSON LITERAL NAME -> REPLY 1 or 0: a string by its meaning, anything else by bool()
    case $1 in
        \"*)
            af_text "$1"; af_strip "$REPLY"
            af_lower "$REPLY" ''; af_v=$REPLY
            case $af_v in
                true | yes | on | 1) REPLY=1 ;;
                false | no | off | 0 | '') REPLY=0 ;;
                *) af_repr "$1"; af_step_fail "input $2 must be true or false, got $REPLY"; return 1 ;;
            esac ;;
        *) if af_truthy "$1"; then REPLY=1; else REPLY=0; fi ;;
    esac
}

af_to_num() {  # JSON LITERAL NAME -> REPLY: float() of the value
    case $1 in
        true) REPLY=1 ;;
        false) REPLY=0 ;;
        \"*)
            af_text "$1"; af_strip "$REPLY" num; af_v=$REPLY
            case $af_v in
                '' | *[!0-9.eE+-]* | *.*.*) af_repr "$1"; af_step_fail "input $2 must be a number, got $REPLY"; return 1 ;;
            esac
            REPLY=$af_v ;;
        *) REPLY=$1 ;;
    esac
}

af_truthy() {  # JSON literal: Python's bool() of it
    case $1 in
        false | null | 0 | 0.0 | -0.0 | '""' | '[]' | '{}') return 1 ;;
    esac
    return 0
}

af_wtruthy() {  # JSON literal: the truth of a when operand, where a mapping is always true
    [ "$1" = '{}' ] || af_truthy "$1"  # (the engine's when reads mappings as SimpleNamespace objects)
}

af_kind() {  # JSON literal -> REPLY: num, str, null, other
    case $1 in
        true | false | -[0-9]* | [0-9]*) REPLY=num ;;
        \"*) REPLY=str ;;
        null) REPLY=null ;;
        *) REPLY=other ;;
    esac
}

af_num() {  # JSON literal of a number or a boolean -> REPLY as a number
    case $1 in
        true) REPLY=1 ;;
        false) REPLY=0 ;;
        *) REPLY=$1 ;;
    esac
}

# LEFT OP RIGHT over JSON literals, with Python's semantics; status 0 true, 1 false,
# 2 when Python would raise TypeError (ordering values of different types).
af_cmp() {
    af_kind "$1"; af_lk=$REPLY
    af_kind "$3"; af_rk=$REPLY
    case $2 in
        == | !=)
            if [ "$af_lk" = num ] && [ "$af_rk" = num ]; then
                af_num "$1"; af_a=$REPLY; af_num "$3"
                af_numcmp "$af_a" -eq "$REPLY"; af_r=$?
            elif [ "$1" = "$3" ]; then af_r=0
            else af_r=1
            fi
            if [ "$2" = "!=" ]; then
                [ "$af_r" -eq 0 ] && return 1
                return 0
            fi
            return "$af_r" ;;
    esac
    if [ "$af_lk" = num ] && [ "$af_rk" = num ]; then
        af_num "$1"; af_a=$REPLY; af_num "$3"
        case $2 in
            '<') af_numcmp "$af_a" -lt "$REPLY" ;;
            '<=') af_numcmp "$af_a" -le "$REPLY" ;;
            '>') af_numcmp "$af_a" -gt "$REPLY" ;;
            '>=') af_numcmp "$af_a" -ge "$REPLY" ;;
        esac
        return
    fi
    if [ "$af_lk" = str ] && [ "$af_rk" = str ]; then
        af_text "$1"; af_a=$REPLY; af_text "$3"
        af_strcmp "$af_a" "$2" "$REPLY"
        return
    fi
    return 2
}

# A OP B (-eq -lt -le -gt -ge) for JSON numbers, exactly as Python compares ints of any
# size and floats: integers by builtins, digit by digit beyond 18 digits; floats by awk.
af_numcmp() {
    case $1$3 in
        *[.eE]*) ;;
        *)
            if [ "${#1}" -le 18 ] && [ "${#3}" -le 18 ]; then
                case $2 in
                    -eq) [ "$1" -eq "$3" ] ;;
                    -lt) [ "$1" -lt "$3" ] ;;
                    -le) [ "$1" -le "$3" ] ;;
                    -gt) [ "$1" -gt "$3" ] ;;
                    *) [ "$1" -ge "$3" ] ;;
                esac
                return
            fi
            af_intcmp "$1" "$3"
            case $2 in
                -eq) [ "$REPLY" = 0 ] ;;
                -lt) [ "$REPLY" = -1 ] ;;
                -le) [ "$REPLY" != 1 ] ;;
                -gt) [ "$REPLY" = 1 ] ;;
                *) [ "$REPLY" != -1 ] ;;
            esac
            return ;;
    esac
    # An integer beyond a double's 53 bits against a float: compared with the float's
    # integer part in digits (%.0f of an integral double is exact), then its fraction.
    # (Passed with a prefix: busybox awk would keep a -v value that looks numeric as a double.)
    LC_ALL=C awk -v a="=$1" -v b="=$3" -v op="$2" 'BEGIN {
        c = cmp(substr(a, 2), substr(b, 2))
        r = (op == "-eq") ? c == 0 : (op == "-lt") ? c < 0 : (op == "-le") ? c <= 0 : (op == "-gt") ? c > 0 : c >= 0
        exit !r }
        function isint(x) { return x !~ /[.eE]/ }
        function cmp(a, b) {
            if (isint(a) && length(a) > 15) return bigf(a, b)
            if (isint(b) && length(b) > 15) return -bigf(b, a)
            a += 0; b += 0
            return (a < b) ? -1 : (a > b) ? 1 : 0
        }
        function bigf(i, f,   t, c) {
            f += 0
            if (f > 9007199254740992 || f < -9007199254740992) return intcmp(i, sprintf("%.0f", f))  # an integral double
            t = int(f); c = intcmp(i, sprintf("%.0f", t))
            if (c != 0) return c
            return (f > t) ? -1 : (f < t) ? 1 : 0
        }
        function intcmp(a, b,   sa, sb) {
            sa = (a ~ /^-/) ? -1 : 1; sb = (b ~ /^-/) ? -1 : 1
            sub(/^[-+]?0*/, "", a); sub(/^[-+]?0*/, "", b)
            if (a == "") sa = 1
            if (b == "") sb = 1
            if (sa != sb) return sa
            if (length(a) != length(b)) return (length(a) < length(b)) ? -sa : sa
            return ((a "") < (b "")) ? -sa : ((a "") > (b "")) ? sa : 0
        }'
}

af_intcmp() {  # A B (decimal integers of any length) -> REPLY: -1, 0 or 1 as A is below, equal to or above B
    af_a=${1#-}; af_b=${2#-}; af_sa=1; af_sb=1
    case $1 in -*) af_sa=-1 ;; esac
    case $2 in -*) af_sb=-1 ;; esac
    af_a=${af_a#"${af_a%%[!0]*}"}; af_b=${af_b#"${af_b%%[!0]*}"}
    [ -n "$af_a" ] || { af_a=0; af_sa=1; }
    [ -n "$af_b" ] || { af_b=0; af_sb=1; }
    if [ "$af_sa" != "$af_sb" ]; then REPLY=$af_sa; return 0; fi
    REPLY=0
    if [ "${#af_a}" -ne "${#af_b}" ]; then
        REPLY=1; [ "${#af_a}" -gt "${#af_b}" ] || REPLY=-1
    fi
    while [ "$REPLY" = 0 ] && [ -n "$af_a" ]; do  # as long: 9 digits at a time
        af_x=$af_a; af_y=$af_b; af_a=; af_b=
        if [ "${#af_x}" -gt 9 ]; then
            af_a=${af_x#?????????}; af_x=${af_x%"$af_a"}
            af_b=${af_y#?????????}; af_y=${af_y%"$af_b"}
        fi
        if [ "$af_x" -lt "$af_y" ]; then REPLY=-1; elif [ "$af_x" -gt "$af_y" ]; then REPLY=1; fi
    done
    [ "$af_sa" = 1 ] || REPLY=$((-REPLY))
}

af_strcmp() {  # A OP B by code points (as strings, whatever they look like)
    AF_A=$1 AF_B=$3 LC_ALL=C awk -v op="$2" 'BEGIN {
        a = ENVIRON["AF_A"] ""; b = ENVIRON["AF_B"] ""
        r = (op == "<") ? a < b : (op == "<=") ? a <= b : (op == ">") ? a > b : a >= b
        exit !r }'
}

# --- maps of JSON values: lines of  "key": literal  ------------------------------------
# A map is a string of lines, each ending in a newline (a JSON literal never holds a raw
# newline). Loops over lines take the string apart with parameter expansion, here and
# everywhere in this runtime: a here-document costs a pipe and a read(2) per byte in dash.

af_map_set() {  # VAR JSONKEY LITERAL: set or replace (keeps the first position, as dicts do)
    eval "af_todo_map=\${$1}"
    af_new=
    af_found=0
    while [ -n "$af_todo_map" ]; do
        af_entry=${af_todo_map%%"$AF_NL"*}; af_todo_map=${af_todo_map#"$af_entry"}; af_todo_map=${af_todo_map#"$AF_NL"}
        case $af_entry in
            "$2: "*) af_entry="$2: $3"; af_found=1 ;;
        esac
        af_new="$af_new$af_entry$AF_NL"
    done
    [ "$af_found" = 1 ] || af_new="$af_new$2: $3$AF_NL"
    eval "$1=\$af_new"
}

af_map_get() {  # MAP JSONKEY -> REPLY; status 1 when absent
    case $AF_NL$1 in
        *"$AF_NL$2: "*)
            REPLY=$AF_NL$1
            REPLY=${REPLY#*"$AF_NL$2: "}
            REPLY=${REPLY%%"$AF_NL"*}
            return 0 ;;
    esac
    return 1
}

af_map_merge() {  # VAR MAP: every entry of MAP into VAR
    af_todo_merge=$2
    while [ -n "$af_todo_merge" ]; do
        af_entry2=${af_todo_merge%%"$AF_NL"*}; af_todo_merge=${af_todo_merge#"$af_entry2"}; af_todo_merge=${af_todo_merge#"$AF_NL"}
        af_map_set "$1" "${af_entry2%%\": *}\"" "${af_entry2#*\": }"
    done
}

af_map_json() {  # MAP INDENT [pretty] -> REPLY: a JSON object (pretty: nested values laid out too)
    REPLY=
    af_msep=
    af_todo_json=$1
    while [ -n "$af_todo_json" ]; do
        af_entry=${af_todo_json%%"$AF_NL"*}; af_todo_json=${af_todo_json#"$af_entry"}; af_todo_json=${af_todo_json#"$AF_NL"}
        case ${3-}$af_entry in
            pretty*'['* | pretty*'{'*) af_e=$REPLY; af_entry=$(printf '%s' "$af_entry" | af_indent_awk "$2  "); REPLY=$af_e ;;
        esac
        REPLY="$REPLY$af_msep$AF_NL$2  $af_entry"
        af_msep=,
    done
    if [ -n "$REPLY" ]; then REPLY="{$REPLY$AF_NL$2}"; else REPLY='{}'; fi
}

af_indent_awk() {  # INDENT: a one-line `"key": value` on stdin, its lists and mappings laid out as json.dumps(indent=2) does
    LC_ALL=C awk -v base="$1" '
        { s = s $0 }
        END {
            out = ""; d = 0; n = length(s); i = 1
            while (i <= n) {
                c = substr(s, i, 1)
                if (c == "\"") {
                    j = i + 1
                    while (j <= n && substr(s, j, 1) != "\"") j += (substr(s, j, 1) == "\\") ? 2 : 1
                    out = out substr(s, i, j - i + 1); i = j + 1; continue
                }
                if (c == "[" || c == "{") {
                    k = i + 1; while (substr(s, k, 1) == " ") k++
                    e = substr(s, k, 1)
                    if ((c == "[" && e == "]") || (c == "{" && e == "}")) { out = out c e; i = k + 1; continue }
                    d++; out = out c "\n" pad(d)
                } else if (c == "]" || c == "}") { d--; out = out "\n" pad(d) c }
                else if (c == ",") { out = out ",\n" pad(d); while (substr(s, i + 1, 1) == " ") i++ }
                else if (c == ":") { out = out ": "; while (substr(s, i + 1, 1) == " ") i++ }
                else if (c != " ") out = out c
                i++
            }
            printf "%s", out
        }
        function pad(k,   r) { r = base; while (k-- > 0) r = r "  "; return r }'
}

# --- records: the file state layout ---------------------------------------------------

af_record_read() {  # FILE -> AF_R_STATUS, AF_R_MAP (promoted or outputs), AF_R_REASON, AF_R_RESULT; 1 if absent or torn
    [ -f "$1" ] || return 1
    af_record_start
    while IFS= read -r af_line; do
        af_record_line "$af_line"
    done <"$1"
    [ "$af_complete" = 1 ]
}

af_record_start() {
    AF_R_STEP=; AF_R_STATUS=; AF_R_MAP=; AF_R_RESULT=; AF_R_REASON=null; af_section=; af_complete=0
}

af_record_line() {  # LINE: one line of a record, as af_map_json lays them out; "}" completes it
    case $1 in
        '{') af_record_start ;;
        '}') af_complete=1 ;;
        '"step": '*) af_v=${1#'"step": "'}; AF_R_STEP=${af_v%'",'} ;;
        '"status": '*) af_v=${1#'"status": '}; af_v=${af_v%,}; AF_R_STATUS=${af_v#\"}; AF_R_STATUS=${AF_R_STATUS%\"} ;;
        '"skip_reason": '*) af_v=${1#'"skip_reason": '}; AF_R_REASON=${af_v%,} ;;
        '"promoted": {' | '"outputs": {') af_section=map ;;
        '"result": {') af_section=result ;;
        '},' | '  }' | '  },') af_section= ;;
        '"promoted": {},' | '"outputs": {},' | '"result": {},' | '"promoted": {}' | '"outputs": {}') ;;
        *)
            af_v=${1#"${1%%[! ]*}"}
            af_v=${af_v%,}
            case $af_section in
                map) AF_R_MAP="$AF_R_MAP$af_v$AF_NL" ;;
                result) AF_R_RESULT="$AF_R_RESULT$af_v$AF_NL" ;;
            esac ;;
    esac
}

# A job's step records: appended to steps/<job>.log through fd 7 while the job runs (one
# write per step, no file to create), read back when a run resumes. A record counts only
# when its closing "}" is there; a later record of a step replaces an earlier one.
af_log_load() {  # JOBINDEX JOBID [repair]: the job's complete records -> AF_L<S|X|M>_<job>_<position>
    af_log=$AF_RUN_DIR/steps/$2.log
    [ -f "$af_log" ] || return 0
    af_job_step_ids "$2"; af_ids=$REPLY
    af_record_start
    af_line=
    while IFS= read -r af_line; do
        af_record_line "$af_line"
        [ "$af_complete" = 1 ] || continue
        af_k=0
        for af_id in $af_ids; do
            af_k=$((af_k + 1))
            [ "$af_id" = "$AF_R_STEP" ] || continue
            eval "AF_LS_$1_$af_k=\$AF_R_STATUS; AF_LX_$1_$af_k=\$AF_R_RESULT; AF_LM_$1_$af_k=\$AF_R_MAP"
            break
        done
        af_complete=0
    done <"$af_log"
    # A record cut short by a crash: end its line, so that the next record starts on its own.
    [ -z "$af_line" ] || [ "${3-}" != repair ] || printf '\n' >>"$af_log"
}

af_log_get() {  # POSITION -> AF_R_STATUS, AF_R_RESULT, AF_R_MAP of the step's last record; 1 if none
    eval "AF_R_STATUS=\${AF_LS_${AF_JI}_$1-}"
    [ -n "$AF_R_STATUS" ] || return 1
    eval "AF_R_RESULT=\$AF_LX_${AF_JI}_$1; AF_R_MAP=\$AF_LM_${AF_JI}_$1"
}

af_write_step() {  # STEP STATUS RESULTMAP PROMOTEDMAP: a record on the job's log (fd 7)
    if [ "$3" = "$AF_PLAIN_RESULT" ]; then af_res=$AF_PLAIN_RESULT_JSON; else af_map_json "$3" '  '; af_res=$REPLY; fi
    af_map_json "$4" '  '; af_pro=$REPLY
    printf '{\n"step": "%s",\n"status": "%s",\n"result": %s,\n"promoted": %s\n}\n' "$1" "$2" "$af_res" "$af_pro" >&7
    [ "$AF_SQL" = 0 ] || af_sql_step "$1" "$2"
}

af_write_job() {  # JOB STATUS OUTPUTMAP REASONLITERAL (updated_at: the last af_clock)
    [ "$AF_RUN_DIRS" = 1 ] || af_run_dirs
    af_map_json "$3" '  '
    printf '{\n"status": "%s",\n"updated_at": %s,\n"outputs": %s,\n"skip_reason": %s\n}\n' \
        "$2" "$AF_EPOCH" "$REPLY" "$4" >"$AF_RUN_DIR/jobs/$1.json"
    [ "$AF_SQL" = 0 ] || af_sql_job "$1" "$2"
}

# --- the SQLite mirror (opt-in) ------------------------------------------------------
# With AETHERFLOW_SH_SQLITE_MIRROR on, a flow that declares state.backend sqlite also gets
# every job and step status in the engine's tables (job_runs, step_runs) of the declared
# database, written by the sqlite3 command, so that ops queries over that file keep working.
# The file layout stays the state the script reads: a mirror write that fails (a locked or
# full database) is a warning and the run goes on.

af_sql_open() {  # at run start: AF_SQL=1 when the mirror is on
    AF_SQL=0
    case ${AETHERFLOW_SH_SQLITE_MIRROR:-} in
        1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss] | [Yy] | [Oo][Nn]) ;;
        *) return 0 ;;
    esac
    if [ -z "$AF_SQLITE_DB" ]; then
        af_event WARNING setting_ignored "detail=AETHERFLOW_SH_SQLITE_MIRROR: the flow declares state.backend file, there is no database to mirror to"
        return 0
    fi
    command -v sqlite3 >/dev/null 2>&1 \
        || af_die "AETHERFLOW_SH_SQLITE_MIRROR is on but there is no sqlite3 command on PATH"
    AF_SQL=1
    # The engine's statements, so that the engine finds the tables it would have made.
    af_sql 'PRAGMA journal_mode=WAL;' \
        'CREATE TABLE IF NOT EXISTS job_runs(job_id TEXT NOT NULL, run_id TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(job_id, run_id));' \
        'CREATE TABLE IF NOT EXISTS step_runs(job_id TEXT NOT NULL, run_id TEXT NOT NULL, step_id TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(job_id, run_id, step_id));'
}

af_sql() {  # STATEMENT...: run by sqlite3 on the declared database (one transaction each call)
    af_err=$(printf '%s\n' '.timeout 30000' "$@" | LC_ALL=C sqlite3 -batch -bail "$AF_SQLITE_DB" 2>&1 >/dev/null) \
        || af_event WARNING state_mirror_failed "detail=sqlite3 $AF_SQLITE_DB: ${af_err:-exit $?}"
    return 0
}

af_sql_text() {  # TEXT -> REPLY: an SQL string literal
    af_rest=$1; REPLY=
    while :; do
        case $af_rest in
            *"'"*) REPLY="$REPLY${af_rest%%"'"*}''"; af_rest=${af_rest#*"'"} ;;
            *) break ;;
        esac
    done
    REPLY="'$REPLY$af_rest'"
}

af_sql_job() {  # JOB STATUS
    af_sql_text "$1"; af_a=$REPLY; af_sql_text "$AF_RUN_ID"
    af_sql "INSERT OR REPLACE INTO job_runs(job_id, run_id, status, updated_at) VALUES ($af_a, $REPLY, '$2', $AF_EPOCH);"
}

af_sql_step() {  # STEP STATUS
    af_sql_text "$AF_JOB"; af_a=$REPLY; af_sql_text "$1"; af_b=$REPLY; af_sql_text "$AF_RUN_ID"
    af_sql "INSERT OR REPLACE INTO step_runs(job_id, run_id, step_id, status, updated_at) VALUES ($af_a, $REPLY, $af_b, '$2', $AF_EPOCH);"
}

# The run's state directories are made when the run first records something, in the same
# `mkdir` as the first job's workspace: one process fewer per run. run.json (RUNNING)
# follows at once.
af_run_dirs() {  # [DIR...]: the run's directories (the first time), and DIRs
    if [ "$AF_RUN_DIRS" = 1 ]; then
        [ $# = 0 ] || LC_ALL=C mkdir -p "$@" || af_die "cannot create the job's workspace under $AF_WORK_ROOT"
        return 0
    fi
    LC_ALL=C mkdir -p "$AF_RUN_DIR/jobs" "$AF_RUN_DIR/steps" "$@" \
        || af_die "cannot create the run's directories in the state store $AF_STATE_DIR or the workspace $AF_WORK_ROOT"
    AF_RUN_DIRS=1
    af_write_run RUNNING
}

af_write_run() {  # STATUS (updated_at: the last af_clock)
    af_json_str "$AF_FLOW_ID"
    printf '{\n"flow_id": %s,\n"started_ns": %s,\n"status": "%s",\n"updated_at": %s\n}\n' \
        "$REPLY" "$AF_STARTED_NS" "$1" "$AF_EPOCH" >"$AF_RUN_DIR/run.json"
}

af_run_info() {  # RUN_DIR -> AF_I_FLOW (JSON literal), AF_I_STARTED, AF_I_STATUS; 1 if none
    [ -f "$1/run.json" ] || return 1
    AF_I_FLOW=; AF_I_STARTED=0; AF_I_STATUS=
    while IFS= read -r af_line; do
        case $af_line in
            '"flow_id": '*) AF_I_FLOW=${af_line#'"flow_id": '}; AF_I_FLOW=${AF_I_FLOW%,} ;;
            '"started_ns": '*) AF_I_STARTED=${af_line#'"started_ns": '}; AF_I_STARTED=${AF_I_STARTED%,} ;;
            '"status": '*) AF_I_STATUS=${af_line#'"status": '}; AF_I_STATUS=${AF_I_STATUS%,}
                AF_I_STATUS=${AF_I_STATUS#\"}; AF_I_STATUS=${AF_I_STATUS%\"} ;;
        esac
    done <"$1/run.json"
}

af_latest_run() {  # -> AF_LATEST (run id) and AF_LATEST_STATUS; 1 if this flow has none
    af_json_str "$AF_FLOW_ID"; af_want=$REPLY
    AF_LATEST=; AF_LATEST_STATUS=; af_best=-1
    for af_dir in "$AF_STATE_DIR"/runs/*; do
        af_run_info "$af_dir" || continue
        [ "$AF_I_FLOW" = "$af_want" ] || continue
        if [ "$AF_I_STARTED" -gt "$af_best" ]; then
            af_best=$AF_I_STARTED; AF_LATEST=${af_dir##*/}; AF_LATEST_STATUS=$AF_I_STATUS
        fi
    done
    [ -n "$AF_LATEST" ]
}

# --- env ------------------------------------------------------------------------------

af_snap() {  # NAME: take NAME from the process env into the snapshot (AFE_NAME)
    eval "AFE_$1=\${$1-}"
}

af_env() {  # NAME [DEFAULT] -> REPLY: the env snapshot's value; "" counts as missing
    eval "REPLY=\${AFE_$1-}"
    [ -n "$REPLY" ] && return 0
    if [ $# -ge 2 ]; then REPLY=$2; return 0; fi
    AF_MISSING="env.$1"
    return 1
}

af_env_file() {  # PATH given with --env-file: a directory, *.json, or a dotenv file
    if [ -d "$1" ]; then af_load_env_file dir "$1" 0 ''
    else
        case $1 in
            *.json) af_load_env_file json "$1" 0 '' ;;
            *) af_load_env_file dotenv "$1" 0 '' ;;
        esac
    fi
}

af_env_dotenv() {  # PATH: KEY=VALUE lines, # comments, optional quotes around values
    while IFS= read -r af_line || [ -n "$af_line" ]; do
        af_line=${af_line%"${af_line##*[![:space:]]}"}
        af_line=${af_line#"${af_line%%[![:space:]]*}"}
        case $af_line in '' | '#'*) continue ;; *=*) ;; *) continue ;; esac
        af_key=${af_line%%=*}; af_key=${af_key%"${af_key##*[![:space:]]}"}
        af_val=${af_line#*=}; af_val=${af_val#"${af_val%%[![:space:]]*}"}
        case $af_val in
            \"*\") af_val=${af_val#\"}; af_val=${af_val%\"} ;;
            \'*\') af_val=${af_val#\'}; af_val=${af_val%\'} ;;
        esac
        [ -n "$af_key" ] && af_set "$af_key" "$af_val"
    done <"$1"
}

# A small JSON reader (awk) for env files: prints shell code for `eval` in which every
# value is single-quoted. MODE "specs": a list of {type, path, optional, prefix} ->
# af_spec lines; MODE "env": one object -> af_set lines, values as Python's str() (nested
# values as json.dumps), null values left out.
af_json_env_awk() {
    LC_ALL=C awk -v mode="$1" '
        function err(m) { printf "af_die %s\n", q("invalid JSON in " src ": " m); exit }
        function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
        function ws() { while (P <= N && index(" \t\r\n", substr(S, P, 1))) P++ }
        function utf8(n) {
            if (n < 128) return sprintf("%c", n)
            if (n < 2048) return sprintf("%c%c", 192 + int(n / 64), 128 + n % 64)
            if (n < 65536) return sprintf("%c%c%c", 224 + int(n / 4096), 128 + int(n / 64) % 64, 128 + n % 64)
            return sprintf("%c%c%c%c", 240 + int(n / 262144), 128 + int(n / 4096) % 64, 128 + int(n / 64) % 64, 128 + n % 64)
        }
        function hex4(h,   k, n) {
            n = 0
            for (k = 1; k <= 4; k++) n = n * 16 + index("0123456789abcdef", tolower(substr(h, k, 1))) - 1
            return n
        }
        function str(   out, c, n, lo) {   # at a quote: the decoded string
            P++; out = ""
            while (P <= N) {
                c = substr(S, P, 1)
                if (c == "\"") { P++; return out }
                if (c == "\\") {
                    c = substr(S, P + 1, 1); P += 2
                    if (c == "n") out = out "\n"; else if (c == "t") out = out "\t"
                    else if (c == "r") out = out "\r"; else if (c == "b") out = out "\b"
                    else if (c == "f") out = out "\f"
                    else if (c == "u") {
                        n = hex4(substr(S, P, 4)); P += 4
                        if (n >= 55296 && n < 56320 && substr(S, P, 2) == "\\u") {
                            lo = hex4(substr(S, P + 2, 4)); P += 6
                            n = 65536 + (n - 55296) * 1024 + (lo - 56320)
                        }
                        out = out utf8(n)
                    } else out = out c
                } else { out = out c; P++ }
            }
            err("unterminated string")
        }
        function enc(s,   out, c) {   # a string as json.dumps(ensure_ascii=False) writes it
            out = ""
            while (match(s, /[\\"[:cntrl:]]/)) {
                c = substr(s, RSTART, 1)
                out = out substr(s, 1, RSTART - 1)
                if (c == "\\") out = out "\\\\"; else if (c == "\"") out = out "\\\""
                else if (c == "\n") out = out "\\n"; else if (c == "\t") out = out "\\t"
                else if (c == "\r") out = out "\\r"; else if (c == "\b") out = out "\\b"
                else if (c == "\f") out = out "\\f"; else if (c == "\177") out = out c
                else out = out sprintf("\\u%04x", ord[c])
                s = substr(s, RSTART + 1)
            }
            return "\"" out s "\""
        }
        # The next value: T is its type (str num true false null obj arr); returns the
        # text Python str() gives (for str and scalars) or json.dumps (for obj and arr).
        function value(   c, start, key, v, out, sep) {
            ws(); c = substr(S, P, 1)
            if (c == "\"") { v = str(); T = "str"; return v }
            if (c == "{") {
                P++; out = "{"; sep = ""; ws()
                if (substr(S, P, 1) == "}") { P++; T = "obj"; return "{}" }
                while (1) {
                    ws(); if (substr(S, P, 1) != "\"") err("expected a key")
                    key = str(); ws(); if (substr(S, P, 1) != ":") err("expected :"); P++
                    v = value(); out = out sep enc(key) ": " canon(v); sep = ", "; ws()
                    c = substr(S, P, 1); P++
                    if (c == "}") break
                    if (c != ",") err("expected , or }")
                }
                T = "obj"; return out "}"
            }
            if (c == "[") {
                P++; out = "["; sep = ""; ws()
                if (substr(S, P, 1) == "]") { P++; T = "arr"; return "[]" }
                while (1) {
                    v = value(); out = out sep canon(v); sep = ", "; ws()
                    c = substr(S, P, 1); P++
                    if (c == "]") break
                    if (c != ",") err("expected , or ]")
                }
                T = "arr"; return out "]"
            }
            if (substr(S, P, 4) == "true") { P += 4; T = "true"; return "True" }
            if (substr(S, P, 5) == "false") { P += 5; T = "false"; return "False" }
            if (substr(S, P, 4) == "null") { P += 4; T = "null"; return "None" }
            start = P
            while (P <= N && index("+-0123456789.eE", substr(S, P, 1))) P++
            if (P == start) err("unexpected " substr(S, P, 10))
            T = "num"; return substr(S, start, P - start)
        }
        function canon(v) {   # the JSON of the value just read (T tells its type)
            if (T == "str") return enc(v)
            if (T == "true") return "true"; if (T == "false") return "false"; if (T == "null") return "null"
            return v
        }
        BEGIN { for (i = 1; i < 32; i++) ord[sprintf("%c", i)] = i; src = (mode == "env") ? ENVIRON["AF_JSON_SRC"] : "AETHERFLOW_ENV_FILES_JSON" }
        { S = (NR > 1) ? S "\n" $0 : $0 }
        END {
            N = length(S); P = 1; ws()
            if (mode == "specs") {
                if (substr(S, P, 1) != "[") err("must be a JSON list of env file specs")
                P++; ws()
                if (substr(S, P, 1) == "]") exit 0
                while (1) {
                    ws(); if (substr(S, P, 1) != "{") err("every entry must be an object")
                    P++; type = ""; path = ""; optional = 0; prefix = ""
                    ws()
                    while (substr(S, P, 1) != "}") {
                        ws(); key = str(); ws(); P++
                        v = value()
                        if (key == "type") type = (T == "null") ? "" : v
                        else if (key == "path") path = (T == "null") ? "" : v
                        else if (key == "prefix") prefix = (T == "null") ? "" : v
                        else if (key == "optional") optional = !(T == "false" || T == "null" || v == "0" || v == "" )
                        ws(); if (substr(S, P, 1) == ",") P++
                        ws()
                    }
                    P++
                    printf "af_spec %s %s %s %s\n", q(type), q(path), optional, q(prefix)
                    ws(); c = substr(S, P, 1); P++
                    if (c == "]") break
                    if (c != ",") err("expected , or ]")
                }
                exit 0
            }
            if (substr(S, P, 1) != "{") err("a json env file must hold one JSON object")
            P++; ws()
            if (substr(S, P, 1) == "}") exit 0
            while (1) {
                ws(); key = str(); ws(); if (substr(S, P, 1) != ":") err("expected :"); P++
                v = value()
                if (T != "null") printf "af_set %s %s\n", q(key), q(v)
                ws(); c = substr(S, P, 1); P++
                if (c == "}") break
                if (c != ",") err("expected , or }")
            }
        }'
}

af_set() {  # NAME VALUE: one env file entry (with the file's prefix), into the snapshot
    af_key=$AF_ENV_PREFIX$1
    case $af_key in
        '' | [0-9]* | *[!A-Za-z0-9_]*) return 0 ;;  # not a name a process env can carry here
    esac
    export "$af_key=$2"
    eval "AFE_$af_key=\$2"
}

af_spec() {  # TYPE PATH OPTIONAL PREFIX: one entry of AETHERFLOW_ENV_FILES_JSON
    af_load_env_file "$1" "$2" "$3" "$4"
}

af_load_env_file() {  # TYPE PATH OPTIONAL PREFIX
    if [ ! -e "$2" ]; then
        [ "$3" = 1 ] && return 0
        af_die "env file not found: $2"
    fi
    # Read errors as the Python artifact words them (exit 2), not a shell warning.
    [ -r "$2" ] || af_die "env file $2 cannot be read: [Errno 13] Permission denied: '$2'"
    AF_ENV_PREFIX=$4
    af_lower "$1" ''
    case $REPLY in
        dotenv | json) [ ! -d "$2" ] || af_die "env file $2 cannot be read: [Errno 21] Is a directory: '$2'" ;;
    esac
    case $REPLY in
        dotenv) af_env_dotenv "$2" ;;
        json)
            af_code=$(AF_JSON_SRC="env file $2" af_json_env_awk env <"$2") || exit 2
            eval "$af_code" ;;
        dir | directory | dir-of-files)
            [ -d "$2" ] || af_die "env file $2: type dir needs a directory"
            [ -x "$2" ] || af_die "env file $2 cannot be read: [Errno 13] Permission denied: '$2'"
            for af_f in "$2"/* "$2"/.*; do
                [ -f "$af_f" ] || continue
                [ -r "$af_f" ] || af_die "env file $2 cannot be read: [Errno 13] Permission denied: '$af_f'"
                af_v=$(cat "$af_f"; printf x); af_v=${af_v%x}
                while :; do case $af_v in *"$AF_NL") af_v=${af_v%"$AF_NL"} ;; *) break ;; esac; done
                af_set "${af_f##*/}" "$af_v"
            done ;;
        *) af_die "env file $2: unsupported type '$1' (use dotenv, json or dir)" ;;
    esac
    AF_ENV_PREFIX=
}

# --- paths ----------------------------------------------------------------------------

af_path() {  # PATH -> REPLY: relative to the job's artifacts dir; absolute paths must stay in the workspace
    case $1 in
        /*) REPLY=$1 ;;
        *) REPLY=$AF_ARTIFACTS/$1 ;;
    esac
    [ "$AF_SANDBOX" = 1 ] || return 0
    af_norm "$REPLY"
    case $REPLY in
        "$AF_WORK_ROOT" | "$AF_WORK_ROOT"/*) return 0 ;;
    esac
    AF_ERROR="path '$1' is outside the sandbox (allowed roots: $AF_WORK_ROOT, $AF_ARTIFACTS)"
    return 1
}

af_norm() {  # PATH -> REPLY without . and .. parts (lexically)
    af_out=
    af_rest=${1#/}/
    while [ -n "$af_rest" ]; do
        af_part=${af_rest%%/*}
        af_rest=${af_rest#*/}
        case $af_part in
            '' | .) ;;
            ..) af_out=${af_out%/*} ;;
            *) af_out=$af_out/$af_part ;;
        esac
    done
    REPLY=${af_out:-/}
}

af_path_text() {  # PATH -> REPLY as Python's pathlib writes it: no empty or . parts, no trailing /
    case $1 in ///*) af_lead=/ ;; //*) af_lead=// ;; /*) af_lead=/ ;; *) af_lead= ;; esac
    af_out=; af_rest=$1/
    while [ -n "$af_rest" ]; do
        af_part=${af_rest%%/*}; af_rest=${af_rest#*/}
        case $af_part in '' | .) ;; *) af_out=${af_out:+$af_out/}$af_part ;; esac
    done
    REPLY=$af_lead$af_out; [ -n "$REPLY" ] || REPLY=.
}

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

# --- steps ----------------------------------------------------------------------------

# ID TYPE SKIPJOB INDEX: 0 when the step must run now; 1 when it is already done (resumed)
# or skipped because an earlier step reported no data. INDEX (its place in the job) names
# the variables that keep its result for later steps' templates (AF_SR_<job>_<INDEX>) and
# its line in the summary (AF_RS_<job>_<INDEX>). A plain step that succeeded keeps neither:
# its result is AF_PLAIN_RESULT and its line says SUCCESS.
af_step() {
    AF_STEP=$1
    AF_STEP_SKIPJOB=$3
    AF_STEP_INDEX=$4
    AF_RESULT=
    AF_PROMOTED=
    AF_STEP_STATUS=SUCCESS
    AF_REASON=
    AF_NUL=
    if [ -n "$AF_JOB_SKIP" ]; then
        af_json_str "$AF_JOB_SKIP"
        AF_RESULT="\"skipped\": true$AF_NL\"reason\": $REPLY$AF_NL"
        eval "AF_SR_${AF_JI}_$4=\$AF_RESULT"
        af_write_step "$1" SKIPPED "$AF_RESULT" ''
        af_report_step "$1" SKIPPED
        return 1
    fi
    if [ "$AF_RESUMING" = 1 ] && af_log_get "$4"; then
        case $AF_R_STATUS in
            SUCCESS | SKIPPED)
                eval "AF_SR_${AF_JI}_$4=\$AF_R_RESULT"
                af_map_merge AF_JOB_OUT "$AF_R_MAP"
                af_step_event step_resumed "step_id=$1 status=$AF_R_STATUS"
                if [ "$AF_R_STATUS" = SKIPPED ] && [ "$3" = 1 ]; then
                    af_map_get "$AF_R_RESULT" '"reason"' && af_text "$REPLY" || REPLY='step requested skip_job'
                    AF_JOB_SKIP=$REPLY
                fi
                af_report_step "$1" "$AF_R_STATUS" '  (resumed)'
                return 1 ;;
        esac
    fi
    af_step_event step_start "step_id=$1 step_type=$2"
    AF_CLOCK_FRESH=0
    return 0
}

af_result() {  # KEY LITERAL: add to the step's result
    af_json_str "$1"
    af_map_set AF_RESULT "$REPLY" "$2"
}

af_output() {  # KEY LITERAL: promote to the job's outputs
    af_json_str "$1"
    af_map_set AF_PROMOTED "$REPLY" "$2"
}

af_result_get() {  # KEY -> REPLY (JSON literal); 1 with AF_MISSING when the result has no KEY
    af_json_str "$1"
    af_map_get "$AF_RESULT" "$REPLY" && return 0
    AF_MISSING="result.$1"
    return 1
}

af_step_fail() {  # MESSAGE [env]: the step FAILED; the job stops (returns 1)
    af_one_line "$1"
    af_msg=$REPLY
    af_json_str "$af_msg"
    af_write_step "$AF_STEP" FAILED "\"error\": $REPLY$AF_NL" ''
    af_event ERROR step_end "job_id=$AF_JOB" "step_id=$AF_STEP" status=FAILED "error=$af_msg"
    af_report_step "$AF_STEP" FAILED
    AF_JOB_ERROR=$af_msg
    [ "${2-}" = env ] && AF_ENV_FAILURE=1
    return 1
}

af_missing() {  # the template key in AF_MISSING is missing (or, AF_MISSING empty, af_rendered refused a value): fail the step
    case $AF_MISSING in
        '') af_step_fail "$AF_SYNTAX" ;;
        env.*) af_step_fail "missing template key '$AF_MISSING' (no default given)" env ;;
        *) af_step_fail "missing template key '$AF_MISSING' (no default given)" ;;
    esac
}

# TEXT SOURCE: 0, or 1 with AF_SYNTAX (AF_MISSING empty) when text with tokens (SOURCE, the
# template as written) rendered to something the template contract forbids in a result.
af_rendered() {
    case $1 in
        *'${'*) af_p='${' ;;
        *'{%'*) af_p='{%' ;;
        *'%}'*) af_p='%}' ;;
        *'{#'*) af_p='{#' ;;
        *'#}'*) af_p='#}' ;;
        *'{}'*) af_p='{}' ;;
        *) return 0 ;;
    esac
    AF_MISSING=
    af_json_str "$2"; af_repr "$REPLY"
    AF_SYNTAX="Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}} | the rendered value of $REPLY contains '$af_p'"
    return 1
}

af_one_line() {  # TEXT -> REPLY on one line
    REPLY=$1
    case $REPLY in
        *"$AF_NL"*) REPLY=$(printf '%s' "$1" | tr '\n' ' ') ;;
    esac
}

af_step_end() {  # record the step; merge its outputs; returns 1 when promotion failed
    eval "AF_SR_${AF_JI}_$AF_STEP_INDEX=\$AF_RESULT"
    af_write_step "$AF_STEP" "$AF_STEP_STATUS" "$AF_RESULT" "$AF_PROMOTED"
    af_map_merge AF_JOB_OUT "$AF_PROMOTED"
    af_step_event step_end "step_id=$AF_STEP status=$AF_STEP_STATUS"
    af_report_step "$AF_STEP" "$AF_STEP_STATUS"
    if [ -n "$AF_PROMOTE_ERROR" ]; then
        AF_JOB_ERROR=$AF_PROMOTE_ERROR
        AF_PROMOTE_ERROR=
        return 1
    fi
    if [ "$AF_STEP_STATUS" = SKIPPED ] && [ "$AF_STEP_SKIPJOB" = 1 ]; then
        af_map_get "$AF_RESULT" '"reason"' && af_text "$REPLY" || REPLY='step requested skip_job'
        AF_JOB_SKIP=$REPLY
        af_clock
        af_event INFO job_no_data "job_id=$AF_JOB" "step_id=$AF_STEP" "reason=$REPLY"
    fi
    return 0
}

# An output template names a key that does not exist (or, AF_MISSING empty, af_rendered
# refused its value): no output of the step is promoted, and the job fails after the step.
af_promote_missing() {
    case $AF_MISSING in
        '') AF_PROMOTE_ERROR=$AF_SYNTAX ;;
        env.*) AF_PROMOTE_ERROR="missing template key '$AF_MISSING' (no default given)"; AF_ENV_FAILURE=1 ;;
        *) AF_PROMOTE_ERROR="missing template key '$AF_MISSING' (no default given)" ;;
    esac
    AF_PROMOTED=
}

# --- check_items ----------------------------------------------------------------------

af_check_items() {  # MIN_COUNT COUNT: has_data/count; SKIPPED below MIN_COUNT (an integer of any size)
    af_intcmp "$2" "$1"
    if [ "$REPLY" = -1 ]; then
        AF_STEP_STATUS=SKIPPED
        af_result has_data false
        af_result count "$2"
        af_result reason "\"count($2) < min_count($1)\""
    else
        af_result has_data true
        af_result count "$2"
    fi
}

# KEY TTL: with_lock's lock, or the step fails. Not reentrant: a lock this run holds is
# held, unless it has expired (a TTL of 0 or less expires at once, as in the engine).
af_lock_step() {
    af_clock_fresh
    af_lock_name "$1"
    case $AF_NL$AF_HELD in
        *"$AF_NL$AF_STATE_DIR/locks/$REPLY.lock$AF_NL"*)
            af_lease "$AF_STATE_DIR/locks/$REPLY.lock"
            if [ -z "$af_owner" ] || [ "$af_expires" -gt "$AF_EPOCH" ]; then
                af_step_fail "Lock not acquired: $1"; return 1
            fi ;;
    esac
    af_lock_acquire "$1" "$2" && return 0
    af_step_fail "Lock not acquired: $1"
    return 1
}

af_split_items() {  # TEXT -> REPLY: how many items a comma-separated string holds (empty parts dropped)
    case $1 in
        *[!"$AF_ASCII"]*)  # parts stripped as str.strip() does
            REPLY=$(printf '%s' "$1" | LC_ALL=C awk -v ws="[\034-\037]|$AF_WS_RE" '{ s = (NR > 1) ? s "\n" $0 : $0 }
            END {
                n = split(s, parts, ","); c = 0
                for (k = 1; k <= n; k++) {
                    p = parts[k]; sub("^(" ws ")+", "", p); sub("(" ws ")+$", "", p)
                    if (p != "") c++
                }
                print c }')
            return 0 ;;
    esac
    af_count=0
    af_rest=$1,
    while [ -n "$af_rest" ]; do
        af_item=${af_rest%%,*}
        af_rest=${af_rest#*,}
        af_item=${af_item#"${af_item%%[![:space:]]*}"}
        af_item=${af_item%"${af_item##*[![:space:]]}"}
        [ -n "$af_item" ] && af_count=$((af_count + 1))
    done
    REPLY=$af_count
}

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
af_plain_step() {  # ID INDEX PROGRAM [ARG...]
    if [ -n "$AF_JOB_SKIP" ] || [ "$AF_RESUMING" = 1 ] || [ "$AF_SQL" = 1 ] || ! af_which "$3"; then
        af_step "$1" external.process 0 "$2" || return 0
        shift 2
        af_plain "$@" || return 1
        af_step_end
        return
    fi
    AF_STEP=$1; AF_STEP_INDEX=$2; AF_STEP_STATUS=SUCCESS; AF_CLOCK_FRESH=0
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

# --- jobs -----------------------------------------------------------------------------

af_job_status() {  # INDEX -> REPLY: the status of job INDEX in this run ('' if none)
    eval "REPLY=\${AF_JS_$1-}"
}

af_jo() {  # JOBINDEX JOBID JSONKEY -> REPLY: a job output for `when`; 2 when absent
    eval "af_st=\${AF_JS_$1-}"
    if [ -z "$af_st" ]; then
        AF_WHEN_ERROR="job '$2' has not run in this run"; return 2
    fi
    af_map=
    eval "af_map=\${AF_JO_$1-}"
    af_map_get "$af_map" "$3" && return 0
    af_text "$3"
    AF_WHEN_ERROR="job '$2' ($af_st) has no output '$REPLY'"
    return 2
}

af_jstatus() {  # JOBINDEX JOBID -> REPLY: the job's status as a JSON literal
    eval "af_st=\${AF_JS_$1-}"
    [ -n "$af_st" ] || { AF_WHEN_ERROR="job '$2' has not run in this run"; return 2; }
    REPLY="\"$af_st\""
}

af_jreason() {  # JOBINDEX JOBID -> REPLY: skip_reason as a JSON literal
    eval "af_st=\${AF_JS_$1-}"
    [ -n "$af_st" ] || { AF_WHEN_ERROR="job '$2' has not run in this run"; return 2; }
    eval "REPLY=\${AF_JR_$1-null}"
    [ "$REPLY" != null ] && return 0
    AF_WHEN_ERROR="job '$2' ($af_st) has no skip_reason"
    return 2
}

# Template lookups: each puts a JSON literal in REPLY, or returns 1 when it is absent.
af_ref_step() {  # STEPINDEX JSONKEY: a key of an earlier step's result (this job)
    af_sr=
    eval "af_sr=\${AF_SR_${AF_JI}_$1-\$AF_PLAIN_RESULT}"
    af_map_get "$af_sr" "$2"
}

af_ref_jobs() {  # JOBINDEX JOBID JSONKEY: jobs.<id>.outputs.<key>
    af_jo "$@" 2>/dev/null || return 1
}

af_remember() {  # INDEX STATUS OUTPUTMAP REASONLITERAL
    eval "AF_JS_$1=\$2; AF_JO_$1=\$3; AF_JR_$1=\$4"
}

af_selected() {  # JOBID: 0 when it runs in this invocation
    [ -z "$AF_SELECTED" ] && return 0
    case $AF_SELECTED in *" $1 "*) return 0 ;; esac
    return 1
}

# INDEX ID FUNCTION WHENFUNCTION LOCKNAME DEP_INDEX...: run one job in declared order.
af_job() {
    af_ji=$1; AF_JI=$1; AF_JOB=$2; af_fn=$3; af_when=$4; af_job_lockname=$5; AF_STEP_INDEX=0
    shift 5
    [ "$AF_STOP" = 1 ] && { af_not_reached "$AF_JOB"; return 0; }
    if ! af_selected "$AF_JOB"; then
        if af_record_read "$AF_RUN_DIR/jobs/$AF_JOB.json"; then
            af_remember "$af_ji" "$AF_R_STATUS" "$AF_R_MAP" "$AF_R_REASON"
        fi
        return 0
    fi
    af_clock_fresh
    af_job_started=$AF_EPOCH
    for af_dep in "$@"; do
        af_job_status "$af_dep"
        if [ "$REPLY" != SUCCESS ]; then
            af_event INFO job_blocked "job_id=$AF_JOB"
            af_finish_job "$af_ji" BLOCKED '' null
            return 0
        fi
    done
    if [ -n "$af_when" ]; then
        AF_WHEN_ERROR=
        "$af_when"
        case $? in
            0) ;;
            1)
                af_event INFO job_skipped "job_id=$AF_JOB"
                af_finish_job "$af_ji" SKIPPED '' '"condition=false"'
                return 0 ;;
            *)
                af_event ERROR run_aborted "job_id=$AF_JOB" "detail=invalid when for job '$AF_JOB': ${AF_WHEN_ERROR:-values of different types cannot be ordered}"
                AF_EXIT=1; AF_STOP=1
                return 0 ;;
        esac
    fi
    af_job_lock="job:$AF_FLOW_ID:$AF_JOB"
    if [ "$AF_LOCK_SCOPE" = job ] && ! af_lock_acquire "$af_job_lock" "$AF_LOCK_TTL" "$af_job_lockname"; then
        af_event ERROR lock_held "job_id=$AF_JOB" "key=$af_job_lock"
        af_event ERROR run_aborted "job_id=$AF_JOB" "detail=job lock '$af_job_lock' is held by another run"
        AF_EXIT=3; AF_STOP=1
        return 0
    fi
    AF_JOB_DIR=$AF_WORK_ROOT/$AF_FLOW_ID/$AF_JOB/$AF_RUN_ID
    AF_ARTIFACTS=$AF_JOB_DIR/$AF_LAYOUT_ARTIFACTS
    AF_SCRATCH=$AF_JOB_DIR/$AF_LAYOUT_SCRATCH
    af_run_dirs "$AF_ARTIFACTS" "$AF_SCRATCH" "$AF_JOB_DIR/$AF_LAYOUT_MANIFESTS"
    af_write_job "$AF_JOB" RUNNING '' null
    af_event INFO job_start "job_id=$AF_JOB"
    AF_JOB_OUT=; AF_JOB_SKIP=; AF_JOB_ERROR=; AF_PROMOTE_ERROR=
    [ "$AF_RESUMING" = 1 ] && af_log_load "$af_ji" "$AF_JOB" repair
    exec 7>>"$AF_RUN_DIR/steps/$AF_JOB.log"
    "$af_fn"
    af_ok=$?
    exec 7>&-
    af_clock_fresh
    if [ "$af_ok" = 0 ]; then
        if [ -n "$AF_JOB_SKIP" ]; then
            af_json_str "$AF_JOB_SKIP"
            af_finish_job "$af_ji" SKIPPED "$AF_JOB_OUT" "$REPLY"
        else
            af_finish_job "$af_ji" SUCCESS "$AF_JOB_OUT" null
        fi
        af_cleanup 1
    else
        af_event ERROR job_failed "job_id=$AF_JOB" "error=$AF_JOB_ERROR"
        af_finish_job "$af_ji" FAILED "$AF_JOB_OUT" null
        AF_ANY_FAILED=1
        [ "$AF_KEEP_GOING" = 1 ] || AF_STOP=1
        af_cleanup 0
    fi
    # The last job's lock goes with the run lease, in the run's last rm.
    if [ "$AF_LOCK_SCOPE" = job ]; then
        if [ "$AF_JOB" = "${AF_JOB_IDS##* }" ]; then
            af_lock_release "$af_job_lock" "$af_job_lockname" later
        else
            af_lock_release "$af_job_lock" "$af_job_lockname"
        fi
    fi
    return 0
}

af_finish_job() {  # INDEX STATUS OUTPUTMAP REASONLITERAL
    af_write_job "$AF_JOB" "$2" "$3" "$4"
    af_remember "$1" "$2" "$3" "$4"
    af_secs=$((AF_EPOCH - af_job_started))
    af_note=; REPLY=
    if [ "$4" != null ]; then af_text "$4"; af_note=" ($REPLY)"; fi
    af_event INFO job_end "job_id=$AF_JOB" "status=$2" "skip_reason=$REPLY"
    af_report_job "$AF_JOB" "$2" "$af_secs" "$af_note"
}

af_not_reached() {  # JOBID
    af_selected "$1" || return 0
    af_report_job "$1" NOT_REACHED 0
}

af_cleanup() {  # SUCCEEDED
    case $AF_CLEANUP in
        always) LC_ALL=C rm -rf "$AF_JOB_DIR" ;;
        on_success) [ "$1" = 1 ] && LC_ALL=C rm -rf "$AF_JOB_DIR" ;;
    esac
    return 0
}

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
