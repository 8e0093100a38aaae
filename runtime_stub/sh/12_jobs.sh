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

# index=N id=ID run=FUNCTION when=FUNCTION lock=LOCKNAME [depends_on=INDEX]...: run one
# job in declared order (`when=` empty: the job has no gate).
af_job() {
    af_ji=${1#index=}; AF_JI=$af_ji; AF_JOB=${2#id=}; af_fn=${3#run=}; af_when=${4#when=}
    af_job_lockname=${5#lock=}; AF_STEP_INDEX=0
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
        af_job_status "${af_dep#depends_on=}"
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

