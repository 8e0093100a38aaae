"""Golden trees: each case's flows/ compiles to exactly its expected/ directory."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from conftest import GOLDEN, run_cli

CASES = sorted(p for p in (GOLDEN / "compile").iterdir() if p.is_dir())


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_compile_golden(case: Path, tmp_path: Path, update_golden: bool) -> None:
    args = shlex.split((case / "args").read_text()) if (case / "args").exists() else []
    out = tmp_path / "dist"
    result = run_cli(["compile", "flows", "-o", str(out), *args], cwd=case)
    assert result.exit_code == 0, result.stdout + result.stderr
    expected = case / "expected"
    if update_golden:
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(out, expected)
    actual, wanted = _tree(out), _tree(expected)
    assert sorted(actual) == sorted(wanted)
    for name in actual:
        assert actual[name].decode() == wanted[name].decode(), name


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_artifacts_are_a_fixed_point_of_black(case: Path) -> None:
    import black

    mode = black.Mode(target_versions={black.TargetVersion.PY38})
    for script in sorted((case / "expected").glob("*.py")):
        text = script.read_text()
        assert black.format_str(text, mode=mode) == text, script
