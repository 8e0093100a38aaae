"""The `aetherflow` command line: exit codes, output formats, and no tracebacks ever."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aetherflow_compiler.frontend.schema_check import load_schema
from conftest import EXAMPLES, GOLDEN, run_cli

LINE = re.compile(r"^(.+):(\d+):(\d+): (error|warning|note) (AF\d{3}) (.+)$")


def test_examples_validate_clean() -> None:
    result = run_cli(
        [
            "validate",
            str(EXAMPLES / "flows"),
            str(EXAMPLES / "profiles.yaml"),
            str(EXAMPLES / "scheduler.yaml"),
        ]
    )
    assert result.exit_code == 0, result.stdout
    assert result.stdout == ""
    assert "7 files valid" in result.stderr  # 5 flows, the profiles and the scheduler file
    # The project written for the engine validates through its bundle manifest (its plugins).
    bundle = run_cli(
        ["validate", "--bundle-manifest", str(EXAMPLES / "engine-project" / "manifest.yaml")]
    )
    assert bundle.exit_code == 0 and bundle.stdout == "", bundle.stdout


def test_json_output_lists_files_errors_and_warnings(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nflow: {id: g}\njobs: []\n")
    bad = tmp_path / "nested" / "bad.yml"
    bad.parent.mkdir()
    bad.write_text(
        "version: 1\nflow: {id: b}\njobs:\n  - id: a\n    depends_no: []\n    steps: []\n"
    )
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "skip.yaml").write_text("not: [valid")
    (tmp_path / "notes.txt").write_text("ignored")
    result = run_cli(["validate", "--json", str(tmp_path)])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [f["path"] for f in report["files"]] == [str(good), str(bad)]
    assert [f["ok"] for f in report["files"]] == [True, False]
    assert report["errors"] == [
        {
            "file": str(bad),
            "line": 5,
            "column": 5,
            "severity": "error",
            "code": "AF201",
            "message": "unknown key 'depends_no' in job 'a'",
            "hint": "did you mean 'depends_on'?",
        }
    ]
    assert report["warnings"] == [] and report["notes"] == []


def test_warnings_alone_exit_zero(tmp_path: Path) -> None:
    flow = tmp_path / "w.yaml"
    flow.write_text(
        "version: 1\nflow: {id: w}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: s, type: external.process, inputs: {command: [chmod, 0755, f]}}\n"
    )
    result = run_cli(["validate", "--json", str(flow)])
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"] is True
    assert [w["code"] for w in report["warnings"]] == ["AF803"]


def test_missing_path_is_located_error(tmp_path: Path) -> None:
    result = run_cli(["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert (
        result.stdout
        == f"{tmp_path / 'nope.yaml'}:1:1: error AF100 cannot read file: no such file or directory\n"
    )


def test_profiles_option_checks_profile_references() -> None:
    case = GOLDEN / "validate" / "AF307-unknown-profile.yaml"
    profiles = case.with_name("AF307-unknown-profile.profiles.yaml")
    result = run_cli(["validate", "--profiles", str(profiles), str(case)])
    assert result.exit_code == 2 and "AF307" in result.stdout
    fixed = case.read_text().replace("prdo", "prod")
    flow = case.parent / "__fixed.yaml"
    try:
        flow.write_text(fixed)
        assert run_cli(["validate", "--profiles", str(profiles), str(flow)]).exit_code == 0
        # Without the profiles file nothing is known about profiles: no error.
        assert run_cli(["validate", str(flow)]).exit_code == 0
    finally:
        flow.unlink()


def test_usage_errors_exit_2() -> None:
    assert run_cli(["validate"]).exit_code == 2
    assert run_cli(["schema", "nope"]).exit_code == 2


def test_schema_command_prints_valid_json_schemas() -> None:
    for kind in ("flow", "profiles", "scheduler"):
        result = run_cli(["schema", kind])
        assert result.exit_code == 0
        document = json.loads(result.stdout)
        jsonschema.Draft7Validator.check_schema(document)
        assert document == load_schema(kind)


def test_flow_schema_accepts_every_example() -> None:
    validator = jsonschema.Draft7Validator(load_schema("flow"))
    for path in sorted((EXAMPLES / "flows").glob("*.yaml")):
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path


def _assert_clean_output(result) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code in (0, 2), result.stderr
    for line in result.stdout.splitlines():
        assert LINE.match(line) or line.startswith("  hint: "), line


_keys = st.sampled_from(
    [
        "version",
        "flow",
        "id",
        "jobs",
        "steps",
        "type",
        "inputs",
        "outputs",
        "depends_on",
        "when",
        "command",
        "args",
        "on_no_data",
        "resources",
        "kind",
        "driver",
        "workspace",
        "items",
        "step",
        "lock_key",
        "env",
        "retry",
        "log",
        "success",
        "idempotency",
        "strategy",
        "x",
    ]
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "external.process",
            "check_items",
            "with_lock",
            "skip_job",
            "a",
            "{{env.X}}",
            "{{steps.a.b}}",
            "jobs.a.outputs.x == 1",
            "{{",
            "}}",
            "${x}",
            "1:30",
            "{}",
        ]
    ),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=25,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=st.dictionaries(_keys, _values, max_size=6))
def test_random_documents_never_crash(tmp_path: Path, doc: dict) -> None:  # type: ignore[type-arg]
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(doc))
    _assert_clean_output(run_cli(["validate", str(path)]))


_example_texts = [p.read_bytes() for p in sorted((EXAMPLES / "flows").glob("*.yaml"))]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.integers(0, len(_example_texts) - 1),
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 3), st.binary(max_size=3)), min_size=1, max_size=6
    ),
)
def test_mutated_examples_never_crash(tmp_path: Path, which: int, edits: list) -> None:  # type: ignore[type-arg]
    data = bytearray(_example_texts[which])
    for where, action, blob in edits:
        pos = int(where * len(data))
        if action == 0:
            del data[pos : pos + 1 + len(blob)]
        elif action == 1:
            data[pos:pos] = blob
        elif action == 2:
            data[pos : pos + len(blob)] = blob
        else:
            data[pos:pos] = b"\n  " + blob
    path = tmp_path / "mutated.yaml"
    path.write_bytes(bytes(data))
    _assert_clean_output(run_cli(["validate", str(path)]))
    as_json = run_cli(["validate", "--json", str(path)])
    report = json.loads(as_json.stdout)
    assert as_json.exit_code == (0 if report["ok"] else 2)
    assert all(
        LINE.match(
            f"{e['file']}:{e['line']}:{e['column']}: {e['severity']} {e['code']} {e['message']}"
        )
        for e in report["errors"]
    )


@pytest.mark.e2e
def test_doctor_prints_each_check_and_a_final_line(tmp_path: Path) -> None:
    flow = tmp_path / "needs.yaml"
    flow.write_text(
        "version: 1\nflow: {id: needs}\njobs:\n  - id: a\n    steps:\n"
        "      - id: s\n        type: external.process\n"
        '        inputs: {command: [echo, "{{env.NEEDED}}", "{{env.OPTIONAL:x}}"]}\n'
    )
    env = {"AETHERFLOW_CACHE_DIR": str(tmp_path / "cache"), "NEEDED": ""}
    missing = run_cli(["doctor", "needs.yaml"], cwd=tmp_path, env=env)
    assert missing.exit_code == 2
    assert missing.stdout.splitlines() == [
        "aetherflow doctor: flow 'needs' (needs.yaml)",
        "  flow                             valid, compiled",
        "  NEEDED                           MISSING",
        "  OPTIONAL                         not set, has a default",
        "FAIL: needs.yaml: 1 of 3 checks failed",
    ]
    found = run_cli(["doctor", "needs.yaml"], cwd=tmp_path, env={**env, "NEEDED": "1"})
    assert found.exit_code == 0
    assert found.stdout.splitlines()[2] == "  NEEDED                           set"
    assert found.stdout.splitlines()[-1] == "OK: needs.yaml: 3 checks passed"
    # A flow that reads nothing still says what was checked.
    (tmp_path / "plain.yaml").write_text("version: 1\nflow: {id: plain}\njobs: []\n")
    plain = run_cli(["doctor", "plain.yaml"], cwd=tmp_path, env=env)
    assert plain.exit_code == 0
    assert plain.stdout.splitlines() == [
        "aetherflow doctor: flow 'plain' (plain.yaml)",
        "  flow                             valid, compiled",
        "  env and packages                 none read, none needed",
        "OK: plain.yaml: 1 check passed",
    ]
