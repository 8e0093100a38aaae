#!/bin/sh
# Compiled by aetherflow-compiler 0.1.0 from handoff.yaml
# (source sha256 c60aebedbdb5633b00ea964979898bf3ca36cffa17a6f899696f0a28e6991085), POSIX shell target.
# Do not edit: change the YAML and compile again.
#
#   sh handoff.sh run [--run-id ID | --resume] [--job ID]... [--env-file F]... [--keep-going]
#   sh handoff.sh plan | check-env | status [--run-id ID] [--json] | --version
#
# Exit codes: 0 no job failed, 1 a job failed, 2 usage or configuration error,
# 3 a flow or job lock is held by another run, or the run id runs in another process.

# Literals from the flow are single-quoted on purpose: they must not expand.
# shellcheck disable=SC2016
set -u

# [golden] runtime_stub/runtime.sh, inlined here: checked by the test

# ======== flow handoff ========

AF_FLOW_ID='handoff'
AF_SOURCE='handoff.yaml'
AF_SOURCE_SHA256='c60aebedbdb5633b00ea964979898bf3ca36cffa17a6f899696f0a28e6991085'
AF_COMPILER_VERSION='0.1.0'
AF_LOCK_SCOPE='job'
AF_FLOW_LOCK_NAME='flow_handoff-4133085298'
AF_CLEANUP='on_success'
AF_BUNDLE_DIRS=0
AF_JOB_IDS='extract load'
# job id, then its step ids (for `status`)
AF_JOB_STEPS='extract list enough'"$AF_NL"'load copy'"$AF_NL"''
# env variables the flow reads, and whether every use has a default
AF_ENV_VARS='LOAD_ATTEMPTS 1'"$AF_NL"'TARGET_DIR 0'"$AF_NL"'WORK_ROOT 1'"$AF_NL"''

af_snapshot() {  # the env snapshot: the values the flow's templates read
    af_snap 'LOAD_ATTEMPTS'
    af_snap 'TARGET_DIR'
    af_snap 'WORK_ROOT'
}

af_settings() {  # flow settings, resolved from the env snapshot
    af_1=
    af_env 'WORK_ROOT' '/srv/af/work' || { af_die "flow settings need env variable ${AF_MISSING#env.}"; }
    af_1="$af_1$REPLY"
    AF_WORK_ROOT="$af_1"
    AF_ROOT_AS_WRITTEN=$AF_WORK_ROOT
    case $AF_WORK_ROOT in /*) ;; *) AF_WORK_ROOT=$PWD/$AF_WORK_ROOT ;; esac
    af_norm "$AF_WORK_ROOT"; AF_WORK_ROOT=$REPLY
    af_1='/srv/af/state/handoff.sqlite'
    AF_STATE_DIR="$af_1"
    # state.backend is sqlite: the shell keeps the file layout beside that path
    # (and mirrors statuses into that database when AETHERFLOW_SH_SQLITE_MIRROR is on)
    AF_SQLITE_DB=$AF_STATE_DIR
    AF_STATE_DIR="$AF_STATE_DIR.d"
    af_1='artifacts'
    AF_LAYOUT_ARTIFACTS="$af_1"
    af_1='scratch'
    AF_LAYOUT_SCRATCH="$af_1"
    af_1='manifests'
    AF_LAYOUT_MANIFESTS="$af_1"
    af_1='3600'
    AF_LOCK_TTL="$af_1"
    case ${AETHERFLOW_STRICT_SANDBOX:-true} in
        1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss] | [Yy] | [Oo][Nn]) AF_SANDBOX=1 ;;
        *) AF_SANDBOX=0 ;;
    esac
}

af_plan() {
    printf '%s\n' \
        'flow handoff (compiled from handoff.yaml by aetherflow-compiler 0.1.0, sh target)' \
        '  workspace: {{env.WORK_ROOT:/srv/af/work}} (cleanup on_success)' \
        '  state:     file /srv/af/state/handoff.sqlite.d (state.backend sqlite declares /srv/af/state/handoff.sqlite; the sh target keeps files, and mirrors statuses there with AETHERFLOW_SH_SQLITE_MIRROR=1)' \
        '  locks:     scope job, ttl 3600 s' \
        'job extract  [handoff.yaml:9]' \
        '  step list  external.process' \
        '    inputs:  {"command": ["ls", -1], "cwd": "inbox", "log": {"stdout": "capture"}, "outputs": {"files": ["a.csv", "b.csv"], "retries": 2}}' \
        '    outputs: {"files": "{{result.files}}", "listing": "{{result.stdout}}"}' \
        '  step enough  check_items  on_no_data: skip_job' \
        '    inputs:  {"items": "{{steps.list.files}}", "min_count": 1}' \
        'job load  [handoff.yaml:25]  depends_on: extract  when: jobs.extract.status == "SUCCESS"' \
        '  step copy  with_lock' \
        '    inputs:  {"lock_key": "warehouse-{{flow_id}}", "step": {"type": "external.process", "inputs": {"command": ["cp", "-t", "{{env.TARGET_DIR}}"], "args": "{{jobs.extract.outputs.files}}", "cwd": "inbox", "retry": {"max_attempts": "{{env.LOAD_ATTEMPTS:3}}", "retry_on_exit_codes": [75]}}}}' \
        '    outputs: {"loaded_by": "{{job.id}} in {{run_id}}"}'
}

# handoff.yaml:9
job_extract() {
    # handoff.yaml:11
    if af_step 'list' 'external.process' 0 1; then
        af_process_reset
        AF_P_ENV_N=0
        af_1='ls'
        af_2='-1'
        af_3='inbox'
        AF_P_CWD="$af_3"
        AF_P_STDOUT='capture'
        af_4='["a.csv", "b.csv"]'
        af_5='2'
        set -- "$af_1" "$af_2"
        af_process "$@" || return 1
        if [ "$AF_STEP_STATUS" = SUCCESS ]; then
            af_result 'files' "$af_4"
            af_result 'retries' "$af_5"
        fi
        {
            if af_map_get "$AF_RESULT" '"files"' && [ "$REPLY" != '""' ]; then :; else AF_MISSING='result.files'; af_promote_missing; fi
            af_6=$REPLY
            [ -z "$AF_PROMOTE_ERROR" ] && af_output 'files' "$af_6"
        }
        [ -z "$AF_PROMOTE_ERROR" ] && {
            if af_map_get "$AF_RESULT" '"stdout"' && [ "$REPLY" != '""' ]; then :; else AF_MISSING='result.stdout'; af_promote_missing; fi
            af_7=$REPLY
            [ -z "$AF_PROMOTE_ERROR" ] && af_output 'listing' "$af_7"
        }
        af_step_end || return 1
    fi
    # handoff.yaml:21
    if af_step 'enough' 'check_items' 1 2; then
        if af_ref_step 1 '"files"' && [ "$REPLY" != '""' ]; then :; else AF_MISSING='steps.list.files'; af_missing; return 1; fi
        af_2=$REPLY
        af_items_count "$af_2" || return 1
        af_1=$REPLY
        af_3='1'
        af_check_items "$af_3" "$af_1" || return 1
        af_step_end || return 1
    fi
}

# handoff.yaml:25: when jobs.extract.status == "SUCCESS"
when_load() {
    af_jstatus 1 'extract' || return 2
    af_1=$REPLY
    af_w=0
    af_2='"SUCCESS"'
    af_cmp "$af_1" '==' "$af_2"
    case $? in 1) af_w=1 ;; 2) return 2 ;; esac
    return "$af_w"
}

# handoff.yaml:25
job_load() {
    # handoff.yaml:29
    if af_step 'copy' 'with_lock' 0 1; then
        af_1=
        af_1="$af_1"'warehouse-'
        REPLY=$AF_FLOW_ID
        af_1="$af_1$REPLY"
        af_5=
        af_env 'TARGET_DIR' || { af_missing; return 1; }
        af_5="$af_5$REPLY"
        if af_ref_jobs 1 'extract' '"files"' && [ "$REPLY" != '""' ]; then :; else AF_MISSING='jobs.extract.outputs.files'; af_missing; return 1; fi
        af_6=$REPLY
        af_env 'LOAD_ATTEMPTS' '3' || { af_missing; return 1; }
        af_json_str "$REPLY"
        af_8=$REPLY
        af_2='600'
        af_lock_step "$af_1" "$af_2" || return 1
        af_process_reset
        AF_P_ENV_N=0
        set --
        af_3='cp'
        set -- "$@" "$af_3"
        af_4='-t'
        set -- "$@" "$af_4"
        set -- "$@" "$af_5"
        af_argv_json "$af_6" args || { af_lock_release "$af_1"; return 1; }
        af_argv_items=$REPLY
        while [ -n "$af_argv_items" ]; do
            af_text "${af_argv_items%%"$AF_NL"*}"; af_argv_items=${af_argv_items#*"$AF_NL"}
            set -- "$@" "$REPLY"
        done
        af_7='inbox'
        AF_P_CWD="$af_7"
        AF_PJ_RETRY_MAX="$af_8"
        AF_P_RETRY_CODES=' 75 '
        af_process "$@" || { af_lock_release "$af_1"; return 1; }
        af_lock_release "$af_1"
        {
            af_9=
            REPLY='load'
            af_9="$af_9$REPLY"
            af_9="$af_9"' in '
            REPLY=$AF_RUN_ID
            af_9="$af_9$REPLY"
            af_json_str "$af_9"
            af_10=$REPLY
            [ -z "$AF_PROMOTE_ERROR" ] && af_output 'loaded_by' "$af_10"
        }
        af_step_end || return 1
    fi
}

af_jobs() {  # in declared order: index, id, function, when, job lock name, then the indexes of depends_on
    af_job 1 'extract' job_extract '' 'job_handoff_extract-1952597470'
    af_job 2 'load' job_load when_load 'job_handoff_load-1982295732' 1
}

af_main "$@"
