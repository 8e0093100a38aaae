"""Hostile input: generated flows and values either compile or fail with a located error,
and every value that compiles reaches the running step byte for byte."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, Project, run_cli

pytestmark = pytest.mark.reliability
LOCATED = re.compile(r"^.+:\d+:\d+: (error|warning|note) AF\d{3} .+$")

# Text that YAML and execve can carry: no NUL, no surrogates.
_safe = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
# Values that are not templates: everything but braces and the dollar sign.
_plain = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00{}$"),
    max_size=40,
)
_any_text = st.text(alphabet=_safe, max_size=40)
_ids = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,15}", fullmatch=True), _any_text)
_env_keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00="),
    min_size=1,
    max_size=20,
).filter(
    # variables that would change how the dumping python3 itself starts
    lambda k: not k.startswith(("PYTHON", "LD_"))
    and k not in ("PATH", "OUT")
)

DUMPER = "import json,os,sys; json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, open(os.environ['OUT'], 'w'))"


def _flow(
    flow_id: str,
    job_id: str,
    step_id: str,
    args: list[str],
    env: dict[str, str],
    output_keys: list[str],
    root: Path,
) -> str:
    doc = {
        "version": 1,
        "flow": {
            "id": flow_id,
            "workspace": {"root": str(root / "work")},
            "state": {"path": str(root / "state.sqlite")},
        },
        "jobs": [
            {
                "id": job_id,
                "steps": [
                    {
                        "id": step_id,
                        "type": "external.process",
                        "inputs": {
                            # The interpreter itself: a wrapper on PATH (pyenv's python3 shim is a bash
                            # script) would change variables such as `_` on the way.
                            "command": [os.path.realpath(sys.executable), "-c", DUMPER],
                            "args": args,
                            "env": {**env, "OUT": str(root / "seen.json")},
                            "outputs": {k: k for k in output_keys},
                        },
                        "outputs": {k: "{{result.exit_code}}" for k in output_keys},
                    }
                ],
            }
        ],
    }
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    flow_id=_ids,
    job_id=_ids,
    step_id=_ids,
    args=st.lists(st.one_of(_plain, _any_text), max_size=6),
    env=st.dictionaries(_env_keys, st.one_of(_plain, _any_text), max_size=5),
    output_keys=st.lists(_any_text.filter(bool), max_size=4, unique=True),
)
def test_generated_flows_compile_or_fail_located_and_values_survive(
    tmp_path_factory: pytest.TempPathFactory,
    flow_id: str,
    job_id: str,
    step_id: str,
    args: list[str],
    env: dict[str, str],
    output_keys: list[str],
) -> None:
    root = tmp_path_factory.mktemp("hostile")
    project = Project(root)
    text = _flow(flow_id, job_id, step_id, args, env, output_keys, root)
    project.write_flow("flow.yaml", text)
    # What YAML itself makes of the text (it folds line breaks such as U+0085 in scalars)
    # is what the engine would see too; that is what must reach the process unchanged.
    data = yaml.safe_load(text)
    flow_id, job_id = str(data["flow"]["id"]), str(data["jobs"][0]["id"])  # U+0085 folds in ids too
    step = data["jobs"][0]["steps"][0]["inputs"]
    args = step["args"]
    env = {k: v for k, v in step["env"].items() if k != "OUT"}
    output_keys = list(step["outputs"])
    result = run_cli(
        ["compile", str(project.flows), "-o", str(project.dist)]
    )  # raises on a traceback
    if result.exit_code != 0:
        assert result.exit_code == 2
        lines = [line for line in result.stdout.splitlines() if not line.startswith("  hint: ")]
        assert lines and all(LOCATED.match(line) for line in lines), result.stdout
        return
    proc = project.run(flow_id, "run", "--run-id", "r1")
    assert proc.returncode == 0, proc.stderr
    seen = json.loads((root / "seen.json").read_text())
    assert seen["argv"] == args
    assert {k: seen["env"].get(k) for k in env} == env
    report = project.status(flow_id, "r1")
    assert list(report["jobs"][job_id]["outputs"]) == output_keys


def _peak_rss_kb(args: list[str]) -> tuple[int, float, subprocess.CompletedProcess[str]]:
    """Run a command in a fresh interpreter and report its peak RSS and wall time."""
    probe = (
        "import resource, subprocess, sys, time, json; t = time.perf_counter(); "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
        "time.perf_counter() - t, p.returncode, p.stdout]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
    )
    rss, seconds, code, stdout = json.loads(out.stdout)
    return rss, seconds, subprocess.CompletedProcess(args, code, stdout, "")


def test_billion_laughs_and_a_50_mb_file_are_refused_quickly_in_bounded_memory(
    tmp_path: Path,
) -> None:
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefghi", "bcdefghij", strict=True):
        laughs.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    (tmp_path / "laughs.yaml").write_text("\n".join(laughs) + "\n")
    with open(tmp_path / "huge.yaml", "wb") as fh:
        for _ in range(50):
            fh.write(b"# " + b"x" * (1024 * 1024 - 3) + b"\n")
    aetherflow = str(Path(sys.executable).parent / "aetherflow")
    baseline, _, _ = _peak_rss_kb([aetherflow, "schema", "flow"])
    for name, code in (("laughs.yaml", "AF106"), ("huge.yaml", "AF101")):
        rss, seconds, proc = _peak_rss_kb([aetherflow, "validate", str(tmp_path / name)])
        assert proc.returncode == 2 and f" {code} " in proc.stdout
        assert seconds < 5.0, f"{name} took {seconds:.1f} s"
        assert (
            rss - baseline < 64 * 1024
        ), f"{name} used {(rss - baseline) // 1024} MB over the baseline"


def test_compiler_source_tree_has_no_yaml_text_in_generated_comments() -> None:
    """Comments in artifacts only hold file names (escaped) and line numbers."""
    template = (ROOT / "templates" / "flow.py.j2").read_text()
    for line in template.splitlines():
        if line.lstrip().startswith("#") and "{{" in line:
            assert re.search(
                r"\{\{ (job\.|step\.)?(origin_comment|source_comment|script_name|compiler_version|"
                r"flow\.source_sha256|runtime_version_literal|flow\.id) \}\}",
                line,
            ), line
