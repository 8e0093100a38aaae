#!/usr/bin/env python3
# Compiled by aetherflow-compiler 0.1.0 from orders.yaml
# (source sha256 28ec70f9488bed77374c2b744d95f3b1d65eb90d73f1abab9640b4cd25bf9140).
# Do not edit: change the YAML and compile again.
#
#   python3 orders.py run [--run-id ID | --resume] [--job ID]... [--env-file F]... [--keep-going]
#   python3 orders.py plan | check-env | status [--run-id ID] [--json] | verify | --version
#
# Exit codes: 0 no job failed, 1 a job failed, 2 usage or configuration error,
# 3 a flow or job lock is held by another run, or the run id runs in another process.
from __future__ import annotations

import os
import sys

# Python put this script's folder first on sys.path: a flow script beside it named like a
# standard module (json.py) would shadow that module.
DIST = os.path.dirname(os.path.realpath(__file__))
if sys.path and os.path.realpath(sys.path[0] or ".") == DIST:
    del sys.path[0]

# ======== aetherflow_runtime "0.1.0", inlined (--single-file) ========
# [golden] the runtime, inlined and checked against runtime_stub/ by the test:
#   runtime_stub/__init__.py
#   runtime_stub/errors.py
#   runtime_stub/environment.py
#   runtime_stub/connectors/__init__.py
#   runtime_stub/logs.py
#   runtime_stub/results.py
#   runtime_stub/secrets_provider.py
#   runtime_stub/settings.py
#   runtime_stub/state/__init__.py
#   runtime_stub/templating.py
#   runtime_stub/workspace.py
#   runtime_stub/runner.py
#   runtime_stub/cli.py
#   runtime_stub/metrics.py
#   runtime_stub/resources.py
#   runtime_stub/state/base.py
#   runtime_stub/state/files.py
#   runtime_stub/state/postgres.py
#   runtime_stub/state/sqlite.py
#   runtime_stub/steps/__init__.py
#   runtime_stub/steps/check_items.py
#   runtime_stub/steps/process.py
#   runtime_stub/steps/with_lock.py
#   runtime_stub/textfile.py
#   runtime_stub/vendored.py
#   runtime_stub/verify.py


# ======== flow orders ========

FLOW = Flow(
    flow_id="orders",
    source="orders.yaml",
    source_sha256="28ec70f9488bed77374c2b744d95f3b1d65eb90d73f1abab9640b4cd25bf9140",
    compiler_version="0.1.0",
    description="Probe, gate, extract under a lock, with retries.",
    workspace_root=Ref("env.WORK", default="/tmp/work"),
    cleanup_policy="on_success",
    layout={"artifacts": "artifacts", "scratch": "tmp", "manifests": "manifests"},
    state_backend="file",
    state_path=Text(Ref("env.STATE", default="/tmp/state"), "/orders"),
    lock_scope="flow",
    lock_ttl_seconds=600,
    env_vars={"INBOX": True, "STATE": True, "WORK": True},
)


# orders.yaml:9
def job_probe(run):
    # orders.yaml:11
    run.step(
        "inbox",
        "check_items",
        inputs={"items": Ref("env.INBOX", default=""), "min_count": 1},
        outputs={"has_data": Ref("result.has_data"), "count": Ref("result.count")},
        on_no_data="skip_job",
    )


# orders.yaml:16: when
def when_extract_all(jobs):
    return bool(
        (jobs.output("probe", "has_data") == True)
        and (not (jobs.output("probe", "count") < 2))
    )


# orders.yaml:16
def job_extract_all(run):
    # orders.yaml:20
    run.step(
        "pull",
        "with_lock",
        inputs={
            "lock_key": Text("pull-", Ref("flow_id")),
            "step": {
                "type": "external.process",
                "inputs": {
                    "command": ["sh", "-c", "echo pulling $N files"],
                    "env": {"N": Ref("jobs.probe.outputs.count")},
                    "timeout_seconds": 30,
                    "retry": {
                        "max_attempts": 3,
                        "retry_on_exit_codes": [75],
                        "backoff_seconds": 1,
                    },
                },
            },
        },
        outputs={"pulled": Ref("result.exit_code")},
    )


# orders.yaml:32
def job_report(run):
    pass  # no steps: the job ends SUCCESS


JOBS = [
    Job("probe", job_probe, origin="orders.yaml:9"),
    Job(
        "extract-all",
        job_extract_all,
        origin="orders.yaml:16",
        depends_on=["probe"],
        when=when_extract_all,
        when_source="jobs.probe.outputs.has_data == true and not jobs.probe.outputs.count < 2",
    ),
    Job("report", job_report, origin="orders.yaml:32", depends_on=["extract-all"]),
]

STEP_TYPES = {
    "check_items": run_check_items,
    "external.process": run_external_process,
    "with_lock": run_with_lock,
}

if __name__ == "__main__":
    sys.exit(main(FLOW, JOBS, STEP_TYPES))
