"""State and locks in PostgreSQL (AETHERFLOW_STATE_URL), shared by simulated hosts: each
host its own copy of the compiled dist, its own workspace and its own state path, as
separate machines have; only the database is common. A real server from tests/peers.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Project
from peers import PgServer
from polling import wait_for

LOCKED_FLOW = """\
jobs:
  - id: critical
    steps:
      - id: section
        type: with_lock
        inputs:
          lock_key: the-section
          ttl_seconds: 60
          step:
            type: external.process
            inputs:
              command: [sh, -c, 'echo "start $(date +%s%N)" >> "$LEDGER"; sleep 0.3; echo "end $(date +%s%N)" >> "$LEDGER"']
"""


@pytest.fixture
def database(postgres_url: str) -> str:
    """A fresh database on the shared server, for one test."""
    import psycopg

    name = "af_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + "/" + name


class Host:
    """One machine: a copy of the dist, its own workspace and state path."""

    def __init__(self, root: Path, dist: Path, url: str) -> None:
        self.root = root
        self.dist = root / "dist"
        shutil.copytree(dist, self.dist)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "AETHERFLOW_STATE_URL": url,
            "HOST_ROOT": str(root),
        }

    def command(self, flow_id: str, *args: str) -> list[str]:
        # Without -S: psycopg comes from the test environment, as from a host's site-packages.
        return [sys.executable, "-I", str(self.dist / f"{flow_id}.py"), *args]

    def run(
        self, flow_id: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(flow_id, *args),
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
        )


def _hosts(
    project: Project, flow_id: str, body: str, url: str, count: int = 4, locks: str = ""
) -> list[Host]:
    """The flow keeps its workspace and declared state under each host's own root."""
    text = f"""\
version: 1
flow:
  id: {flow_id}
  workspace: {{root: "{{{{env.HOST_ROOT}}}}/work", cleanup_policy: never}}
  state: {{backend: sqlite, path: "{{{{env.HOST_ROOT}}}}/state/{flow_id}.sqlite"}}
"""
    if locks:
        text += f"  locks: {locks}\n"
    project.write_flow(f"{flow_id}.yaml", text + body)
    project.compile()
    return [Host(project.root / f"host{n}", project.dist, url) for n in range(count)]


def _overlaps(ledger: Path) -> int:
    events = sorted(
        (int(t), kind) for kind, t in (line.split() for line in ledger.read_text().splitlines())
    )
    inside, overlaps = 0, 0
    for _, kind in events:
        inside += 1 if kind == "start" else -1
        overlaps += inside > 1
    return overlaps


def test_a_run_records_in_postgres_and_any_host_sees_it(project: Project, database: str) -> None:
    import psycopg

    a, b = _hosts(
        project,
        "shared",
        """\
jobs:
  - id: a
    steps:
      - {id: s, type: check_items, inputs: {items: [x, y]}, outputs: {n: "{{result.count}}"}}
""",
        database,
        count=2,
    )
    run = a.run("shared", "run", "--run-id", "r1")
    assert run.returncode == 0, run.stderr
    assert not (a.root / "state").exists()  # the declared SQLite file is not used
    status = json.loads(b.run("shared", "status", "--json").stdout)
    job = status["jobs"]["a"]
    assert status["run_id"] == "r1" and job.pop("ran_on")["host"] == socket.gethostname()
    assert job == {"status": "SUCCESS", "outputs": {"n": 2}, "steps": {"s": "SUCCESS"}}
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT job_id, status FROM job_runs WHERE run_id='r1'").fetchall() == [
            ("a", "SUCCESS")
        ]
        assert conn.execute("SELECT version FROM af_schema").fetchall() == [(1,)]
    check = b.run("shared", "check-env")
    assert check.returncode == 0 and "package psycopg                  importable" in check.stdout


def test_with_lock_across_four_hosts_never_overlaps(
    project: Project, database: str, tmp_path: Path
) -> None:
    # No job lock: the with_lock step is where the runs meet; a loser's step fails (exit 1).
    hosts = _hosts(project, "locked", LOCKED_FLOW, database, locks="{scope: none}")
    ledger = tmp_path / "ledger"
    ledger.touch()
    procs = [
        subprocess.Popen(
            hosts[n % 4].command("locked", "run"),
            env={**hosts[n % 4].env, "LEDGER": str(ledger)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=hosts[n % 4].root,
        )
        for n in range(16)
    ]
    codes = [p.wait(timeout=120) for p in procs]
    assert set(codes) <= {0, 1} and codes.count(0) >= 1, codes
    assert _overlaps(ledger) == 0
    assert ledger.read_text().count("start") == codes.count(0)


def test_a_flow_lock_across_hosts_lets_one_run_and_the_others_exit_3(
    project: Project, database: str, tmp_path: Path
) -> None:
    body = """\
jobs:
  - id: only
    steps:
      - id: work
        type: external.process
        inputs:
          command: [sh, -c, 'echo "start $(date +%s%N)" >> "$LEDGER"; sleep 1; echo "end $(date +%s%N)" >> "$LEDGER"']
"""
    hosts = _hosts(project, "flowlock", body, database, locks="{scope: flow}")
    ledger = tmp_path / "ledger"
    ledger.touch()
    procs = [
        subprocess.Popen(
            hosts[n % 4].command("flowlock", "run"),
            env={**hosts[n % 4].env, "LEDGER": str(ledger)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=hosts[n % 4].root,
        )
        for n in range(8)
    ]
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes.count(0) >= 1 and set(codes) <= {0, 3}, codes
    assert _overlaps(ledger) == 0


def test_killed_on_one_host_resumed_on_another_seen_from_a_third(
    project: Project, database: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    a, b, c = _hosts(
        project,
        "relay",
        f"""\
jobs:
  - id: j
    steps:
      - {{id: first, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/first']}}}}
      - {{id: slow, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/slow; sleep "$NAP"']}}}}
      - {{id: last, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/last']}}}}
""",
        database,
        count=3,
        locks="{ttl_seconds: 2}",
    )
    proc = subprocess.Popen(
        a.command("relay", "run", "--run-id", "r1"),
        env={**a.env, "NAP": "60"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=a.root,
        start_new_session=True,
    )
    wait_for((marks / "slow").exists, what="the slow step to start")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(3)  # the behaviour: the job lock's 2 s TTL passes
    resumed = b.run("relay", "run", "--run-id", "r1", env={"NAP": "0"})
    assert resumed.returncode == 0, resumed.stderr
    assert (marks / "first").read_text() == "x\n"  # the done step did not run again
    assert (marks / "slow").read_text() == "x\nx\n" and (marks / "last").read_text() == "x\n"
    status = json.loads(c.run("relay", "status", "--run-id", "r1", "--json").stdout)
    assert status["status"] == "SUCCESS"
    where = status["jobs"]["j"]["ran_on"]  # the host and process that ran it last, and when
    assert where["host"] == socket.gethostname() and isinstance(where["pid"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", where["at"])
    assert status["jobs"]["j"]["steps"] == {
        "first": "SUCCESS",
        "slow": "SUCCESS",
        "last": "SUCCESS",
    }


def test_no_server_is_exit_2_before_any_step(project: Project, tmp_path: Path) -> None:
    from peers import free_port

    (host,) = _hosts(
        project,
        "nobody",
        f"""\
jobs:
  - id: j
    steps:
      - {{id: s, type: external.process, inputs: {{command: [touch, "{tmp_path}/ran"]}}}}
""",
        f"postgresql://etl:s3cret@127.0.0.1:{free_port()}/x",
        count=1,
    )
    started = time.monotonic()
    run = host.run("nobody", "run", env={"AETHERFLOW_STATE_RETRY_SECONDS": "1"})
    assert run.returncode == 2
    assert "error: the PostgreSQL state store postgresql://etl@127.0.0.1:" in run.stderr
    assert "s3cret" not in run.stderr and not (tmp_path / "ran").exists()
    assert time.monotonic() - started < 20
    other = host.run("nobody", "run", env={"AETHERFLOW_STATE_URL": "mysql://x"})
    assert (
        other.returncode == 2 and "AETHERFLOW_STATE_URL must be a postgresql:// URL" in other.stderr
    )


@pytest.fixture
def own_server() -> Iterator[PgServer]:
    # Below /tmp itself: the server runs as the postgres user, who cannot enter pytest's folders.
    server = PgServer(Path(tempfile.mkdtemp(prefix="af-pg-")))
    server.ctl("start")
    try:
        yield server
    finally:
        subprocess.run(
            [
                *server.as_user,
                str(server.bindir / "pg_ctl"),
                "-D",
                str(server.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(server.root, ignore_errors=True)


def _three_steps(marks: Path) -> str:
    return f"""\
jobs:
  - id: j
    steps:
      - {{id: first, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/first']}}}}
      - {{id: middle, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/middle; sleep 3']}}}}
      - {{id: last, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/last']}}}}
"""


def _when_marked(path: Path) -> None:
    wait_for(path.exists, what=str(path))


def test_a_server_restart_during_a_run_is_ridden_out(
    project: Project, own_server: PgServer, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    (host,) = _hosts(project, "restart", _three_steps(marks), own_server.url, count=1)
    proc = subprocess.Popen(
        host.command("restart", "run", "--run-id", "r1"),
        env=host.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=host.root,
    )
    _when_marked(marks / "middle")
    own_server.ctl("-m", "fast", "restart")
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    status = json.loads(host.run("restart", "status", "--run-id", "r1", "--json").stdout)
    assert status["status"] == "SUCCESS"
    assert [(marks / n).read_text() for n in ("first", "middle", "last")] == ["x\n"] * 3


def test_a_server_that_stays_down_fails_the_run_with_exit_2_and_a_resume_completes_it(
    project: Project, own_server: PgServer, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    (host,) = _hosts(project, "down", _three_steps(marks), own_server.url, count=1)
    proc = subprocess.Popen(
        host.command("down", "run", "--run-id", "r1"),
        env={**host.env, "AETHERFLOW_STATE_RETRY_SECONDS": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=host.root,
    )
    _when_marked(marks / "middle")
    own_server.ctl("-m", "fast", "stop")
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert (
        f"error: the PostgreSQL state store postgresql://postgres@127.0.0.1:{own_server.port}/postgres is "
        "unreachable" in err
    )
    assert not (marks / "last").exists()  # the run stopped at the step it could not record
    own_server.ctl("start")
    status = json.loads(host.run("down", "status", "--run-id", "r1", "--json").stdout)
    assert status["jobs"]["j"]["steps"] == {"first": "SUCCESS"}  # exactly what was recorded
    resumed = host.run("down", "run", "--run-id", "r1")
    assert resumed.returncode == 0, resumed.stderr
    assert [(marks / n).read_text() for n in ("first", "middle", "last")] == [
        "x\n",
        "x\nx\n",
        "x\n",
    ]


def test_a_host_whose_clock_runs_ahead_cannot_take_a_held_lock(
    project: Project, database: str, tmp_path: Path
) -> None:
    faketime = shutil.which("faketime")
    assert (
        faketime
    ), "faketime is needed (Debian package faketime; scripts/ensure-test-servers.sh installs it)"
    honest, ahead = _hosts(
        project,
        "skew",
        """\
jobs:
  - id: j
    steps:
      - {id: hold, type: external.process, inputs: {command: [sh, -c, 'touch "$HOST_ROOT/holding"; sleep 4']}}
""",
        database,
        count=2,
        locks="{ttl_seconds: 300}",
    )
    holder = subprocess.Popen(
        honest.command("skew", "run"),
        env=honest.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=honest.root,
    )
    _when_marked(honest.root / "holding")
    # Ten minutes ahead: past the lock's 300 s TTL by its own clock; the database's says no.
    skewed = subprocess.run(
        [faketime, "+10 minutes", *ahead.command("skew", "run")],
        env=ahead.env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ahead.root,
    )
    clock = subprocess.run(
        [faketime, "+10 minutes", sys.executable, "-c", "import time; print(int(time.time()))"],
        capture_output=True,
        text=True,
    )
    assert int(clock.stdout) - time.time() > 550  # faketime does move that process's clock
    assert skewed.returncode == 3, skewed.stderr
    assert "job lock 'job:skew:j' is held by another run" in skewed.stderr
    assert holder.wait(timeout=60) == 0


def test_own_locks_live_in_af_locks_and_an_older_store_is_migrated_in_place(
    project: Project, database: str
) -> None:
    """A store an older artifact made (schema version 1, its job locks in `locks`) gets
    af_locks in place, at the same version, so the older artifact goes on writing to it;
    a run it left with its job lock held resumes here. A with_lock key spelled like the
    artifact's own lock is the user's, as in the engine (which takes none), and a TTL of 0
    expires at once, by the database's clock."""
    import psycopg

    from aetherflow_compiler._runtime.state import postgres

    with psycopg.connect(database, autocommit=True) as conn:
        for statement in postgres._TABLES:
            if "af_locks" not in statement:
                conn.execute(statement)
        conn.execute("INSERT INTO af_schema(version) VALUES (1)")
        conn.execute(
            "INSERT INTO af_runs(run_id, flow_id, status, started_at, updated_at) VALUES"
            " ('r1', 'pg', 'RUNNING', 1, 1)"
        )
        conn.execute(
            "INSERT INTO locks VALUES ('job:pg:a', 'r1', extract(epoch from now())::bigint + 600)"
        )
    (host,) = _hosts(
        project,
        "pg",
        """\
jobs:
  - id: a
    steps:
      - id: own_key
        type: with_lock
        inputs:
          lock_key: "job:{{flow_id}}:{{job.id}}"
          step: {type: check_items, inputs: {items: [x]}}
      - id: zero
        type: with_lock
        inputs:
          lock_key: k
          ttl_seconds: 0
          step: {type: with_lock, inputs: {lock_key: k, step: {type: check_items, inputs: {items: [y]}}}}
""",
        database,
        count=1,
        locks="{scope: job, ttl_seconds: 600}",
    )
    resumed = host.run("pg", "run", "--run-id", "r1")
    assert resumed.returncode == 0, resumed.stderr
    with psycopg.connect(database, autocommit=True) as conn:
        assert conn.execute("SELECT max(version) FROM af_schema").fetchone() == (
            1,
        )  # older runtimes accept it
        assert conn.execute("SELECT count(*) FROM af_locks").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM locks").fetchone() == (0,)
        conn.execute(
            "INSERT INTO locks VALUES ('job:pg:a', 'someone-else', extract(epoch from now())::bigint + 600)"
        )
    failed = host.run("pg", "run", "--run-id", "r2")
    assert failed.returncode == 1 and "Lock not acquired: job:pg:a" in failed.stderr, failed.stderr
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DELETE FROM locks")
        conn.execute(
            "INSERT INTO af_locks VALUES ('job:pg:a', 'someone-else', extract(epoch from now())::bigint + 600)"
        )
    held = host.run("pg", "run", "--run-id", "r3")
    assert (
        held.returncode == 3 and "job lock 'job:pg:a' is held by another run" in held.stderr
    ), held.stderr
