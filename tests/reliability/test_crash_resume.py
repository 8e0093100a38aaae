"""Crash and resume: kill -9 a running artifact at 25 seeded random moments, resume with the
same run id each time, and check the state store never lies."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Project, statuses

pytestmark = pytest.mark.reliability
STEPS = 30
KILLS = 25


def _done_steps(project: Project, backend: str) -> set[str]:
    if backend == "sqlite":
        if not project.state("ledger").exists():
            return set()
        with sqlite3.connect(project.state("ledger")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            rows = conn.execute(
                "SELECT step_id FROM step_runs WHERE run_id='crash' AND status='SUCCESS'"
            )
            return {r[0] for r in rows}
    done = set()
    folder = project.root / "state" / "ledger-files" / "runs" / "crash" / "steps" / "a"
    for path in folder.glob("*.json") if folder.exists() else []:
        record = json.loads(
            path.read_text()
        )  # never a torn file: written to a temp file and renamed
        if record["status"] == "SUCCESS":
            done.add(path.stem)
    return done


# One job of STEPS steps, each appending its id to the ledger file $LEDGER (shared with
# the shell artifact's test, test_sh_reliability.py).
LEDGER_JOBS = "jobs:\n  - id: a\n    steps:\n" + "".join(
    f"      - {{id: s{i}, type: external.process, inputs: {{command: [sh, -c, 'echo s{i} >> \"$L\"; sleep 0.1'], "
    f"env: {{L: '{{{{env.LEDGER}}}}'}}}}}}\n"
    for i in range(STEPS)
)


def ledger_counts(ledger: Path) -> dict[str, int]:
    lines = ledger.read_text().split() if ledger.exists() else []
    return {f"s{i}": lines.count(f"s{i}") for i in range(STEPS)}


@pytest.mark.parametrize("backend", ["sqlite", "file"])
def test_kill_9_at_random_points_then_resume(project: Project, backend: str) -> None:
    project.flow("ledger", LEDGER_JOBS, backend=backend)
    ledger = project.root / "ledger.txt"
    env = {"LEDGER": str(ledger), "PATH": "/usr/bin:/bin"}
    rng = random.Random(20261128)
    killed_mid_run = 0
    for _ in range(KILLS):
        done_before = _done_steps(project, backend)
        counts_before = ledger_counts(ledger)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-S",
                str(project.dist / "ledger.py"),
                "run",
                "--run-id",
                "crash",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=project.root,
        )
        time.sleep(rng.uniform(0.05, 0.25))
        if proc.poll() is None:
            killed_mid_run += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        counts_after = ledger_counts(ledger)
        for step_id in done_before:  # recorded as done: it never runs again
            assert counts_after[step_id] == counts_before[step_id], step_id
        assert done_before <= _done_steps(project, backend)
    assert killed_mid_run >= KILLS - 3  # the kills really landed inside runs
    project.run("ledger", "run", "--run-id", "crash", env=env, check_exit=0)
    final = ledger_counts(ledger)
    assert all(final[f"s{i}"] >= 1 for i in range(STEPS))
    report = project.status("ledger", "crash")
    assert report["status"] == "SUCCESS"
    assert statuses(report)["a"] == ("SUCCESS", {f"s{i}": "SUCCESS" for i in range(STEPS)})
    _done_steps(project, backend)  # integrity once more
