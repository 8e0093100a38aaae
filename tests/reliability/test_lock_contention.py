"""Locks under contention: 16 concurrent runs never overlap in the critical section."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import pytest

from conftest import Project, alive
from polling import text_of, wait_for

pytestmark = pytest.mark.reliability
RUNS = 16
CRITICAL = (
    'if [ -e "$S" ]; then echo overlap >> "$O"; fi; touch "$S"; echo $$ >> "$W"; '
    'sleep 0.3; rm -f "$S"'
)


# The two contention scenarios, shared with the shell artifact's tests (test_sh_reliability.py):
# every run's critical section records an overlap if it finds another one inside.
_CRITICAL_INPUTS = f"""\
command: [sh, -c, '{CRITICAL}']
env: {{S: "{{{{env.S}}}}", O: "{{{{env.O}}}}", W: "{{{{env.W}}}}"}}
"""
WITH_LOCK_JOBS = """\
jobs:
  - id: a
    steps:
      - id: critical
        type: with_lock
        inputs:
          lock_key: the-critical-section
          ttl_seconds: 60
          step:
            type: external.process
            inputs:
""" + textwrap.indent(_CRITICAL_INPUTS, " " * 14)
FLOW_LOCK_JOBS = """\
jobs:
  - id: a
    steps:
      - id: critical
        type: external.process
        inputs:
""" + textwrap.indent(_CRITICAL_INPUTS, " " * 10)


def race(
    project: Project, argv: Callable[[str], list[str]]
) -> list[subprocess.CompletedProcess[str]]:
    """RUNS runs at once, `argv(run_id)` each, with the critical section's env."""
    procs = [
        subprocess.Popen(
            argv(f"r{i}"),
            env=contention_env(project),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=project.root,
        )
        for i in range(RUNS)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def contention_env(project: Project) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "S": str(project.root / "sentinel"),
        "O": str(project.root / "overlaps"),
        "W": str(project.root / "winners"),
    }


def _python(project: Project, flow_id: str) -> Callable[[str], list[str]]:
    return lambda run_id: [
        sys.executable,
        "-I",
        "-S",
        str(project.dist / f"{flow_id}.py"),
        "run",
        "--run-id",
        run_id,
    ]


def test_with_lock_serializes_16_concurrent_runs(project: Project) -> None:
    project.flow("wl", WITH_LOCK_JOBS, extra="  locks: {scope: none}\n")
    results = race(project, _python(project, "wl"))
    assert not (project.root / "overlaps").exists()
    codes = [r.returncode for r in results]
    assert set(codes) <= {0, 1} and codes.count(0) >= 1, [
        r.stderr[-800:] for r in results if r.returncode not in (0, 1)
    ]
    for result in results:
        if result.returncode == 1:
            assert "Lock not acquired: the-critical-section" in result.stderr
    assert len((project.root / "winners").read_text().split()) == codes.count(0)


def test_flow_scope_lock_losers_exit_3(project: Project) -> None:
    project.flow("fl", FLOW_LOCK_JOBS, extra="  locks: {scope: flow, ttl_seconds: 60}\n")
    results = race(project, _python(project, "fl"))
    assert not (project.root / "overlaps").exists()
    codes = [r.returncode for r in results]
    assert set(codes) <= {0, 3} and codes.count(0) >= 1, [
        r.stderr[-800:] for r in results if r.returncode not in (0, 3)
    ]
    assert all("lock_held" in r.stderr for r in results if r.returncode == 3)


def test_a_lock_left_by_a_killed_holder_is_taken_over_after_its_ttl(project: Project) -> None:
    project.flow(
        "held",
        """\
jobs:
  - id: a
    steps:
      - {id: s, type: external.process, inputs: {command: [sh, -c, 'echo $$ > "$P"; sleep 60'], env: {P: "{{env.P}}"}}}
""",
        extra="  locks: {scope: flow, ttl_seconds: 2}\n",
    )
    pid_file = project.root / "holder.pid"
    env = {"PATH": "/usr/bin:/bin", "P": str(pid_file)}
    holder = subprocess.Popen(
        [sys.executable, "-I", "-S", str(project.dist / "held.py"), "run", "--run-id", "holder"],
        env=env,
        stderr=subprocess.DEVNULL,
        cwd=project.root,
    )
    wait_for(lambda: text_of(pid_file), timeout=10, what="the holder's pid file")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    child = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signal.SIGKILL)  # the step outlives a kill -9 of its runner; clean it up
    assert not alive(holder.pid)
    killed_at = time.monotonic()
    project.run(
        "held",
        "run",
        "--run-id",
        "early",
        env={**env, "P": str(project.root / "early.pid")},
        check_exit=3,
    )
    time.sleep(
        max(0.0, 2.5 - (time.monotonic() - killed_at))
    )  # the behaviour: the 2 s TTL runs out
    quick = project.flows / "held.yaml"
    quick.write_text(quick.read_text().replace("sleep 60", "true"))
    project.compile()
    project.run("held", "run", "--run-id", "late", env=env, check_exit=0)
