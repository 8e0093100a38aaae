from __future__ import annotations

import json
import os
import shlex
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aetherflow_compiler.cli.commands import cli
from peers import (  # noqa: F401  (fixtures)
    localhost_cert,
    postgres_url,
    sftp_server,
    smtp_server,
    smtp_tls_server,
)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = ROOT / "examples"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden expected files")


def pytest_configure(config: pytest.Config) -> None:
    if (
        config.getoption("--update-golden")
        and getattr(config.option, "numprocesses", None)
        and not hasattr(config, "workerinput")
    ):
        raise pytest.UsageError(
            "--update-golden rewrites the golden files that other tests read: "
            "run it in one process (without -n)"
        )


# --- what each test needs -------------------------------------------------------------------
# Every test gets exactly one of three markers, so `-m` can pick a loop (make quick: -m unit,
# leaving out the slow ones too; tests/test_markers.py checks this):
#   unit     in-process only: the CLI through CliRunner, the compiler's and runtime's functions;
#            no program started, no server. Needs nothing but the virtual environment.
#   e2e      starts programs: compiled artifacts, shells, the engine, pip, git, dot...
#   servers  starts a real peer on loopback (tests/peers.py: PostgreSQL, SMTP, SFTP, HTTP(S)).
# A test's own marker wins; otherwise a server fixture makes it `servers`, a module below (or
# the conformance/reliability/fuzz markers) `e2e`, and anything else is `unit`. A unit test
# that starts a program or listens on a socket fails, naming the marker it needs, so the
# markers stay true as tests change.
KINDS = ("unit", "e2e", "servers")
SERVER_FIXTURES = frozenset(
    {
        "postgres_url",
        "smtp_server",
        "smtp_tls_server",
        "sftp_server",
        "own_server",
        "http_server",
        "https_server",
        "bundle_api",
    }
)
E2E_MODULES = frozenset(
    {
        "test_airgap",
        "test_archive_drivers",
        "test_bench",
        "test_bundles",
        "test_bytecode",
        "test_ci_recipes",
        "test_compile_reports",
        "test_connector_exasol",
        "test_connector_rest",
        "test_engine_compat",
        "test_hostile_environment",
        "test_metrics_textfile",
        "test_migration_guide",
        "test_pre_commit_hooks",
        "test_runtime_process",
        "test_runtime_semantics",
        "test_runtime_state",
        "test_runtime_types",
        "test_schedule",
        "test_secrets_and_profiles",
        "test_sh_target",
        "test_state_postgres",
        "test_step_db",
        "test_step_excel",
        "test_step_mail",
        "test_step_sftp",
        "test_step_smb",
        "test_step_zip",
        "test_wheel",
    }
)
E2E_MARKERS = frozenset({"conformance", "reliability", "fuzz"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        own = {mark.name for mark in item.iter_markers()}
        if own & set(KINDS):
            continue
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            kind = "servers"
        elif own & E2E_MARKERS or item.path.stem in E2E_MODULES:
            kind = "e2e"
        else:
            kind = "unit"
        item.add_marker(kind)


@pytest.fixture(autouse=True)
def _unit_tests_stay_in_process(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test marked `unit` may neither start a program nor listen on a socket."""
    if request.node.get_closest_marker("unit") is None:
        return
    popen_init = subprocess.Popen.__init__

    def refuse_popen(self: subprocess.Popen, args: Any, *rest: Any, **kwargs: Any) -> None:  # type: ignore[type-arg]
        # Programs started once per process whichever test comes first, not by the test's
        # doing: the compiler's bytecode helper (its result is cached), ctypes.util's ldconfig
        # or gcc, platform's uname.
        if not _called_from(_helper_module):
            self._child_created = False  # what Popen.__del__ looks at
            pytest.fail(
                f"this unit test starts a program ({args!r}): mark it @pytest.mark.e2e, or list its "
                f"module in E2E_MODULES (tests/conftest.py)",
                pytrace=False,
            )
        popen_init(self, args, *rest, **kwargs)

    def refuse_listen(self: socket.socket, *args: Any) -> None:
        pytest.fail("this unit test starts a server: mark it @pytest.mark.servers", pytrace=False)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse_popen)
    monkeypatch.setattr(socket.socket, "listen", refuse_listen)


def _helper_module(name: str) -> bool:
    return name in ("ctypes.util", "platform") or (
        name.startswith("aetherflow_compiler.") and name.endswith(".bytecode")
    )


def _called_from(module: Callable[[str], bool]) -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if module(str(frame.f_globals.get("__name__"))):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


@pytest.fixture(autouse=True, scope="session")
def _private_compile_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read or write the user's compile cache."""
    os.environ["AETHERFLOW_CACHE_DIR"] = str(tmp_path_factory.mktemp("compile-cache"))


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(
    args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> CliResult:
    """Run `aetherflow ARGS` in-process (with `env` set on top of the environment); any
    exception other than SystemExit fails the test."""
    runner = CliRunner()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = runner.invoke(cli, args, catch_exceptions=False, env=env)
    finally:
        os.chdir(old)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def case_args(case: Path) -> list[str]:
    extra = case.with_suffix(".args")
    return shlex.split(extra.read_text()) if extra.exists() else []


def case_env(case: Path) -> dict[str, str]:
    """A golden case's `<case>.env`: KEY=VALUE lines set while the case runs."""
    extra = case.with_suffix(".env")
    lines = extra.read_text().splitlines() if extra.exists() else []
    return dict(line.split("=", 1) for line in lines if line.strip())


# --- compiled artifacts -------------------------------------------------------------------


@dataclass
class Project:
    """A temporary project: flows/ in, dist/ out, and a work and state area for runs."""

    root: Path

    @property
    def flows(self) -> Path:
        return self.root / "flows"

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def state(self, flow_id: str) -> Path:
        return self.root / "state" / f"{flow_id}.sqlite"

    def header(self, flow_id: str, backend: str = "sqlite", extra: str = "") -> str:
        state = (
            self.state(flow_id) if backend == "sqlite" else self.root / "state" / f"{flow_id}-files"
        )
        return textwrap.dedent(f"""\
            version: 1
            flow:
              id: {flow_id}
              workspace: {{root: {json.dumps(str(self.work))}, cleanup_policy: never}}
              state: {{backend: {backend}, path: {json.dumps(str(state))}}}
            """) + extra

    def write_flow(self, name: str, text: str) -> Path:
        self.flows.mkdir(parents=True, exist_ok=True)
        path = self.flows / name
        path.write_text(text)
        return path

    def compile(self, *extra: str) -> CliResult:
        result = run_cli(["compile", str(self.flows), "-o", str(self.dist), *extra])
        assert result.exit_code == 0, result.stdout + result.stderr
        return result

    def flow(self, flow_id: str, body: str, backend: str = "sqlite", extra: str = "") -> None:
        """Write flows/<id>.yaml (header + jobs body) and compile."""
        self.write_flow(
            f"{flow_id}.yaml", self.header(flow_id, backend, extra) + textwrap.dedent(body)
        )
        self.compile()

    def run(
        self,
        flow_id: str,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        check_exit: int | None = None,
        host_packages: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run dist/<flow_id>.py with `python3 -I -S`: the standard library only. With
        host_packages, without -S: the test environment's packages stand for a host's."""
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root)}
        full_env.update(env or {})
        flags = ["-I"] if host_packages else ["-I", "-S"]
        proc = subprocess.run(
            [sys.executable, *flags, str(self.dist / f"{flow_id}.py"), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=self.root,
        )
        if check_exit is not None:
            assert proc.returncode == check_exit, proc.stderr + proc.stdout
        return proc

    def status(self, flow_id: str, run_id: str, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
        proc = self.run(flow_id, "status", "--run-id", run_id, "--json", env=env, check_exit=0)
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    def db_rows(self, flow_id: str, sql: str, params: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
        with sqlite3.connect(self.state(flow_id)) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def alive(pid: int) -> bool:
    """True while a process exists and is not a zombie (PID 1 here may not reap orphans)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in fh)
    except FileNotFoundError:
        return False


def statuses(report: dict) -> dict:  # type: ignore[type-arg]
    """{job: (status, {step: status})} from a status object."""
    return {job: (data["status"], data["steps"]) for job, data in report["jobs"].items()}
