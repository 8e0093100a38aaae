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

# [golden] the shell runtime (runtime_stub/sh/), inlined here: checked by the test

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
    AF_WORK_ROOT='/tmp/work'
    AF_ROOT_AS_WRITTEN=$AF_WORK_ROOT
    case $AF_WORK_ROOT in /*) ;; *) AF_WORK_ROOT=$PWD/$AF_WORK_ROOT ;; esac
    af_norm "$AF_WORK_ROOT"; AF_WORK_ROOT=$REPLY
    AF_STATE_DIR='/tmp/state/nested'
    AF_SQLITE_DB=
    AF_LAYOUT_ARTIFACTS='artifacts'
    AF_LAYOUT_SCRATCH='scratch'
    AF_LAYOUT_MANIFESTS='manifests'
    AF_LOCK_TTL='3600'
    af_sandbox_setting
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
    if af_step 'outer' 'with_lock' index=1; then
        af_lock_step 'outer' ttl='600' || return 1
        af_lock_step 'inner' ttl='600' || { af_lock_release 'outer'; return 1; }
        af_check_items min_count='1' count=2 || { af_lock_release 'inner'; { af_lock_release 'outer'; return 1; }; }
        af_lock_release 'inner'
        af_lock_release 'outer'
        {
            if af_map_get "$AF_RESULT" '"count"' && [ "$REPLY" != '""' ]; then :; else AF_MISSING='result.count'; af_promote_missing; fi
            af_1=$REPLY
            [ -z "$AF_PROMOTE_ERROR" ] && af_output 'n' "$af_1"
        }
        af_step_end || return 1
    fi
}

af_jobs() {  # in declared order: af_main runs each job after the ones it depends on
    af_job index=1 id='deep' run=job_deep when= lock='job_nested_deep-4002903965'
}

af_main "$@"
