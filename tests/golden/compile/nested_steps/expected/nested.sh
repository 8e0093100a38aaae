#!/bin/sh
# Compiled by aetherflow-compiler 0.1.0 from nested.yaml
# (source sha256 a066f4f74759cf76ac3b73019ed0e732c37ad207321f6f54956e8de15a896cd6), POSIX shell target.
# Do not edit: change the YAML and compile again.
#
#   sh nested.sh run [--run-id ID | --resume] [--job ID]... [--env-file F]... [--keep-going]
#   sh nested.sh plan | check-env | status [--run-id ID] [--json] | --version
#
# Exit codes: 0 no job failed, 1 a job failed, 2 usage or configuration error,
# 3 a flow or job lock is held by another run, or the run id runs in another process.

# Literals from the flow are single-quoted on purpose: they must not expand.
# shellcheck disable=SC2016
set -u

# [golden] runtime_stub/runtime.sh, inlined here: checked by the test

# ======== flow nested ========

AF_FLOW_ID='nested'
AF_SOURCE='nested.yaml'
AF_SOURCE_SHA256='a066f4f74759cf76ac3b73019ed0e732c37ad207321f6f54956e8de15a896cd6'
AF_COMPILER_VERSION='0.1.0'
AF_LOCK_SCOPE='none'
AF_FLOW_LOCK_NAME='flow_nested-2289612251'
AF_CLEANUP='on_success'
AF_BUNDLE_DIRS=0
AF_JOB_IDS='deep'
# job id, then its step ids (for `status`)
AF_JOB_STEPS='deep outer'"$AF_NL"''
# env variables the flow reads, and whether every use has a default
AF_ENV_VARS=''

af_snapshot() {  # the env snapshot: the values the flow's templates read
    :
}

af_settings() {  # flow settings, resolved from the env snapshot
    af_1='/tmp/work'
    AF_WORK_ROOT="$af_1"
    AF_ROOT_AS_WRITTEN=$AF_WORK_ROOT
    case $AF_WORK_ROOT in /*) ;; *) AF_WORK_ROOT=$PWD/$AF_WORK_ROOT ;; esac
    af_norm "$AF_WORK_ROOT"; AF_WORK_ROOT=$REPLY
    af_1='/tmp/state/nested'
    AF_STATE_DIR="$af_1"
    AF_SQLITE_DB=
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
        'flow nested (compiled from nested.yaml by aetherflow-compiler 0.1.0, sh target)' \
        '  workspace: /tmp/work (cleanup on_success)' \
        '  state:     file /tmp/state/nested' \
        '  locks:     scope none, ttl 3600 s' \
        'job deep  [nested.yaml:9]' \
        '  step outer  with_lock' \
        '    inputs:  {"lock_key": "outer", "step": {"type": "with_lock", "inputs": {"lock_key": "inner", "step": {"type": "check_items", "inputs": {"items": ["a", "b"]}}}}}' \
        '    outputs: {"n": "{{result.count}}"}'
}

# nested.yaml:9
job_deep() {
    # nested.yaml:11
    if af_step 'outer' 'with_lock' 0 1; then
        af_1='outer'
        af_2='600'
        af_lock_step "$af_1" "$af_2" || return 1
        af_3='inner'
        af_4='600'
        af_lock_step "$af_3" "$af_4" || { af_lock_release "$af_1"; return 1; }
        af_5=2
        af_6='1'
        af_check_items "$af_6" "$af_5" || { af_lock_release "$af_3"; { af_lock_release "$af_1"; return 1; }; }
        af_lock_release "$af_3"
        af_lock_release "$af_1"
        {
            if af_map_get "$AF_RESULT" '"count"' && [ "$REPLY" != '""' ]; then :; else AF_MISSING='result.count'; af_promote_missing; fi
            af_7=$REPLY
            [ -z "$AF_PROMOTE_ERROR" ] && af_output 'n' "$af_7"
        }
        af_step_end || return 1
    fi
}

af_jobs() {  # in declared order: index, id, function, when, job lock name, then the indexes of depends_on
    af_job 1 'deep' job_deep '' 'job_nested_deep-4002903965'
}

af_main "$@"
