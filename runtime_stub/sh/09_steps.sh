# --- steps ----------------------------------------------------------------------------

# ID TYPE index=INDEX [on_no_data=skip_job]: 0 when the step must run now; 1 when it is already done (resumed)
# or skipped because an earlier step reported no data. INDEX (its place in the job) names
# the variables that keep its result for later steps' templates (AF_SR_<job>_<INDEX>) and
# its line in the summary (AF_RS_<job>_<INDEX>). A plain step that succeeded keeps neither:
# its result is AF_PLAIN_RESULT and its line says SUCCESS.
af_step() {
    AF_STEP=$1
    AF_STEP_INDEX=${3#index=}
    case ${4-} in on_no_data=skip_job) AF_STEP_SKIPJOB=1 ;; *) AF_STEP_SKIPJOB=0 ;; esac
    AF_RESULT=
    AF_PROMOTED=
    AF_STEP_STATUS=SUCCESS
    AF_REASON=
    AF_NUL=
    if [ -n "$AF_JOB_SKIP" ]; then
        af_json_str "$AF_JOB_SKIP"
        AF_RESULT="\"skipped\": true$AF_NL\"reason\": $REPLY$AF_NL"
        eval "AF_SR_${AF_JI}_$AF_STEP_INDEX=\$AF_RESULT"
        af_write_step "$1" SKIPPED "$AF_RESULT" ''
        af_report_step "$1" SKIPPED
        return 1
    fi
    if [ "$AF_RESUMING" = 1 ] && af_log_get "$AF_STEP_INDEX"; then
        case $AF_R_STATUS in
            SUCCESS | SKIPPED)
                eval "AF_SR_${AF_JI}_$AF_STEP_INDEX=\$AF_R_RESULT"
                af_map_merge AF_JOB_OUT "$AF_R_MAP"
                af_step_event step_resumed "step_id=$1 status=$AF_R_STATUS"
                if [ "$AF_R_STATUS" = SKIPPED ] && [ "$AF_STEP_SKIPJOB" = 1 ]; then
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
        *"\${"*) af_p="\${" ;;
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

