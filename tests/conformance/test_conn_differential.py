"""The engine and a compiled artifact through the connectors that need a host package:
rest:httpx against a real HTTP server on loopback, archive:pyminizip with the real
package, and db:exasol through the stand-in pyexasol module (no Exasol server can run
here), whose call log must be the same on both sides. The artifact runs with the test
environment's packages (no -S); the engine's environment gets httpx and pyminizip from
bench/oracle.py's EXTRAS."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Case, Side, run_artifact, run_engine

from conftest import run_cli
from peers import HttpServer, serve_http

pytestmark = pytest.mark.conformance

FAKE_PYEXASOL = Path(__file__).resolve().parent.parent / "fake_pyexasol"

API_PLUGIN = """\
from aetherflow.core.api import Step, register_step


@register_step("api_call")
class ApiCall(Step):
    required_inputs = {"resource", "path"}

    def run(self):
        api = self.ctx.connectors[self.inputs["resource"]]
        kwargs = {k: self.inputs[k] for k in ("params", "headers", "json") if k in self.inputs}
        response = api.request(self.inputs.get("method", "GET"), self.inputs["path"], **kwargs)
        return {"status": response.status_code, "body": response.json(), "base_url": api.base_url(),
                "headers": api.headers()}
"""


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    yield from serve_http()


def _case(
    tmp_path: Path, name: str, body: str, env: dict[str, str], plugins: dict[str, str] | None = None
) -> tuple[Case, Path, dict[str, str]]:
    """The case, its flow file and the engine's env for plugins; compiled into tmp_path/dist."""
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    case = Case.load(path)
    case.env.update(env)
    case.plugins = dict(plugins or {})
    flow_file = flows / f"{name}.yaml"
    flow_file.write_text(case.flow_text)
    args, engine_env = case.write_inputs(tmp_path)
    compiled = run_cli(["compile", str(flows), "-o", str(tmp_path / "dist"), *args])
    assert compiled.exit_code == 0, compiled.stdout
    return case, flow_file, engine_env


def _both(
    tmp_path: Path, case: Case, flow_file: Path, engine_env: dict[str, str], before: Any = None
) -> tuple[Any, Any]:
    """Run the engine, then the artifact, each on its own side; `before(side)` prepares one."""
    sides = {name: Side(tmp_path / name, case) for name in ("engine", "ours")}
    for side in sides.values():
        side.prepare(case.setup)
        if before is not None:
            before(side)
    engine = run_engine(sides["engine"], flow_file, {}, engine_env)
    ours = run_artifact(
        sides["ours"],
        tmp_path / "dist" / f"{case.name}.py",
        {},
        set(engine.outputs),
        host_packages=True,
    )
    return engine, ours


def test_rest_requests_match_the_engine(tmp_path: Path, http_server: HttpServer) -> None:
    case, flow_file, engine_env = _case(
        tmp_path,
        "conn_rest_diff",
        """\
        resources:
          api:
            kind: rest
            driver: httpx
            config: {base_url: "{{env.API_URL}}/v1/", headers: {X-Team: data}, bearer_token: "{{env.TOKEN}}"}
            options: {retries: 1, timeout: 5}
        jobs:
          - id: call
            steps:
              - id: get
                type: api_call
                inputs: {resource: api, path: /orders, params: {day: "2026-01-02"}, headers: {X-Trace: t1}}
                outputs: {get: "{{result.body}}", base_url: "{{result.base_url}}", headers: "{{result.headers}}"}
              - id: post
                type: api_call
                inputs: {resource: api, method: POST, path: orders, json: {id: 7}}
                outputs: {post: "{{result.body}}"}
              - id: missing
                type: api_call
                inputs: {resource: api, path: /status/404}
                outputs: {missing: "{{result.status}}"}
              - id: flaky
                type: api_call
                inputs: {resource: api, path: "/flaky/{{env.SIDE}}", params: {fail: 1}}
                outputs: {flaky: "{{result.status}}"}
          - id: fail
            depends_on: [call]
            steps:
              - id: gives_up
                type: api_call
                inputs: {resource: api, path: "/flaky/never-{{env.SIDE}}", params: {fail: 9}}
        """,
        {"API_URL": http_server.url, "TOKEN": "tok-1"},
        {"api_steps.py": API_PLUGIN},
    )
    seen: dict[str, list[tuple[Any, ...]]] = {}
    outcomes = {}
    for name in ("engine", "ours"):
        side = Side(tmp_path / name, case)
        case.env["SIDE"] = name
        http_server.seen.clear()
        if name == "engine":
            outcomes[name] = run_engine(side, flow_file, {}, engine_env)
        else:
            outcomes[name] = run_artifact(
                side,
                tmp_path / "dist" / f"{case.name}.py",
                {},
                set(outcomes["engine"].outputs),
                host_packages=True,
            )
        seen[name] = [
            (
                s.method,
                s.path.replace(name, "SIDE"),
                s.query,
                s.body,
                s.headers.get("authorization"),
                s.headers.get("x-team"),
                s.headers.get("x-trace"),
                s.headers.get("content-type"),
            )
            for s in http_server.seen
        ]
    engine, ours = outcomes["engine"], outcomes["ours"]
    assert ours.exit == engine.exit == "failure", engine.detail + ours.detail
    assert ours.jobs == engine.jobs
    assert ours.outputs == engine.outputs
    assert engine.outputs["call"]["flaky"] == 200 and engine.outputs["call"]["missing"] == 404
    assert seen["ours"] == seen["engine"]
    assert [s[1] for s in seen["engine"]] == [
        "/v1/orders",
        "/v1/orders",
        "/v1/status/404",
        "/v1/flaky/SIDE",
        "/v1/flaky/SIDE",
        "/v1/flaky/never-SIDE",
        "/v1/flaky/never-SIDE",
    ]


def test_pyminizip_archives_match_the_engine(tmp_path: Path) -> None:
    case, flow_file, engine_env = _case(
        tmp_path,
        "conn_pyminizip_diff",
        """\
        setup:
          "work/conn_pyminizip_diff/pack/conf0001/artifacts/in/a.csv": "a,1\\n"
          "work/conn_pyminizip_diff/pack/conf0001/artifacts/in/sub/b.csv": "b,2\\n"
        resources:
          mini: {kind: archive, driver: pyminizip}
          plain: {kind: archive, driver: zipfile}
        jobs:
          - id: pack
            steps:
              - id: zip
                type: zip
                inputs: {resource: mini, src_dir: in, items: [in], dest_path: out/m.zip, password: "{{env.PW}}"}
                outputs: {count: "{{result.count}}", driver: "{{result.driver}}", encrypted: "{{result.password}}"}
              - id: unzip
                type: unzip
                inputs: {resource: plain, src_dir: out, archives: out/m.zip, dest_dir: opened, password: "{{env.PW}}"}
              # ZipCrypto headers are random, and the engine names top-level members ./a.csv.
              - id: drop
                type: external.process
                inputs: {command: [rm, m.zip], cwd: out}
          - id: refuse
            depends_on: [pack]
            steps:
              - id: refused
                type: unzip
                inputs: {resource: mini, archives: "{{env.CONF_WORK}}/conn_pyminizip_diff/pack/conf0001/artifacts/in/a.csv",
                         dest_dir: never}
        """,
        {"PW": "mini-pw"},
    )
    engine, ours = _both(tmp_path, case, flow_file, engine_env)
    assert ours.exit == engine.exit == "failure", engine.detail + ours.detail
    assert ours.comparable() == engine.comparable(), engine.detail + ours.detail
    assert engine.outputs["pack"] == {"count": 2, "driver": "pyminizip", "encrypted": True}
    opened = "work/conn_pyminizip_diff/pack/conf0001/artifacts/opened"
    assert {f"{opened}/a.csv", f"{opened}/sub/b.csv"} <= set(ours.files)


@pytest.mark.parametrize("columns", ["dict", "list"])
def test_exasol_reads_match_the_engine_call_for_call(tmp_path: Path, columns: str) -> None:
    case, flow_file, engine_env = _case(
        tmp_path,
        "conn_exasol_diff",
        """\
        env:
          FAKE_PYEXASOL_LOG: $ROOT/pyexasol.jsonl
        resources:
          dwh:
            kind: db
            driver: exasol
            config: {dsn: "exa1..3:8563", user: etl, password: "{{env.EXA_PASS}}", schema: SALES}
        jobs:
          - id: extract
            steps:
              - id: tsv
                type: db_extract
                inputs: {resource: dwh, sql: "SELECT * FROM orders", output: orders.tsv}
                outputs: {rows: "{{result.rows}}"}
              - id: jsonl
                type: db_extract
                inputs: {resource: dwh, sql: "SELECT * FROM orders WHERE day > {day}", params: {day: "2026-01-01"},
                         output: orders.jsonl, format: jsonl}
              - id: small
                type: db_fetch_small
                inputs: {resource: dwh, sql: "SELECT * FROM orders", fetch_size: 2}
                outputs: {rows_json: "{{result.rows_json}}", dtypes: "{{result.dtypes_json}}"}
              - id: stream
                type: db_extract_stream
                inputs: {resource: dwh, sql: "SELECT * FROM orders", output: orders.csv, format: csv, fetch_size: 2,
                         emit_dtypes: true}
                outputs: {streamed: "{{result.row_count}}", stream_dtypes: "{{result.dtypes_json}}"}
        """,
        {"EXA_PASS": "s3cret", "FAKE_PYEXASOL_COLUMNS": columns},
    )
    # The engine finds the stand-in on PYTHONPATH; the artifact next to itself.
    shutil.copy(FAKE_PYEXASOL / "pyexasol.py", tmp_path / "dist" / "pyexasol.py")
    engine, ours = _both(
        tmp_path, case, flow_file, {**engine_env, "PYTHONPATH": str(FAKE_PYEXASOL)}
    )
    assert ours.exit == engine.exit == "success", engine.detail + ours.detail
    assert ours.comparable() == engine.comparable(), engine.detail + ours.detail
    logs = {
        name: [
            json.loads(line)
            for line in (tmp_path / name / "pyexasol.jsonl").read_text().splitlines()
        ]
        for name in ("engine", "ours")
    }
    assert logs["ours"] == logs["engine"]
    assert logs["engine"][0]["kwargs"] == {
        "dsn": "exa1..3:8563",
        "user": "etl",
        "password": "s3cret",
        "schema": "SALES",
    }
    assert logs["engine"][-1] == {"call": "connection.close"}
    expected = {
        "ID": "int",
        "CUSTOMER": "string",
        "AMOUNT": "float" if columns == "list" else "string",
        "DAY": "date" if columns == "list" else "string",
        "NOTE": "string",
    }
    assert json.loads(engine.outputs["extract"]["dtypes"]) == expected
