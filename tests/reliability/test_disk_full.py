"""A full disk under each state backend: the state store's file system (SQLite, files: a
small tmpfs; PostgreSQL: its data directory on one) fills up during a step. The run ends
with exit 2 naming the store, the state says exactly what finished, and once space is
freed a resume completes without running a done step again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Project
from peers import PgServer

pytestmark = pytest.mark.reliability


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """An 8 MiB tmpfs, mounted for this test (the tests run as root)."""
    assert os.geteuid() == 0, "mounting a tmpfs needs root (CI runs the tests as root)"
    mount = Path(tempfile.mkdtemp(prefix="af-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def _flow(marks: Path, ballast: Path) -> str:
    # `fill` fills the state's file system the first time only: a resume finds room. Its
    # captured output (2 MB) makes its record big.
    fill = (
        f"echo x >> {marks}/fill; head -c 2000000 /dev/zero | tr \\\\0 x; [ -e {marks}/filled ] && exit 0; "
        f"touch {marks}/filled; dd if=/dev/zero of={ballast} bs=64k 2>/dev/null; true"
    )
    return f"""\
jobs:
  - id: j
    steps:
      - {{id: first, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/first']}}}}
      - id: fill
        type: external.process
        inputs: {{command: [sh, -c, '{fill}'], log: {{stdout: capture, max_capture_kb: 4096}}}}
      - {{id: last, type: external.process, inputs: {{command: [sh, -c, 'echo x >> {marks}/last']}}}}
"""


def _check(
    project: Project,
    flow_id: str,
    marks: Path,
    ballast: Path,
    store: str,
    env: dict[str, str] | None = None,
    on_freed: object = None,
) -> None:
    full = project.run(flow_id, "run", "--run-id", "r1", env=env, host_packages=bool(env))
    assert full.returncode == 2, full.stderr
    assert f"error: the {store}" in full.stderr and "Traceback" not in full.stderr
    assert not (marks / "last").exists()
    ballast.unlink()
    if callable(on_freed):
        on_freed()
    status = json.loads(
        project.run(
            flow_id, "status", "--run-id", "r1", "--json", env=env, host_packages=bool(env)
        ).stdout
    )
    assert status["jobs"]["j"]["steps"] == {
        "first": "SUCCESS"
    }  # exactly what finished and was recorded
    resumed = project.run(flow_id, "run", "--run-id", "r1", env=env, host_packages=bool(env))
    assert resumed.returncode == 0, resumed.stderr
    assert [(marks / n).read_text() for n in ("first", "fill", "last")] == ["x\n", "x\nx\n", "x\n"]


@pytest.mark.parametrize("backend", ["sqlite", "file"])
def test_a_full_disk_under_sqlite_and_file_state(
    project: Project, small_disk: Path, tmp_path: Path, backend: str
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    state = small_disk / ("full.sqlite" if backend == "sqlite" else "files")
    text = project.header("full", backend=backend).replace(
        json.dumps(
            str(
                project.state("full")
                if backend == "sqlite"
                else project.root / "state" / "full-files"
            )
        ),
        json.dumps(str(state)),
    )
    project.write_flow("full.yaml", text + _flow(marks, small_disk / "ballast"))
    project.compile()
    _check(project, "full", marks, small_disk / "ballast", f"{backend} state store {state}")


def test_a_full_disk_under_postgresql_state(project: Project, tmp_path: Path) -> None:
    disk = Path(tempfile.mkdtemp(prefix="af-pgfull-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(disk)], check=True)
    try:
        os.chmod(disk, 0o755)
        (disk / "pg").mkdir()
        # 1 MiB WAL segments: a big step record needs a new one, which the full disk refuses.
        server = PgServer(disk / "pg", ("--wal-segsize=1",))
        server.ctl("start")
        try:
            marks = tmp_path / "marks"
            marks.mkdir()
            project.write_flow("full.yaml", project.header("full") + _flow(marks, disk / "ballast"))
            project.compile()
            env = {"AETHERFLOW_STATE_URL": server.url, "AETHERFLOW_STATE_RETRY_SECONDS": "3"}

            def restart() -> None:  # a server that stopped on the full disk starts again
                running = subprocess.run(
                    [
                        *server.as_user,
                        str(server.bindir / "pg_ctl"),
                        "-D",
                        str(server.data),
                        "status",
                    ],
                    capture_output=True,
                )
                if running.returncode != 0:
                    server.ctl("start")

            _check(project, "full", marks, disk / "ballast", "PostgreSQL state store", env, restart)
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
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(disk, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
