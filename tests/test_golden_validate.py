"""Golden tests: every diagnostic code has an input file and its exact expected output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aetherflow_compiler.codes import CODES
from conftest import GOLDEN, case_args, case_env, run_cli

CASES_DIR = GOLDEN / "validate"
# Codes that cannot be shown by a committed input file get dedicated tests instead.
TESTED_ELSEWHERE = {
    "AF100": "tests/test_cli.py::test_missing_path_is_located_error",
    "AF101": "tests/test_loader.py::test_oversize_file_is_refused_without_reading_it_all",
    "AF701": "compile target (issue 3)",
    "AF705": "tests/test_sh_target.py::test_flows_the_shell_cannot_express",
    "AF806": "tests/test_sh_target.py::test_flows_the_shell_cannot_express",
    "AF316": "tests/test_schedule.py::test_items_must_name_compiled_flows_and_their_jobs",
    "AF317": "tests/test_schedule.py::test_items_must_name_compiled_flows_and_their_jobs",
    "AF321": "tests/test_bundle_fetch.py (a listed sha256 that the content does not match: db and rest sources)",
    "AF815": "tests/test_bundles.py::test_scheduler_items_run_the_compiled_bundle",
    "AF816": "tests/test_sh_target.py::test_flows_the_shell_cannot_express",
    "AF323": "tests/test_wheelhouse.py::test_a_package_the_wheelhouse_lacks_is_refused_naming_flow_and_step",
}


def _cases() -> list[Path]:
    out = []
    for entry in sorted(CASES_DIR.iterdir()):
        if entry.suffix in (".out", ".args", ".env", ".plugins", ".bundle") or entry.name.endswith(
            ".profiles.yaml"
        ):
            continue
        out.append(entry)
    return out


def is_project_case(case: Path) -> bool:
    """A folder with a project config: a bare `aetherflow validate` runs in it."""
    return case.is_dir() and any(
        (case / name).is_file() for name in ("pyproject.toml", "aetherflow.toml")
    )


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.stem)
def test_validate_golden(case: Path, update_golden: bool) -> None:
    args = case_args(case)
    # A bundle manifest case names its manifest in its args; the manifest names the rest.
    # A project case names nothing: its config does.
    paths = [] if "--bundle-manifest" in args or is_project_case(case) else [case.name]
    cwd = case if is_project_case(case) else CASES_DIR
    result = run_cli(["validate", *args, *paths], cwd=cwd, env=case_env(case))
    expected_file = (
        case.with_suffix(".out") if case.is_file() else case.with_name(case.name + ".out")
    )
    actual = result.stdout + f"[exit {result.exit_code}]\n"
    if update_golden:
        expected_file.write_text(actual)
    assert (
        expected_file.exists()
    ), f"missing golden file {expected_file.name}; run pytest --update-golden"
    assert actual == expected_file.read_text()
    # The file name says which code the case demonstrates; it must appear in the output.
    code = case.name.split("-")[0]
    assert re.search(rf": (error|warning|note) {code} ", result.stdout)
    # Each diagnostic line names its code's severity, and an error is what fails the run.
    shown = re.findall(r":\d+:\d+: (\w+) (AF\d{3}) ", result.stdout)
    assert shown and all(CODES[c].severity.value == word for word, c in shown)
    has_error = any(word == "error" for word, _ in shown)
    assert result.exit_code == (2 if has_error else 0)


def test_every_code_has_a_golden_case() -> None:
    shown = {p.name.split("-")[0] for p in _cases()}
    missing = set(CODES) - shown - set(TESTED_ELSEWHERE)
    assert not missing, f"codes without a golden case: {sorted(missing)}"
