#!/bin/sh
# Compiled by aetherflow-compiler 0.1.0 from sync.yaml
# (source sha256 e2b4670b282a5a7b8f24e38fdd8d44c3d52b72b1b06f238bf3050d6672da7ff4), POSIX shell target.
# Do not edit: change the YAML and compile again.
#
#   sh sync.sh run [--run-id ID | --resume] [--job ID]... [--env-file F]... [--keep-going]
#   sh sync.sh plan | check-env | status [--run-id ID] [--json] | verify | --version
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
    AF_WORK_ROOT='/tmp/work'
    AF_ROOT_AS_WRITTEN=$AF_WORK_ROOT
    case $AF_WORK_ROOT in /*) ;; *) AF_WORK_ROOT=$PWD/$AF_WORK_ROOT ;; esac
    af_norm "$AF_WORK_ROOT"; AF_WORK_ROOT=$REPLY
    AF_STATE_DIR='/data/state/sync'
    AF_SQLITE_DB=
    AF_LAYOUT_ARTIFACTS='artifacts'
    AF_LAYOUT_SCRATCH='scratch'
    AF_LAYOUT_MANIFESTS='manifests'
    AF_LOCK_TTL='3600'
    af_sandbox_setting
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
    af_plain_step 'copy' index=1 'sh' '-c' 'date +%s > stamp' || return 1
}

af_jobs() {  # in declared order: af_main runs each job after the ones it depends on
    af_job index=1 id='copy' run=job_copy when= lock='job_sync_copy-4146704992'
}

af_main "$@"
