"""What ships is what is tested: the sdist and wheel built from the git-tracked files,
installed into a virtual environment that has never seen the repository.

The user path runs with that venv's `aetherflow`, from a directory outside the
repository, in an environment with nothing of the test run's (no PYTHONPATH, no editable
finder, a fresh HOME); the compiled artifacts run with plain `python3 -I -S` and `dash`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

# Repository folder -> where its files are in the wheel.
SHIPPED = {
    "aetherflow_compiler/": "aetherflow_compiler/",
    "runtime_stub/": "aetherflow_compiler/_runtime/",
    "templates/": "aetherflow_compiler/_templates/",
}


def _tracked() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return sorted(p for p in out.decode().split("\0") if p and (ROOT / p).is_file())


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`python -m build` (sdist, then the wheel from the sdist) on a copy of the tracked
    files: nothing untracked or ignored in the checkout can make it into the wheel."""
    root = tmp_path_factory.mktemp("build")
    src = root / "src"
    for rel in _tracked():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    out = root / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Built(wheel, sdist)


@dataclass(frozen=True)
class User:
    """A machine that has the wheel installed and nothing else of the project."""

    home: Path
    venv: Path
    env: dict[str, str]

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        expect: int = 0,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            list(args),
            cwd=cwd or self.home,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert (
            proc.returncode == expect
        ), f"{' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def aetherflow(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "aetherflow"), *args, expect=expect)


@pytest.fixture(scope="session")
def user(built: Built, tmp_path_factory: pytest.TempPathFactory) -> User:
    home = tmp_path_factory.mktemp("user")
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, cwd=home)
    # pip keeps the machine's own configuration (index, certificates); nothing else passes.
    pip_env = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
    pip_env.update(PATH="/usr/bin:/bin", HOME=str(home))
    proc = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(built.wheel)],
        env=pip_env,
        cwd=home,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    python3 = shutil.which("python3")
    assert python3 is not None
    path = os.pathsep.join([str(venv / "bin"), os.path.dirname(python3), "/usr/bin", "/bin"])
    env = {
        "PATH": path,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AETHERFLOW_CACHE_DIR": str(home / "cache"),
    }
    shutil.copytree(ROOT / "examples", home / "examples")
    return User(home, venv, env)


def test_the_install_sees_nothing_of_the_repository(user: User) -> None:
    where = user.run(
        str(user.venv / "bin" / "python"),
        "-c",
        "import sys, aetherflow_compiler._runtime as r, aetherflow_compiler as c;"
        "print(c.__file__); print(r.__file__); print(sys.path)",
    ).stdout.splitlines()
    site = str(user.venv / "lib")
    assert where[0].startswith(site) and where[1].startswith(site), where
    assert str(ROOT) not in where[2]
    site_packages = next((user.venv / "lib").glob("python*/site-packages"))
    assert not list(site_packages.glob("__editable__*")), "an editable install leaked into the venv"
    assert not list(site_packages.glob("*.pth")) or all(
        str(ROOT) not in p.read_text() for p in site_packages.glob("*.pth")
    )


def test_the_user_path_from_the_wheel(user: User, built: Built) -> None:
    assert "compile" in user.aetherflow("--help").stdout
    version = built.wheel.name.split("-")[1]
    assert version in user.aetherflow("--version").stdout
    user.aetherflow(
        "validate", "examples/flows", "examples/profiles.yaml", "examples/scheduler.yaml"
    )
    user.aetherflow("validate", "--bundle-manifest", "examples/engine-project/manifest.yaml")
    assert json.loads(user.aetherflow("schema", "flow").stdout)["title"]
    explained = user.aetherflow(
        "explain", "examples/flows/sales_export.yaml", "--profiles", "examples/profiles.yaml"
    )
    assert "sales_db" in explained.stdout
    drawn = user.aetherflow("graph", "examples/flows/daily_orders.yaml", "--format", "json")
    assert [e["kind"] for e in json.loads(drawn.stdout)["edges"]] == ["depends_on", "when"]
    assert user.aetherflow("graph", "examples/flows/daily_orders.yaml").stdout.startswith(
        "flowchart TD\n"
    )
    user.aetherflow(
        "compile",
        "examples/flows",
        "-o",
        "dist",
        "--target",
        "all",
        "--schedule",
        "examples/scheduler.yaml",
    )
    assert (
        "Europe/Berlin" in user.aetherflow("schedule", "explain", "examples/scheduler.yaml").stdout
    )

    dist = user.home / "dist"
    manifest = json.loads((dist / "manifest.json").read_text())
    sources = sorted(p.name for p in (user.home / "examples" / "flows").glob("*.yaml"))
    assert sorted(f["source"] for f in manifest["flows"].values()) == sources
    scripts = sorted(p.stem for p in dist.glob("*.py"))
    shells = sorted(p.stem for p in dist.glob("*.sh"))
    assert scripts == sorted(manifest["flows"]) and shells, (scripts, shells)
    assert (dist / "aetherflow_runtime" / "steps" / "process.py").is_file()
    assert (dist / "schedule" / "crontab").is_file()
    # The same compile as a project config: a bare `aetherflow compile --check` below a
    # pyproject.toml with a [tool.aetherflow] table finds it and sees dist/ up to date (its
    # paths are relative to its folder); the examples' own aetherflow.toml compiles them
    # in their folder.
    project = user.home / "project"
    (project / "reports").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "user-flows"\n\n[tool.aetherflow]\npaths = ["../examples/flows"]\noutput = "../dist"\n'
        'target = "all"\nschedule = "../examples/scheduler.yaml"\n'
    )
    aetherflow = str(user.venv / "bin" / "aetherflow")
    assert (
        "dist is up to date"
        in user.run(aetherflow, "compile", "--check", cwd=project / "reports").stderr
    )
    user.run(aetherflow, "validate", cwd=user.home / "examples" / "flows")
    user.run(aetherflow, "compile", cwd=user.home / "examples")
    assert (user.home / "demo" / "dist" / "daily_orders.sh").is_file()

    inbox = user.home / "inbox"
    inbox.mkdir()
    (inbox / "orders-1.csv").write_text("id,total\n1,9.50\n")
    sales = user.home / "sales.sqlite"
    with sqlite3.connect(sales) as conn:
        conn.execute("CREATE TABLE sales(id INTEGER, day TEXT, region TEXT, total REAL)")
        conn.execute("INSERT INTO sales VALUES (1, '2026-01-31', 'north', 120.5)")
    conn.close()
    run_env = {
        "AETHERFLOW_WORK_ROOT": str(user.home / "work"),
        "AETHERFLOW_STATE_ROOT": str(user.home / "state"),
        "ORDERS_INBOX": str(inbox),
        "SALES_DB": str(sales),
        "INBOX_FILES": "orders-1.csv",
    }
    for flow in scripts:
        assert f"flow {flow}" in user.run("python3", "-I", "-S", f"dist/{flow}.py", "plan").stdout
        user.run(
            "python3", "-I", "-S", f"dist/{flow}.py", "run", "--run-id", f"py-{flow}", env=run_env
        )
        status = json.loads(
            user.run(
                "python3",
                "-I",
                "-S",
                f"dist/{flow}.py",
                "status",
                "--run-id",
                f"py-{flow}",
                "--json",
                env=run_env,
            ).stdout
        )
        assert status["status"] == "SUCCESS", status
    assert (
        user.home
        / "work"
        / "sales_export"
        / "export"
        / "py-sales_export"
        / "artifacts"
        / "outbox"
        / "sales.zip"
    ).is_file()
    # A project written for the engine: its bundle manifest, profiles and plugins.
    user.aetherflow(
        "compile", "--bundle-manifest", "examples/engine-project/manifest.yaml", "-o", "engine-dist"
    )
    assert (user.home / "engine-dist" / "aetherflow_plugins" / "steps" / "csv_summary.py").is_file()
    user.run("python3", "examples/engine-project/tools/make_warehouse.py", "warehouse.sqlite")
    user.run(
        "python3",
        "-I",
        "-S",
        "engine-dist/orders_daily.py",
        "run",
        env={
            **run_env,
            "WAREHOUSE_DB": str(user.home / "warehouse.sqlite"),
            "ORDERS_NOTES": str(user.home / "notes.txt"),
        },
    )
    assert (user.home / "notes.txt").read_text().startswith("2 orders, 14.75 in total: ")
    sh_env = {**run_env, "AETHERFLOW_STATE_ROOT": str(user.home / "sh-state")}
    for flow in shells:
        assert f"flow {flow}" in user.run("dash", f"dist/{flow}.sh", "plan").stdout
        user.run("dash", f"dist/{flow}.sh", "run", "--run-id", f"sh-{flow}", env=sh_env)
        status = json.loads(
            user.run(
                "dash", f"dist/{flow}.sh", "status", "--run-id", f"sh-{flow}", "--json", env=sh_env
            ).stdout
        )
        assert status["status"] == "SUCCESS", status


def _expected_in_wheel() -> set[str]:
    """Every tracked file of the shipped folders, at its place in the wheel."""
    out = set()
    for rel in _tracked():
        for folder, target in SHIPPED.items():
            if rel.startswith(folder):
                out.add(target + rel[len(folder) :])
    return out


def _wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return {n for n in zf.namelist() if not n.endswith("/") and ".dist-info/" not in n}


def test_the_wheel_holds_every_shipped_file_and_nothing_else(built: Built) -> None:
    expected = _expected_in_wheel()
    # What this test must see: a module in each runtime folder, the shell runtime, the
    # templates and the schemas (a file list that lost them would pass vacuously).
    for needed in (
        "aetherflow_compiler/_runtime/steps/process.py",
        "aetherflow_compiler/_runtime/state/sqlite.py",
        "aetherflow_compiler/_runtime/connectors/sqlite.py",
        "aetherflow_compiler/_runtime/sh/13_command_line.sh",
        "aetherflow_compiler/_templates/flow.py.j2",
        "aetherflow_compiler/schemas/flow.schema.json",
        "aetherflow_compiler/codegen/runtime/package.py",
    ):
        assert needed in expected, needed
    files = _wheel_files(built.wheel)
    assert sorted(expected - files) == [], "tracked files missing from the wheel"
    assert sorted(files - expected) == [], "files in the wheel that git does not track"


def test_the_sdist_builds_the_same_wheel_contents(built: Built) -> None:
    import tarfile

    with tarfile.open(built.sdist) as tf:
        top = tf.getnames()[0].split("/")[0]
        names = {n[len(top) + 1 :] for n in tf.getnames() if tf.getmember(n).isfile()}
    for rel in _tracked():
        if any(rel.startswith(folder) for folder in SHIPPED):
            assert rel in names, f"{rel} is missing from the sdist"
    assert {"pyproject.toml", "setup.py", "README.md"} <= names


def test_check_wheel_contents_and_twine_pass(built: Built) -> None:
    bin_dir = Path(sys.executable).parent
    check = subprocess.run(
        [str(bin_dir / "check-wheel-contents"), str(built.wheel)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    twine = subprocess.run(
        [str(bin_dir / "twine"), "check", "--strict", str(built.wheel), str(built.sdist)],
        capture_output=True,
        text=True,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr
