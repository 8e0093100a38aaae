"""Docs that are generated from the code must be up to date."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.mark.e2e
def test_error_codes_page_is_generated_from_the_catalog() -> None:
    run = subprocess.run(
        [sys.executable, "scripts/gen_error_codes_doc.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout


def test_every_code_is_on_the_page() -> None:
    from aetherflow_compiler.codes import CODES

    page = (ROOT / "docs" / "error-codes.md").read_text()
    for code in CODES:
        assert f"### {code} " in page


@pytest.mark.e2e
def test_step_reference_pages_are_generated_from_the_schemas() -> None:
    run = subprocess.run(
        [sys.executable, "scripts/gen_step_docs.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout


def test_every_step_input_is_described() -> None:
    from aetherflow_compiler.frontend.schema_check import load_schema

    definitions = load_schema("flow")["definitions"]
    undescribed = [
        f"{name[len('inputs:'):]}.{key}"
        for name, d in definitions.items()
        if name.startswith("inputs:")
        for key, prop in d["properties"].items()
        if not prop.get("description")
    ]
    assert undescribed == []


def test_the_compatibility_page_judges_every_code_with_its_severity() -> None:
    from aetherflow_compiler.codes import CODES

    page = (ROOT / "docs" / "compatibility.md").read_text()
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(
            r"^\| (AF\d{3}) \| ([a-z0-9-]+) \| (error|warning|note) \| \S", page, re.M
        )
    }
    assert sorted(rows) == sorted(CODES)
    for code, entry in CODES.items():
        assert rows[code] == (entry.name, entry.severity.value), code


@pytest.mark.e2e
def test_the_getting_started_page_runs(tmp_path: Path) -> None:
    """Every `$` line after the install block exits 0 in a copy of examples/, and prints the
    lines shown under it (`...` stands for any text, such as a count of files that changes
    with the runtime)."""
    page = (ROOT / "docs" / "getting-started.md").read_text()
    blocks = re.findall(r"```console\n(.*?)```", page, re.S)
    assert "pip install aetherflow-compiler" in blocks[0]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        AETHERFLOW_WORK_ROOT=str(tmp_path / "work"),
        AETHERFLOW_STATE_ROOT=str(tmp_path / "state"),
        ORDERS_INBOX=str(tmp_path / "inbox"),
    )
    commands = 0
    for block in blocks[1:]:
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, *shown = chunk.splitlines()
            run = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True
            )
            assert run.returncode == 0, (command, run.stdout, run.stderr)
            printed = (run.stdout + run.stderr).splitlines()
            for line in shown:
                pattern = re.compile(re.escape(line).replace(re.escape("..."), ".*"))
                assert any(pattern.fullmatch(out) for out in printed), (command, line, printed)
            commands += 1
    assert commands >= 7
