#!/usr/bin/env python3
# Compiled by aetherflow-compiler 0.1.0 from nested_plugin.yaml
# (source sha256 9504fb132c94ab98b7300c408ffc828c8b9d6253b2fba758af287b38b68574a3).
# Do not edit: change the YAML and compile again.
#
#   python3 nested_plugin.py run [--run-id ID | --resume] [--job ID]... [--env-file F]... [--keep-going]
#   python3 nested_plugin.py plan | check-env | status [--run-id ID] [--json] | verify | --version
#
# Exit codes: 0 no job failed, 1 a job failed, 2 usage or configuration error,
# 3 a flow or job lock is held by another run, or the run id runs in another process.
import os
import sys

# The runtime is vendored next to this script. Its folder goes at the end of sys.path,
# after the standard library, so that a flow script named like a standard module
# (json.py) shadows nothing: Python put the folder first (-I, isolated mode, does not).
DIST = os.path.dirname(os.path.realpath(__file__))
if sys.path and os.path.realpath(sys.path[0] or ".") == DIST:
    del sys.path[0]
sys.path.append(DIST)
if sys.argv[1:] == ["verify"]:
    # verify.py alone, from source: it needs none of the runtime package, so it names
    # the damaged files even when that package cannot be imported.
    import runpy

    verifier = os.path.join(DIST, "aetherflow_runtime", "verify.py")
    try:
        sys.exit(runpy.run_path(verifier)["report_dist"](__file__))
    except Exception as exc:  # the verifier itself is missing or damaged
        sys.stderr.write(
            "error: %s is missing or damaged (%s: %s)\n"
            "  deploy the compiled directory again\n"
            % (verifier, type(exc).__name__, exc)
        )
        sys.exit(2)
try:
    import aetherflow_runtime

    aetherflow_runtime.verify_runtime(
        "0.1.0", "<runtime sha256>"
    )
    from aetherflow_runtime.cli import main
    from aetherflow_runtime.runner import Flow, Job
    from aetherflow_runtime.plugin_api import load_plugin_files, plugin_step
    from aetherflow_runtime.steps.with_lock import run_with_lock
    from aetherflow_runtime.templating import Ref, Text
except Exception as exc:  # a file of the runtime is missing or damaged
    sys.stderr.write(
        "error: aetherflow_runtime/ is missing or damaged next to %s (%s: %s)\n"
        "  `%s verify` lists the files that differ; deploy the compiled directory again\n"
        % (__file__, type(exc).__name__, exc, __file__)
    )
    sys.exit(2)

# Plugins vendored in aetherflow_plugins/: running their files registers their step and
# connector types, in the order the reference engine loads them.
load_plugin_files(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "aetherflow_plugins"),
    ["acme.py"],
)

FLOW = Flow(
    flow_id="nested_plugin",
    source="nested_plugin.yaml",
    source_sha256="9504fb132c94ab98b7300c408ffc828c8b9d6253b2fba758af287b38b68574a3",
    compiler_version="0.1.0",
    description=None,
    workspace_root="/tmp/work",
    cleanup_policy="on_success",
    layout={"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"},
    state_backend="sqlite",
    state_path="/tmp/state/aetherflow.sqlite",
    lock_scope="job",
    lock_ttl_seconds=3600,
    env_vars={},
)


# nested_plugin.yaml:8
def job_deep(run):
    # nested_plugin.yaml:10
    run.step(
        "outer",
        "with_lock",
        inputs={
            "lock_key": "outer",
            "step": {
                "type": "with_lock",
                "inputs": {
                    "lock_key": "inner",
                    "step": {"type": "acme_touch", "inputs": {"name": "x"}},
                },
            },
        },
    )


JOBS = [Job("deep", job_deep, origin="nested_plugin.yaml:8")]

STEP_TYPES = {"acme_touch": plugin_step("acme_touch"), "with_lock": run_with_lock}

if __name__ == "__main__":
    sys.exit(main(FLOW, JOBS, STEP_TYPES))
