"""`aetherflow explain`: where each resource setting comes from."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import run_cli

PROFILES = """\
prod_pg:
  config:
    host: db.internal
    password: "{{env.PG_PASS}}"
  options:
    pool: {size: 4}
  decode:
    config: {password: true}
"""

FLOW = """\
version: 1
flow:
  id: orders
resources:
  warehouse:
    kind: db
    driver: postgres
    profile: prod_pg
    config:
      user: "{{env.PG_USER}}"
      database: "orders_{{env.STAGE:prod}}"
      api_key: c2VjcmV0
    options:
      pool: {timeout: 30}
    decode:
      config: {api_key: true}
jobs:
  - id: a
    steps:
      - id: x
        type: db_fetch_small
        inputs: {resource: warehouse, sql: select 1}
"""


def _write(tmp_path: Path) -> None:
    (tmp_path / "profiles.yaml").write_text(PROFILES)
    (tmp_path / "orders.yaml").write_text(FLOW)


def test_explain_text_names_origin_env_and_decoding(tmp_path: Path) -> None:
    _write(tmp_path)
    result = run_cli(["explain", "orders.yaml", "--profiles", "profiles.yaml"], cwd=tmp_path)
    assert result.exit_code == 0, result.stdout
    assert result.stdout == textwrap.dedent("""\
        orders.yaml: flow orders
          resource warehouse (db:postgres, profile prod_pg)
            config.host           'db.internal'              profile prod_pg (profiles.yaml:3)
            config.password       {{env.PG_PASS}}            profile prod_pg (profiles.yaml:4)  env PG_PASS (required); decoded by the secrets provider
            config.user           {{env.PG_USER}}            flow (orders.yaml:10)              env PG_USER (required)
            config.database       orders_{{env.STAGE:prod}}  flow (orders.yaml:11)              env STAGE, default 'prod'
            config.api_key        (encoded)                  flow (orders.yaml:12)              decoded by the secrets provider
            options.pool.size     4                          profile prod_pg (profiles.yaml:6)
            options.pool.timeout  30                         flow (orders.yaml:14)
        """)


def test_explain_json_and_profiles_left_to_run_time(tmp_path: Path) -> None:
    _write(tmp_path)
    result = run_cli(["explain", "orders.yaml", "--json"], cwd=tmp_path)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    [warehouse] = data["resources"]
    assert warehouse["profile_merged_at"] == "run"
    by_path = {s["path"]: s for s in warehouse["settings"]}
    assert set(by_path) == {
        "config.user",
        "config.database",
        "config.api_key",
        "options.pool.timeout",
    }
    assert by_path["config.database"]["source"] == "template"
    assert by_path["config.database"]["env"] == [{"name": "STAGE", "default": "prod"}]
    assert by_path["config.api_key"] == {
        "path": "config.api_key",
        "defined_in": "flow",
        "file": "orders.yaml",
        "line": 12,
        "value": None,
        "source": "literal",
        "env": [],
        "decoded": True,
    }
    text = run_cli(["explain", "orders.yaml"], cwd=tmp_path).stdout
    assert "profile prod_pg is not in --profiles: its values are merged at run time" in text


def test_explain_never_reads_the_environment(tmp_path: Path) -> None:
    _write(tmp_path)
    import os

    os.environ["PG_USER"] = "alice-from-env"
    try:
        result = run_cli(
            ["explain", "orders.yaml", "--profiles", "profiles.yaml", "--json"], cwd=tmp_path
        )
    finally:
        del os.environ["PG_USER"]
    assert "alice-from-env" not in result.stdout and "c2VjcmV0" not in result.stdout


def test_explain_refuses_invalid_flows_with_their_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(FLOW.replace("profile: prod_pg", "profile: prod_pgg"))
    (tmp_path / "profiles.yaml").write_text(PROFILES)
    result = run_cli(["explain", "bad.yaml", "--profiles", "profiles.yaml"], cwd=tmp_path)
    assert result.exit_code == 2
    assert "AF307 resource 'warehouse' uses unknown profile 'prod_pgg'" in result.stdout
