"""`aetherflow graph`: Mermaid, DOT and JSON pictures of a flow, through the CLI."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT, run_cli

SMALL = """\
version: 1
flow:
  id: small
jobs:
  - id: probe
    steps:
      - id: look
        type: check_items
        inputs: {items: "{{env.ITEMS:}}"}
        outputs: {n: "{{result.count}}"}
        on_no_data: skip_job
  - id: load
    depends_on: [probe]
    when: jobs.probe.outputs.n > 0
    steps:
      - id: guarded
        type: with_lock
        inputs:
          lock_key: "load:{{flow_id}}:{{job.id}}"
          step: {id: copy, type: external.process, inputs: {command: ["true"]}}
      - id: after
        type: external.process
        inputs: {command: ["true"]}
"""

# Ids that are not identifiers, words Mermaid and DOT reserve, and labels with every
# character either format treats specially.
TRICKY = r"""version: 1
flow:
  id: 'tricky "flow" <&>'
  locks: {scope: flow}
jobs:
  - id: end
    steps:
      - id: 'say "hi" #1'
        type: with_lock
        inputs:
          lock_key: 'C:\locks\"{{flow_id}}" <b>&amp; `x`'
          step:
            type: with_lock
            inputs:
              lock_key: "{{env.LOCK_NAME:fallback}}"
              step: {type: external.process, inputs: {command: ["true"]}}
        outputs: {code: "{{result.exit_code}}"}
  - id: 'subgraph; node -> edge [label="x"] {graph}'
    steps:
      - id: 'ünïcødé step %% --> |pipe|'
        type: check_items
        inputs: {items: "a,b"}
        on_no_data: skip_job
  - id: digraph
    depends_on: [end, 'subgraph; node -> edge [label="x"] {graph}']
    when: jobs.end.status == "SUCCESS" and jobs.end.outputs.code != 'a\'b<c>'
    steps:
      - id: strict
        type: external.process
        inputs: {command: ["true"]}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _graph(tmp_path: Path, name: str, *args: str) -> str:
    result = run_cli(["graph", name, *args], cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.stdout


def test_mermaid_of_a_small_flow(tmp_path: Path) -> None:
    _write(tmp_path, "small.yaml", SMALL)
    assert _graph(tmp_path, "small.yaml") == _graph(tmp_path, "small.yaml", "--format", "mermaid")
    assert _graph(tmp_path, "small.yaml") == textwrap.dedent("""\
        flowchart TD
          %% flow small (small.yaml)
          subgraph j1 ["job probe<br>may be skipped: no data<br>job lock job:small:probe"]
            direction TB
            j1s1[/"look (check_items)<br>on_no_data: skip_job"/]
          end
          subgraph j2 ["job load<br>when: jobs.probe.outputs.n #gt; 0<br>job lock job:small:load"]
            direction TB
            j2s1["guarded (with_lock)<br>with lock load:small:load<br>runs copy (external.process)"]
            j2s2["after (external.process)"]
            j2s1 --> j2s2
          end
          j1 -->|"when"| j2
        """)


def test_dot_of_a_small_flow(tmp_path: Path) -> None:
    _write(tmp_path, "small.yaml", SMALL)
    assert _graph(tmp_path, "small.yaml", "--format", "dot") == textwrap.dedent("""\
        digraph "small" {
          compound=true;
          rankdir=TB;
          label="flow small (small.yaml)";
          labelloc=t;
          node [shape=box, fontname="Helvetica"];
          edge [fontname="Helvetica"];
          subgraph "cluster/probe" {
            label="job probe\\nmay be skipped: no data\\njob lock job:small:probe";
            style=dashed;
            "step/probe/1" [label="look (check_items)\\non_no_data: skip_job", shape=parallelogram];
          }
          subgraph "cluster/load" {
            label="job load\\nwhen: jobs.probe.outputs.n > 0\\njob lock job:small:load";
            style=dashed;
            "step/load/1" [label="guarded (with_lock)\\nwith lock load:small:load\\nruns copy (external.process)"];
            "step/load/2" [label="after (external.process)"];
            "step/load/1" -> "step/load/2";
          }
          "step/probe/1" -> "step/load/1" [ltail="cluster/probe", lhead="cluster/load", label="when"];
        }
        """)


def test_json_of_a_small_flow(tmp_path: Path) -> None:
    _write(tmp_path, "small.yaml", SMALL)
    assert json.loads(_graph(tmp_path, "small.yaml", "--format", "json")) == {
        "flow": "small",
        "file": "small.yaml",
        "locks": {"scope": "job", "flow_lock": None},
        "jobs": [
            {
                "id": "probe",
                "line": 5,
                "description": None,
                "lock": "job:small:probe",
                "when": None,
                "may_skip": True,
                "skipped_by": ["look"],
                "steps": [
                    {
                        "id": "look",
                        "type": "check_items",
                        "line": 7,
                        "on_no_data": "skip_job",
                        "lock": None,
                    }
                ],
            },
            {
                "id": "load",
                "line": 12,
                "description": None,
                "lock": "job:small:load",
                "when": "jobs.probe.outputs.n > 0",
                "may_skip": False,
                "skipped_by": [],
                "steps": [
                    {
                        "id": "guarded",
                        "type": "with_lock",
                        "line": 16,
                        "on_no_data": None,
                        "lock": {"key": "load:small:load", "static": True},
                        "step": {"id": "copy", "type": "external.process", "lock": None},
                    },
                    {
                        "id": "after",
                        "type": "external.process",
                        "line": 21,
                        "on_no_data": None,
                        "lock": None,
                    },
                ],
            },
        ],
        "edges": [
            {"from": "probe", "to": "load", "kind": "depends_on"},
            {"from": "probe", "to": "load", "kind": "when"},
        ],
    }


def test_json_of_tricky_ids_keeps_them_as_written(tmp_path: Path) -> None:
    _write(tmp_path, "tricky.yaml", TRICKY)
    data = json.loads(_graph(tmp_path, "tricky.yaml", "--format", "json"))
    assert data["locks"] == {"scope": "flow", "flow_lock": 'flow:tricky "flow" <&>'}
    odd = 'subgraph; node -> edge [label="x"] {graph}'
    assert [j["id"] for j in data["jobs"]] == ["end", odd, "digraph"]
    assert [j["lock"] for j in data["jobs"]] == [None, None, None]  # the flow lock covers them
    outer = data["jobs"][0]["steps"][0]
    assert outer["lock"] == {"key": 'C:\\locks\\"tricky "flow" <&>" <b>&amp; `x`', "static": True}
    assert outer["step"]["lock"] == {"key": "{{env.LOCK_NAME:fallback}}", "static": False}
    assert (
        data["jobs"][2]["when"]
        == "jobs.end.status == \"SUCCESS\" and jobs.end.outputs.code != 'a\\'b<c>'"
    )
    assert data["edges"] == [
        {"from": "end", "to": "digraph", "kind": "depends_on"},
        {"from": odd, "to": "digraph", "kind": "depends_on"},
        {"from": "end", "to": "digraph", "kind": "when"},
    ]


def test_a_bundle_manifest_draws_its_entry_flow_with_its_plugins() -> None:
    result = run_cli(
        ["graph", "--bundle-manifest", "examples/engine-project/manifest.yaml", "--format", "json"],
        cwd=ROOT,
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["flow"] == "orders_daily"
    export = data["jobs"][0]
    assert [s["type"] for s in export["steps"]] == [
        "db_extract_stream",
        "csv_summary",
        "zip",
    ]  # csv_summary: a plugin
    assert export["skipped_by"] == ["summary"]


# --- Mermaid, structurally (no Mermaid CLI offline) ----------------------------------------

_LABEL = r'"[^"]*"'
_NODE = re.compile(rf"^ *j\d+s\d+(\[{_LABEL}\]|\[/{_LABEL}/\])$")
_SUBGRAPH = re.compile(rf"^ *subgraph (j\d+|flow_lock) \[{_LABEL}\]$")
_EDGE = re.compile(rf"^ *(j\d+(s\d+)?) (-->|-\.->)(\|{_LABEL}\|)? (j\d+(s\d+)?)$")


def _check_mermaid(text: str) -> list[str]:
    """Every line is a known statement with well-formed, escaped labels; subgraphs are
    balanced and edges join declared ids. Returns the labels."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    declared: set[str] = set()
    depth = 0
    labels = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("%%"):
            continue
        if stripped == "direction TB":
            assert depth > 0
            continue
        if stripped == "end":
            depth -= 1
            assert depth >= 0, text
            continue
        match = _SUBGRAPH.match(line) or _NODE.match(line)
        if match:
            if line.lstrip().startswith("subgraph"):
                depth += 1
                declared.add(stripped.split()[1])
            else:
                declared.add(stripped.split("[")[0])
        else:
            match = _EDGE.match(line)
            assert match, f"not a Mermaid statement: {line!r}"
            assert match.group(1) in declared and match.group(5) in declared, line
        labels += [label[1:-1] for label in re.findall(_LABEL, line)]
    assert depth == 0, text
    for label in labels:
        # Only entity codes may carry '#', and nothing may open markup or a markdown string.
        assert not re.search(r"[<>&`%]", re.sub(r"<br>", "", label)), label
        assert not re.search(r"#(?!(quot|amp|lt|gt|35|37|96);)", label), label
    return labels


def _unescape_mermaid(label: str) -> str:
    table = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "35": "#", "37": "%", "96": "`"}
    return re.sub(r"#(\w+);", lambda m: table[m.group(1)], label.replace("<br>", "\n"))


def test_mermaid_of_tricky_ids_is_well_formed_and_escaped(tmp_path: Path) -> None:
    _write(tmp_path, "tricky.yaml", TRICKY)
    text = _graph(tmp_path, "tricky.yaml")
    labels = [_unescape_mermaid(label) for label in _check_mermaid(text)]
    assert labels[0] == 'flow tricky "flow" <&>\nflow lock flow:tricky "flow" <&>'
    assert labels[1] == "job end"
    assert labels[2] == (
        'say "hi" #1 (with_lock)\nwith lock C:\\locks\\"tricky "flow" <&>" <b>&amp; `x`\n'
        "runs (with_lock)\nwith lock {{env.LOCK_NAME:fallback}} (resolved at run time)\n"
        "runs (external.process)"
    )
    assert labels[3] == 'job subgraph; node -> edge [label="x"] {graph}\nmay be skipped: no data'
    assert labels[4] == "ünïcødé step %% --> |pipe| (check_items)\non_no_data: skip_job"
    assert labels[5] == (
        'job digraph\nwhen: jobs.end.status == "SUCCESS" and ' "jobs.end.outputs.code != 'a\\'b<c>'"
    )
    edges = [line.strip() for line in text.splitlines() if "->" in line and "[" not in line]
    assert edges == ['j1 -->|"when"| j3', "j2 --> j3"]


def test_every_example_is_well_formed_mermaid() -> None:
    for flow in sorted((EXAMPLES / "flows").glob("*.yaml")):
        _check_mermaid(_graph(ROOT, str(flow.relative_to(ROOT))))


# --- DOT, with Graphviz itself ---------------------------------------------------------


def _dot(source: str) -> subprocess.CompletedProcess[str]:
    dot = shutil.which("dot")
    assert (
        dot
    ), "Graphviz's dot is needed (Debian package graphviz; scripts/ensure-test-servers.sh installs it)"
    return subprocess.run([dot, "-Tsvg"], input=source, capture_output=True, text=True, timeout=60)


@pytest.mark.e2e
@pytest.mark.parametrize("flow", sorted(p.name for p in (EXAMPLES / "flows").glob("*.yaml")))
def test_graphviz_accepts_every_example(flow: str) -> None:
    source = _graph(ROOT, f"examples/flows/{flow}", "--format", "dot")
    run = _dot(source)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert "<svg" in run.stdout


@pytest.mark.e2e
def test_graphviz_accepts_tricky_ids_and_labels(tmp_path: Path) -> None:
    _write(tmp_path, "tricky.yaml", TRICKY)
    run = _dot(_graph(tmp_path, "tricky.yaml", "--format", "dot"))
    assert run.returncode == 0 and run.stderr == "", run.stderr
    # Every label line comes out as written (SVG escapes it its own way).
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", run.stdout)]
    assert texts[:3] == [
        'flow tricky "flow" <&> (tricky.yaml)',
        'flow lock flow:tricky "flow" <&>',
        "job end",
    ]
    assert 'job subgraph; node -> edge [label="x"] {graph}' in texts
    assert 'with lock C:\\locks\\"tricky "flow" <&>" <b>&amp; `x`' in texts
    assert "ünïcødé step %% --> |pipe| (check_items)" in texts
    assert "when: jobs.end.status == \"SUCCESS\" and jobs.end.outputs.code != 'a\\'b<c>'" in texts


# --- errors --------------------------------------------------------------------------------


def test_an_invalid_flow_gets_the_diagnostics_of_validate(tmp_path: Path) -> None:
    _write(tmp_path, "broken.yaml", SMALL.replace("depends_on: [probe]", "depends_on: [prob]"))
    graph = run_cli(["graph", "broken.yaml"], cwd=tmp_path)
    validate = run_cli(["validate", "broken.yaml"], cwd=tmp_path)
    assert graph.exit_code == validate.exit_code == 2
    assert graph.stdout == validate.stdout
    assert "broken.yaml:13:18: error AF303 job 'load' depends on unknown job 'prob'" in graph.stdout
    assert "Traceback" not in graph.stdout + graph.stderr


def test_a_directory_or_a_missing_flow_is_exit_2(tmp_path: Path) -> None:
    _write(tmp_path, "small.yaml", SMALL)
    result = run_cli(["graph", "."], cwd=tmp_path)
    assert result.exit_code == 2
    assert "AF100 graph needs one flow file" in result.stdout
    result = run_cli(["graph", "missing.yaml"], cwd=tmp_path)
    assert result.exit_code == 2
    assert "missing.yaml:1:1: error AF100 cannot read file" in result.stdout


def test_an_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    _write(tmp_path, "small.yaml", SMALL)
    result = run_cli(["graph", "small.yaml", "--format", "png"], cwd=tmp_path)
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.stderr
    assert result.stdout == ""


# --- the docs ------------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_graphs_page_shows_every_example_as_generated() -> None:
    run = subprocess.run(
        [sys.executable, "scripts/gen_graph_docs.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    page = (ROOT / "docs" / "graphs.md").read_text(encoding="utf-8")
    for flow in sorted((EXAMPLES / "flows").glob("*.yaml")):
        assert f"```mermaid\n{_graph(ROOT, str(flow.relative_to(ROOT)))}```" in page
