"""db:exasol in compiled artifacts. No Exasol server can run here: the driver calls are
tested against a stand-in pyexasol module (tests/fake_pyexasol/pyexasol.py) put next to
the artifact, which records every call it gets; the missing-package path against the
real absence of pyexasol."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

from conftest import Project

FAKE = Path(__file__).resolve().parent / "fake_pyexasol" / "pyexasol.py"
RESOURCE = """\
dwh:
  kind: db
  driver: exasol
  config: {dsn: "exa1..3:8563", user: "{{env.EXA_USER}}", password: "{{env.EXA_PASS}}", schema: SALES}
"""
ENV = {"EXA_USER": "etl", "EXA_PASS": "s3cret"}


def _flow(project: Project, steps: str, resource: str = RESOURCE) -> None:
    project.write_flow(
        "exa.yaml",
        project.header("exa")
        + "resources:\n"
        + textwrap.indent(textwrap.dedent(resource), "  ")
        + "jobs:\n  - id: extract\n    steps:\n"
        + textwrap.indent(textwrap.dedent(steps), "      "),
    )
    project.compile()


def _run(
    project: Project, run_id: str, env: dict[str, str] | None = None, check_exit: int | None = 0
) -> tuple[Any, list[dict[str, Any]]]:
    """Run with the stand-in next to the artifact (the artifact's directory is on sys.path)."""
    shutil.copy(FAKE, project.dist / "pyexasol.py")
    log = project.root / f"pyexasol-{run_id}.jsonl"
    proc = project.run(
        "exa",
        "run",
        "--run-id",
        run_id,
        env={**ENV, "FAKE_PYEXASOL_LOG": str(log), **(env or {})},
        check_exit=check_exit,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, calls


def _artifacts(project: Project, run_id: str) -> Path:
    return project.work / "exa" / "extract" / run_id / "artifacts"


def test_without_pyexasol_the_step_fails_naming_the_package(project: Project) -> None:
    _flow(
        project,
        """\
        - id: small
          type: db_fetch_small
          inputs: {resource: dwh, sql: "SELECT 1"}
        """,
    )
    manifest = json.loads((project.dist / "manifest.json").read_text())
    assert manifest["flows"]["exa"]["packages"] == ["pyexasol"]
    assert (project.dist / "aetherflow_runtime" / "connectors" / "exasol.py").is_file()
    run = project.run("exa", "run", "--run-id", "r1", env=ENV)
    assert run.returncode == 1
    assert (
        "driver db:exasol needs the Python package 'pyexasol' on this host (pip install pyexasol)"
        in run.stderr
    )
    assert project.status("exa", "r1")["jobs"]["extract"]["steps"] == {"small": "FAILED"}
    check = project.run("exa", "check-env", env=ENV)
    assert (
        check.returncode == 2 and "package pyexasol" in check.stdout and "MISSING" in check.stdout
    )


def test_db_steps_read_through_one_pyexasol_connection(project: Project) -> None:
    _flow(
        project,
        """\
        - id: tsv
          type: db_extract
          inputs: {resource: dwh, sql: "SELECT * FROM orders", output: out/orders.tsv}
          outputs: {tsv_rows: "{{result.rows}}"}
        - id: jsonl
          type: db_extract
          inputs: {resource: dwh, sql: "SELECT * FROM orders WHERE day > {day}", params: {day: "2026-01-01"},
                   output: orders.jsonl, format: jsonl}
        - id: small
          type: db_fetch_small
          inputs: {resource: dwh, sql: "SELECT * FROM orders", fetch_size: 2}
          outputs: {columns: "{{result.columns_json}}", rows: "{{result.rows_json}}", dtypes: "{{result.dtypes_json}}",
                    count: "{{result.row_count}}"}
        - id: stream
          type: db_extract_stream
          inputs: {resource: dwh, sql: "SELECT * FROM orders", output: s/orders.csv, format: csv, fetch_size: 2,
                   emit_dtypes: true}
          outputs: {streamed: "{{result.row_count}}", columns_s: "{{result.columns}}"}
        """,
    )
    _proc, calls = _run(project, "r1")
    out = _artifacts(project, "r1")
    assert (out / "out" / "orders.tsv").read_text() == (
        "ID\tCUSTOMER\tAMOUNT\tDAY\tNOTE\n1\tAda\t12.50\t2026-01-02\t\n2\tBoé\t3.00\t2026-01-03\ttab\there\n"
        '3\tCy\t7.25\t2026-01-04\tquote "x", comma\n'
    )
    assert [json.loads(line) for line in (out / "orders.jsonl").read_text().splitlines()][0] == {
        "ID": 1,
        "CUSTOMER": "Ada",
        "AMOUNT": "12.50",
        "DAY": "2026-01-02",
        "NOTE": None,
    }
    assert (out / "s" / "orders.csv").read_text() == (
        "ID,CUSTOMER,AMOUNT,DAY,NOTE\n1,Ada,12.50,2026-01-02,\n2,Boé,3.00,2026-01-03,tab\there\n"
        '3,Cy,7.25,2026-01-04,"quote ""x"", comma"\n'
    )
    outputs = project.status("exa", "r1")["jobs"]["extract"]["outputs"]
    assert outputs["tsv_rows"] == 3 and outputs["count"] == 3 and outputs["streamed"] == 3
    assert (
        json.loads(outputs["columns"])
        == outputs["columns_s"]
        == ["ID", "CUSTOMER", "AMOUNT", "DAY", "NOTE"]
    )
    assert json.loads(outputs["rows"])[1] == [2, "Boé", "3.00", "2026-01-03", "tab\there"]
    # pyexasol hands decimals and dates over as text: their types come from the values.
    assert json.loads(outputs["dtypes"]) == {
        "ID": "int",
        "CUSTOMER": "string",
        "AMOUNT": "string",
        "DAY": "string",
        "NOTE": "string",
    }

    # One connection for the run, opened with the resolved config and closed at its end.
    assert calls[0] == {
        "call": "connect",
        "kwargs": {"dsn": "exa1..3:8563", "user": "etl", "password": "s3cret", "schema": "SALES"},
    }
    assert [c["call"] for c in calls].count("connect") == 1
    assert calls[-1] == {"call": "connection.close"}
    executes = [(c["query"], c["query_params"]) for c in calls if c["call"] == "execute"]
    assert executes == [
        ("SELECT * FROM orders", {}),
        ("SELECT * FROM orders WHERE day > {day}", {"day": "2026-01-01"}),
        ("SELECT * FROM orders", {}),
        ("SELECT * FROM orders", {}),
    ]
    # db_extract fetches all at once; the streaming steps fetch fetch_size rows at a time,
    # and every statement is closed.
    reads = [
        c["call"] + (f":{c['size']}" if "size" in c else "")
        for c in calls
        if c["call"] not in ("connect", "execute", "connection.close")
    ]
    assert reads == [
        "statement.fetchall",
        "statement.close",
        "statement.fetchall",
        "statement.close",
        "statement.fetchmany:2",
        "statement.fetchmany:2",
        "statement.fetchmany:2",
        "statement.close",
        "statement.fetchmany:2",
        "statement.fetchmany:2",
        "statement.fetchmany:2",
        "statement.close",
    ]
    assert "s3cret" not in (project.dist / "exa.py").read_text()


def test_declared_column_types_give_the_dtypes_when_the_driver_lists_them(project: Project) -> None:
    _flow(
        project,
        """\
        - id: small
          type: db_fetch_small
          inputs: {resource: dwh, sql: "SELECT * FROM orders"}
          outputs: {dtypes: "{{result.dtypes_json}}"}
        """,
    )
    _run(project, "r1", env={"FAKE_PYEXASOL_COLUMNS": "list"})
    outputs = project.status("exa", "r1")["jobs"]["extract"]["outputs"]
    assert json.loads(outputs["dtypes"]) == {
        "ID": "int",
        "CUSTOMER": "string",
        "AMOUNT": "float",
        "DAY": "date",
        "NOTE": "string",
    }


def test_connect_arguments(project: Project) -> None:
    _flow(
        project,
        """\
        - id: small
          type: db_fetch_small
          inputs: {resource: dwh, sql: "SELECT 1"}
        """,
        resource="""\
        dwh:
          kind: db
          driver: exasol
          config: {dsn: "exa:8563", user: u, password: p}
          options: {connect_args: {socket_timeout: 5, encryption: true}}
        """,
    )
    _proc, calls = _run(project, "args")
    assert calls[0]["kwargs"] == {
        "dsn": "exa:8563",
        "user": "u",
        "password": "p",
        "socket_timeout": 5,
        "encryption": True,
    }, "no schema when none is configured"

    _flow(
        project,
        """\
        - id: small
          type: db_fetch_small
          inputs: {resource: dwh, sql: "SELECT 1"}
        """,
        resource="""\
        dwh: {kind: db, driver: exasol, config: {dsn: "exa:8563", user: u, password: p}, options: {timeout: 5}}
        """,
    )
    run, calls = _run(project, "timeout", check_exit=1)
    assert (
        "db:exasol resource dwh: pyexasol has no 'timeout' argument; set options.connect_args."
        "connection_timeout, socket_timeout or query_timeout instead"
    ) in run.stderr
    assert calls == []

    _flow(
        project,
        """\
        - id: small
          type: db_fetch_small
          inputs: {resource: dwh, sql: "SELECT 1"}
        """,
        resource="""\
        dwh: {kind: db, driver: exasol, config: {user: u, password: p}}
        """,
    )
    run, calls = _run(project, "nodsn", check_exit=1)
    assert "db:exasol resource dwh needs config.dsn" in run.stderr and calls == []


def test_failures_close_what_they_opened(project: Project) -> None:
    _flow(
        project,
        """\
        - id: too_many
          type: db_fetch_small
          inputs: {resource: dwh, sql: "SELECT * FROM orders", max_rows: 1, fetch_size: 1}
        """,
    )
    run, calls = _run(project, "rows", check_exit=1)
    assert "db_fetch_small exceeded max_rows=1" in run.stderr
    # Types come from a sample of up to 200 rows (here: all of them), as with the engine.
    assert [c["call"] for c in calls] == [
        "connect",
        "execute",
        *["statement.fetchmany"] * 4,
        "statement.close",
        "connection.close",
    ]

    _flow(
        project,
        """\
        - id: broken
          type: db_extract
          inputs: {resource: dwh, sql: "SELECT FAIL", output: x.tsv}
        """,
    )
    run, calls = _run(project, "query", check_exit=1)
    assert "(42000) syntax error, unexpected FAIL" in run.stderr
    assert project.status("exa", "query")["jobs"]["extract"]["steps"] == {"broken": "FAILED"}
    assert [c["call"] for c in calls] == ["connect", "execute", "connection.close"]
    assert not (_artifacts(project, "query") / "x.tsv").exists()
