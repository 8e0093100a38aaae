"""Faults the shell artifact must survive or report as the Python artifact does, under dash,
bash --posix and busybox sh: env files it cannot read, lock and run lease files left empty,
garbled or stale by killed runs (and the race of several runs breaking one), and a JSON
summary that cannot be written."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_lock_contention import FLOW_LOCK_JOBS, contention_env

from aetherflow_compiler.codegen.sh import lock_name
from conftest import Project

pytestmark = pytest.mark.reliability
SHELLS = [("dash",), ("bash", "--posix"), ("busybox", "sh")]
NOBODY = 65534
TOUCH_JOBS = """\
jobs:
  - id: a
    steps:
      - {id: s, type: external.process, inputs: {command: [touch, "{{env.MARK}}"]}}
"""


@pytest.fixture(params=SHELLS, ids=lambda s: "-".join(s))
def shell(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return tuple(request.param)


def _flow(project: Project, flow_id: str, body: str, extra: str = "", target: str = "sh") -> None:
    project.write_flow(
        f"{flow_id}.yaml", project.header(flow_id, backend="file", extra=extra) + body
    )
    project.compile("--target", target)


def _sh(
    project: Project,
    shell: tuple[str, ...],
    flow_id: str,
    *args: str,
    env: dict[str, str] | None = None,
    user: int | None = None,
) -> subprocess.CompletedProcess[str]:
    argv = [*shell, str(project.dist / f"{flow_id}.sh"), *args]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project.root),
        **(env or {}),
    }
    return subprocess.run(
        argv, capture_output=True, text=True, env=full, cwd=project.root, timeout=120
    )


def _locks(project: Project, flow_id: str) -> Path:
    """Where the sh artifact keeps its own flow and job locks and its run leases."""
    return project.root / "state" / f"{flow_id}-files" / "af_locks"


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


# --- env files ------------------------------------------------------------------------------


@pytest.fixture
def open_project() -> Iterator[Project]:
    """A project another user can use: runs as nobody meet permissions root never does."""
    root = Path(tempfile.mkdtemp(prefix="af-faults-"))
    root.chmod(0o755)
    for folder in ("state", "work"):
        (root / folder).mkdir(mode=0o777)
        (root / folder).chmod(0o777)
    try:
        yield Project(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _python_says(path: Path) -> str:
    """What the Python artifact prints for `--env-file PATH`, read as nobody: its own env
    loader (runtime_stub/environment.py) in a child that has become that user."""
    from runtime_stub.environment import env_file_from_option, load_env_files
    from runtime_stub.errors import ConfigError

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                load_env_files([env_file_from_option(str(path))])
                text = "read"
            except ConfigError as exc:
                text = f"error: {exc}"
            os.write(write, text.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        said = fh.read().decode()
    os.waitpid(pid, 0)
    return said


def test_an_env_file_that_cannot_be_read_is_exit_2_as_in_the_python_artifact(
    open_project: Project, shell: tuple[str, ...]
) -> None:
    project = open_project
    _flow(project, "envs", TOUCH_JOBS)
    mark = project.root / "work" / "ran"
    root = project.root / "env"
    root.mkdir()
    (root / "dotenv.env").write_text("X=1\n")
    (root / "values.json").write_text('{"X": 1}\n')
    (root / "dir").mkdir()
    (root / "dir" / "X").write_text("1\n")
    (root / "closed").mkdir()
    (root / "closed" / "X").write_text("1\n")
    cases = [root / "dotenv.env", root / "values.json", root / "dir", root / "closed"]
    for path in (root / "dotenv.env", root / "values.json", root / "dir" / "X", root / "closed"):
        path.chmod(0)
    for path in cases:
        said = _python_says(path)
        denied = root / "dir" / "X" if path.name == "dir" else path
        assert (
            said == f"error: env file {path} cannot be read: "
            f"{PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(denied))}"
        )
        for command in (["run"], ["check-env"]):
            done = _sh(
                project,
                shell,
                "envs",
                *command,
                "--env-file",
                str(path),
                env={"MARK": str(mark)},
                user=NOBODY,
            )
            assert (done.returncode, done.stderr) == (2, said + "\n"), (command, done.stderr)
        assert not mark.exists()
    readable = root / "fine.env"
    readable.write_text("X=1\n")
    done = _sh(
        project,
        shell,
        "envs",
        "run",
        "--env-file",
        str(readable),
        env={"MARK": str(mark)},
        user=NOBODY,
    )
    assert done.returncode == 0, done.stderr
    assert mark.exists()


def test_an_env_file_spec_naming_a_directory_as_dotenv_is_exit_2_as_in_the_python_artifact(
    project: Project, shell: tuple[str, ...]
) -> None:
    _flow(
        project, "envdir", TOUCH_JOBS, target="all"
    )  # the Python artifact too, beside the shell one
    folder = project.root / "folder"
    folder.mkdir()
    mark = project.root / "ran"
    for kind in ("dotenv", "json"):
        env = {
            "MARK": str(mark),
            "AETHERFLOW_ENV_FILES_JSON": f'[{{"type": "{kind}", "path": "{folder}"}}]',
        }
        python = project.run("envdir", "run", env=env)
        assert python.returncode == 2
        assert (
            python.stderr
            == f"error: env file {folder} cannot be read: [Errno 21] Is a directory: '{folder}'\n"
        )
        done = _sh(project, shell, "envdir", "run", env=env)
        assert (done.returncode, done.stderr) == (2, python.stderr)
        assert not mark.exists()


# --- lock files left behind ---------------------------------------------------------------

LOCKED = "  locks: {scope: flow, ttl_seconds: 4}\n"


@pytest.mark.parametrize(
    "content",
    ["", "holder 1x7 4", "holder 99999999999999999999999 4"],
    ids=["empty", "not-a-number", "overflow"],
)
def test_an_empty_or_garbled_lock_file_is_judged_by_its_age(
    project: Project, shell: tuple[str, ...], content: str
) -> None:
    _flow(project, "lk", TOUCH_JOBS, extra=LOCKED)
    mark = project.root / "ran"
    lock = _locks(project, "lk") / f"{lock_name('flow:lk')}.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(content)
    # Younger than the TTL: it may be a lease being written; the run waits briefly, exit 3.
    young = _sh(project, shell, "lk", "run", env={"MARK": str(mark)})
    assert young.returncode == 3, young.stderr
    assert "lock_held key=flow:lk" in young.stderr
    assert (
        "Illegal number" not in young.stderr
        and "integer" not in young.stderr
        and "[:" not in young.stderr
    )
    assert not mark.exists() and lock.read_text() == content
    # Older than the TTL: stale, broken, and the run goes on; its own lock is released at the end.
    _age(lock, 10)
    old = _sh(project, shell, "lk", "run", env={"MARK": str(mark)})
    assert old.returncode == 0, old.stderr
    assert "Illegal number" not in old.stderr and "[:" not in old.stderr
    assert mark.exists()
    assert not list(_locks(project, "lk").iterdir())


def test_16_runs_breaking_one_expired_lock_at_once_never_overlap(project: Project) -> None:
    """The ABA race: two runs find the lock expired; one breaks it and takes it; the other
    must not then break the fresh one. File operations are slowed by a few hundred ms (an
    NFS server under load) to open the windows wide; a mkdir per stale content keeps them
    safe."""
    _flow(project, "aba", FLOW_LOCK_JOBS, extra="  locks: {scope: flow, ttl_seconds: 60}\n")
    slow = project.root / "slow-bin"
    slow.mkdir()
    for tool in ("mv", "rm", "mkdir"):
        real = shutil.which(tool, path="/usr/bin:/bin")
        (slow / tool).write_text(f'#!/bin/sh\nsleep "0.$(($$ % 7))"\nexec {real} "$@"\n')
        (slow / tool).chmod(0o755)
    env = {**contention_env(project), "PATH": f"{slow}:/usr/bin:/bin"}
    lock = _locks(project, "aba") / f"{lock_name('flow:aba')}.lock"
    for _ in range(3):
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(f"dead-run {int(time.time()) - 5} 60\n")  # expired five seconds ago
        procs = [
            subprocess.Popen(
                ["dash", str(project.dist / "aba.sh"), "run", "--run-id", f"r{n}"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                cwd=project.root,
            )
            for n in range(16)
        ]
        results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
        assert not (project.root / "overlaps").exists(), "two runs held the flow lock at once"
        codes = [code for code, _err in results]
        assert set(codes) <= {0, 3} and codes.count(0) >= 1, [err[-600:] for _code, err in results]
        assert not list(lock.parent.iterdir()), "every lock and lease is released"


def test_a_breaker_that_died_mid_break_does_not_block_the_lock(
    project: Project, shell: tuple[str, ...]
) -> None:
    _flow(project, "orphan", TOUCH_JOBS, extra=LOCKED)
    mark = project.root / "ran"
    lock = _locks(project, "orphan") / f"{lock_name('flow:orphan')}.lock"
    lock.parent.mkdir(parents=True)
    expires = int(time.time()) - 5
    lock.write_text(f"dead-run {expires} 4\n")
    # A run that was breaking it was killed: its directory names a process that is gone...
    breaking = Path(f"{lock}.break.dead-run.{expires}")
    breaking.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (breaking / "owner").write_text(f"{dead.pid} - {socket.gethostname()} {int(time.time())}\n")
    done = _sh(project, shell, "orphan", "run", env={"MARK": str(mark)})
    assert done.returncode == 0, done.stderr
    assert mark.exists() and not list(lock.parent.iterdir())
    # ...or it was killed before it could write its name: passed over once 10 s old.
    lock.write_text(f"dead-run {expires} 4\n")
    breaking.mkdir()
    mark.unlink()
    young = _sh(project, shell, "orphan", "run", env={"MARK": str(mark)})
    assert young.returncode == 3 and not mark.exists(), young.stderr
    _age(breaking, 11)
    old = _sh(project, shell, "orphan", "run", env={"MARK": str(mark)})
    assert old.returncode == 0, old.stderr
    assert mark.exists() and not list(lock.parent.iterdir())


def test_a_run_that_stops_with_exit_2_after_taking_its_flow_lock_releases_it(
    project: Project, shell: tuple[str, ...]
) -> None:
    blocker = project.root / "not-a-folder"
    blocker.write_text("")
    project.write_flow(
        "dies.yaml",
        project.header("dies", backend="file", extra=LOCKED).replace(
            json.dumps(str(project.work)), json.dumps(f"{blocker}/work")
        )
        + TOUCH_JOBS,
    )
    project.compile("--target", "sh")
    done = _sh(project, shell, "dies", "run", env={"MARK": str(project.root / "ran")})
    assert done.returncode == 2, done.stderr
    assert "error: cannot create the run's directories" in done.stderr
    assert not list(_locks(project, "dies").iterdir()), "the flow lock and the run lease are gone"


# --- run leases left behind ---------------------------------------------------------------


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


@pytest.mark.parametrize("content", ["", "garbage"], ids=["empty", "garbage"])
def test_an_empty_or_garbled_run_lease_is_judged_by_its_age(
    project: Project, shell: tuple[str, ...], content: str
) -> None:
    _flow(project, "rl", TOUCH_JOBS)
    mark = project.root / "ran"
    lease = _locks(project, "rl") / "r1.run"
    lease.parent.mkdir(parents=True)
    lease.write_text(content)
    young = _sh(project, shell, "rl", "run", "--run-id", "r1", env={"MARK": str(mark)})
    assert young.returncode == 3, young.stderr
    assert "run_live detail=run r1 of flow rl is being started by another process" in young.stderr
    assert not mark.exists()
    _age(lease, 10)
    old = _sh(project, shell, "rl", "run", "--run-id", "r1", env={"MARK": str(mark)})
    assert old.returncode == 0, old.stderr
    assert mark.exists() and not lease.exists()


def test_a_run_lease_is_live_only_for_its_own_process(
    project: Project, shell: tuple[str, ...]
) -> None:
    _flow(project, "who", TOUCH_JOBS)
    mark = project.root / "ran"
    lease = _locks(project, "who") / "r1.run"
    lease.parent.mkdir(parents=True)
    host = socket.gethostname()
    since = int(time.time()) - 60
    with subprocess.Popen(["sleep", "30"]) as live:
        try:
            # A live process with its start time: the run id is running.
            lease.write_text(f"{live.pid} {_start_time(live.pid)} {host} {since}\n")
            held = _sh(project, shell, "who", "run", "--run-id", "r1", env={"MARK": str(mark)})
            assert held.returncode == 3, held.stderr
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
            assert (
                f"run r1 of flow who is already running: pid {live.pid} on host {host}, since {stamp}"
                in held.stderr
            )
            assert not mark.exists()
            # The same pid with another start time: the pid was reused, the holder is gone.
            lease.write_text(f"{live.pid} 1 {host} {since}\n")
            reused = _sh(project, shell, "who", "run", "--run-id", "r1", env={"MARK": str(mark)})
            assert reused.returncode == 0, reused.stderr
            assert mark.exists() and not lease.exists()
        finally:
            live.kill()
    # A process on another host cannot be judged from here: it counts as running, and the
    # message says what to do if that host is gone.
    lease.write_text(f"4242 77 elsewhere.example {since}\n")
    mark.unlink()
    remote = _sh(project, shell, "who", "run", "--run-id", "r1", env={"MARK": str(mark)})
    assert remote.returncode == 3, remote.stderr
    assert (
        f"pid 4242 on host elsewhere.example, since {stamp} (if that host is gone for good, remove {lease})"
        in remote.stderr
    )
    assert not mark.exists()


# --- the JSON summary ---------------------------------------------------------------------


def test_a_json_summary_that_cannot_be_written_is_exit_2_before_anything_runs_as_in_the_python_artifact(
    project: Project, shell: tuple[str, ...]
) -> None:
    _flow(project, "summary", TOUCH_JOBS, target="all")
    mark = project.root / "ran"
    (project.root / "a-file").write_text("")
    (project.root / "a-folder").mkdir()
    for target in (
        project.root / "missing" / "summary.json",
        project.root / "a-file" / "summary.json",
        project.root / "a-folder",
    ):
        python = project.run(
            "summary", "run", "--json-summary", str(target), env={"MARK": str(mark)}
        )
        assert python.returncode == 2 and python.stderr.startswith(
            f"error: --json-summary {target} "
        ), python.stderr
        done = _sh(
            project, shell, "summary", "run", "--json-summary", str(target), env={"MARK": str(mark)}
        )
        assert (done.returncode, done.stderr) == (2, python.stderr)
        assert not mark.exists()
    relative = _sh(
        project,
        shell,
        "summary",
        "run",
        "--json-summary",
        "missing/x.json",
        env={"MARK": str(mark)},
    )
    assert (
        relative.stderr
        == f"error: --json-summary missing/x.json cannot be created: {project.root}/missing "
        "is not a directory\n"
    )
    fine = _sh(
        project, shell, "summary", "run", "--json-summary", "summary.json", env={"MARK": str(mark)}
    )
    assert fine.returncode == 0, fine.stderr
    assert mark.exists() and (project.root / "summary.json").exists()
