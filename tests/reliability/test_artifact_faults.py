"""Faults around a compiled Python artifact: a workspace that cannot hold job directories,
a state store that is another program's database or holds damaged records, a damaged
runtime, a hostile manifest.json, an unwritable --json-summary and the runtime's other
file inputs. Each ends with its documented exit code and a one-line message (never a
traceback), nothing runs that should not, and what the state store recorded stays exact
(docs/artifacts.md, "When something is broken")."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import Project

pytestmark = pytest.mark.reliability

TAG = sys.implementation.cache_tag


def _flow(marks: Path) -> str:
    """Job a: s1 always succeeds, s2 fails until `ok` exists; job b after it. Each step
    appends a line to its own mark file, so a step that runs again is seen."""
    return f"""\
jobs:
  - id: a
    steps:
      - {{id: s1, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/s1']}}}}
      - {{id: s2, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/s2; test -e {marks}/ok']}}}}
  - id: b
    depends_on: [a]
    steps:
      - {{id: s3, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/s3']}}}}
"""


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    folder = tmp_path / "marks"
    folder.mkdir()
    return folder


def _ran(marks: Path) -> dict[str, int]:
    """step -> how many times it ran."""
    return {
        p.name: len(p.read_text().splitlines()) for p in sorted(marks.iterdir()) if p.name != "ok"
    }


def _clean(proc: subprocess.CompletedProcess[str], code: int, *wanted: str) -> None:
    """Exit `code`, every `wanted` text in the output, no traceback."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    assert "Traceback" not in out, out
    for text in wanted:
        assert text in out, out


def _file_state(project: Project, flow_id: str) -> Path:
    return project.root / "state" / f"{flow_id}-files"


@pytest.fixture
def database(postgres_url: str) -> str:
    """A fresh database on the shared server, for one test."""
    import psycopg

    name = "af_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def read_only_dir() -> Iterator[Path]:
    """An empty read-only file system (the tests run as root, who ignores mode bits)."""
    assert os.geteuid() == 0, "mounting a tmpfs needs root (CI runs the tests as root)"
    mount = Path(tempfile.mkdtemp(prefix="af-ro-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


# --- 1. the workspace -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "file"])
@pytest.mark.parametrize(
    "blocked", ["root is a file", "a parent of the root is a file", "read-only"]
)
def test_a_workspace_root_that_cannot_hold_job_directories_stops_before_anything_runs(
    project: Project, marks: Path, read_only_dir: Path, backend: str, blocked: str
) -> None:
    if blocked == "read-only":
        root, culprit, problem = read_only_dir / "work", read_only_dir, "is not writable"
    elif blocked == "root is a file":
        root = culprit = project.root / "work"
        problem = "is not a directory"
    else:
        culprit, root, problem = (
            project.root / "plain",
            project.root / "plain" / "deeper" / "work",
            "is not a directory",
        )
    if blocked != "read-only":
        culprit.write_text("a file in the way\n")
    text = project.header("ws", backend).replace(
        json.dumps(str(project.work)), json.dumps(str(root))
    )
    project.write_flow("ws.yaml", text + _flow(marks))
    project.compile()
    proc = project.run("ws", "run", "--run-id", "r1")
    _clean(
        proc,
        2,
        f"error: the workspace root {root} cannot hold job directories: {culprit} {problem}",
    )
    assert _ran(marks) == {}
    # Nothing was recorded: the state store was not even opened.
    assert not project.state("ws").exists() and not _file_state(project, "ws").exists()


def _state_env(backend: str, database: str | None) -> dict[str, str]:
    return {"AETHERFLOW_STATE_URL": database} if backend == "postgresql" else {}


@pytest.mark.parametrize("backend", ["sqlite", "file", "postgresql"])
def test_a_job_directory_that_cannot_be_made_fails_its_job_with_exit_2_and_a_resume_goes_on(
    project: Project, marks: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue("database") if backend == "postgresql" else None
    env = _state_env(backend, database)
    project.write_flow(
        "ws.yaml",
        project.header("ws", "sqlite" if backend == "postgresql" else backend) + _flow(marks),
    )
    project.compile()
    (marks / "ok").touch()
    # Job a's last step puts a file where job b's directory goes.
    (project.work / "ws").mkdir(parents=True)
    (project.work / "ws" / "b").write_text("in the way\n")
    proc = project.run("ws", "run", "--run-id", "r1", env=env, host_packages=bool(env))
    _clean(
        proc, 2, f"cannot create the job directory {project.work / 'ws' / 'b' / 'r1' / 'artifacts'}"
    )
    status = (
        project.status("ws", "r1", env=env)
        if not env
        else json.loads(
            project.run(
                "ws", "status", "--run-id", "r1", "--json", env=env, host_packages=True
            ).stdout
        )
    )
    assert {j: (d["status"], d["steps"]) for j, d in status["jobs"].items()} == {
        "a": ("SUCCESS", {"s1": "SUCCESS", "s2": "SUCCESS"}),
        "b": ("FAILED", {}),
    }
    assert status["status"] == "FAILED"
    (project.work / "ws" / "b").unlink()
    again = project.run("ws", "run", "--run-id", "r1", env=env, host_packages=bool(env))
    _clean(again, 0)
    assert _ran(marks) == {"s1": 1, "s2": 1, "s3": 1}


# --- 2. the state store ---------------------------------------------------------------------


def test_another_programs_sqlite_database_is_refused_and_left_untouched(
    project: Project, marks: Path
) -> None:
    project.write_flow("st.yaml", project.header("st") + _flow(marks))
    project.compile()
    path = project.state("st")
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE job_runs(id INTEGER PRIMARY KEY, name TEXT, started TEXT)")
        conn.execute("INSERT INTO job_runs(name, started) VALUES ('nightly', 'yesterday')")
    conn.close()
    before = path.read_bytes()
    for command in (["run"], ["run", "--run-id", "r1"], ["status"], ["run", "--resume"]):
        proc = project.run("st", *command)
        _clean(
            proc,
            2,
            f"error: the sqlite state store {path} is another program's database: its table job_runs "
            "lacks the columns job_id, run_id, status, updated_at (it has id, name, started)",
        )
    assert _ran(marks) == {}
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == [
        "st.sqlite"
    ]  # no -wal, no -shm: not even opened for writing


# In the SQL stores: (table, column, row) of each record damaged, and how the message names it.
SQL_DAMAGES = {
    "result_json": (
        "af_step_results",
        "result_json",
        "step_id='s1'",
        "af_step_results of step s1 (job a, run r1)",
    ),
    "promoted_json": (
        "af_step_results",
        "promoted_json",
        "step_id='s1'",
        "af_step_results of step s1 (job a, run r1)",
    ),
    "outputs_json": (
        "af_job_outputs",
        "outputs_json",
        "job_id='a'",
        "af_job_outputs of job a (run r1)",
    ),
}
# In the file store: the record, what it is made, how the message says what is wrong.
FILE_DAMAGES: dict[str, tuple[str, bytes | None, str]] = {
    "step record not JSON": ("runs/r1/steps/a/s1.json", b'{"status": "SUCC', "not JSON"),
    "step record empty": ("runs/r1/steps/a/s1.json", b"", "empty"),
    "step record a list": ("runs/r1/steps/a/s1.json", b"[]", "a JSON list, not an object"),
    "job record not UTF-8": ("runs/r1/jobs/a.json", b"\xff\xfe", "not UTF-8"),
    "job record a folder": ("runs/r1/jobs/a.json", None, "unreadable: Is a directory"),
    "run record not JSON": ("runs/r1/run.json", b"nul", "not JSON"),
}
SQL_TABLES = (
    "job_runs",
    "step_runs",
    "af_runs",
    "af_step_results",
    "af_job_outputs",
    "locks",
    "af_locks",
)


def _damage(project: Project, backend: str, target: str, database: str | None) -> str:
    """Damage the record `target` of run r1; the start of the message that names it."""
    if backend == "file":
        record, data, problem = FILE_DAMAGES[target]
        path = _file_state(project, "dm") / record
        if data is None:
            path.unlink()
            path.mkdir()
        else:
            path.write_bytes(data)
        return f"error: the file state store {_file_state(project, 'dm')}: {record} is damaged ({problem}"
    table, column, row, named = SQL_DAMAGES[target]
    update = f"UPDATE {table} SET {column}='{{\"cut short' WHERE run_id='r1' AND {row}"
    if backend == "sqlite":
        with sqlite3.connect(project.state("dm")) as conn:
            conn.execute(update)
        conn.close()
        return (
            f"error: the sqlite state store {project.state('dm')}: {named} is damaged (not JSON: "
        )
    import psycopg

    assert database is not None
    with psycopg.connect(database, autocommit=True) as pg:
        pg.execute(update)
    return f"error: the PostgreSQL state store {database}: {named} is damaged (not JSON: "  # no password here


def _dump(project: Project, backend: str, database: str | None) -> object:
    """Everything the state store holds."""
    if backend == "file":
        root = _file_state(project, "dm")
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
    if backend == "sqlite":
        return {t: sorted(project.db_rows("dm", f"SELECT * FROM {t}")) for t in SQL_TABLES}
    import psycopg

    assert database is not None
    with psycopg.connect(database) as pg:
        return {t: sorted(pg.execute(f"SELECT * FROM {t}").fetchall()) for t in SQL_TABLES}


@pytest.mark.parametrize(
    "case",
    [
        *(f"sqlite {c}" for c in SQL_DAMAGES),
        *(f"file {c}" for c in FILE_DAMAGES),
        "postgresql result_json",
        "postgresql outputs_json",
    ],
)
def test_a_damaged_state_record_stops_a_resume_before_anything_runs_or_is_written(
    project: Project, marks: Path, case: str, request: pytest.FixtureRequest
) -> None:
    backend, target = case.split(" ", 1)
    database = request.getfixturevalue("database") if backend == "postgresql" else None
    env = _state_env(backend, database)
    project.write_flow(
        "dm.yaml", project.header("dm", "file" if backend == "file" else "sqlite") + _flow(marks)
    )
    project.compile()
    first = project.run("dm", "run", "--run-id", "r1", env=env, host_packages=bool(env))
    _clean(first, 1)  # s1 done, s2 FAILED: the resume would run s2 only
    message = _damage(project, backend, target, database)
    (marks / "ok").touch()
    before = _dump(project, backend, database)
    for command in (["--run-id", "r1"], ["--resume"]):
        resumed = project.run("dm", "run", *command, env=env, host_packages=bool(env))
        _clean(resumed, 2, message, "repair or delete that record")
    assert _ran(marks) == {
        "s1": 1,
        "s2": 1,
    }  # not s1 again (its record is damaged), nor anything else
    assert (
        _dump(project, backend, database) == before
    )  # not a status, not a lock: the store is as it was


def test_deleting_the_damaged_record_lets_the_resume_run_that_step_again(
    project: Project, marks: Path
) -> None:
    project.write_flow("dm.yaml", project.header("dm") + _flow(marks))
    project.compile()
    _clean(project.run("dm", "run", "--run-id", "r1"), 1)
    _damage(project, "sqlite", "result_json", None)
    (marks / "ok").touch()
    _clean(
        project.run("dm", "run", "--run-id", "r1"),
        2,
        "af_step_results of step s1 (job a, run r1) is damaged",
    )
    with sqlite3.connect(project.state("dm")) as conn:  # what the message advises
        conn.execute("DELETE FROM af_step_results WHERE run_id='r1' AND step_id='s1'")
        conn.execute("DELETE FROM step_runs WHERE run_id='r1' AND step_id='s1'")
    conn.close()
    _clean(project.run("dm", "run", "--run-id", "r1"), 0)
    assert _ran(marks) == {"s1": 2, "s2": 2, "s3": 1}


# --- 3. a damaged runtime -------------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _corrupt_pyc(path: Path) -> None:
    """The bytecode cut short behind a valid header (magic, flags, source hash): Python
    trusts the header and fails in marshal."""
    data = path.read_bytes()
    path.write_bytes(data[:16] + data[16:40])


RUNTIME_DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "__init__.py deleted": (
        lambda rt: (rt / "__init__.py").unlink(),
        "missing: aetherflow_runtime/__init__.py",
    ),
    "__init__.py emptied": (
        lambda rt: (rt / "__init__.py").write_text(""),
        "changed: aetherflow_runtime/__init__.py",
    ),
    "__init__.py truncated": (
        lambda rt: _truncate(rt / "__init__.py"),
        "changed: aetherflow_runtime/__init__.py",
    ),
    "runner.py truncated": (
        lambda rt: _truncate(rt / "runner.py"),
        "changed: aetherflow_runtime/runner.py",
    ),
    "cli pyc corrupted": (
        lambda rt: _corrupt_pyc(rt / "__pycache__" / f"cli.{TAG}.pyc"),
        f"changed: aetherflow_runtime/__pycache__/cli.{TAG}.pyc",
    ),
    "__init__ pyc corrupted": (
        lambda rt: _corrupt_pyc(rt / "__pycache__" / f"__init__.{TAG}.pyc"),
        f"changed: aetherflow_runtime/__pycache__/__init__.{TAG}.pyc",
    ),
    # Imported when the state store opens, after the start-up check: named by cli.main.
    "state/sqlite pyc corrupted": (
        lambda rt: _corrupt_pyc(rt / "state" / "__pycache__" / f"sqlite.{TAG}.pyc"),
        f"changed: aetherflow_runtime/state/__pycache__/sqlite.{TAG}.pyc",
    ),
}


@pytest.mark.parametrize("damage", list(RUNTIME_DAMAGES))
def test_a_damaged_runtime_is_exit_2_pointing_at_verify_and_verify_names_the_file(
    project: Project, marks: Path, damage: str
) -> None:
    project.write_flow("rt.yaml", project.header("rt") + _flow(marks))
    project.compile()
    apply, named = RUNTIME_DAMAGES[damage]
    apply(project.dist / "aetherflow_runtime")
    script = project.dist / "rt.py"
    # A module imported on first use fails the commands that use it (not plan, check-env).
    lazy = damage.startswith("state/")
    for command in (["run", "--run-id", "r1"], ["status"]) + (
        () if lazy else (["plan"], ["check-env"])
    ):
        proc = project.run("rt", *command)
        _clean(
            proc,
            2,
            f"`{script} verify` lists the files that differ; deploy the compiled directory again",
        )
        assert proc.stderr.startswith("error: "), proc.stderr
    assert _ran(marks) == {}
    assert not project.state("rt").exists()
    verify = project.run("rt", "verify")
    _clean(verify, 2, f"{project.dist} differs from its manifest.json", f"  {named}\n")


def test_verify_works_with_every_other_file_of_the_runtime_broken(
    project: Project, marks: Path
) -> None:
    project.write_flow("rt.yaml", project.header("rt") + _flow(marks))
    project.compile()
    runtime = project.dist / "aetherflow_runtime"
    broken = sorted(
        p.relative_to(project.dist).as_posix()
        for p in runtime.rglob("*")
        if p.is_file() and p.name != "verify.py"
    )
    assert len(broken) > 40
    for path in broken:
        (project.dist / path).write_bytes(b"\0garbage")
    verify = project.run("rt", "verify")
    _clean(verify, 2)
    assert verify.stderr.splitlines()[1:] == [f"  changed: {p}" for p in broken]
    _clean(project.run("rt", "run"), 2, "aetherflow_runtime/ is missing or damaged next to")
    shutil.rmtree(runtime)
    _clean(
        project.run("rt", "run"),
        2,
        "aetherflow_runtime/ is missing or damaged next to",
        "No module named 'aetherflow_runtime'",
    )


@pytest.mark.parametrize("damage", ["deleted", "truncated", "edited"])
def test_a_damaged_verifier_is_reported_by_verify(
    project: Project, marks: Path, damage: str
) -> None:
    project.write_flow("rt.yaml", project.header("rt") + _flow(marks))
    project.compile()
    verifier = project.dist / "aetherflow_runtime" / "verify.py"
    if damage == "deleted":
        verifier.unlink()
    elif damage == "truncated":
        _truncate(verifier)
    else:  # still runs: it reports itself
        verifier.write_text(verifier.read_text() + "# edited\n")
    proc = project.run("rt", "verify")
    if damage == "edited":
        _clean(proc, 2, "  changed: aetherflow_runtime/verify.py\n")
    else:
        _clean(
            proc,
            2,
            f"error: {verifier} is missing or damaged (",
            "deploy the compiled directory again",
        )


def test_verify_of_a_single_file_script(project: Project, marks: Path) -> None:
    project.write_flow("rt.yaml", project.header("rt") + _flow(marks))
    project.compile("--single-file")
    _clean(project.run("rt", "verify"), 0, "1 files as compiled (manifest.json)")
    script = project.dist / "rt.py"
    script.write_text(script.read_text() + "# edited\n")
    _clean(project.run("rt", "verify"), 2, "  changed: rt.py\n")
    (project.dist / "manifest.json").write_text("[]\n")
    _clean(
        project.run("rt", "verify"),
        2,
        "manifest.json is not a manifest of aetherflow compile (a JSON list",
    )


# --- 4. manifest.json -----------------------------------------------------------------------


MANIFESTS: dict[str, tuple[Callable[[dict], object] | None, str]] = {  # type: ignore[type-arg]
    "a JSON list": (
        lambda m: [m],
        "is not a manifest of aetherflow compile (a JSON list, not an object)",
    ),
    "artifacts a number": (
        lambda m: {**m, "artifacts": 7},
        "'artifacts' must be an object of file path -> sha256 " "(found int)",
    ),
    "no artifacts": (lambda m: {k: v for k, v in m.items() if k != "artifacts"}, "(found nothing)"),
    "a hash that is a number": (
        lambda m: {**m, "artifacts": {**m["artifacts"], "rt.py": 1}},
        "(found dict)",
    ),
    "a path outside the dist": (
        lambda m: {**m, "artifacts": {**m["artifacts"], "../../etc/passwd": "0" * 64}},
        "artifact '../../etc/passwd' is not a path inside the dist",
    ),
    "an absolute path": (
        lambda m: {**m, "artifacts": {"/etc/passwd": "0" * 64}},
        "artifact '/etc/passwd' is not a path inside the dist",
    ),
    "not JSON": (None, "cannot read {manifest}: Expecting"),
    "missing": (None, "cannot read {manifest}: [Errno 2] No such file or directory"),
    "deeply nested": (None, "cannot read {manifest}: maximum recursion depth exceeded"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_a_hostile_manifest_is_exit_2_with_a_message(
    project: Project, marks: Path, case: str
) -> None:
    project.write_flow("rt.yaml", project.header("rt") + _flow(marks))
    project.compile()
    manifest = project.dist / "manifest.json"
    change, message = MANIFESTS[case]
    if change is not None:
        manifest.write_text(json.dumps(change(json.loads(manifest.read_text()))))
    elif case == "not JSON":
        manifest.write_text('{"compiler": ')
    elif case == "missing":
        manifest.unlink()
    else:
        manifest.write_text("[" * 100_000 + "]" * 100_000)
    proc = project.run("rt", "verify")
    _clean(proc, 2, "error: ", message.format(manifest=manifest))
    assert proc.stdout == ""


# --- 5. --json-summary ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["a folder", "in a missing folder", "below a file", "read-only"])
def test_an_unwritable_json_summary_is_refused_before_the_run(
    project: Project, marks: Path, read_only_dir: Path, where: str
) -> None:
    project.write_flow("js.yaml", project.header("js") + _flow(marks))
    project.compile()
    (project.root / "plain").write_text("a file\n")
    target, problem = {
        "a folder": (project.root, "is a directory"),
        "in a missing folder": (
            project.root / "nowhere" / "s.json",
            f"cannot be created: {project.root / 'nowhere'} " "is not a directory",
        ),
        "below a file": (
            project.root / "plain" / "s.json",
            f"cannot be created: {project.root / 'plain'} " "is not a directory",
        ),
        "read-only": (
            read_only_dir / "s.json",
            f"cannot be created: {read_only_dir} is not writable",
        ),
    }[where]
    proc = project.run("js", "run", "--run-id", "r1", "--json-summary", str(target))
    _clean(proc, 2, f"error: --json-summary {target} {problem}")
    assert _ran(marks) == {} and not project.state("js").exists()


def test_a_json_summary_that_cannot_be_written_after_the_run_is_exit_2_and_leaves_no_stale_file(
    project: Project, marks: Path, tmp_path: Path
) -> None:
    disk = Path(tempfile.mkdtemp(prefix="af-summary-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        summary = disk / "summary.json"
        summary.write_text('{"run_id": "an earlier run"}\n')
        # The run itself fills the summary's file system.
        project.write_flow(
            "js.yaml",
            project.header("js") + f"""\
jobs:
  - id: a
    steps:
      - {{id: fill, type: external.process, inputs: {{command: [sh, -c, 'cat /dev/zero > {disk}/ballast; true']}}}}
""",
        )
        project.compile()
        proc = project.run("js", "run", "--run-id", "r1", "--json-summary", str(summary))
        _clean(
            proc,
            2,
            f"error: cannot write --json-summary {summary}: [Errno 28] No space left on device",
        )
        assert sorted(os.listdir(disk)) == [
            "ballast"
        ]  # the earlier run's summary is not left to mislead
        assert project.status("js", "r1")["status"] == "SUCCESS"  # the run is recorded as it ended
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(disk, ignore_errors=True)


def test_a_json_summary_through_a_link_or_to_a_device_is_written_through_it(
    project: Project, marks: Path
) -> None:
    project.write_flow("js.yaml", project.header("js") + _flow(marks))
    project.compile()
    (marks / "ok").touch()
    proc = project.run("js", "run", "--run-id", "r1", "--json-summary", "/dev/stdout")
    _clean(proc, 0)
    assert json.loads(proc.stdout)["status"] == "SUCCESS"
    # A link is written through, never replaced (renaming over /dev/stdout would replace
    # the device link of the whole host).
    real = project.root / "real.json"
    real.write_text("{}\n")
    link = project.root / "link.json"
    link.symlink_to(real)
    _clean(project.run("js", "run", "--run-id", "r2", "--json-summary", str(link)), 0)
    assert link.is_symlink() and json.loads(real.read_text())["run_id"] == "r2"


# --- 6. the runtime's other file inputs -----------------------------------------------------


ENV_FAULTS = {  # case -> the message
    "an env file that is not UTF-8": "env file {root}/bad.env cannot be read: 'utf-8' codec can't decode",
    "an env file that is a dangling link": "env file not found: {root}/gone.env",
    "a JSON env file nested too deep": "env file {root}/deep.json cannot be read: maximum recursion depth exceeded",
    "AETHERFLOW_ENV_FILES_JSON not JSON": "AETHERFLOW_ENV_FILES_JSON is not valid JSON",
    "AETHERFLOW_ENV_FILES_JSON nested too deep": "AETHERFLOW_ENV_FILES_JSON is not valid JSON: maximum recursion "
    "depth exceeded",
    "AETHERFLOW_ENV_FILES_JSON an object": "AETHERFLOW_ENV_FILES_JSON must be a JSON list",
    "AETHERFLOW_ENV_FILES_JSON an entry that is a string": "every entry must be an object",
    "AETHERFLOW_ENV_FILES_JSON a path that is an object": "env file not found: {{'a': 1}}",
}


def _env_fault(root: Path, case: str) -> tuple[list[str], dict[str, str]]:
    """(command line options, environment) that give `case`."""
    if case == "an env file that is not UTF-8":
        (root / "bad.env").write_bytes(b"A=\xff\n")
        return ["--env-file", str(root / "bad.env")], {}
    if case == "an env file that is a dangling link":
        (root / "gone.env").symlink_to(root / "nowhere")
        return ["--env-file", str(root / "gone.env")], {}
    if case == "a JSON env file nested too deep":
        (root / "deep.json").write_text("[" * 100_000)
        return ["--env-file", str(root / "deep.json")], {}
    value = {
        "not JSON": "[{",
        "nested too deep": "[" * 100_000,
        "an object": "{}",
        "an entry that is a string": '["x.env"]',
        "a path that is an object": '[{"type": "dotenv", "path": {"a": 1}}]',
    }[case.split(" ", 1)[1]]
    return [], {"AETHERFLOW_ENV_FILES_JSON": value}


@pytest.mark.parametrize("case", list(ENV_FAULTS))
def test_an_env_file_that_cannot_be_read_is_exit_2(
    project: Project, marks: Path, case: str
) -> None:
    project.write_flow("ev.yaml", project.header("ev") + _flow(marks))
    project.compile()
    args, env = _env_fault(project.root, case)
    for command in ("check-env", "run"):
        proc = project.run("ev", command, *args, env=env)
        _clean(proc, 2, "error: ", ENV_FAULTS[case].format(root=project.root))
    assert _ran(marks) == {}


def test_an_env_file_that_is_a_directory_is_read_as_one_file_per_variable(project: Project) -> None:
    project.write_flow(
        "ev.yaml",
        project.header("ev") + """\
jobs:
  - id: a
    steps:
      - {id: s, type: external.process, inputs: {command: [sh, -c, 'echo "{{env.GREETING}}"']}}
""",
    )
    project.compile()
    folder = project.root / "env.d"
    folder.mkdir()
    (folder / "GREETING").write_text("hello\n")
    (folder / "sub").mkdir()  # not a variable: left out
    _clean(project.run("ev", "run", "--env-file", str(folder)), 0, "hello")


def test_a_metrics_textfile_that_is_a_folder_is_a_warning_and_leaves_the_exit_code(
    project: Project, marks: Path
) -> None:
    project.write_flow("mt.yaml", project.header("mt") + _flow(marks))
    project.compile()
    folder = project.root / "metrics.prom"
    folder.mkdir()
    (marks / "ok").touch()
    proc = project.run("mt", "run", env={"AETHERFLOW_METRICS_TEXTFILE": str(folder)})
    _clean(proc, 0, f"WARNING metrics_textfile_failed path={folder} error=IsADirectoryError")
    assert (
        list(folder.iterdir()) == []
        and [p.name for p in project.root.iterdir() if p.name.endswith(".tmp")] == []
    )


@pytest.mark.parametrize(
    "case",
    [
        "sqlite: a parent is a file",
        "sqlite: the path is a folder",
        "sqlite: the path is not a database",
        "file: the path is a file",
        "file: locks/ is a file",
    ],
)
def test_a_state_path_in_the_way_is_exit_2_and_left_as_it_was(
    project: Project, marks: Path, case: str
) -> None:
    backend = case.split(":")[0]
    project.write_flow("sp.yaml", project.header("sp", backend) + _flow(marks))
    project.compile()
    state = project.root / "state"
    if case == "sqlite: a parent is a file":
        state.write_text("a file\n")
        message = f"error: cannot open the sqlite state store at {project.state('sp')}: [Errno 17] File exists"
    elif case == "sqlite: the path is a folder":
        project.state("sp").mkdir(parents=True)
        message = f"error: cannot open the sqlite state store at {project.state('sp')}: unable to open database file"
    elif case == "sqlite: the path is not a database":
        state.mkdir()
        project.state("sp").write_text("notes, not a database\n" * 100)
        message = f"error: cannot open the sqlite state store at {project.state('sp')}: file is not a database"
    elif case == "file: the path is a file":
        state.mkdir()
        _file_state(project, "sp").write_text("a file\n")
        message = f"error: cannot open the file state store at {_file_state(project, 'sp')}: [Errno 20] Not a directory"
    else:
        (_file_state(project, "sp") / "runs").mkdir(parents=True)
        (_file_state(project, "sp") / "locks").write_text("a file\n")
        message = f"error: cannot open the file state store at {_file_state(project, 'sp')}: [Errno 17] File exists"
    before = (
        {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}
        if state.is_dir()
        else state.read_bytes()
    )
    for command in (["run"], ["status"]):
        _clean(project.run("sp", *command), 2, message)
    assert _ran(marks) == {}
    assert (
        {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}
        if state.is_dir()
        else state.read_bytes()
    ) == before


def test_damaged_locks_of_the_file_state_store(project: Project, marks: Path) -> None:
    """A lock file that cannot be read is no live run's (every lock file is replaced
    whole): it counts as free. The flock file in the way of the locks is a state store
    failure: exit 2, and what was recorded stays."""
    project.write_flow("lk.yaml", project.header("lk", "file") + _flow(marks))
    project.compile()
    (marks / "ok").touch()
    locks = _file_state(project, "lk") / "locks"
    locks.mkdir(parents=True)
    import hashlib

    own = locks.parent / "af_locks"  # the artifact's job locks; with_lock keys are in locks/
    own.mkdir()
    (own / (hashlib.sha256(b"job:lk:a").hexdigest() + ".json")).write_text('{"owner": "r0", "expi')
    _clean(project.run("lk", "run", "--run-id", "r1"), 0)
    assert _ran(marks) == {"s1": 1, "s2": 1, "s3": 1}
    (locks / ".mutex").unlink()
    (locks / ".mutex").mkdir()
    proc = project.run("lk", "run", "--run-id", "r2")
    _clean(
        proc,
        2,
        f"error: the file state store cannot lock {locks / '.mutex'}: [Errno 21] Is a directory",
    )
    assert _ran(marks) == {"s1": 1, "s2": 1, "s3": 1}
    assert project.status("lk", "r1")["status"] == "SUCCESS"
    # Recorded up to the failure (the run started), nothing after it.
    assert project.status("lk", "r2") == {
        "flow_id": "lk",
        "run_id": "r2",
        "status": "RUNNING",
        "jobs": {},
    }


def test_a_log_file_path_that_is_a_folder_fails_its_step(project: Project) -> None:
    project.write_flow(
        "lg.yaml",
        project.header("lg") + """\
jobs:
  - id: a
    steps:
      - id: s
        type: external.process
        inputs: {command: [echo, hi], log: {stdout: file, file_path: out.log}}
""",
    )
    project.compile()
    (project.work / "lg" / "a" / "r1" / "artifacts" / "out.log").mkdir(parents=True)
    proc = project.run("lg", "run", "--run-id", "r1")
    _clean(
        proc,
        1,
        f"cannot open log.file_path {project.work / 'lg' / 'a' / 'r1' / 'artifacts' / 'out.log'}: "
        "Is a directory",
    )
    assert project.status("lg", "r1")["jobs"]["a"]["steps"] == {"s": "FAILED"}


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
