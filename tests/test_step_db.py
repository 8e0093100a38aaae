"""db_extract, db_fetch_small and db_extract_stream in compiled artifacts, against real
databases: SQLite through the standard library, PostgreSQL through SQLAlchemy."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import Project

ROWS = [(1, "Ada", 12.5, None), (2, "Boé", 3.0, "tab\there"), (3, "Cy", 7.25, 'quote "x", comma')]


def _sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders(id INTEGER, customer TEXT, amount REAL, note TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?,?,?,?)", ROWS)
    return path


def _flow(project: Project, resource: str, steps: str, flow_id: str = "db") -> None:
    project.write_flow(
        f"{flow_id}.yaml",
        project.header(flow_id)
        + "resources:\n"
        + textwrap.indent(textwrap.dedent(resource), "  ")
        + "jobs:\n  - id: extract\n    steps:\n"
        + textwrap.indent(textwrap.dedent(steps), "      "),
    )
    project.compile()


def _artifacts(project: Project, flow_id: str = "db", run_id: str = "r1") -> Path:
    return project.work / flow_id / "extract" / run_id / "artifacts"


def test_sqlite_extract_formats_are_exact(project: Project) -> None:
    db = _sqlite(project.root / "shop.db")
    _flow(
        project,
        f"shop: {{kind: db, driver: sqlite3, config: {{path: {str(db)!r}}}}}\n",
        """\
        - id: tsv
          type: db_extract
          inputs: {resource: shop, sql: "SELECT * FROM orders ORDER BY id", output: out/orders.tsv}
          outputs: {rows: "{{result.rows}}"}
        - id: jsonl
          type: db_extract
          inputs: {resource: shop, sql: "SELECT id, customer FROM orders WHERE amount > :m", params: {m: 5},
                   output: big.jsonl, format: jsonl}
        - id: csv
          type: db_extract_stream
          inputs: {resource: shop, sql: "SELECT * FROM orders ORDER BY id", output: s/orders.csv, format: csv,
                   fetch_size: 2, emit_dtypes: true}
          outputs: {count: "{{result.row_count}}", dtypes: "{{result.dtypes_json}}"}
        """,
    )
    project.run("db", "run", "--run-id", "r1", check_exit=0)
    out = _artifacts(project)
    assert (out / "out" / "orders.tsv").read_text() == (
        'id\tcustomer\tamount\tnote\n1\tAda\t12.5\t\n2\tBoé\t3.0\ttab\there\n3\tCy\t7.25\tquote "x", comma\n'
    )
    assert (
        out / "big.jsonl"
    ).read_text() == '{"id": 1, "customer": "Ada"}\n{"id": 3, "customer": "Cy"}\n'
    assert (out / "s" / "orders.csv").read_text() == (
        'id,customer,amount,note\n1,Ada,12.5,\n2,Boé,3.0,tab\there\n3,Cy,7.25,"quote ""x"", comma"\n'
    )
    outputs = project.status("db", "r1")["jobs"]["extract"]["outputs"]
    assert outputs["rows"] == 3 and outputs["count"] == 3
    assert json.loads(outputs["dtypes"]) == {
        "id": "int",
        "customer": "string",
        "amount": "float",
        "note": "string",
    }
    assert not list(out.rglob("*.tmp"))


def test_a_failed_query_leaves_the_previous_file_alone(project: Project) -> None:
    db = _sqlite(project.root / "shop.db")
    _flow(
        project,
        f"shop: {{kind: db, driver: sqlite3, config: {{path: {str(db)!r}}}}}\n",
        """\
        - id: s
          type: db_extract_stream
          inputs: {resource: shop, sql: "SELECT * FROM {{env.TABLE}}", output: /OUT/orders.tsv}
        """.replace("/OUT", str(project.work / "final")),
    )
    project.run("db", "run", "--run-id", "r1", env={"TABLE": "orders"}, check_exit=0)
    final = project.work / "final" / "orders.tsv"
    before = final.read_bytes()
    failed = project.run("db", "run", "--run-id", "r2", env={"TABLE": "no_such_table"})
    assert failed.returncode == 1 and "no such table: no_such_table" in failed.stderr
    assert final.read_bytes() == before
    assert sorted(p.name for p in final.parent.iterdir()) == ["orders.tsv"]


def test_fetch_small_refuses_more_than_max_rows(project: Project) -> None:
    db = _sqlite(project.root / "shop.db")
    _flow(
        project,
        f"shop: {{kind: db, driver: sqlite3, config: {{url: 'sqlite:///{db}'}}}}\n",
        """\
        - id: few
          type: db_fetch_small
          inputs: {resource: shop, sql: "SELECT customer FROM orders ORDER BY id", max_rows: 3}
          outputs: {rows: "{{result.rows_json}}"}
        - id: too_many
          type: db_fetch_small
          inputs: {resource: shop, sql: "SELECT * FROM orders", max_rows: 2, fetch_size: 1}
        """,
    )
    run = project.run("db", "run", "--run-id", "r1")
    assert run.returncode == 1
    assert (
        "db_fetch_small exceeded max_rows=2; use db_extract_stream for large results" in run.stderr
    )
    status = project.status("db", "r1")["jobs"]["extract"]
    assert status["steps"] == {"few": "SUCCESS", "too_many": "FAILED"}


def test_postgres_through_sqlalchemy(project: Project, postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sales")
        cur.execute("CREATE TABLE sales(id int, region text, total numeric(10,2), day date)")
        cur.execute(
            "INSERT INTO sales VALUES (1, 'north', 10.50, '2026-01-02'), (2, 'south', 7.00, '2026-01-03')"
        )
    _flow(
        project,
        """\
        pg:
          kind: db
          driver: postgres
          config: {url: "{{env.PG_URL}}"}
          options: {pool: {size: 2}}
        """,
        """\
        - id: small
          type: db_fetch_small
          inputs: {resource: pg, sql: "SELECT id, region, total, day FROM sales WHERE id > :id ORDER BY id",
                   params: {id: 0}}
          outputs: {rows: "{{result.rows_json}}", dtypes: "{{result.dtypes_json}}"}
        - id: stream
          type: db_extract_stream
          inputs: {resource: pg, sql: "SELECT * FROM sales ORDER BY id", output: sales.jsonl, format: jsonl}
          outputs: {n: "{{result.row_count}}"}
        - id: tsv
          type: db_extract
          inputs: {resource: pg, sql: "SELECT region, total FROM sales ORDER BY id", output: sales.tsv}
        """,
    )
    project.run(
        "db",
        "run",
        "--run-id",
        "r1",
        env={"PG_URL": postgres_url},
        host_packages=True,
        check_exit=0,
    )
    outputs = project.status("db", "r1")["jobs"]["extract"]["outputs"]
    assert json.loads(outputs["rows"]) == [
        [1, "north", 10.5, "2026-01-02"],
        [2, "south", 7.0, "2026-01-03"],
    ]
    assert json.loads(outputs["dtypes"]) == {
        "id": "int",
        "region": "string",
        "total": "float",
        "day": "date",
    }
    assert outputs["n"] == 2
    out = _artifacts(project)
    assert (out / "sales.jsonl").read_text() == (
        '{"id": 1, "region": "north", "total": 10.5, "day": "2026-01-02"}\n'
        '{"id": 2, "region": "south", "total": 7.0, "day": "2026-01-03"}\n'
    )
    assert (out / "sales.tsv").read_text() == "region\ttotal\nnorth\t10.50\nsouth\t7.00\n"


def test_missing_host_packages_are_named_by_check_env_and_the_run(project: Project) -> None:
    _flow(
        project,
        """\
        pg: {kind: db, driver: postgres, config: {url: "postgresql://nobody@127.0.0.1:1/x"}}
        duck: {kind: db, driver: duckdb, config: {path: /tmp/x.duckdb}}
        """,
        """\
        - id: small
          type: db_fetch_small
          inputs: {resource: pg, sql: "SELECT 1"}
        """,
    )
    manifest = json.loads((project.dist / "manifest.json").read_text())
    assert manifest["flows"]["db"]["packages"] == ["duckdb", "sqlalchemy"]
    check = project.run("db", "check-env")  # -S: no site-packages, like a bare host
    assert check.returncode == 2
    assert "package duckdb                   MISSING" in check.stdout
    assert "package sqlalchemy               MISSING" in check.stdout
    assert "missing Python packages: duckdb, sqlalchemy" in check.stderr
    run = project.run("db", "run")
    assert run.returncode == 1
    assert (
        "driver db:postgres needs the Python package 'sqlalchemy' on this host (pip install sqlalchemy)"
        in run.stderr
    )
    with_packages = project.run("db", "check-env", host_packages=True)
    assert "package sqlalchemy               importable" in with_packages.stdout


def test_duckdb_when_the_host_has_it(project: Project) -> None:
    import duckdb

    path = project.root / "lake.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE events(id INTEGER, kind VARCHAR, day DATE)")
        conn.execute(
            "INSERT INTO events VALUES (1, 'open', DATE '2026-02-01'), (2, 'close', DATE '2026-02-02')"
        )
    _flow(
        project,
        f"lake: {{kind: db, driver: duckdb, config: {{path: {str(path)!r}, read_only: true}}}}\n",
        """\
        - id: fetch
          type: db_fetch_small
          inputs: {resource: lake, sql: "SELECT id, kind, day FROM events WHERE id >= $min ORDER BY id", params: {min: 1}}
          outputs: {rows: "{{result.rows_json}}"}
        - id: stream
          type: db_extract_stream
          inputs: {resource: lake, sql: "SELECT * FROM events ORDER BY id", output: events.tsv}
        """,
    )
    project.run("db", "run", "--run-id", "r1", host_packages=True, check_exit=0)
    outputs = project.status("db", "r1")["jobs"]["extract"]["outputs"]
    assert json.loads(outputs["rows"]) == [[1, "open", "2026-02-01"], [2, "close", "2026-02-02"]]
    assert (
        _artifacts(project) / "events.tsv"
    ).read_text() == "id\tkind\tday\n1\topen\t2026-02-01\n2\tclose\t2026-02-02\n"


def test_single_file_artifact_with_a_resource_runs_alone(project: Project, tmp_path: Path) -> None:
    db = _sqlite(project.root / "shop.db")
    _flow(
        project,
        f"shop: {{kind: db, driver: sqlite3, config: {{path: {str(db)!r}}}}}\n",
        """\
        - id: n
          type: db_fetch_small
          inputs: {resource: shop, sql: "SELECT COUNT(*) AS n FROM orders"}
          outputs: {rows: "{{result.rows_json}}"}
        """,
    )
    project.compile("--single-file")
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "db.py").write_bytes((project.dist / "db.py").read_bytes())
    assert sorted(p.name for p in project.dist.iterdir()) == ["db.py", "manifest.json"]
    env = {"PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-I", "-S", str(alone / "db.py"), "run", "--run-id", "r1"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    status = subprocess.run(
        [sys.executable, "-I", "-S", str(alone / "db.py"), "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert json.loads(status.stdout)["jobs"]["extract"]["outputs"] == {"rows": "[[3]]"}
