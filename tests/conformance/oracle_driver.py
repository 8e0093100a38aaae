"""Runs flows with the reference engine and reports what it did, as JSON.

Executed by the oracle virtual environment's Python (aetherflow-core==0.0.14 installed),
never imported by the tests. The engine keeps job outputs only in memory, so the driver
keeps a reference to the runner's `jobs` mapping from the first step it renders.

    python oracle_driver.py FLOW_YAML RUN_ID OUT_JSON [FLOW_JOB]
    python oracle_driver.py --batch SPEC_JSON
    python oracle_driver.py --validate OUT_JSON FLOW_YAML...

--batch runs many flows for one start of the engine (its import costs most of a short
run): SPEC_JSON is a list of {"flow", "run_id", "out", "cwd", "env", "log", "job"?}; each
flow runs in a child forked after the import, in its own cwd with exactly `env` as its
environment and its output in `log`, and writes `out` as the first form does.
--validate writes {flow: {"ok", "errors": [{code, loc, msg}]}} as the engine's own
validation (`validate_flow_yaml`, what `run_flow` checks first) reports each flow.
"""

import json
import os
import sys
import traceback


def run_one(flow_yaml, run_id, out_path, flow_job=None):
    import aetherflow.core.runner as runner

    seen = {}
    original = runner.resolve_step_templates

    def spy(obj, runtime_ctx):
        seen.setdefault("jobs", runtime_ctx.get("jobs"))
        return original(obj, runtime_ctx)

    runner.resolve_step_templates = spy
    report = {"exit": 0, "error": None}
    try:
        runner.run_flow(flow_yaml, run_id=run_id, flow_job=flow_job)
    except BaseException as exc:  # the engine's CLI would exit non-zero with a traceback
        report["exit"] = 1
        report["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        runner.resolve_step_templates = original
    jobs = seen.get("jobs") or {}
    report["outputs"] = {job: entry.get("outputs", {}) for job, entry in jobs.items()}
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, default=str)


def run_batch(spec_path):
    import aetherflow.core.runner  # noqa: F401  (imported once, before the forks)

    with open(spec_path, encoding="utf-8") as fh:
        items = json.load(fh)
    for item in items:
        pid = os.fork()
        if pid == 0:  # the child: one flow, then exit without running the parent's cleanup
            code = 0
            try:
                os.chdir(item["cwd"])
                os.environ.clear()
                os.environ.update(item["env"])
                log = os.open(item["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                run_one(item["flow"], item["run_id"], item["out"], item.get("job"))
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.waitpid(pid, 0)


def validate(out_path, flows):
    from aetherflow.core.validation import validate_flow_yaml

    reports = {}
    for flow in flows:
        try:
            report = validate_flow_yaml(flow)
            reports[flow] = {"ok": bool(report.get("ok")), "errors": report.get("errors") or []}
        except BaseException as exc:  # the engine refuses the file outright
            message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            reports[flow] = {
                "ok": False,
                "errors": [{"code": "exception", "loc": "", "msg": message}],
            }
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(reports, fh, default=str)


def main():
    if sys.argv[1] == "--batch":
        run_batch(sys.argv[2])
    elif sys.argv[1] == "--validate":
        validate(sys.argv[2], sys.argv[3:])
    else:
        flow_yaml, run_id, out_path = sys.argv[1:4]
        run_one(flow_yaml, run_id, out_path, sys.argv[4] if len(sys.argv) > 4 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
