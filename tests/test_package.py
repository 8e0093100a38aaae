"""A non-editable install must work on its own: console script, schemas, runtime sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT


@pytest.mark.slow
def test_non_editable_install_gives_a_working_command(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT)],
        check=True, cwd=tmp_path,
    )
    installed = target / "aetherflow_compiler"
    assert (installed / "schemas" / "flow.schema.json").is_file()
    assert (installed / "_runtime" / "__init__.py").is_file()
    # Run from a directory outside the repository so nothing is imported from the checkout.
    env = dict(os.environ, PYTHONPATH=str(target))
    run = subprocess.run([str(target / "bin" / "aetherflow"), "validate", str(EXAMPLES)],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    schema = subprocess.run([sys.executable, "-m", "aetherflow_compiler", "schema", "profiles"],
                            cwd=tmp_path, env=env, capture_output=True, text=True)
    assert schema.returncode == 0 and '"title": "AetherFlow profiles file"' in schema.stdout
    where = subprocess.run([sys.executable, "-c", "import aetherflow_compiler; print(aetherflow_compiler.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(target))
