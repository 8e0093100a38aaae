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

