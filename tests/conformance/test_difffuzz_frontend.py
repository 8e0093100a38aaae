"""The differential fuzzer's generator pointed at the front end alone (no flow runs):

- every generated flow that the engine's own validation accepts (`validate_flow_yaml`, what
  `run_flow` checks first) passes `aetherflow validate` and compiles for every target
  (warnings allowed);
- every mutation of a generated flow that the engine's validation refuses gets a located
  error from `aetherflow validate` (file, line, column, code; exit 2), never a traceback.

A batch of flows costs one start of the engine (oracle_driver.py --validate) and one call of
each command. Profiles as in test_difffuzz.py: a small derandomised budget in `make test`,
AETHERFLOW_FUZZ=long for AETHERFLOW_FUZZ_EXAMPLES flows of each property.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from difffuzz import dump_case, flow_cases
from harness import HERE, Case, known_failing
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench.oracle import oracle_python
from conftest import run_cli

pytestmark = [pytest.mark.conformance, pytest.mark.fuzz]

BATCH = 12
LONG = os.environ.get("AETHERFLOW_FUZZ", "") == "long"
EXAMPLES = -(-int(os.environ.get("AETHERFLOW_FUZZ_EXAMPLES", "1000")) // BATCH) if LONG else 8
PROFILE = settings(
    max_examples=EXAMPLES,
    derandomize=not LONG,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


def _flow_doc(case: dict[str, Any], name: str, root: Path) -> dict[str, Any]:
    """The flow a corpus case stands for (as the differential runs build it)."""
    path = root / "cases" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_case(case))
    doc: dict[str, Any] = yaml.safe_load(Case.load(path).flow_text)
    return doc


def _write(docs: dict[str, dict[str, Any]], root: Path) -> Path:
    flows = root / "flows"
    flows.mkdir()
    for name, doc in docs.items():
        (flows / f"{name}.yaml").write_text(
            yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)
        )
    return flows


def _engine_verdicts(flows: Path) -> dict[str, dict[str, Any]]:
    """flow name -> {"ok", "errors"} from the engine's validation of each file."""
    out = flows.parent / "engine-validate.json"
    files = sorted(str(p) for p in flows.glob("*.yaml"))
    subprocess.run(
        [oracle_python(), str(HERE / "oracle_driver.py"), "--validate", str(out), *files],
        cwd=flows.parent,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(flows.parent)},
        capture_output=True,
        timeout=600,
        check=True,
    )
    return {Path(path).stem: verdict for path, verdict in json.loads(out.read_text()).items()}


def _our_verdicts(flows: Path) -> tuple[int, dict[str, Any]]:
    result = run_cli(["validate", "--json", str(flows)])
    report: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, report


@PROFILE
@given(batch=st.lists(flow_cases(), min_size=BATCH, max_size=BATCH, unique_by=repr))
def test_flows_the_engine_validates_compile(
    batch: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("frontend")
    flows = _write(
        {f"fe{i}": _flow_doc(case, f"fe{i}", root) for i, case in enumerate(batch)}, root
    )
    engine = _engine_verdicts(flows)
    accepted = sorted(name for name, verdict in engine.items() if verdict["ok"])
    # The generator makes flows the engine accepts: a refusal here is a generator bug.
    assert len(accepted) == BATCH, {name: v["errors"] for name, v in engine.items() if not v["ok"]}
    _, report = _our_verdicts(flows)
    assert report["errors"] == [], "\n".join(
        f"{e['file']}:{e['line']}:{e['column']}: {e['code']} {e['message']}"
        for e in report["errors"]
    )
    compiled = run_cli(["compile", str(flows), "-o", str(root / "dist"), "--target", "all"])
    assert compiled.exit_code == 0, compiled.stdout + compiled.stderr


# --- mutations: each makes a generated flow something the engine's validation refuses ----
# Not here: what the language accepts beyond the engine on purpose (docs/compatibility.md):
# a `when` starting with a bare `true`, `TRUE`, negative literals.


def _process_steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in doc["jobs"] for s in job["steps"] if s["type"] == "external.process"]


def _any_step(doc: dict[str, Any]) -> dict[str, Any]:
    """A top-level step to change (one is added to the first job when there is none)."""
    for job in doc["jobs"]:
        if job["steps"]:
            return job["steps"][0]  # type: ignore[no-any-return]
    step = {"id": "added", "type": "external.process", "inputs": {"command": ["true"]}}
    doc["jobs"][0]["steps"].append(step)
    return step


def _process_step(doc: dict[str, Any]) -> dict[str, Any]:
    steps = _process_steps(doc)
    if steps:
        return steps[0]
    step = {"id": "added", "type": "external.process", "inputs": {"command": ["true"]}}
    doc["jobs"][0]["steps"].append(step)
    return step


def _with_template(text: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        step = _process_step(doc)
        step["inputs"]["command"] = (
            [*step["inputs"]["command"], text]
            if isinstance(step["inputs"]["command"], list)
            else [step["inputs"]["command"], text]
        )

    return mutate


def _set_when(expression: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc["jobs"][-1]["when"] = expression

    return mutate


def _dup_job(doc: dict[str, Any]) -> None:
    doc["jobs"][1]["id"] = doc["jobs"][0]["id"]


def _dup_step(doc: dict[str, Any]) -> None:
    step = _any_step(doc)
    for job in doc["jobs"]:
        if step in job["steps"]:
            job["steps"].append(copy.deepcopy(step))


def _keyword_job(doc: dict[str, Any]) -> None:
    """A job named like a Python keyword, which a `when` can then not name (a syntax error)."""
    doc["jobs"].insert(0, {"id": "if", "steps": []})
    doc["jobs"][-1]["when"] = "jobs.if.status == 'SUCCESS'"


def _depends_later(doc: dict[str, Any]) -> None:
    doc["jobs"][0]["depends_on"] = [doc["jobs"][-1]["id"]]


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "no command": lambda d: _process_step(d)["inputs"].pop("command"),
    "command is a number": lambda d: _process_step(d)["inputs"].__setitem__("command", 42),
    "unknown step type": lambda d: _any_step(d).__setitem__("type", "no.such_step"),
    "step without type": lambda d: _any_step(d).pop("type"),
    "step without id": lambda d: _any_step(d).pop("id"),
    "inputs not a mapping": lambda d: _any_step(d).__setitem__("inputs", [1]),
    "outputs not a mapping": lambda d: _any_step(d).__setitem__("outputs", "x"),
    "on_no_data other value": lambda d: _any_step(d).__setitem__("on_no_data", "fail_job"),
    "depends_on unknown job": lambda d: d["jobs"][-1].__setitem__("depends_on", ["ghost"]),
    "depends_on a later job": _depends_later,
    "depends_on not a list": lambda d: d["jobs"][-1].__setitem__("depends_on", 7),
    "duplicate job id": _dup_job,
    "duplicate step id": _dup_step,
    "job without steps": lambda d: d["jobs"][0].pop("steps"),
    "steps not a list": lambda d: d["jobs"][0].__setitem__("steps", "x"),
    "jobs not a list": lambda d: d.__setitem__("jobs", {"a": 1}),
    "flow without id": lambda d: d["flow"].pop("id"),
    "cleanup policy unknown": lambda d: d["flow"]["workspace"].__setitem__(
        "cleanup_policy", "sometimes"
    ),
    "lock scope unknown": lambda d: d["flow"]["locks"].__setitem__("scope", "global"),
    "state backend unknown": lambda d: d["flow"]["state"].__setitem__("backend", "redis"),
    "ttl not a number": lambda d: d["flow"]["locks"].__setitem__("ttl_seconds", "soon"),
    "resource without driver": lambda d: d.__setitem__("resources", {"r": {"kind": "db"}}),
    "resource unknown key": lambda d: d.__setitem__(
        "resources", {"r": {"kind": "db", "driver": "sqlite3", "bogus": 1}}
    ),
    "log mode unknown": lambda d: _process_step(d)["inputs"].__setitem__(
        "log", {"stdout": "bogus"}
    ),
    "log file without path": lambda d: _process_step(d)["inputs"].__setitem__(
        "log", {"stderr": "file"}
    ),
    "atomic_dir without dirs": lambda d: _process_step(d)["inputs"].__setitem__(
        "idempotency", {"strategy": "atomic_dir", "temp_output_dir": "t"}
    ),
    "when syntax error": _set_when("jobs.j0.status =="),
    "when unknown name": _set_when("ready == 1"),
    "when call": _set_when("len(jobs) > 1"),
    "when arithmetic": _set_when("1 + 1 == 2"),
    "when subscript": _set_when("jobs['j0'] == 1"),
    "when in": _set_when("'a' in jobs.j0.status"),
    "when names a keyword job": _keyword_job,
    "template dollar": _with_template("${HOME}"),
    "template filter": _with_template("{{ env.FZ_A | lower }}"),
    "template block": _with_template("{% if x %}y{% endif %}"),
    "template comment": _with_template("{# note #}"),
    "template empty": _with_template("{{ }}"),
    "template unclosed": _with_template("{{env.FZ_A"),
    "template closed first": _with_template("}} {{env.FZ_A}}"),
    "template bad path": _with_template("{{env..x}}"),
    "template digit path": _with_template("{{1x}}"),
    "template unknown root": _with_template("{{nope.x}}"),
    "template nested": _with_template("{{ {{run_id}} }}"),
    "template empty braces": _with_template("x{}y"),
    "ttl as a template": lambda d: d["flow"]["locks"].__setitem__("ttl_seconds", "{{env.TTL:300}}"),
}
# Mutations that reproduce a listed known disagreement (known_failing.yaml) wait for its fix.
KNOWN_MUTATIONS: dict[str, str] = {}
_listed = set(known_failing("engine"))
ACTIVE = sorted(name for name in MUTATIONS if KNOWN_MUTATIONS.get(name) not in _listed)


@PROFILE
@given(
    batch=st.lists(
        st.tuples(flow_cases(), st.sampled_from(ACTIVE)),
        min_size=BATCH,
        max_size=BATCH,
        unique_by=repr,
    )
)
def test_mutations_the_engine_refuses_get_located_errors(
    batch: list[tuple[dict[str, Any], str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("mutations")
    docs, applied = {}, {}
    for i, (case, mutation) in enumerate(batch):
        doc = _flow_doc(case, f"mu{i}", root)
        MUTATIONS[mutation](doc)
        docs[f"mu{i}"] = doc
        applied[f"mu{i}"] = mutation
    flows = _write(docs, root)
    engine = _engine_verdicts(flows)
    refused = sorted(name for name, verdict in engine.items() if not verdict["ok"])
    exit_code, report = _our_verdicts(flows)
    located = {
        Path(e["file"]).stem for e in report["errors"] if e["line"] >= 1 and e["column"] >= 1
    }
    missed = {name: applied[name] for name in refused if name not in located}
    assert not missed, "the engine refuses these; we give no located error:\n" + "\n".join(
        f"{name} ({mutation}): engine {engine[name]['errors'][:2]}\n{(flows / f'{name}.yaml').read_text()}"
        for name, mutation in missed.items()
    )
    assert exit_code == (2 if located else 0)
    # The mutations are chosen to be refused. The engine's validation does take some: it stops
    # rendering a step's inputs at the first key it cannot resolve before the run (a template
    # reading jobs.*, say), so a broken template after it shows only at run time.
    taken = sorted({applied[name] for name in engine if name not in refused})
    assert len(refused) >= BATCH // 2, f"the engine accepted {taken}"
