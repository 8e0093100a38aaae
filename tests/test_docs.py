"""Docs that are generated from the code must be up to date."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_error_codes_page_is_generated_from_the_catalog() -> None:
    run = subprocess.run([sys.executable, "scripts/gen_error_codes_doc.py", "--check"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_every_code_is_on_the_page() -> None:
    from aetherflow_compiler.codes import CODES

    page = (ROOT / "docs" / "error-codes.md").read_text()
    for code in CODES:
        assert f"### {code} " in page
