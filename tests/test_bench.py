"""The benchmark script runs end to end (reduced size); timings are reported, not asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_benchmark_runs_at_reduced_size() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for row in (
        "| hello | compiled artifact |",
        "| hello | reference engine |",
        "| hello | aetherflow run (drop-in) |",
        "| 100 steps | sh script (floor) |",
        "| hello | Python script (floor) |",
        "| hello | compiled artifact, no writable __pycache__ |",
        "| hello | compiled artifact, --single-file |",
        "| compile | 50 flows, cold |",
        "| peak memory, hello | MB |",
    ):
        assert row in proc.stdout
