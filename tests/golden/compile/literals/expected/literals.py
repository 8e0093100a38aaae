#!/usr/bin/env python3
# Compiled by aetherflow-compiler 0.1.0 from literals.yaml
# (source sha256 eab758cc841b25f0aa2db0e0812b9e34737eeceb03b607a622a8532b7d5ef98d).
# Do not edit: change the YAML and compile again.
#
#   python3 literals.py run [--run-id ID | --resume] [--job ID]... [--env-file F]... [--keep-going]
#   python3 literals.py plan | check-env | status [--run-id ID] [--json] | verify | --version
#
# Exit codes: 0 no job failed, 1 a job failed, 2 usage or configuration error,
# 3 a flow or job lock is held by another run, or the run id runs in another process.
import datetime
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
    from aetherflow_runtime.steps.process import run_external_process
    from aetherflow_runtime.templating import Ref, Text
except Exception as exc:  # a file of the runtime is missing or damaged
    sys.stderr.write(
        "error: aetherflow_runtime/ is missing or damaged next to %s (%s: %s)\n"
        "  `%s verify` lists the files that differ; deploy the compiled directory again\n"
        % (__file__, type(exc).__name__, exc, __file__)
    )
    sys.exit(2)

FLOW = Flow(
    flow_id="literals",
    source="literals.yaml",
    source_sha256="eab758cc841b25f0aa2db0e0812b9e34737eeceb03b607a622a8532b7d5ef98d",
    compiler_version="0.1.0",
    description=None,
    workspace_root="/tmp/work",
    cleanup_policy="on_success",
    layout={"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"},
    state_backend="sqlite",
    state_path="/tmp/state/aetherflow.sqlite",
    lock_scope="job",
    lock_ttl_seconds=3600,
    env_vars={"MISSING": True, "TRIM": True},
    start_checks=[
        [
            "a",
            "values",
            "inputs",
            [Text(Ref("env.TRIM", default=" kept spaces"), " and text")],
        ],
    ],
)


# literals.yaml:5
def job_a(run):
    # literals.yaml:8
    run.step(
        "values",
        "external.process",
        inputs={
            "command": ["printf", "%s\n"],
            "args": [
                "plain",
                'it\'s "quoted"',
                "line\nbreak",
                "back\\slash",
                "ünïcødé ✓",
                datetime.date(2024, 1, 31),
                float("inf"),
                float("-inf"),
                "1.5e3",
                31,
                None,
                Text(Ref("run_id"), "-", Ref("flow_id")),
                Ref("env.MISSING", default="de fault "),
                Text(Ref("env.TRIM", default=" kept spaces"), " and text"),
            ],
            "env": {2: "number key", True: "bool key", "NESTED": Ref("job.id")},
            "outputs": {"weird key": [1, {"deep": [True, None]}]},
        },
        outputs={"code": Ref("result.exit_code")},
    )


# literals.yaml:34: when
def when_b(jobs):
    return bool(
        ((jobs.output("a", "code") == 0) or (jobs.status("a") != "FAILED"))
        and (-1 < 0 <= 1)
        and (not False)
        and (jobs.skip_reason("a") == None)
    )


# literals.yaml:34
def job_b(run):
    pass  # no steps: the job ends SUCCESS


# literals.yaml:37: when
def when_c(jobs):
    return bool(
        (jobs.output("a", "code") != 1000)
        and (
            jobs.output("a", "code")
            != 31
            != "ab"
            != bytes([0, 34])
            != complex(0.0, 2.5)
            != complex(-0.0, -1.0)
        )
    )


# literals.yaml:37
def job_c(run):
    pass  # no steps: the job ends SUCCESS


JOBS = [
    Job(
        "a",
        job_a,
        origin="literals.yaml:5",
        description="Quotes ' \" and ''' in a description stay data.",
    ),
    Job(
        "b",
        job_b,
        origin="literals.yaml:34",
        when=when_b,
        when_source="(jobs.a.outputs.code == 0 or jobs.a.status != 'FAILED') and -1 < 0 <= 1 and not false and jobs.a.skip_reason == None",
    ),
    Job(
        "c",
        job_c,
        origin="literals.yaml:37",
        when=when_c,
        when_source="jobs.a.outputs.code != 1_000 and jobs.a.outputs.code != 0x1F != 'a' 'b' != b'\\x00\"' != 2.5j != -1J",
    ),
]

STEP_TYPES = {"external.process": run_external_process}

if __name__ == "__main__":
    sys.exit(main(FLOW, JOBS, STEP_TYPES))
