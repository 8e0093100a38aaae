#!/bin/sh
# Compiled by aetherflow-compiler 0.1.0 from handoff.yaml
# (source sha256 c60aebedbdb5633b00ea964979898bf3ca36cffa17a6f899696f0a28e6991085), POSIX shell target.
# Do not edit: change the YAML and compile again.
#
#   sh handoff.sh run [--run-id ID | --resume] [--job ID]... [--env-file F]... [--keep-going]
#   sh handoff.sh plan | check-env | status [--run-id ID] [--json] | verify | --version
#
# Exit codes: 0 no job failed, 1 a job failed, 2 usage or configuration error,
# 3 a flow or job lock is held by another run, or the run id runs in another process.

# Literals from the flow are single-quoted on purpose: they must not expand.
# shellcheck disable=SC2016
set -u

# The runtime ships once per dist, as aetherflow_runtime/runtime.sh beside this script (beside
# the script a symbolic link points to): checked against the one compiled with, then sourced.
af_self=$0
while [ -h "$af_self" ] && af_link=$(readlink "$af_self"); do
    case $af_link in /*) af_self=$af_link ;; *) af_self=$(dirname "$af_self")/$af_link ;; esac
done
case $af_self in */*) AF_DIST=${af_self%/*} ;; *) AF_DIST=. ;; esac
if [ "$*" = verify ]; then  # the dist against manifest.json, by verify.sh alone (not the runtime)
    [ -r "$AF_DIST/aetherflow_runtime/verify.sh" ] || { echo "error: $AF_DIST/aetherflow_runtime/verify.sh is missing" \
        "or unreadable; deploy the compiled directory again" >&2; exit 2; }
    exec sh "$AF_DIST/aetherflow_runtime/verify.sh" "$AF_DIST"
fi
AF_RUNTIME=$AF_DIST/aetherflow_runtime/runtime.sh
af_sum=$(LC_ALL=C cksum <"$AF_RUNTIME" 2>/dev/null)
if [ "$af_sum" != '<cksum of aetherflow_runtime/runtime.sh>' ]; then
    printf '%s\n' "error: the runtime $AF_RUNTIME does not match this flow script" \
        "  expected cksum <cksum of aetherflow_runtime/runtime.sh>, found ${af_sum:-no readable file}" \
        "  \`$0 verify\` lists the files that differ; deploy the compiled directory again" \
        "  (flow scripts with aetherflow_runtime/, as a whole), or compile again." >&2
    exit 2
fi
# shellcheck source-path=SCRIPTDIR source=aetherflow_runtime/runtime.sh
. "$AF_RUNTIME"

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
    AF_STATE_DIR='/srv/af/state/handoff.sqlite'
    # state.backend is sqlite: the shell keeps the file layout beside that path
    # (and mirrors statuses into that database when AETHERFLOW_SH_SQLITE_MIRROR is on)
    AF_SQLITE_DB=$AF_STATE_DIR
    AF_STATE_DIR="$AF_STATE_DIR.d"
    AF_LAYOUT_ARTIFACTS='artifacts'
    AF_LAYOUT_SCRATCH='scratch'
    AF_LAYOUT_MANIFESTS='manifests'
    AF_LOCK_TTL='3600'
    af_sandbox_setting
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
    if af_step 'list' 'external.process' index=1; then
        af_process_reset
        AF_P_ENV_N=0
        AF_P_CWD='inbox'
        AF_P_STDOUT='capture'
        set -- 'ls' '-1'
        af_process "$@" || return 1
        if [ "$AF_STEP_STATUS" = SUCCESS ]; then
            af_result 'files' '["a.csv", "b.csv"]'
            af_result 'retries' '2'
        fi
        {
            if af_map_get "$AF_RESULT" '"files"' && [ "$REPLY" != '""' ]; then :; else AF_MISSING='result.files'; af_promote_missing; fi
            af_1=$REPLY
            [ -z "$AF_PROMOTE_ERROR" ] && af_output 'files' "$af_1"
        }
        [ -z "$AF_PROMOTE_ERROR" ] && {
            if af_map_get "$AF_RESULT" '"stdout"' && [ "$REPLY" != '""' ]; then :; else AF_MISSING='result.stdout'; af_promote_missing; fi
            af_2=$REPLY
            [ -z "$AF_PROMOTE_ERROR" ] && af_output 'listing' "$af_2"
        }
        af_step_end || return 1
    fi
    # handoff.yaml:21
    if af_step 'enough' 'check_items' index=2 on_no_data=skip_job; then
        if af_ref_step 1 '"files"' && [ "$REPLY" != '""' ]; then :; else AF_MISSING='steps.list.files'; af_missing; return 1; fi
        af_1=$REPLY
        af_items_count "$af_1" || return 1
        af_2=$REPLY
        af_check_items min_count='1' count="$af_2" || return 1
        af_step_end || return 1
    fi
}

# handoff.yaml:25: when jobs.extract.status == "SUCCESS"
when_load() {
    af_jstatus 1 'extract' || return 2
    af_1=$REPLY
    af_w=0
    af_cmp "$af_1" '==' '"SUCCESS"'
    case $? in 1) af_w=1 ;; 2) return 2 ;; esac
    return "$af_w"
}

# handoff.yaml:25
job_load() {
    # handoff.yaml:29
    if af_step 'copy' 'with_lock' index=1; then
        af_1=
        af_1="$af_1"'warehouse-'
        REPLY=$AF_FLOW_ID
        af_1="$af_1$REPLY"
        af_2=
        af_env 'TARGET_DIR' || { af_missing; return 1; }
        af_2="$af_2$REPLY"
        if af_ref_jobs 1 'extract' '"files"' && [ "$REPLY" != '""' ]; then :; else AF_MISSING='jobs.extract.outputs.files'; af_missing; return 1; fi
        af_3=$REPLY
        af_env 'LOAD_ATTEMPTS' '3' || { af_missing; return 1; }
        af_json_str "$REPLY"
        af_4=$REPLY
        af_lock_step "$af_1" ttl='600' || return 1
        af_process_reset
        AF_P_ENV_N=0
        set --
        set -- "$@" 'cp'
        set -- "$@" '-t'
        set -- "$@" "$af_2"
        af_argv_json "$af_3" args || { af_lock_release "$af_1"; return 1; }
        af_argv_items=$REPLY
        while [ -n "$af_argv_items" ]; do
            af_text "${af_argv_items%%"$AF_NL"*}"; af_argv_items=${af_argv_items#*"$AF_NL"}
            set -- "$@" "$REPLY"
        done
        AF_P_CWD='inbox'
        AF_PJ_RETRY_MAX="$af_4"
        AF_P_RETRY_CODES=' 75 '
        af_process "$@" || { af_lock_release "$af_1"; return 1; }
        af_lock_release "$af_1"
        {
            af_5=
            REPLY='load'
            af_5="$af_5$REPLY"
            af_5="$af_5"' in '
            REPLY=$AF_RUN_ID
            af_5="$af_5$REPLY"
            af_json_str "$af_5"
            af_6=$REPLY
            [ -z "$AF_PROMOTE_ERROR" ] && af_output 'loaded_by' "$af_6"
        }
        af_step_end || return 1
    fi
}

af_jobs() {  # in declared order: af_main runs each job after the ones it depends on
    af_job index=1 id='extract' run=job_extract when= lock='job_handoff_extract-1952597470'
    af_job index=2 id='load' run=job_load when=when_load lock='job_handoff_load-1982295732' depends_on=1
}

af_main "$@"
