"""What `make demo` and `make test` install on a fresh machine (make -n: what they would run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.e2e  # runs make


def dry_run(tmp_path: Path, target: str) -> list[str]:
    for name in ("Makefile", "pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    run = subprocess.run(
        ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    return [line for line in run.stdout.splitlines() if "pip install" in line]


def test_make_demo_installs_the_compiler_without_the_test_tools(tmp_path: Path) -> None:
    installs = dry_run(tmp_path, "demo")
    assert installs[-1].endswith("pip install --quiet -e .")
    assert not any("[test]" in line for line in installs)


def test_make_test_installs_the_test_tools(tmp_path: Path) -> None:
    assert any(
        line.endswith("pip install --quiet -e '.[test]'") for line in dry_run(tmp_path, "test")
    )
