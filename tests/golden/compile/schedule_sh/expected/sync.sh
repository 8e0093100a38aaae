#!/bin/sh
# Compiled by aetherflow-compiler 0.1.0 from sync.yaml
# (source sha256 e2b4670b282a5a7b8f24e38fdd8d44c3d52b72b1b06f238bf3050d6672da7ff4), POSIX shell target.
# Do not edit: change the YAML and compile again.
#
#   sh sync.sh run [--run-id ID | --resume] [--job ID]... [--env-file F]... [--keep-going]
#   sh sync.sh plan | check-env | status [--run-id ID] [--json] | --version
#
# Exit codes: 0 no job failed, 1 a job failed, 2 usage or configuration error,
# 3 a flow or job lock is held by another run, or the run id runs in another process.

# Literals from the flow are single-quoted on purpose: they must not expand.
# shellcheck disable=SC2016
set -u

# [golden] runtime_stub/runtime.sh, inlined here: checked by the test

# ======== flow sync ========

AF_FLOW_ID='sync'
AF_SOURCE='sync.yaml'
AF_SOURCE_SHA256='e2b4670b282a5a7b8f24e38fdd8d44c3d52b72b1b06f238bf3050d6672da7ff4'
AF_COMPILER_VERSION='0.1.0'
AF_LOCK_SCOPE='job'
AF_FLOW_LOCK_NAME='flow_sync-464570778'
AF_CLEANUP='on_success'
AF_BUNDLE_DIRS=0
AF_JOB_IDS='copy'
# job id, then its step ids (for `status`)
AF_JOB_STEPS='copy copy'"$AF_NL"''
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
    af_1='/data/state/sync'
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
        'flow sync (compiled from sync.yaml by aetherflow-compiler 0.1.0, sh target)' \
        '  workspace: /tmp/work (cleanup on_success)' \
        '  state:     file /data/state/sync' \
        '  locks:     scope job, ttl 3600 s' \
        'job copy  [sync.yaml:6]' \
        '  step copy  external.process' \
        '    inputs:  {"command": ["sh", "-c", "date +%s > stamp"]}'
}

# sync.yaml:6
job_copy() {
    # sync.yaml:8
    af_plain_step 'copy' 1 'sh' '-c' 'date +%s > stamp' || return 1
}

af_jobs() {  # in declared order: index, id, function, when, job lock name, then the indexes of depends_on
    af_job 1 'copy' job_copy '' 'job_sync_copy-4146704992'
}

af_main "$@"
