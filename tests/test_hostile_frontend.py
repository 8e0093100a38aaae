"""Hostile input to validate, compile and explain: always a located error (exit 2) or a
result, in bounded time; never an internal error (exit 3) or a value silently dropped.

Each test names the class of input it stands for (issue 23); the loader's own limits are
in tests/test_loader.py, the `when` parser's in tests/test_when.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from aetherflow_compiler.diagnostics import Diagnostic, DiagnosticList
from conftest import EXAMPLES, CliResult, Project, run_cli

FLOW = """\
version: 1
flow:
  id: hostile
  state: {backend: file, path: /tmp/hostile-state}
jobs:
  - id: a
    steps:
      - id: run
        type: external.process
        inputs:
          command: ["true"]
          timeout_seconds: 30
      - id: probe
        type: check_items
        inputs: {items: "x,y", min_count: 1}
        outputs:
          has_data: "{{result.has_data}}"
  - id: b
    depends_on: [a]
    when: jobs.a.outputs.has_data == true
    steps:
      - id: later
        type: external.process
        inputs: {command: ["true"]}
"""

RESOURCE_FLOW = """\
version: 1
flow:
  id: with_db
resources:
  warehouse:
    kind: db
    driver: sqlite3
    profile: warehouse
    config: {timeout: 5}
jobs:
  - id: a
    steps:
      - id: q
        type: db_fetch_small
        inputs: {resource: warehouse, sql: select 1}
"""

HEX_5000 = "0x" + "f" * 5000  # 6,021 decimal digits


def _at(stdout: str, name: str, code: str) -> tuple[int, int]:
    """Line and column of the first `code` diagnostic on `name`, in text or in a --json
    object (the test fails without one)."""
    if stdout.startswith("{"):
        found = [
            (e["line"], e["column"])
            for e in json.loads(stdout)["errors"]
            if e["code"] == code and e["file"] == name
        ]
        assert found, stdout
        return found[0]
    match = re.search(
        rf"^{re.escape(name)}:(\d+):(\d+): (?:error|warning|note) {code} ", stdout, re.MULTILINE
    )
    assert match, stdout
    return int(match.group(1)), int(match.group(2))


def _where(stdout: str, code: str) -> set[tuple[str, int]]:
    """(file, line) of each `code` diagnostic, in text or in a --json object."""
    if stdout.startswith("{"):
        return {(e["file"], e["line"]) for e in json.loads(stdout)["errors"] if e["code"] == code}
    return {
        (m[0], int(m[1]))
        for m in re.findall(
            rf"^(.+?):(\d+):\d+: (?:error|warning|note) {code} ", stdout, re.MULTILINE
        )
    }


def _text(result: CliResult) -> str:
    """The diagnostics a command printed, as text (a --json object's rebuilt line by line)."""
    if not result.stdout.startswith("{"):
        return result.stdout
    out = []
    document = json.loads(result.stdout)
    for diag in [*document["errors"], *document["warnings"], *document["notes"]]:
        out.append(
            f"{diag['file']}:{diag['line']}:{diag['column']}: {diag['severity']} {diag['code']} "
            f"{diag['message']}"
        )
        if diag["hint"]:
            out.append(f"  hint: {diag['hint']}")
    return "\n".join(out) + "\n"


def _all_commands(tmp_path: Path, name: str, *extra: str) -> list[CliResult]:
    """validate, compile --target all, explain and explain --json of one file."""
    return [
        run_cli(["validate", name, *extra], cwd=tmp_path),
        run_cli(["compile", name, *extra, "-o", "dist", "--target", "all"], cwd=tmp_path),
        run_cli(["explain", name, *extra], cwd=tmp_path),
        run_cli(["explain", "--json", name, *extra], cwd=tmp_path),
    ]


# --- 1. integers beyond Python's int<->str limit -------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("version: 1", f"version: {HEX_5000}"),
        ("timeout_seconds: 30", f"timeout_seconds: {HEX_5000}"),  # validate passed, compile died
        ("timeout_seconds: 30", "timeout_seconds: " + "9" * 5000),  # PyYAML itself fails on it
        ("timeout_seconds: 30", "timeout_seconds: 0" + "7" * 5000),  # octal
        ("timeout_seconds: 30", "timeout_seconds: 0b" + "1" * 15000),
        ("timeout_seconds: 30", "timeout_seconds: -1" + ":0" * 2500),  # base 60
        ('command: ["true"]', f'command: ["true", {HEX_5000}]'),
        ("id: hostile", f"id: hostile\n  description:\n    ? {HEX_5000}\n    : 1"),  # a key
    ],
    ids=[
        "version",
        "timeout-hex",
        "timeout-decimal",
        "octal",
        "binary",
        "sexagesimal",
        "in-a-list",
        "key",
    ],
)
def test_a_huge_integer_anywhere_is_af111_for_every_command(
    tmp_path: Path, old: str, new: str
) -> None:
    (tmp_path / "f.yaml").write_text(FLOW.replace(old, new, 1))
    for result in _all_commands(tmp_path, "f.yaml"):
        assert result.exit_code == 2, result.stdout + result.stderr
    validate = run_cli(["validate", "f.yaml"], cwd=tmp_path)
    line = next(
        n
        for n, text in enumerate(FLOW.replace(old, new, 1).splitlines(), 1)
        if "0x" in text or "9999" in text or "0777" in text or "0b1" in text or ":0:0" in text
    )
    assert _at(validate.stdout, "f.yaml", "AF111")[0] == line
    assert "has more than 4300 digits" in validate.stdout
    assert len(validate.stdout) < 1000  # the number is clipped, not printed


def test_a_huge_integer_in_a_profile_and_its_resource_is_located(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(RESOURCE_FLOW.replace("timeout: 5", f"timeout: {HEX_5000}"))
    (tmp_path / "p.yaml").write_text(f"warehouse:\n  options: {{retries: {HEX_5000}}}\n")
    for result in _all_commands(tmp_path, "f.yaml", "--profiles", "p.yaml"):
        assert result.exit_code == 2, result.stdout + result.stderr
        assert _where(result.stdout, "AF111") == {("f.yaml", 9), ("p.yaml", 2)}


def test_a_huge_number_in_when_is_af501(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(FLOW.replace("== true", "== " + "9" * 5000))
    for result in _all_commands(tmp_path, "f.yaml")[:2]:
        assert result.exit_code == 2
        assert _at(result.stdout, "f.yaml", "AF501") == (20, 38)
    assert "integer in when has more than 4300 digits" in _text(result)


def test_a_base_60_integer_with_a_million_parts_is_refused_at_once(tmp_path: Path) -> None:
    """PyYAML computes base-60 integers in quadratic time: 90 s for this file."""
    (tmp_path / "f.yaml").write_text("version: 1" + ":0" * 1_000_000 + "\n")
    started = time.perf_counter()
    result = run_cli(["validate", "f.yaml"], cwd=tmp_path)
    assert time.perf_counter() - started < 10
    assert result.exit_code == 2 and _at(result.stdout, "f.yaml", "AF111") == (1, 10)


# --- 2. core tags on values they cannot describe --------------------------------------------


@pytest.mark.parametrize(
    "tagged",
    [
        "!!int abc",
        "!!int ''",
        "!!int 0x",
        "!!float abc",
        "!!bool abc",
        "!!timestamp abc",
        "!!timestamp 2024-13-45",
        "!!map abc",
        "!!seq abc",
        "!!merge abc",
        "!!str [1]",
        "!!int [1]",
        "!!map [1]",
        "!!seq {a: 1}",
        "!!merge {a: 1}",
        "!!merge [a]",
    ],
)
def test_a_core_tag_on_the_wrong_value_is_a_located_af103(tmp_path: Path, tagged: str) -> None:
    """PyYAML (so the engine) fails on each of them with ValueError, KeyError,
    AttributeError or ConstructorError; they escaped the loader."""
    (tmp_path / "f.yaml").write_text(FLOW.replace("id: hostile", f"id: {tagged}"))
    for result in _all_commands(tmp_path, "f.yaml"):
        assert result.exit_code == 2, result.stdout + result.stderr
        assert _at(result.stdout, "f.yaml", "AF103") == (3, 7)
    assert "invalid YAML: " in _text(result) and re.search(
        "hint: (remove the tag|quote it)", _text(result)
    )


def test_an_impossible_date_is_a_located_af103_with_a_quoting_hint(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(
        FLOW.replace('command: ["true"]\n', 'command: ["true", 2024-02-30]\n')
    )
    result = run_cli(["validate", "f.yaml"], cwd=tmp_path)
    assert result.exit_code == 2
    assert (
        "f.yaml:11:29: error AF103 invalid YAML: '2024-02-30' is not a valid !!timestamp (day is out of range for "
        "month)\n  hint: quote it if it is a string" in _text(result)
    )


def test_a_tag_on_a_mapping_key_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(
        FLOW.replace("  id: hostile", "  id: hostile\n  !!bool maybe: 1")
    )
    result = run_cli(["validate", "f.yaml"], cwd=tmp_path)
    assert result.exit_code == 2 and _at(result.stdout, "f.yaml", "AF103") == (4, 3)


# --- 3. nesting ------------------------------------------------------------------------------


def test_a_when_with_300_nested_parentheses_is_af502(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(
        FLOW.replace(
            "when: jobs.a.outputs.has_data == true",
            'when: "' + "(" * 300 + "true" + ")" * 300 + '"',
        )
    )
    for result in _all_commands(tmp_path, "f.yaml")[:2]:
        assert result.exit_code == 2
        # The 51st '(' opens one level too many: the quote is in column 11.
        assert _at(result.stdout, "f.yaml", "AF502") == (20, 12 + 50)
    assert "more than 50 levels deep" in _text(result)


def test_a_profile_value_480_lists_deep_is_af103_for_every_command(tmp_path: Path) -> None:
    """validate passed it; compile died with RecursionError."""
    (tmp_path / "f.yaml").write_text(RESOURCE_FLOW)
    (tmp_path / "p.yaml").write_text(
        "warehouse:\n  config:\n    path: " + "[" * 480 + "]" * 480 + "\n"
    )
    for result in _all_commands(tmp_path, "f.yaml", "--profiles", "p.yaml"):
        assert result.exit_code == 2
        # The list that opens the 101st level: the file, warehouse and config mappings are three.
        assert _at(result.stdout, "p.yaml", "AF103") == (3, 11 + 97)
    assert "lists and mappings nest more than 100 levels deep" in _text(result)


@pytest.mark.e2e
def test_values_nested_to_the_limit_compile_and_run(project: Project) -> None:
    """The limit leaves room: a value 90 levels deep (in a step 5 levels deep) reaches the
    step in both targets."""
    deep = "[" * 90 + '"{{env.X:1}}"' + "]" * 90
    project.write_flow(
        "deep.yaml",
        project.header("deep", backend="file") + f"""\
jobs:
  - id: a
    steps:
      - id: s
        type: external.process
        inputs: {{command: ["true"]}}
        outputs: {{o: {deep}}}
""",
    )
    project.compile("--target", "all")
    project.run("deep", "run", "--run-id", "r1", check_exit=0)
    sh = subprocess.run(
        ["sh", str(project.dist / "deep.sh"), "run", "--run-id", "r2"],
        capture_output=True,
        text=True,
        cwd=project.root,
        timeout=120,
    )
    assert sh.returncode == 0, sh.stderr
    for run_id in ("r1", "r2"):
        value = project.status("deep", run_id)["jobs"]["a"]["outputs"]["o"]
        for _ in range(90):
            [value] = value
        assert value == "1"


# --- 4. check_items' min_count: 2.0 -----------------------------------------------------------


@pytest.mark.e2e
def test_min_count_2_0_means_2_in_validate_and_both_targets(project: Project) -> None:
    """The engine reads min_count with int(): 2.0 is 2. The sh generator died on int('2.0')
    (and on 2.0 for the other integer settings, and on exit codes such as 0.0)."""
    project.write_flow(
        "gate.yaml",
        project.header("gate", backend="file") + """\
jobs:
  - id: a
    steps:
      - id: probe
        type: check_items
        inputs: {items: "{{env.ITEMS:x}}", min_count: 2.0}
        on_no_data: skip_job
      - id: run
        type: external.process
        inputs: {command: ["true"], timeout_seconds: 30.0, log: {max_capture_kb: 2.0}, success: {exit_codes: [0.0]}}
""",
    )
    assert run_cli(["validate", str(project.flows)]).exit_code == 0
    project.compile("--target", "all")
    ends = {}
    for target, argv in (
        ("python", ["python3", str(project.dist / "gate.py")]),
        ("sh", ["sh", str(project.dist / "gate.sh")]),
    ):
        for items in ("x", "x,y"):
            proc = subprocess.run(
                [*argv, "run", "--log-format", "json"],
                capture_output=True,
                text=True,
                cwd=project.root,
                timeout=120,
                env={"PATH": "/usr/bin:/bin", "ITEMS": items},
            )
            assert proc.returncode == 0, proc.stderr
            events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
            [end] = [e for e in events if e["event"] == "job_end"]
            ends[(target, items)] = (end["status"], end["skip_reason"])
    # What the engine's check_items says: SKIPPED with "count(1) < min_count(2)".
    assert ends == {
        ("python", "x"): ("SKIPPED", "count(1) < min_count(2)"),
        ("python", "x,y"): ("SUCCESS", None),
        ("sh", "x"): ("SKIPPED", "count(1) < min_count(2)"),
        ("sh", "x,y"): ("SUCCESS", None),
    }


def test_min_count_2_0_with_literal_items_is_read_as_2_by_the_unreachable_step_check(
    tmp_path: Path,
) -> None:
    (tmp_path / "f.yaml").write_text(
        FLOW.replace(
            'inputs: {items: "x,y", min_count: 1}',
            'inputs: {items: "x", min_count: 2.0}\n        on_no_data: skip_job',
        )
        .replace("      - id: probe", "      - id: probe")
        .replace(
            "  - id: b",
            '      - id: after\n        type: external.process\n        inputs: {command: ["true"]}\n'
            "  - id: b",
        )
    )
    result = run_cli(["validate", "f.yaml"], cwd=tmp_path)
    assert result.exit_code == 0
    assert (
        "AF313 step 'after' can never run: step 'probe' always reports no data (check_items has 1 literal "
        "item and min_count 2)" in _text(result)
    )


# --- 5. bundle manifests and profiles ---------------------------------------------------------


def _engine_project(tmp_path: Path) -> Path:
    project = tmp_path / "engine-project"
    shutil.copytree(EXAMPLES / "engine-project", project)
    return project


def test_a_manifest_with_an_unknown_source_type_is_af204(tmp_path: Path) -> None:
    project = _engine_project(tmp_path)
    manifest = project / "manifest.yaml"
    manifest.write_text(
        manifest.read_text().replace("type: filesystem", "type: ftp\n    resource: r")
        + "resources:\n  r: {kind: sftp, driver: paramiko}\n"
    )
    for args in (
        ["validate", "manifest.yaml"],
        ["validate", "--bundle-manifest", "manifest.yaml"],
        ["compile", "--bundle-manifest", "manifest.yaml", "-o", "dist"],
    ):
        result = run_cli(args, cwd=project)
        assert result.exit_code == 2, result.stdout + result.stderr
        assert (
            "manifest.yaml:13:11: error AF204 invalid value 'ftp' for bundle.source.type"
            in _text(result)
        )


def test_a_nul_in_base_path_is_af318(tmp_path: Path) -> None:
    project = _engine_project(tmp_path)
    manifest = project / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("base_path: bundle", 'base_path: "bun\\0dle"'))
    for command in ("validate", "compile", "explain"):
        args = [command, "--bundle-manifest", "manifest.yaml"] + (
            ["-o", "dist"] if command == "compile" else []
        )
        result = run_cli(args, cwd=project)
        assert result.exit_code == 2, result.stdout + result.stderr
        assert "manifest.yaml:14:16: error AF318 base_path holds a NUL character" in _text(result)


def test_a_profile_named_by_a_boolean_is_reported_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(RESOURCE_FLOW)
    (tmp_path / "p.yaml").write_text("yes:\n  config: {path: x}\n2: {}\n~: {}\n2024-01-31: {}\n")
    for result in _all_commands(tmp_path, "f.yaml", "--profiles", "p.yaml"):
        assert result.exit_code == 2, result.stdout + result.stderr
        assert (
            "f.yaml:8:14: error AF307 resource 'warehouse' uses unknown profile 'warehouse'"
            in _text(result)
        )
    assert "p.yaml:1:1: warning AF801 key 'yes' is read as the boolean True" in _text(result)


def test_a_malformed_template_in_a_profile_stops_compile_with_af401(tmp_path: Path) -> None:
    """validate reported AF401; compile died with TemplateSyntaxError."""
    (tmp_path / "f.yaml").write_text(RESOURCE_FLOW)
    (tmp_path / "p.yaml").write_text('warehouse:\n  config:\n    path: "{{env.X"\n')
    for result in _all_commands(tmp_path, "f.yaml", "--profiles", "p.yaml"):
        assert result.exit_code == 2, result.stdout + result.stderr
        assert "p.yaml:3:12: error AF401 Unsupported templating syntax" in _text(result)
    assert not (tmp_path / "dist").exists()


# --- 6. output ----------------------------------------------------------------------------------


def test_explain_json_is_one_object_in_the_shape_of_validate_json(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(RESOURCE_FLOW)
    (tmp_path / "bad.yaml").write_text('warehouse:\n  config:\n    path: "{{env.X"\n')
    (tmp_path / "good.yaml").write_text("warehouse:\n  config: {path: x}\n")
    shape = set(json.loads(run_cli(["validate", "--json", "f.yaml"], cwd=tmp_path).stdout))
    assert shape == {"ok", "files", "errors", "warnings", "notes", "skipped"}
    for args in (["f.yaml", "--profiles", "bad.yaml"], ["missing.yaml"], ["."]):
        result = run_cli(["explain", "--json", *args], cwd=tmp_path)
        assert result.exit_code == 2
        document = json.loads(result.stdout)  # one object: nothing before or after it
        assert set(document) == shape and document["ok"] is False and document["errors"], document
    good = run_cli(["explain", "--json", "f.yaml", "--profiles", "good.yaml"], cwd=tmp_path)
    assert good.exit_code == 0
    document = json.loads(good.stdout)
    assert set(document) == shape | {"flow", "file", "resources"} and document["ok"] is True
    assert document["resources"][0]["settings"][0]["path"] == "config.path"


def test_diagnostics_are_deduplicated_in_linear_time() -> None:
    """A linear scan per diagnostic took 30 s for 12,000 of them."""
    diagnostics = DiagnosticList()
    started = time.perf_counter()
    for n in range(12_000):
        diagnostics.add(Diagnostic("f.yaml", n + 1, 1, "AF201", f"unknown key 'k{n}'"))
        diagnostics.add(Diagnostic("f.yaml", n + 1, 1, "AF201", f"unknown key 'k{n}'"))
    assert time.perf_counter() - started < 5
    assert len(diagnostics.items) == 12_000
    # Items appended directly are still seen by the duplicate test.
    diagnostics.items.append(Diagnostic("f.yaml", 1, 1, "AF202", "x"))
    diagnostics.add(Diagnostic("f.yaml", 1, 1, "AF202", "x"))
    assert len(diagnostics.items) == 12_001


@pytest.mark.slow
def test_a_flow_with_12000_errors_is_reported_in_seconds(tmp_path: Path) -> None:
    lines = ["version: 1", "flow: {id: many}", "jobs:", "  - id: a", "    steps:"]
    for n in range(6000):
        lines += [
            f"      - id: s{n}",
            "        type: external.process",
            "        bogus: 1",
            "        inputs: {command: [x], nope: 2}",
        ]
    (tmp_path / "f.yaml").write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    result = run_cli(["validate", "--json", "f.yaml"], cwd=tmp_path)
    assert time.perf_counter() - started < 20  # about 3 s; 21 to 33 s before
    assert result.exit_code == 2 and len(json.loads(result.stdout)["errors"]) == 12_000


# --- mutations found while fixing the above -----------------------------------------------------


@pytest.mark.parametrize(
    "where", ["  id: hostile", "      - id: later", "    depends_on: [a]", "when: jobs.a"]
)
def test_a_date_where_the_engine_wants_a_string_is_af203(tmp_path: Path, where: str) -> None:
    """The engine's models refuse a date for ids, depends_on and when ("Input should be a
    valid string"); the schema compared it as text and compile died on it."""
    replaced = {
        "  id: hostile": "  id: 2024-01-31",
        "      - id: later": "      - id: 2024-01-31",
        "    depends_on: [a]": "    depends_on: [2024-01-31]",
        "when: jobs.a": "when: 2024-01-31\n    #",
    }[where]
    (tmp_path / "f.yaml").write_text(FLOW.replace(where, replaced))
    for result in _all_commands(tmp_path, "f.yaml"):
        assert result.exit_code == 2, result.stdout + result.stderr
        assert re.search(
            r"AF203 .* must be a string.*, not a date \(2024-01-31\)", _text(result)
        ), result.stdout


def test_a_date_in_step_inputs_is_still_the_text_the_engine_makes(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(
        FLOW.replace('command: ["true"]\n', 'command: ["echo", 2024-01-31]\n')
    )
    result = run_cli(["validate", "f.yaml"], cwd=tmp_path)
    assert result.exit_code == 0 and "AF804" in _text(result)


@pytest.mark.parametrize(
    ("old", "new", "code", "where"),
    [
        (
            'has_data: "{{result.has_data}}"',
            'has_data: "{{result.has_data}}"\n          1: x',
            "AF203",
            (18, 11),
        ),
        (
            'has_data: "{{result.has_data}}"',
            'has_data: "{{result.has_data}}"\n          2024-01-31: x',
            "AF203",
            (18, 11),
        ),
        ("min_count: 1}", "min_count: 1, 2: x}", "AF603", (15, 46)),
    ],
    ids=["output-int", "output-date", "input-int"],
)
def test_a_key_the_engine_reads_as_a_string_must_be_one(
    tmp_path: Path, old: str, new: str, code: str, where: tuple[int, int]
) -> None:
    """The engine's models read inputs and outputs as Dict[str, ...] and refuse the flow;
    validate passed it, and a date key killed compile."""
    (tmp_path / "f.yaml").write_text(FLOW.replace(old, new))
    for result in _all_commands(tmp_path, "f.yaml"):
        assert result.exit_code == 2, result.stdout + result.stderr
        assert _at(result.stdout, "f.yaml", code) == where
    assert re.search(
        r"key \S+ in job 'a', step 'probe', (outputs|inputs) must be a string, not an? (integer|date)",
        _text(result),
    )


def test_resource_and_profile_names_must_be_strings(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(
        RESOURCE_FLOW.replace(
            "  warehouse:\n", "  1: {kind: db, driver: sqlite3}\n" "  warehouse:\n"
        )
    )
    (tmp_path / "p.yaml").write_text("warehouse:\n  config: {path: x}\non:\n  config: {path: y}\n")
    result = run_cli(["validate", "f.yaml", "--profiles", "p.yaml"], cwd=tmp_path)
    assert result.exit_code == 2
    assert (
        "f.yaml:5:3: error AF203 key 1 in resources must be a string, not an integer"
        in result.stdout
    )
    assert (
        "p.yaml:3:1: error AF203 key true in the file must be a string, not a boolean"
        in result.stdout
    )


def test_a_nested_date_key_in_step_inputs_compiles_as_its_text(tmp_path: Path) -> None:
    """The engine passes such values on (env: str(key)); the sh target's plan died on it."""
    (tmp_path / "f.yaml").write_text(
        FLOW.replace(
            'has_data: "{{result.has_data}}"',
            'has_data: "{{result.has_data}}"\n          when: {2024-01-31: x}',
        )
    )
    result = run_cli(["compile", "f.yaml", "-o", "dist", "--target", "all"], cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert '"when": {"2024-01-31": "x"}' in (tmp_path / "dist" / "hostile.sh").read_text()


def test_an_int_like_string_of_5000_digits_is_af603(tmp_path: Path) -> None:
    """int() refuses it in the engine at run time; the sh generator died on it."""
    (tmp_path / "f.yaml").write_text(
        FLOW.replace("min_count: 1", 'min_count: "' + "9" * 5000 + '"')
    )
    for result in _all_commands(tmp_path, "f.yaml")[:2]:
        assert result.exit_code == 2
        assert _at(result.stdout, "f.yaml", "AF603") == (15, 43)


def test_explain_json_holds_dates_and_nan_as_text(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(RESOURCE_FLOW)
    (tmp_path / "p.yaml").write_text(
        "warehouse:\n  config: {day: 2024-01-31, ratio: .nan, l: [.inf, {2024-02-01: 1}]}\n"
    )
    result = run_cli(["explain", "--json", "f.yaml", "--profiles", "p.yaml"], cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr

    def strict(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    document = json.loads(result.stdout, parse_constant=strict)
    values = {s["path"]: s["value"] for s in document["resources"][0]["settings"]}
    assert values == {
        "config.day": "2024-01-31",
        "config.ratio": "nan",
        "config.l": ["inf", {"2024-02-01": 1}],
        "config.timeout": 5,
    }


@pytest.mark.slow
def test_a_job_of_30000_steps_that_read_each_other_validates_in_seconds(tmp_path: Path) -> None:
    """Each `steps.X` token searched the job's steps: 45 s for this flow."""
    steps = ",".join(
        f"{{id: s{n}, type: external.process, inputs: {{command: [echo, '{{{{steps.s{n - 1}.stdout}}}}']}}}}"
        for n in range(1, 30_001)
    )
    (tmp_path / "f.yaml").write_text(
        f"version: 1\nflow: {{id: wide}}\njobs:\n  - id: a\n    steps: [{steps}]\n"
    )
    started = time.perf_counter()
    result = run_cli(["validate", "f.yaml"], cwd=tmp_path)
    assert time.perf_counter() - started < 20  # about 5 s
    # s1 reads s0, which does not exist: one error, with a short hint.
    assert result.exit_code == 2 and result.stdout.count(": error AF404 ") == 1
    assert "hint: earlier steps of this job: (none)" in result.stdout


@pytest.mark.slow
def test_thousands_of_cycles_and_unknown_names_give_a_bounded_report(tmp_path: Path) -> None:
    """Every job depends on the first, which depends on the last: 3,000 cycles of up to
    3,000 jobs, each printed in full (42 million characters), and hints that listed every
    job or profile."""
    jobs, count = [], 3000
    for n in range(count):
        depends = [f"j{count - 1}"] if n == 0 else [f"j{n - 1}", "j0", f"nope{n}"]
        jobs.append(
            f"  - id: j{n}\n    depends_on: [{', '.join(depends)}]\n"
            f"    steps: [{{id: s, type: db_fetch_small, inputs: {{resource: r{n}, sql: x}}}}]\n"
        )
    resources = "".join(
        f"  r{n}: {{kind: db, driver: sqlite3, profile: p{n}x}}\n" for n in range(count)
    )
    (tmp_path / "f.yaml").write_text(
        "version: 1\nflow: {id: knots}\njobs:\n" + "".join(jobs) + "resources:\n" + resources
    )
    (tmp_path / "p.yaml").write_text("".join(f"p{n}: {{config: {{a: 1}}}}\n" for n in range(5000)))
    started = time.perf_counter()
    result = run_cli(["validate", "f.yaml", "--profiles", "p.yaml"], cwd=tmp_path)
    assert time.perf_counter() - started < 60
    assert result.exit_code == 2
    assert (
        result.stdout.count(": error AF304 ") == 100
        and "only the first 100 cycles are reported" in result.stdout
    )
    assert (
        result.stdout.count(": error AF303 ") == count - 1
        and result.stdout.count(": error AF307 ") == count
    )
    assert max(len(line) for line in result.stdout.splitlines()) < 400
    assert (
        "hint: profiles: p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15, p16, p17, p18, "
        "p19, ... (4980 more)" in result.stdout
    )


HOSTILE_VALUES = [
    "!!int abc",
    "!!bool abc",
    "!!timestamp abc",
    "!!map abc",
    "!!seq abc",
    "!!merge abc",
    "!!str [1]",
    '"\\0"',
    '"a\\u2028b\\x85c\\ufeff"',
    '"\\U0001F600"',
    HEX_5000,
    "2024-02-30",
    "2024-01-31",
    "1:0:0",
    ".nan",
    "-.inf",
    "~",
    "{}",
    "[]",
    "'" + "x" * 50_000 + "'",
    "[" * 98 + "1" + "]" * 98,
    "'{{env.X'",
    "'{{env.X:{{y}}}}'",
    "'" + "(" * 60 + "true" + ")" * 60 + "'",
    "{1: x, 2024-01-31: y, ~: z}",
]
PLACES = [
    "id: hostile",
    'command: ["true"]',
    "when: jobs.a.outputs.has_data == true",
    'has_data: "{{result.has_data}}"',
    "timeout_seconds: 30",
]


@pytest.mark.parametrize("place", PLACES)
def test_hostile_values_in_every_place_are_answered_without_an_internal_error(
    tmp_path: Path, place: str
) -> None:
    """A net over the classes above: each value in each place gives exit 0 or 2, in both
    validate and compile --target all, and never an exception."""
    key, _ = place.split(": ", 1)
    for value in HOSTILE_VALUES:
        (tmp_path / "f.yaml").write_text(FLOW.replace(place, f"{key}: {value}"))
        for args in (
            ["validate", "f.yaml"],
            ["compile", "f.yaml", "-o", "dist", "--target", "all"],
        ):
            result = run_cli(args, cwd=tmp_path)
            assert result.exit_code in (0, 2), (
                value[:40],
                args[0],
                result.stdout[-500:],
                result.stderr[-500:],
            )
            if result.exit_code == 2:
                assert re.search(
                    r"^f\.yaml:\d+:\d+: (error|warning|note) AF\d{3} ", result.stdout, re.MULTILINE
                ), (
                    value[:40],
                    result.stdout,
                )
