"""Each corpus flow must end the same with the reference engine and as a compiled artifact:
job and step statuses, promoted outputs, files written and exit code class. Cases marked
`beyond` are deliberate differences: they assert our behaviour, and that the engine's differs.

Run alone:  .venv/bin/python -m pytest -m conformance
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import HERE, Case, Outcome, Side, known_failing, run_artifact, run_engine

from conftest import run_cli

CASES = sorted((HERE / "cases").glob("*.yaml"))
KNOWN = known_failing(
    "engine"
)  # fail today: strict xfails until the fix lands (known_failing.yaml)
pytestmark = pytest.mark.conformance


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40


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
def test_case(case_path: Path, tmp_path: Path) -> None:
    case = Case.load(case_path)
    flows = tmp_path / "flows"
    flows.mkdir()
    flow_file = flows / f"{case.name}.yaml"
    flow_file.write_text(case.flow_text)
    args, engine_env = case.write_inputs(tmp_path)
    compiled = run_cli(["compile", str(flows), "-o", str(tmp_path / "dist"), *args])
    beyond = case.beyond or {}
    if case.refused:  # the engine refuses it before running anything; the compiler refuses it
        assert compiled.exit_code == 2 and f" {case.refused} " in compiled.stdout, compiled.stdout
        engine = run_engine(Side(tmp_path / "engine", case), flow_file, case.runs[0], engine_env)
        assert engine.exit == "failure" and engine.jobs == {}, engine.detail
        return
    if "compile_error" in beyond:
        assert (
            compiled.exit_code == 2 and f" {beyond['compile_error']} " in compiled.stdout
        ), compiled.stdout
        engine = run_engine(Side(tmp_path / "engine", case), flow_file, case.runs[0], engine_env)
        assert (
            engine.exit == "success"
        ), "the engine should accept what we refuse (that is the point)"
        return
    assert compiled.exit_code == 0, compiled.stdout + compiled.stderr
    case.install_modules(tmp_path / "dist")

    engine_side, our_side = Side(tmp_path / "engine", case), Side(tmp_path / "ours", case)
    for side in (engine_side, our_side):
        side.prepare(case.setup)
    beyond_run = beyond.get("run", len(case.runs) - 1) if beyond else None
    for index, run in enumerate(case.runs):
        for side in (engine_side, our_side):
            side.prepare(run.get("setup") or {})
        engine = run_engine(engine_side, flow_file, run, engine_env)
        compared = None if index == beyond_run else set(engine.outputs)
        ours = run_artifact(our_side, tmp_path / "dist" / f"{case.name}.py", run, compared)
        if index == beyond_run:
            _assert_beyond(beyond, ours, engine)
        else:
            assert ours.comparable() == engine.comparable(), _explain(case, index, ours, engine)


def _assert_beyond(beyond: dict, ours: Outcome, engine: Outcome) -> None:  # type: ignore[type-arg]
    expected = beyond["ours"]
    assert ours.exit == expected["exit"], ours.detail
    assert {job: data["status"] for job, data in ours.jobs.items()} == expected["jobs"], ours.detail
    for job, outputs in (expected.get("outputs") or {}).items():
        assert ours.outputs.get(job) == outputs
    # The difference is real: the engine does not end the same way.
    engine_view = (engine.exit, {job: data["status"] for job, data in engine.jobs.items()})
    assert (
        engine_view != (ours.exit, expected["jobs"]) or engine.outputs != ours.outputs
    ), engine.detail


def _explain(case: Case, index: int, ours: Outcome, engine: Outcome) -> str:
    return (
        f"{case.name} run {index}: {case.about}\n"
        f"engine: {engine.comparable()}\n{engine.detail}\n"
        f"ours:   {ours.comparable()}\n{ours.detail}"
    )
