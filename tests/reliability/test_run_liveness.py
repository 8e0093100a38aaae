"""A run id is live in one process at a time (docs/artifacts.md, "Run ids and concurrent
starts"): two processes started at once with one run id run every step once; the second is
refused with exit 3 naming the first, before it writes anything to the run's state; a
holder killed with SIGKILL is resumed at once. For the Python artifact with SQLite, file
and PostgreSQL state, and for the shell artifact under dash."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Project
from polling import wait_for

pytestmark = pytest.mark.reliability
ROUNDS = 20
KINDS = ["sqlite", "file", "postgres", "sh"]
# Three steps, each appending its id to $LEDGER (its side effect), then a pause so that
# the runs overlap.
STEPS = ("s0", "s1", "s2")
RACE_JOBS = "jobs:\n  - id: a\n    steps:\n" + "".join(
    f"      - {{id: {s}, type: external.process, inputs: {{command: [sh, -c, 'echo {s} >> \"$LEDGER\"; sleep 0.3'],"
    f" env: {{LEDGER: '{{{{env.LEDGER}}}}'}}}}}}\n"
    for s in STEPS
)
# s1 waits for the file $GATE, after writing $HOLDING: a holder that stays in a step.
GATED_JOBS = """\
jobs:
  - id: a
    steps:
      - {id: s0, type: external.process, inputs: {command: [sh, -c, 'echo s0 >> "$LEDGER"'], env: {LEDGER: '{{env.LEDGER}}'}}}
      - id: s1
        type: external.process
        inputs:
          command: [sh, -c, 'echo s1 >> "$LEDGER"; : > "$HOLDING"; while [ ! -e "$GATE" ]; do sleep 0.05; done']
          env: {LEDGER: '{{env.LEDGER}}', HOLDING: '{{env.HOLDING}}', GATE: '{{env.GATE}}'}
      - {id: s2, type: external.process, inputs: {command: [sh, -c, 'echo s2 >> "$LEDGER"'], env: {LEDGER: '{{env.LEDGER}}'}}}
"""
SINCE = r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


class Kind:
    """One artifact and state backend: how to compile, run and read back a flow."""

    def __init__(self, project: Project, name: str, url: str = "") -> None:
        self.project, self.name, self.url = project, name, url

    def compile(self, flow_id: str, body: str, extra: str = "") -> None:
        backend = "file" if self.name in ("file", "sh") else "sqlite"
        self.project.write_flow(
            f"{flow_id}.yaml", self.project.header(flow_id, backend, extra) + body
        )
        if self.name == "sh":
            self.project.compile("--target", "sh")
        else:
            self.project.compile()

    def argv(self, flow_id: str, *args: str) -> list[str]:
        if self.name == "sh":
            return ["dash", str(self.project.dist / f"{flow_id}.sh"), *args]
        # PostgreSQL: without -S, psycopg comes from the test environment (a host package).
        flags = ["-I"] if self.name == "postgres" else ["-I", "-S"]
        return [sys.executable, *flags, str(self.project.dist / f"{flow_id}.py"), *args]

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.project.root),
            **extra,
        }
        if self.url:
            env["AETHERFLOW_STATE_URL"] = self.url
        return env

    def run(
        self, flow_id: str, *args: str, env: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(flow_id, *args),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.project.root,
        )

    def status(self, flow_id: str, run_id: str) -> dict:  # type: ignore[type-arg]
        done = self.run(flow_id, "status", "--run-id", run_id, "--json", env=self.env())
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    def state_dir(self, flow_id: str) -> Path:
        return self.project.root / "state" / f"{flow_id}-files"

    def snapshot(self, flow_id: str) -> object:
        """Everything the run's state holds, to compare before and after a refused start:
        rows for the databases; for files, every file's content and modification time."""
        tables = (
            "af_runs",
            "job_runs",
            "step_runs",
            "locks",
            "af_locks",
            "af_step_results",
            "af_job_outputs",
        )
        if self.name == "postgres":
            import psycopg

            with psycopg.connect(self.url) as conn:
                return {
                    t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables
                }  # noqa: S608
        if self.name == "sqlite":
            with sqlite3.connect(self.project.state(flow_id)) as conn:
                return {
                    t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables
                }  # noqa: S608
        return _tree(self.state_dir(flow_id))


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def kind(request: pytest.FixtureRequest, project: Project) -> Iterator[Kind]:
    url = ""
    if request.param == "postgres":
        import psycopg

        server = request.getfixturevalue("postgres_url")
        name = "af_" + uuid.uuid4().hex[:12]
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = server.rsplit("/", 1)[0] + "/" + name
    yield Kind(project, request.param, url)


def _ledger(path: Path) -> list[str]:
    return sorted(path.read_text().split()) if path.exists() else []


def _start_together(
    project: Project,
    commands: list[tuple[list[str], dict[str, str]]],
) -> list[subprocess.Popen[str]]:
    """Start the commands at the same moment: each waits at a fifo after saying it is
    ready, and one write releases all of them. The process that runs the artifact is the
    one started here (each step execs), so its pid is the Popen's."""
    fifo = project.root / f"go-{uuid.uuid4().hex[:8]}"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)
    procs = []
    try:
        for n, (argv, env) in enumerate(commands):
            ready = fifo.with_name(f"{fifo.name}.ready{n}")
            gate = [': > "$0"; read go < "$1"; shift; exec "$@"', str(ready), str(fifo), *argv]
            procs.append(
                subprocess.Popen(
                    ["sh", "-c", *gate],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=project.root,
                )
            )
        wait_for(
            lambda: all(
                fifo.with_name(f"{fifo.name}.ready{n}").exists() for n in range(len(commands))
            ),
            interval=0.005,
            what="the racers to start",
        )
        time.sleep(
            0.02
        )  # each is in its read now (nothing to poll: a read that blocks leaves no trace)
        os.write(writer, b"go\n" * len(commands))
    finally:
        os.close(writer)
    return procs


def _on_host(name: str, argv: list[str]) -> list[str]:
    """argv run as if on another host: its own UTS namespace with hostname NAME (root)."""
    return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name, *argv]


@pytest.mark.parametrize("kind", KINDS, indirect=True)
def test_two_processes_started_at_once_with_one_run_id_run_each_step_once(
    project: Project, kind: Kind
) -> None:
    kind.compile("race", RACE_JOBS)
    refused = 0
    for round_no in range(ROUNDS):
        run_id = f"2026-01-{round_no + 1:02d}"  # deterministic ids, as a scheduler's date
        ledger = project.root / f"ledger-{round_no}"
        env = kind.env(LEDGER=str(ledger))
        commands = [(kind.argv("race", "run", "--run-id", run_id), env) for _ in range(2)]
        hosts = [socket.gethostname()] * 2
        if kind.name == "postgres" and round_no % 2:  # many hosts share the database
            commands[1] = (_on_host("host-b", commands[1][0]), env)
            hosts[1] = "host-b"
        if kind.name == "sh" and round_no % 2:
            _plant_stale_run_lease(kind.state_dir("race") / "af_locks" / f"{run_id}.run")
        procs = _start_together(project, commands)
        results = [(p.pid, *p.communicate(timeout=120), p.returncode) for p in procs]
        codes = sorted(r[3] for r in results)
        assert codes in ([0, 3], [0, 0]), [r[2][-600:] for r in results]
        for n, (_pid, _out, err, code) in enumerate(results):
            if code == 3:  # refused, naming the other process: its pid and host
                refused += 1
                other_pid, other_host = results[1 - n][0], hosts[1 - n]
                assert re.search(
                    rf"run_live .*run {run_id} of flow race is already running: pid {other_pid} on host "
                    rf"{re.escape(other_host)}, {SINCE}",
                    err,
                ), err
                assert "step_start" not in err and "run_start" not in err
        assert _ledger(ledger) == list(STEPS), f"round {round_no}: {_ledger(ledger)}"
        report = kind.status("race", run_id)
        assert report["status"] == "SUCCESS"
        assert report["jobs"]["a"]["steps"] == dict.fromkeys(STEPS, "SUCCESS")
        if kind.name == "sh":  # the job's log holds one record per step
            log = (kind.state_dir("race") / "runs" / run_id / "steps" / "a.log").read_text()
            assert sorted(re.findall(r'^"step": "(s\d)",$', log, re.M)) == list(STEPS)
    # The rounds that raced (one process refused): at least a quarter, or the test did not
    # test the race. Under load (the suite on both cores) a second process can come after the
    # first has ended, which is a right outcome too ([0, 0]) but not a race.
    assert refused >= ROUNDS // 4, f"only {refused} of {ROUNDS} rounds raced"
    leases = {
        "file": (kind.state_dir("race") / "locks", "run-*.lease"),
        "sh": (kind.state_dir("race") / "af_locks", "*"),
        "sqlite": (project.state("race").parent, "*.lease"),
    }
    if kind.name in leases:
        folder, pattern = leases[kind.name]
        assert not list(folder.glob(pattern)), "every lease is removed"


def _plant_stale_run_lease(lease: Path) -> None:
    """A lease left by a shell run killed with -9: its process is gone."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    lease.parent.mkdir(parents=True, exist_ok=True)
    lease.write_text(
        f"{dead.pid} {_start_time(os.getpid())} {socket.gethostname()} {int(time.time())}\n"
    )


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def _wait_for(path: Path, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the holder ended early: {proc.communicate()[1][-800:]}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize("kind", KINDS, indirect=True)
def test_a_second_process_of_a_live_run_is_refused_before_it_writes_anything(
    project: Project, kind: Kind
) -> None:
    kind.compile("held", GATED_JOBS, extra="  locks: {scope: flow, ttl_seconds: 300}\n")
    env = kind.env(
        LEDGER=str(project.root / "ledger"),
        HOLDING=str(project.root / "holding"),
        GATE=str(project.root / "gate"),
    )
    holder = subprocess.Popen(
        kind.argv("held", "run", "--run-id", "nightly"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=project.root,
    )
    try:
        _wait_for(project.root / "holding", holder)
        time.sleep(
            1.1
        )  # the behaviour: a write by the second process would change a second-resolution time
        before = kind.snapshot("held")
        work_before = _tree(project.work)
        second_argv = kind.argv("held", "run", "--run-id", "nightly")
        host = socket.gethostname()
        if kind.name == "postgres":  # refused the same way from another host
            second_argv = _on_host("host-b", second_argv)
        metrics = (
            project.root / "metrics.prom"
        )  # the Python artifact's textfile: not written either
        second = subprocess.run(
            second_argv,
            env={**env, "AETHERFLOW_METRICS_TEXTFILE": str(metrics)},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=project.root,
        )
        assert second.returncode == 3, second.stderr
        assert not metrics.exists()
        assert re.search(
            rf"run nightly of flow held is already running: pid {holder.pid} on host {host}, {SINCE}",
            second.stderr,
        ), second.stderr
        assert "run_start" not in second.stderr and "lock_held" not in second.stderr
        # --resume picks the latest run, which is this live one: refused alike.
        resumed = kind.run("held", "run", "--resume", env=env)
        assert resumed.returncode == 3, resumed.stderr
        assert f"run nightly of flow held is already running: pid {holder.pid}" in resumed.stderr
        # Neither wrote anything: no run status, lock, job or step record, workspace or lease.
        assert kind.snapshot("held") == before
        assert _tree(project.work) == work_before
        assert _ledger(project.root / "ledger") == ["s0", "s1"]
        (project.root / "gate").touch()
        _out, err = holder.communicate(timeout=60)
    finally:
        (project.root / "gate").touch()
        if holder.poll() is None:
            holder.kill()
    assert holder.returncode == 0, err
    assert _ledger(project.root / "ledger") == ["s0", "s1", "s2"]
    # Once the holder has ended, the run id resumes and has nothing left to do.
    again = kind.run("held", "run", "--run-id", "nightly", env=env)
    assert again.returncode == 0, again.stderr
    assert _ledger(project.root / "ledger") == ["s0", "s1", "s2"]


@pytest.mark.parametrize("kind", KINDS, indirect=True)
def test_a_holder_killed_with_sigkill_is_resumed_at_once(project: Project, kind: Kind) -> None:
    # A flow lock with a long TTL: the resumed run must not wait for it either.
    kind.compile("killed", GATED_JOBS, extra="  locks: {scope: flow, ttl_seconds: 3600}\n")
    env = kind.env(
        LEDGER=str(project.root / "ledger"),
        HOLDING=str(project.root / "holding"),
        GATE=str(project.root / "gate"),
    )
    holder = subprocess.Popen(
        kind.argv("killed", "run", "--run-id", "nightly"),
        env=env,
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_for(project.root / "holding")
    os.killpg(holder.pid, signal.SIGKILL)  # the run and its step: a power loss
    holder.wait()
    (project.root / "gate").touch()
    started = time.monotonic()
    resumed = kind.run("killed", "run", "--run-id", "nightly", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert time.monotonic() - started < 15
    assert (
        "step_resumed job_id=a step_id=s0" in resumed.stderr or '"step_resumed"' in resumed.stderr
    )
    assert _ledger(project.root / "ledger") == [
        "s0",
        "s1",
        "s1",
        "s2",
    ]  # s1 was cut short: run again
    assert kind.status("killed", "nightly")["status"] == "SUCCESS"


# --- PostgreSQL: the lease lives with the session ----------------------------------------


def _holder_sessions(url: str) -> list[int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'aetherflow %%'"
            " AND datname = current_database()"
        ).fetchall()
    return [r[0] for r in rows]


def _terminate(url: str, pids: list[int]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.parametrize("kind", ["postgres"], indirect=True)
def test_a_lost_connection_retakes_the_lease_and_a_second_process_is_still_refused(
    project: Project, kind: Kind
) -> None:
    kind.compile(
        "reconnect",
        """\
jobs:
  - id: a
    steps:
"""
        + "".join(
            f"""\
      - id: {step}
        type: external.process
        inputs:
          command: [sh, -c, 'echo {step} >> "$LEDGER"; : > "$HOLDING.{step}"; while [ ! -e "$GATE.{step}" ]; do sleep 0.05; done']
          env: {{LEDGER: '{{{{env.LEDGER}}}}', HOLDING: '{{{{env.HOLDING}}}}', GATE: '{{{{env.GATE}}}}'}}
""" for step in ("s1", "s2")
        ),
    )
    env = kind.env(
        LEDGER=str(project.root / "ledger"),
        HOLDING=str(project.root / "holding"),
        GATE=str(project.root / "gate"),
    )
    holder = subprocess.Popen(
        kind.argv("reconnect", "run", "--run-id", "r1"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=project.root,
    )
    _wait_for(project.root / "holding.s1", holder)
    sessions = _holder_sessions(kind.url)
    assert len(sessions) == 1
    _terminate(kind.url, sessions)  # the connection is lost while s1 runs
    (project.root / "gate.s1").touch()
    _wait_for(
        project.root / "holding.s2", holder
    )  # s1 recorded on a new connection: the lease is back
    assert _holder_sessions(kind.url) not in ([], sessions)
    second = kind.run("reconnect", "run", "--run-id", "r1", env=env)
    assert second.returncode == 3, second.stderr
    assert (
        f"run r1 of flow reconnect is already running: pid {holder.pid} on host {socket.gethostname()}"
        in second.stderr
    )
    (project.root / "gate.s2").touch()
    _out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
    assert _ledger(project.root / "ledger") == ["s1", "s2"]


@pytest.mark.parametrize("kind", ["postgres"], indirect=True)
@pytest.mark.parametrize(
    "other_ends_first", [False, True], ids=["other-still-running", "other-ended"]
)
def test_a_holder_whose_lease_was_taken_while_disconnected_stops_with_exit_2(
    project: Project, kind: Kind, other_ends_first: bool
) -> None:
    kind.compile("taken", GATED_JOBS)
    env = kind.env(LEDGER=str(project.root / "ledger"), HOLDING=str(project.root / "holding"))
    first = subprocess.Popen(
        kind.argv("taken", "run", "--run-id", "r1"),
        env={**env, "GATE": str(project.root / "g1")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=project.root,
    )
    _wait_for(project.root / "holding", first)
    [session] = _holder_sessions(kind.url)
    _terminate(kind.url, [session])  # the first process's lease is gone with its session...
    (project.root / "holding").unlink()
    second = subprocess.Popen(
        _on_host("host-b", kind.argv("taken", "run", "--run-id", "r1")),
        env={**env, "GATE": str(project.root / "g2")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=project.root,
    )
    _wait_for(
        project.root / "holding", second
    )  # ...and a second one has taken it, resumed and is in s1
    if other_ends_first:
        (project.root / "g2").touch()
        _out, err2 = second.communicate(timeout=60)
        assert second.returncode == 0, err2
    (project.root / "g1").touch()
    _out, err = first.communicate(timeout=60)
    assert first.returncode == 2, err
    if other_ends_first:  # it could take the lease again, but the run was run meanwhile
        assert re.search(
            rf"while this process was disconnected, another \(pid {second.pid} on host host-b\) ran "
            r"run r1; this one stops and records nothing more",
            err,
        ), err
    else:
        assert re.search(
            rf"after a lost connection, run r1 is held by another process \(pid {second.pid} on host "
            rf"host-b, {SINCE}\); this one stops and records nothing more",
            err,
        ), err
        (project.root / "g2").touch()
        _out, err2 = second.communicate(timeout=60)
        assert second.returncode == 0, err2
    # s1 was running in both (the first could not know); s2 ran once, in the second.
    assert _ledger(project.root / "ledger") == ["s0", "s1", "s1", "s2"]
    assert kind.status("taken", "r1")["status"] == "SUCCESS"


class _HalfCutProxy:
    """A TCP proxy to the server whose cut() drops the client side of every connection and
    leaves the server side open: the server keeps the session (and its advisory locks),
    as after a network failure it has not noticed yet."""

    def __init__(self, port: int) -> None:
        import threading

        self.port, self.threading = port, threading
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.cutting = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            self.pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                self.threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            return

    def cut(self) -> None:
        for client, _upstream in self.pairs:
            client.shutdown(socket.SHUT_RDWR)
            client.close()

    def close(self) -> None:
        self.listener.close()
        for client, upstream in self.pairs:
            client.close()
            upstream.close()


@pytest.mark.parametrize("kind", ["postgres"], indirect=True)
def test_the_lost_session_of_the_holder_itself_is_ended_and_the_lease_taken_again(
    project: Project, kind: Kind
) -> None:
    proxy = _HalfCutProxy(int(kind.url.split(":")[-1].split("/")[0]))
    try:
        host, port = proxy.address
        through = kind.url.replace(kind.url.split("@")[1].split("/")[0], f"{host}:{port}")
        kind.compile("linger", GATED_JOBS)
        env = {
            **kind.env(
                LEDGER=str(project.root / "ledger"),
                HOLDING=str(project.root / "holding"),
                GATE=str(project.root / "gate"),
            ),
            "AETHERFLOW_STATE_URL": through,
        }
        holder = subprocess.Popen(
            kind.argv("linger", "run", "--run-id", "r1"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=project.root,
        )
        _wait_for(project.root / "holding", holder)
        [lost] = _holder_sessions(kind.url)
        proxy.cut()  # the holder's connection is gone; its session still holds the lease
        (project.root / "gate").touch()
        _out, err = holder.communicate(timeout=60)
        assert holder.returncode == 0, err
        assert lost not in _holder_sessions(kind.url)
        assert _ledger(project.root / "ledger") == ["s0", "s1", "s2"]
    finally:
        proxy.close()


@pytest.mark.parametrize("kind", ["postgres"], indirect=True)
def test_the_lease_session_asks_the_server_to_probe_a_silent_connection(kind: Kind) -> None:
    """A host lost without closing its connection frees the lease within about a minute:
    the server probes the session's connection after 30 s of silence (its default waits
    hours)."""
    from runtime_stub.state.postgres import PostgresState

    state = PostgresState(kind.url, 5)
    try:
        state.lease_run("probe", "f")
        shown = [
            state.conn.execute(f"SHOW tcp_keepalives_{name}").fetchone()[0]
            for name in ("idle", "interval", "count")
        ]
        assert shown == ["30", "10", "3"]
    finally:
        state.close()
