"""The air-gapped host, end to end: a wheelhouse made with `pip download` from PyPI
(SQLAlchemy, openpyxl, paramiko and what they need, binary wheels included), flows that
use db:sqlalchemy over a SQLite file, an Excel step and sftp_list_files, compiled with
`--wheelhouse` and `--archive`; the archive unpacked elsewhere, the wheelhouse and the
build deleted, and every flow run in a new network namespace by the machine's interpreter
with `-I -S` (no site-packages), the SFTP server inside that namespace on its loopback."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import openpyxl
import pytest

from conftest import Project, run_cli

HERE = Path(__file__).parent
PACKAGES = ("sqlalchemy", "openpyxl", "paramiko", "psycopg[binary]")

FLOWS = {
    "orders": """\
        resources:
          shop: {kind: db, driver: sqlalchemy, config: {url: "sqlite:///{{env.SHOP_DB}}"}}
        jobs:
          - id: extract
            steps:
              - id: fetch
                type: db_fetch_small
                inputs: {resource: shop, sql: "SELECT id, name FROM orders ORDER BY id"}
                outputs: {rows: "{{result.rows_json}}", n: "{{result.row_count}}"}
        """,
    "report": """\
        jobs:
          - id: report
            steps:
              - id: fill
                type: excel_fill_small
                inputs:
                  template_path: "{{env.TEMPLATE}}"
                  output: out/report.xlsx
                  targets:
                    - {name: cells, cell: "Data!A1", rows_json: '[["north", 10], ["south", 7]]'}
                outputs: {written: "{{result.written}}"}
        """,
    "inbox": """\
        resources:
          remote:
            kind: sftp
            driver: paramiko
            config: {host: 127.0.0.1, port: "{{env.SFTP_PORT}}", user: etl, password: "{{env.SFTP_PW}}"}
            options: {timeout: 10}
        jobs:
          - id: look
            steps:
              - id: list
                type: sftp_list_files
                inputs: {resource: remote, remote_dir: /inbox, pattern: "*.csv"}
                outputs: {count: "{{result.count}}"}
        """,
}


def _wheelhouse(folder: Path) -> Path:
    """What CI does: pip download, binary wheels only, for this interpreter."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--dest",
            str(folder),
            *PACKAGES,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return folder


def _unshare_available() -> None:
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    assert probe.returncode == 0, f"unshare -n is needed (run the tests as root): {probe.stderr}"


def test_flows_run_on_an_air_gapped_host_from_a_compiled_archive(
    project: Project, tmp_path: Path
) -> None:
    _unshare_available()
    build = tmp_path / "ci"
    house = _wheelhouse(build / "wheelhouse")
    assert any(
        p.name.startswith("sqlalchemy-") and not p.name.endswith("none-any.whl")
        for p in house.iterdir()
    )
    for flow_id, body in FLOWS.items():
        project.write_flow(f"{flow_id}.yaml", project.header(flow_id) + textwrap.dedent(body))
    archives = []
    for attempt in ("one", "two"):  # two compiles, two archives: the same bytes
        result = run_cli(
            [
                "compile",
                str(project.flows),
                "-o",
                str(build / attempt / "dist"),
                "--wheelhouse",
                str(house),
                "--archive",
                str(build / attempt / "dist.tar.gz"),
                "--no-cache",
                "--shared-state",
            ]
        )
        assert result.exit_code == 0, result.stdout + result.stderr
        archives.append((build / attempt / "dist.tar.gz").read_bytes())
    assert archives[0] == archives[1]
    manifest = json.loads((build / "one" / "dist" / "manifest.json").read_text())
    assert {"openpyxl", "SQLAlchemy", "paramiko", "cryptography", "psycopg", "psycopg-binary"} <= {
        e["name"] for e in manifest["vendored"].values()
    }  # --shared-state: the PostgreSQL driver too
    sums = (build / "one" / "SHA256SUMS").read_text()
    assert sums == f"{hashlib.sha256(archives[0]).hexdigest()}  dist.tar.gz\n"

    # The host: the archive unpacked in its own place; nothing of the build is left.
    host = tmp_path / "host"
    dist = host / "opt" / "aetherflow"
    dist.mkdir(parents=True)
    with tarfile.open(build / "one" / "dist.tar.gz") as tar:
        tar.extractall(dist, filter="data")
    shutil.rmtree(build)
    shop = host / "shop.db"
    with sqlite3.connect(shop) as conn:
        conn.execute("CREATE TABLE orders(id INTEGER, name TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [(1, "Ada"), (2, "Boé")])
    template = project.work / "templates" / "report.xlsx"  # inside the workspace: the sandbox
    template.parent.mkdir(parents=True)
    book = openpyxl.Workbook()
    book.active.title = "Report"
    book.create_sheet("Data")
    book.save(template)
    sftp_root = host / "sftp"
    for name in ("a.csv", "b.csv", "notes.txt"):
        (sftp_root / "inbox").mkdir(parents=True, exist_ok=True)
        (sftp_root / "inbox" / name).write_text(name)

    python = os.path.realpath(sys.executable)  # the machine's interpreter, not this venv
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(host),
        "SHOP_DB": str(shop),
        "TEMPLATE": str(template),
        "SFTP_PW": "sftp-pw",
    }
    commands = [
        {
            "argv": [python, "-I", "-S", str(dist / "orders.py"), "verify"],
            "env": env,
            "cwd": str(host),
        }
    ]
    for flow_id in FLOWS:
        for args in (
            ["check-env"],
            ["run", "--run-id", "r1"],
            ["status", "--run-id", "r1", "--json"],
        ):
            commands.append(
                {
                    "argv": [python, "-I", "-S", str(dist / f"{flow_id}.py"), *args],
                    "env": env,
                    "cwd": str(host),
                }
            )
    # The vendored PostgreSQL driver loads offline: a state URL to a closed port is "unreachable",
    # not "needs the Python package psycopg".
    commands.append(
        {
            "argv": [python, "-I", "-S", str(dist / "orders.py"), "run"],
            "cwd": str(host),
            "env": {
                **env,
                "AETHERFLOW_STATE_URL": "postgresql://etl@127.0.0.1:9/af",
                "AETHERFLOW_STATE_RETRY_SECONDS": "0",
            },
        }
    )
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "outside_host": "151.101.0.223",
                "commands": commands,
                "sftp": {"root": str(sftp_root), "user": "etl", "password": "sftp-pw"},
            }
        )
    )
    result_path = tmp_path / "result.json"
    proc = subprocess.run(
        [
            "unshare",
            "-n",
            sys.executable,
            str(HERE / "airgap_host.py"),
            str(plan),
            str(result_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(result_path.read_text())
    assert result["outside"].startswith("refused"), "the namespace reaches the network"
    runs = result["runs"]
    *runs, pg = runs
    assert (
        pg["exit"] == 2
        and "the PostgreSQL state store postgresql://etl@127.0.0.1:9/af is unreachable"
        in pg["stderr"]
    ), pg["stderr"]
    for run in runs:
        assert run["exit"] == 0, f"{run['argv'][3:]}: {run['stderr']}"
    assert "files as compiled (manifest.json)" in runs[0]["stdout"]
    reports = {
        run["argv"][3].rsplit("/", 1)[1][:-3]: json.loads(run["stdout"])
        for run in runs
        if run["argv"][4] == "status"
    }
    assert all(r["status"] == "SUCCESS" for r in reports.values())
    assert json.loads(reports["orders"]["jobs"]["extract"]["outputs"]["rows"]) == [
        [1, "Ada"],
        [2, "Boé"],
    ]
    assert reports["inbox"]["jobs"]["look"]["outputs"] == {"count": 2}
    checks = {
        run["argv"][3].rsplit("/", 1)[1][:-3]: run["stdout"]
        for run in runs
        if run["argv"][4] == "check-env"
    }
    assert "package sqlalchemy               importable" in checks["orders"]
    assert "vendored                         paramiko " in checks["inbox"]
    assert "vendored                         psycopg " in checks["orders"]
    written = openpyxl.load_workbook(
        project.work / "report" / "report" / "r1" / "artifacts" / "out" / "report.xlsx"
    )
    assert [[c.value for c in row] for row in written["Data"]["A1:B2"]] == [
        ["north", 10],
        ["south", 7],
    ]


@pytest.mark.parametrize("flow_id", ["orders"])
def test_without_the_wheelhouse_the_same_flow_names_what_the_host_lacks(
    project: Project, flow_id: str
) -> None:
    """The problem --wheelhouse solves: a plain compile leaves the package to the host."""
    project.write_flow(f"{flow_id}.yaml", project.header(flow_id) + textwrap.dedent(FLOWS[flow_id]))
    project.compile()
    check = project.run(flow_id, "check-env", env={"SHOP_DB": "/nowhere.db"})
    assert check.returncode == 2 and "package sqlalchemy               MISSING" in check.stdout
