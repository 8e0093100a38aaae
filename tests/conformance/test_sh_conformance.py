"""The shell target against the Python target: every corpus case the sh target can express
is compiled for both, with the state backend the case declares (a sqlite-declared flow's
shell artifact keeps the file layout beside the database), and run by each; both must end
with the same exit class, job and step statuses, promoted outputs and files. The Python artifact is the reference here: its agreement with the engine is
what test_conformance.py checks.

Run alone:  .venv/bin/python -m pytest tests/conformance/test_sh_conformance.py
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml
from harness import HERE, Case, Side, known_failing, run_artifact
from test_sh_target import _shellcheck

from aetherflow_compiler.codegen import sh
from conftest import run_cli

# Cases that bring Python modules (a metrics sink) have no shell counterpart: a shell
# artifact runs no Python, and says so (tests/test_sh_target.py checks the warning).
CASES = sorted(p for p in (HERE / "cases").glob("*.yaml") if not Case.load(p).modules)
KNOWN = known_failing("sh")  # fail today: strict xfails until the fix lands (known_failing.yaml)
SHELLS = ("dash", "bash --posix", "busybox sh")
pytestmark = pytest.mark.conformance


def _compile(case: Case, tmp_path: Path) -> tuple[Path, bool, str]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / f"{case.name}.yaml").write_text(case.flow_text)
    args, _ = case.write_inputs(tmp_path)
    dist = tmp_path / "dist"
    compiled = run_cli(["compile", str(flows), "-o", str(dist), "--target", "all", *args])
    if compiled.exit_code != 0:
        return dist, False, compiled.stdout
    manifest = json.loads((dist / "manifest.json").read_text())
    return dist, manifest["flows"][case.name]["sh_artifact"] is not None, compiled.stdout


@pytest.mark.parametrize(
    "case_path",
    [
        (
            pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN[p.stem]))
            if p.stem in KNOWN
            else p
        )
        for p in CASES
    ],
    ids=lambda p: p.stem,
)
def test_sh_artifact_ends_like_the_python_artifact(case_path: Path, tmp_path: Path) -> None:
    case = Case.load(case_path)
    dist, has_sh, printed = _compile(case, tmp_path)
    if not has_sh:
        # Not expressible in the sh target: `--target all` says why and writes the Python artifact.
        refused = case.refused or (case.beyond or {}).get("compile_error")
        if refused:
            assert f" {refused} " in printed  # refused for every target
            return
        assert " AF806 no sh artifact for flow " in printed
        assert (dist / f"{case.name}.py").exists() and not (dist / f"{case.name}.sh").exists()
        return
    shell = SHELLS[CASES.index(case_path) % len(SHELLS)]  # every shell runs a third of the corpus
    if case_path.stem in KNOWN:
        shell = "dash"  # where the differential fuzzer found them
    python_side, sh_side = Side(tmp_path / "python", case), Side(tmp_path / "sh", case)
    # A sqlite-declared flow's shell artifact also mirrors its statuses into the database
    # (AETHERFLOW_SH_SQLITE_MIRROR): the rows must be the Python artifact's.
    sqlite = yaml.safe_load(case.flow_text)["flow"]["state"]["backend"] == "sqlite"
    mirror = {"AETHERFLOW_SH_SQLITE_MIRROR": "1"} if sqlite else {}
    for side in (python_side, sh_side):
        side.prepare(case.setup)
    for index, run in enumerate(case.runs):
        for side in (python_side, sh_side):
            side.prepare(run.get("setup") or {})
        ours = run_artifact(python_side, dist / f"{case.name}.py", run, None)
        theirs = run_artifact(
            sh_side,
            dist / f"{case.name}.sh",
            {**run, "env": {**(run.get("env") or {}), **mirror}},
            None,
            shell=shell,
        )
        assert theirs.comparable(exit_code=True) == ours.comparable(exit_code=True), (
            f"{case.name} run {index} ({shell}): {case.about}\n"
            f"python: {ours.comparable(exit_code=True)}\n{ours.detail}\nsh:     {theirs.comparable(exit_code=True)}\n{theirs.detail}"
        )
        if sqlite:
            assert _engine_rows(sh_side.state) == _engine_rows(
                python_side.state
            ), f"{case.name} run {index}"


def _engine_rows(db: Path) -> tuple[list, list]:  # type: ignore[type-arg]
    """The engine's tables as ops queries read them (every run, without the timestamps).
    No tables is no rows: a run refused before it starts writes none (the sh mirror makes
    them as the run starts; the Python artifact's `status` makes them as it opens the store)."""
    with sqlite3.connect(db) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'job_runs'").fetchone():
            return ([], [])
        return (
            sorted(conn.execute("SELECT job_id, run_id, status FROM job_runs")),
            sorted(conn.execute("SELECT job_id, run_id, step_id, status FROM step_runs")),
        )


def _step_types(steps: list[dict]) -> set[str]:  # type: ignore[type-arg]
    found = set()
    for step in steps:
        found.add(step["type"])
        inner = (step.get("inputs") or {}).get("step")
        if step["type"] == "with_lock" and isinstance(inner, dict):
            found |= _step_types([inner])
    return found


def test_every_case_with_shell_steps_runs_in_the_shell(tmp_path: Path) -> None:
    """A case whose steps are all external.process, check_items and with_lock, whatever
    state backend it declares, gets a shell artifact unless a plugin provides a step (or an
    id is not one the shell can hold: AF813)."""
    expected, expressible, flow_parts = [], [], []
    runtime = ""
    for case_path in (
        p for p in CASES if p.stem not in KNOWN
    ):  # some of those do not compile today
        case = Case.load(case_path)
        flow = yaml.safe_load(case.flow_text)
        types = set().union(*(_step_types(job.get("steps") or []) for job in flow["jobs"]))
        portable = all(
            re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", job["id"]) for job in flow["jobs"]
        )
        if (
            types <= {"external.process", "check_items", "with_lock"}
            and not case.plugins
            and portable
            and not flow.get("resources")
            and not (case.beyond or {}).get("compile_error")
            and not case.refused
        ):
            expected.append(case.name)
        work = tmp_path / case.name
        work.mkdir()
        dist, has_sh, _ = _compile(case, work)
        if has_sh:
            expressible.append(case.name)
            script = (dist / f"{case.name}.sh").read_text()
            flow_parts.append(script[script.index("# ======== flow ") :])
            runtime = script[: script.index("# ======== flow ")]
    assert expressible == expected
    # Every script's own part (its runtime is the same text each time) is shellcheck clean:
    # checked in one file, the runtime once and then each flow's part. SC2329 is left out
    # here only: in the combined file the next flow's job_a() hides this one's (the whole
    # scripts of test_sh_target.py are checked with every rule).
    combined = tmp_path / "corpus.sh"
    combined.write_text(runtime + "\n".join(flow_parts))
    (tmp_path / "aetherflow_runtime").mkdir()  # what the scripts source (checked with them: -x)
    (tmp_path / "aetherflow_runtime" / "runtime.sh").write_text(sh.runtime_source())
    check = subprocess.run(
        [_shellcheck(), "-x", "-s", "sh", "--severity=style", "--exclude=SC2329", str(combined)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
    assert len(expected) >= 60 and any(
        yaml.safe_load(Case.load(HERE / "cases" / f"{name}.yaml").flow_text)["flow"]["state"][
            "backend"
        ]
        == "sqlite"
        for name in expected
    )
