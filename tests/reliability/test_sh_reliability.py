"""The shell artifact under crashes and contention: kill -9 at seeded random moments then
resume, 16 concurrent runs around one lock, and taking over a lock left by a dead run.
Each runs for a flow that declares the file layout and for one that declares sqlite (the
engine's default), whose shell artifact keeps the file layout beside the database."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_crash_resume import LEDGER_JOBS, STEPS, ledger_counts
from test_lock_contention import FLOW_LOCK_JOBS, WITH_LOCK_JOBS, race

from conftest import Project
from polling import wait_for

pytestmark = pytest.mark.reliability
KILLS = 25


@pytest.fixture(params=["file", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _flow(project: Project, flow_id: str, body: str, backend: str, extra: str = "") -> None:
    project.write_flow(
        f"{flow_id}.yaml", project.header(flow_id, backend=backend, extra=extra) + body
    )
    project.compile("--target", "sh")


def _state(project: Project, flow_id: str, backend: str) -> Path:
    if backend == "sqlite":
        declared = project.state(flow_id)
        assert not declared.exists(), "the shell artifact never writes the declared database"
        return Path(f"{declared}.d")
    return project.root / "state" / f"{flow_id}-files"


def _done_steps(project: Project, backend: str) -> set[str]:
    """Steps whose last complete record says SUCCESS. The job's log holds its records one
    after another, each from a line "{" to a line "}"; one cut short by the kill is not
    complete, and the artifacts then treat the step as not done."""
    done: dict[str, bool] = {}
    log = _state(project, "ledger", backend) / "runs" / "crash" / "steps" / "a.log"
    chunk: list[str] | None = None
    for line in (log.read_text().split("\n") if log.exists() else []):
        if line == "{":
            chunk = [line]
        elif chunk is not None:
            chunk.append(line)
            if line == "}":
                record = json.loads("\n".join(chunk))  # a complete record is valid JSON
                done[record["step"]] = record["status"] == "SUCCESS"
                chunk = None
    return {step for step, ok in done.items() if ok}


def _sh(project: Project, flow_id: str, *args: str) -> list[str]:
    return ["dash", str(project.dist / f"{flow_id}.sh"), *args]


def test_kill_9_at_random_points_then_resume(project: Project, backend: str) -> None:
    _flow(project, "ledger", LEDGER_JOBS, backend)
    ledger = project.root / "ledger.txt"
    env = {"LEDGER": str(ledger), "PATH": "/usr/bin:/bin"}
    rng = random.Random(20261128)
    killed_mid_run = 0
    for _ in range(KILLS):
        done_before = _done_steps(project, backend)
        counts_before = ledger_counts(ledger)
        proc = subprocess.Popen(
            _sh(project, "ledger", "run", "--run-id", "crash"),
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
        # The step the shell was waiting for finishes on its own, and so does the subshell that
        # ran it, writing its record. Not polled: the run's lease keeper lives on beside them
        # (until its next renewal, TTL/3 later), so "no process of the run left" never comes.
        time.sleep(0.15)
        counts_after = ledger_counts(ledger)
        for step_id in done_before:  # recorded as done: it never runs again
            assert counts_after[step_id] == counts_before[step_id], step_id
        assert done_before <= _done_steps(project, backend)
    assert killed_mid_run >= KILLS - 3
    final_run = subprocess.run(
        _sh(project, "ledger", "run", "--run-id", "crash"),
        env=env,
        capture_output=True,
        text=True,
        cwd=project.root,
    )
    assert final_run.returncode == 0, final_run.stderr
    final = ledger_counts(ledger)
    assert all(final[f"s{i}"] >= 1 for i in range(STEPS))
    status = subprocess.run(
        _sh(project, "ledger", "status", "--run-id", "crash", "--json"),
        env=env,
        capture_output=True,
        text=True,
        cwd=project.root,
    )
    report = json.loads(status.stdout)
    assert report["status"] == "SUCCESS"
    assert report["jobs"]["a"]["steps"] == {f"s{i}": "SUCCESS" for i in range(STEPS)}
    assert _done_steps(project, backend) == {f"s{i}" for i in range(STEPS)}


def _dash(project: Project, flow_id: str) -> Callable[[str], list[str]]:
    return lambda run_id: _sh(project, flow_id, "run", "--run-id", run_id)


def test_with_lock_serializes_16_concurrent_runs(project: Project, backend: str) -> None:
    _flow(project, "wl", WITH_LOCK_JOBS, backend, extra="  locks: {scope: none}\n")
    results = race(project, _dash(project, "wl"))
    assert not (project.root / "overlaps").exists()
    codes = [r.returncode for r in results]
    assert set(codes) <= {0, 1} and codes.count(0) >= 1, [r.stderr[-800:] for r in results]
    for result in results:
        if result.returncode == 1:
            assert "error=Lock not acquired: the-critical-section" in result.stderr
    assert len((project.root / "winners").read_text().split()) == codes.count(0)
    assert not list((_state(project, "wl", backend) / "locks").iterdir()), "every lock is released"
    assert not list(
        (_state(project, "wl", backend) / "af_locks").iterdir()
    ), "every run lease is released"


def test_flow_scope_lock_losers_exit_3(project: Project, backend: str) -> None:
    _flow(project, "fl", FLOW_LOCK_JOBS, backend, extra="  locks: {scope: flow, ttl_seconds: 60}\n")
    results = race(project, _dash(project, "fl"))
    assert not (project.root / "overlaps").exists()
    codes = [r.returncode for r in results]
    assert set(codes) <= {0, 3} and codes.count(0) >= 1, [r.stderr[-800:] for r in results]
    for result in results:
        if result.returncode == 3:
            assert "lock_held key=flow:fl" in result.stderr


def test_a_lock_left_by_a_dead_run_is_taken_over_after_its_ttl(
    project: Project, backend: str
) -> None:
    _flow(
        project,
        "stale",
        """\
jobs:
  - id: a
    steps:
      - {id: s, type: external.process, inputs: {command: [sleep, "{{env.T:0}}"]}}
""",
        backend,
        extra="  locks: {scope: flow, ttl_seconds: 6}\n",
    )
    env = {"PATH": "/usr/bin:/bin"}
    locks = _state(project, "stale", backend) / "af_locks"  # the artifact's own locks
    # A run holding the flow lock is killed -9: its lock file stays behind.
    dead = subprocess.Popen(
        _sh(project, "stale", "run", "--run-id", "dead"),
        env={**env, "T": "5"},
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(
        lambda: locks.exists()
        and any(p.suffix == ".lock" and p.read_text() for p in locks.iterdir()),
        timeout=10,
        what="the run's flow lock",
    )
    dead.send_signal(signal.SIGKILL)
    dead.wait()
    [lock] = [p for p in locks.iterdir() if p.suffix == ".lock"]
    owner, expires, ttl = lock.read_text().split()
    assert (owner, ttl) == ("dead", "6")
    # Still within its TTL: a new run is refused with exit 3.
    blocked = subprocess.run(
        _sh(project, "stale", "run", "--run-id", "second"),
        env=env,
        cwd=project.root,
        capture_output=True,
        text=True,
    )
    assert blocked.returncode == 3, blocked.stderr
    # Nothing renews it any more (the run's keeper stops when the run is gone)...
    lease = lock.read_text()
    time.sleep(3)  # the behaviour: a while in which nothing may touch the lock
    assert lock.read_text() == lease
    # ...so it expires, and the next run takes it over, runs, and releases it.
    while int(expires) >= int(time.time()):
        time.sleep(0.2)
    taken = subprocess.run(
        _sh(project, "stale", "run", "--run-id", "third"),
        env=env,
        cwd=project.root,
        capture_output=True,
        text=True,
    )
    assert taken.returncode == 0, taken.stderr
    assert not [p for p in locks.iterdir() if p.suffix == ".lock"]
