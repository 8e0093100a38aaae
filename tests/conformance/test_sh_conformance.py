"""The shell target against the Python target: every corpus case the sh target can express
is compiled for both (with the file state layout, the only one the shell keeps) and run
by each; both must end with the same exit class, job and step statuses, promoted outputs
and files. The Python artifact is the reference here: its agreement with the engine is
what test_conformance.py checks.

Run alone:  .venv/bin/python -m pytest tests/conformance/test_sh_conformance.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import HERE, Case, Side, run_artifact

from conftest import run_cli

# Cases that bring Python modules (a metrics sink) have no shell counterpart: a shell
# artifact runs no Python, and says so (tests/test_sh_target.py checks the warning).
CASES = sorted(p for p in (HERE / "cases").glob("*.yaml") if not Case.load(p).modules)
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


@pytest.mark.parametrize("case_path", CASES, ids=lambda p: p.stem)
def test_sh_artifact_ends_like_the_python_artifact(case_path: Path, tmp_path: Path) -> None:
    case = Case.load(case_path, backend="file")
    dist, has_sh, printed = _compile(case, tmp_path)
    if not has_sh:
        # Not expressible in the sh target: `--target all` says why and writes the Python artifact.
        if (case.beyond or {}).get("compile_error"):
            assert f" {case.beyond['compile_error']} " in printed  # refused for every target
            return
        assert " AF806 no sh artifact for flow " in printed
        assert (dist / f"{case.name}.py").exists() and not (dist / f"{case.name}.sh").exists()
        return
    shell = SHELLS[CASES.index(case_path) % len(SHELLS)]  # every shell runs a third of the corpus
    python_side, sh_side = Side(tmp_path / "python", case), Side(tmp_path / "sh", case)
    for side in (python_side, sh_side):
        side.prepare(case.setup)
    for index, run in enumerate(case.runs):
        for side in (python_side, sh_side):
            side.prepare(run.get("setup") or {})
        ours = run_artifact(python_side, dist / f"{case.name}.py", run, None)
        theirs = run_artifact(sh_side, dist / f"{case.name}.sh", run, None, shell=shell)
        assert theirs.comparable() == ours.comparable(), (
            f"{case.name} run {index} ({shell}): {case.about}\n"
            f"python: {ours.comparable()}\n{ours.detail}\nsh:     {theirs.comparable()}\n{theirs.detail}")


def test_most_of_the_corpus_runs_in_the_shell(tmp_path: Path) -> None:
    expressible = []
    for case_path in CASES:
        case = Case.load(case_path, backend="file")
        work = tmp_path / case.name
        work.mkdir()
        if _compile(case, work)[1]:
            expressible.append(case.name)
    assert len(expressible) >= 45, expressible
