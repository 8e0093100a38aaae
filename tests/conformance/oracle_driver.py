"""Runs one flow with the reference engine and reports what it did, as JSON.

Executed by the oracle virtual environment's Python (aetherflow-core==0.0.14 installed),
never imported by the tests. The engine keeps job outputs only in memory, so the driver
keeps a reference to the runner's `jobs` mapping from the first step it renders.

    python oracle_driver.py FLOW_YAML RUN_ID OUT_JSON [FLOW_JOB]
"""

import json
import sys
import traceback


def main() -> int:
    flow_yaml, run_id, out_path = sys.argv[1:4]
    flow_job = sys.argv[4] if len(sys.argv) > 4 else None
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
    jobs = seen.get("jobs") or {}
    report["outputs"] = {job: entry.get("outputs", {}) for job, entry in jobs.items()}
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
