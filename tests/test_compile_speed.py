"""What makes compiling fast must not change what it writes: scripts generated ahead of
the runtime (with a placeholder for its hash), and schema checks compiled once and kept in
the compile cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest

from aetherflow_compiler.cache import CompileCache
from aetherflow_compiler.driver.analysis import RUNTIME_PLACEHOLDER
from aetherflow_compiler.frontend import fastcheck, schema_check
from conftest import run_cli


def _flow(n: int, text: str = "hello") -> str:
    return (
        f"version: 1\nflow: {{id: f{n}}}\njobs:\n  - id: a\n    steps:\n"
        f'      - {{id: s, type: external.process, inputs: {{command: [echo, "{text}"]}}}}\n'
    )


def test_a_flow_that_holds_the_placeholder_gets_the_real_runtime_hash(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "f0.yaml").write_text(_flow(0, RUNTIME_PLACEHOLDER))
    (flows / "f1.yaml").write_text(_flow(1))
    env = {"AETHERFLOW_CACHE_DIR": str(tmp_path / "cache")}
    for out in ("cold", "warm"):
        assert run_cli(["compile", str(flows), "-o", str(tmp_path / out)], env=env).exit_code == 0
    runtime = json.loads((tmp_path / "cold" / "manifest.json").read_text())["runtime"]
    verify = f'    aetherflow_runtime.verify_runtime(\n        "{runtime["version"]}", "{runtime["sha256"]}"\n    )'
    for out in ("cold", "warm"):
        for name in ("f0.py", "f1.py"):
            assert verify in (tmp_path / out / name).read_text()
        assert (
            f'"{RUNTIME_PLACEHOLDER}"' in (tmp_path / out / "f0.py").read_text()
        )  # the flow's own text is kept
        assert RUNTIME_PLACEHOLDER not in (tmp_path / out / "f1.py").read_text()
    assert (tmp_path / "cold" / "f0.py").read_bytes() == (tmp_path / "warm" / "f0.py").read_bytes()


def _documents() -> list[Any]:
    valid = {
        "version": 1,
        "flow": {"id": "x"},
        "jobs": [
            {
                "id": "a",
                "steps": [{"id": "s", "type": "external.process", "inputs": {"command": ["true"]}}],
            }
        ],
    }
    return [
        valid,
        {},
        {"version": 1},
        {"version": 1, "flow": {"id": 3}, "jobs": []},
        {"version": 1, "flow": {"id": "x"}, "jobs": [{"id": "a", "steps": "no"}]},
    ]


def _verdict(check: Any, document: Any) -> bool:
    try:
        check(document)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


@pytest.fixture
def store(tmp_path: Path) -> Any:
    cache = CompileCache(str(tmp_path / "cache"))
    fastcheck.use(cache)
    yield cache
    fastcheck.use(None)


def test_a_cached_schema_check_judges_as_fastjsonschema_compile_does(
    store: CompileCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = schema_check._schema("flow")
    fresh = fastjsonschema.compile(schema)
    first = fastcheck.compiled(schema, "flow")
    assert list((tmp_path / "cache").rglob("*.bin"))
    monkeypatch.setattr(
        fastjsonschema, "compile_to_code", lambda *a, **k: pytest.fail("not read from the cache")
    )
    second = fastcheck.compiled(schema, "flow")
    for document in _documents():
        assert _verdict(first, document) == _verdict(second, document) == _verdict(fresh, document)


def test_a_damaged_schema_check_entry_is_a_miss(store: CompileCache, tmp_path: Path) -> None:
    schema = schema_check._schema("flow")
    fastcheck.compiled(schema, "flow")
    for entry in (tmp_path / "cache").rglob("*.bin"):
        entry.write_bytes(b"\x00garbage")
    check = fastcheck.compiled(schema, "flow")
    assert [_verdict(check, d) for d in _documents()] == [True, False, False, False, False]


def test_without_a_cache_nothing_is_written(tmp_path: Path) -> None:
    fastcheck.use(CompileCache(str(tmp_path / "cache"), enabled=False))
    check = fastcheck.compiled(schema_check._schema("flow"), "flow")
    assert _verdict(check, _documents()[0]) and not (tmp_path / "cache").exists()
