"""The output formats of `validate` and `compile` (--format, the project config's `format`):
each on a folder with an error, a warning and a note, as a person, GitHub Actions, a SARIF
reader, GitLab and a JUnit reader see them."""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from aetherflow_compiler.cli.formats import FORMATS, github_line
from aetherflow_compiler.cli.project_config import KEYS
from aetherflow_compiler.codes import CODES
from aetherflow_compiler.diagnostics import Diagnostic, Related
from conftest import run_cli

SCHEMA = Path(__file__).parent / "sarif" / "sarif-schema-2.1.0.json"

BROKEN = """\
version: 1
flow: {id: broken}
jobs:
  - id: a
    depends_no: []
    steps: []
"""
# AF816 (a warning, with --target all): the shell script keeps its state beside the
# declared store.
WARNED = """\
version: 1
flow:
  id: warned
  state: {backend: sqlite, path: state.sqlite}
jobs:
  - id: load
    steps:
      - {id: s, type: external.process, inputs: {command: ["true"]}}
"""
# AF806 (a note, with --target all): a connector and a step the shell target has not.
PYTHON_ONLY = """\
version: 1
flow:
  id: python_only
  state: {backend: file, path: state}
resources:
  db: {kind: db, driver: sqlite3, config: {path: x.db}}
jobs:
  - id: j
    steps:
      - {id: q, type: db_extract, inputs: {resource: db, sql: "select 1", output: o.csv}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "broken.yaml").write_text(BROKEN)
    (flows / "warned.yaml").write_text(WARNED)
    (flows / "python_only.yaml").write_text(PYTHON_ONLY)
    return tmp_path


def _compile(project: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli(["compile", "flows", "-o", "dist", "--target", "all", *args], cwd=project)
    return result.exit_code, result.stdout, result.stderr


def _diagnostics(project: Path) -> list[dict[str, object]]:
    code, out, _ = _compile(project, "--format", "json")
    assert code == 2
    doc = json.loads(out)
    return [*doc["errors"], *doc["warnings"], *doc["notes"]]


def test_text_names_each_severity_and_the_summary_counts_them(project: Path) -> None:
    code, out, err = _compile(project)
    assert code == 2
    heads = [line for line in out.splitlines() if not line.startswith("  ")]
    assert heads == [
        "flows/broken.yaml:5:5: error AF201 unknown key 'depends_no' in job 'a'",
        "flows/python_only.yaml:3:7: note AF806 no sh artifact for flow 'python_only' (it gets its "
        "Python artifact only): 2 reasons",
        "flows/warned.yaml:4:20: warning AF816 the sh artifact of flow 'warned' keeps its state in "
        "the file layout at 'state.sqlite.d', not in the sqlite state store the flow declares: runs "
        "and locks of the sh artifact and of the Python artifact (or the engine) do not see each "
        "other",
    ]
    assert "  6:7: resource 'db': the sh target has no connectors" in out.splitlines()
    assert err == "1 error in 1 file (of 3 checked), 1 warning, 1 note\n"
    # Without the broken flow the compile succeeds and its last line still counts them.
    (project / "flows" / "broken.yaml").unlink()
    code, out, err = _compile(project)
    assert code == 0
    assert err.endswith("files), 1 warning, 1 note\n") and err.startswith("compiled 2 flows")


def test_json_carries_the_severity_of_each_diagnostic(project: Path) -> None:
    code, out, err = _compile(project, "--json")
    assert code == 2 and err == ""
    doc = json.loads(out)
    assert [(d["code"], d["severity"]) for d in doc["errors"]] == [("AF201", "error")]
    assert [(d["code"], d["severity"]) for d in doc["warnings"]] == [("AF816", "warning")]
    assert [(d["code"], d["severity"]) for d in doc["notes"]] == [("AF806", "note")]
    assert doc["notes"][0]["related"][0] == {
        "line": 6,
        "column": 7,
        "message": "resource 'db': the sh target has no connectors",
    }
    assert json.loads(_compile(project, "--format", "json")[1]) == doc


# What the Actions runner reads from a line of a step's output (the workflow command
# syntax: `::name key=value,key=value::message`).
COMMAND = re.compile(r"^::(?P<name>error|warning|notice) (?P<props>[^:]*)::(?P<message>.*)$")


def _unescape(text: str) -> str:
    for escaped, plain in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, plain)
    return text


def _parse_command(line: str) -> tuple[str, dict[str, str], str]:
    match = COMMAND.match(line)
    assert match, line
    props = dict(pair.split("=", 1) for pair in match["props"].split(","))
    return match["name"], {k: _unescape(v) for k, v in props.items()}, _unescape(match["message"])


def test_github_lines_are_workflow_commands_at_each_line(project: Path) -> None:
    code, out, err = _compile(project, "--format", "github")
    assert code == 2
    assert err == "1 error in 1 file (of 3 checked), 1 warning, 1 note\n"
    parsed = [_parse_command(line) for line in out.splitlines()]
    expected = {
        "error": "error",
        "warning": "warning",
        "note": "notice",
    }
    diags = _diagnostics(project)
    assert len(parsed) == len(diags) == 3
    for diag in diags:
        name, props, message = next(p for p in parsed if p[1]["title"] == diag["code"])
        assert name == expected[str(diag["severity"])]
        assert props == {
            "file": diag["file"],
            "line": str(diag["line"]),
            "col": str(diag["column"]),
            "title": diag["code"],
        }
        assert message.startswith(str(diag["message"]))
        if diag["hint"]:
            assert message.endswith(f"\nhint: {diag['hint']}")
    note = next(p for p in parsed if p[0] == "notice")[2]
    assert "\n- line 6, column 7: resource 'db': the sh target has no connectors" in note


def test_github_escapes_as_the_actions_toolkit_does() -> None:
    diag = Diagnostic("dir,a:b/100%.yaml", 3, 4, "AF201", "50% done\r\nnext", "x,y: z")
    line = github_line(diag)
    assert line == (
        "::error file=dir%2Ca%3Ab/100%25.yaml,line=3,col=4,title=AF201::"
        "50%25 done%0D%0Anext%0Ahint: x,y: z"
    )
    assert _parse_command(line) == (
        "error",
        {"file": "dir,a:b/100%.yaml", "line": "3", "col": "4", "title": "AF201"},
        "50% done\r\nnext\nhint: x,y: z",
    )


def test_sarif_validates_against_the_schema(project: Path) -> None:
    code, out, err = _compile(project, "--format", "sarif")
    assert code == 2 and err.endswith("1 warning, 1 note\n")
    log = json.loads(out)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    ).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CODES)
    results = {r["ruleId"]: r for r in run["results"]}
    assert {k: r["level"] for k, r in results.items()} == {
        "AF201": "error",
        "AF806": "note",
        "AF816": "warning",
    }
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    broken = results["AF201"]["locations"][0]["physicalLocation"]
    assert broken == {
        "artifactLocation": {"uri": "flows/broken.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 5, "startColumn": 5},
    }
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.as_uri() + "/"
    related = results["AF806"]["relatedLocations"]
    assert [r["physicalLocation"]["region"] for r in related] == [
        {"startLine": 6, "startColumn": 7},
        {"startLine": 10, "startColumn": 23},
    ]
    # A run without a diagnostic is a valid log with no results.
    (project / "flows" / "broken.yaml").unlink()
    (project / "flows" / "python_only.yaml").unlink()
    (project / "flows" / "warned.yaml").write_text(WARNED.replace("sqlite", "file"))
    code, out, _ = _compile(project, "--format", "sarif")
    assert code == 0
    jsonschema.Draft4Validator(schema).validate(json.loads(out))
    assert json.loads(out)["runs"][0]["results"] == []


def test_gitlab_code_quality_report(project: Path) -> None:
    code, out, _ = _compile(project, "--format", "gitlab")
    assert code == 2
    issues = json.loads(out)
    assert {(i["check_name"], i["severity"]) for i in issues} == {
        ("AF201 unknown-key", "major"),
        ("AF816 sh-state-beside", "minor"),
        ("AF806 no-shell-artifact", "info"),
    }
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert re.fullmatch(r"[0-9a-f]{64}", issue["fingerprint"])
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    broken = next(i for i in issues if i["severity"] == "major")
    assert broken["location"] == {"path": "flows/broken.yaml", "lines": {"begin": 5}}
    assert broken["description"] == (
        "AF201 unknown key 'depends_no' in job 'a'\nhint: did you mean 'depends_on'?"
    )


def test_junit_has_a_test_case_per_file(project: Path) -> None:
    code, out, _ = _compile(project, "--format", "junit")
    assert code == 2
    suite = ET.fromstring(out).find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert sorted(cases) == ["flows/broken.yaml", "flows/python_only.yaml", "flows/warned.yaml"]
    failure = cases["flows/broken.yaml"].find("failure")
    assert failure is not None and failure.get("type") == "AF201"
    assert (failure.text or "").startswith("flows/broken.yaml:5:5: error AF201 unknown key")
    warned = cases["flows/warned.yaml"]
    assert warned.find("failure") is None
    assert "warning AF816" in (warned.findtext("system-out") or "")
    assert "note AF806" in (cases["flows/python_only.yaml"].findtext("system-out") or "")
    assert cases["flows/python_only.yaml"].find("failure") is None
    # validate names the command in the suite; a file with nothing to say is a bare case.
    result = run_cli(["validate", "--format", "junit", "flows"], cwd=project)
    suite = ET.fromstring(result.stdout).find("testsuite")
    assert suite is not None and suite.get("name") == "aetherflow validate"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert len(cases["flows/warned.yaml"]) == 0


def test_the_project_config_sets_the_format_and_the_command_line_wins(project: Path) -> None:
    (project / "aetherflow.toml").write_text('paths = ["flows"]\nformat = "github"\n')
    result = run_cli(["validate"], cwd=project)
    assert result.exit_code == 2
    assert result.stdout.startswith("::error file=flows/broken.yaml,line=5,col=5,title=AF201::")
    as_json = run_cli(["validate", "--json"], cwd=project)
    assert json.loads(as_json.stdout)["ok"] is False
    as_text = run_cli(["validate", "--format", "text"], cwd=project)
    assert as_text.stdout.startswith("flows/broken.yaml:5:5: error AF201")
    clash = run_cli(["validate", "--json", "--format", "sarif"], cwd=project)
    assert clash.exit_code == 2 and "--json is --format json" in clash.stderr
    (project / "aetherflow.toml").write_text('paths = ["flows"]\nformat = "sarf"\n')
    bad = run_cli(["validate"], cwd=project)
    assert bad.exit_code == 2
    assert "aetherflow.toml:2:10: error AF904 format must be one of" in bad.stdout
    assert KEYS["format"].choices == FORMATS


def test_compile_check_keeps_stdout_one_document(project: Path) -> None:
    (project / "flows" / "broken.yaml").unlink()
    assert _compile(project)[0] == 0
    (project / "flows" / "warned.yaml").write_text(WARNED + "  - {id: b, steps: []}\n")
    code, out, err = _compile(project, "--check", "--format", "sarif")
    assert code == 1
    assert [r["ruleId"] for r in json.loads(out)["runs"][0]["results"]] == ["AF806", "AF816"]
    assert "differs: dist/warned.py\n" in err and "dist is out of date" in err


def test_a_related_place_prints_under_its_diagnostic() -> None:
    diag = Diagnostic(
        "f.yaml",
        2,
        3,
        "AF806",
        "no sh artifact",
        "a hint",
        (Related(4, 5, "first"), Related(None, None, "second")),
    )
    assert diag.format_text() == textwrap.dedent("""\
        f.yaml:2:3: note AF806 no sh artifact
          4:5: first
          second
          hint: a hint""")


def test_names_that_are_not_utf8_or_hold_control_characters_stay_one_line(tmp_path: Path) -> None:
    name = "bad\udcff\x1b.yaml"  # a byte that is not UTF-8, as Python names it, and an ESC
    diag = Diagnostic(name, 1, 1, "AF201", "unknown key 'x\x07'")
    assert github_line(diag) == (
        "::error file=bad\\udcff\\x1b.yaml,line=1,col=1,title=AF201::unknown key 'x\\x07'"
    )
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / name).write_text(BROKEN)
    for fmt in ("sarif", "gitlab", "junit", "github"):
        result = run_cli(["validate", "--format", fmt, "flows"], cwd=tmp_path)
        assert result.exit_code == 2, fmt
        if fmt in ("sarif", "gitlab"):
            json.loads(result.stdout)
    sarif = json.loads(run_cli(["validate", "--format", "sarif", "flows"], cwd=tmp_path).stdout)
    location = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "flows/bad%FF%1B.yaml"
