"""The IR built from valid flows: what code generators will consume."""

from __future__ import annotations

from aetherflow_compiler.frontend.loader import load_bytes
from aetherflow_compiler.frontend.validate import check_document
from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.builder import build_flow
from aetherflow_compiler.ir.template import Ref, Template
from aetherflow_compiler.ir.when import Compare, JobOutput, Literal
from aetherflow_compiler.steps import default_registry
from conftest import EXAMPLES

FLOW = b"""\
version: 1
flow:
  id: orders
  workspace: {layout: {scratch: tmp}}
resources:
  db: {kind: db, driver: sqlite3, profile: prod, config: {path: "{{env.DB:/tmp/x.sqlite}}"}, decode: {config: {password: true}}}
jobs:
  - id: probe
    steps:
      - id: check
        type: check_items
        inputs: {items: "{{env.FILES}}"}
        outputs: {has_data: "{{result.has_data}}"}
        on_no_data: skip_job
  - id: load
    depends_on: [probe]
    when: jobs.probe.outputs.has_data == true
    steps:
      - id: run
        type: with_lock
        inputs:
          lock_key: "load-{{run_id}}"
          step: {type: external.process, inputs: {command: ["echo", "{{env.FILES}}"]}}
"""

PROFILES = {
    "prod": {
        "config": {"password": "s3cr3t", "path": "/data/prod.sqlite"},
        "options": {"timeout": 5},
    }
}


def _flow() -> ir.Flow:
    doc, diags = load_bytes(FLOW, "flows/orders.yaml")
    assert doc is not None and not diags
    assert not check_document(doc, "flow", default_registry(), PROFILES)
    return build_flow(doc, "flows/orders.yaml", PROFILES)


def test_defaults_are_filled_and_layout_is_merged() -> None:
    flow = _flow()
    assert flow.workspace.root == "/tmp/work"
    assert flow.workspace.cleanup_policy == "on_success"
    assert flow.workspace.layout == ir.Map(
        (("artifacts", "artifacts"), ("scratch", "tmp"), ("manifests", "manifests"))
    )
    assert (flow.state.backend, flow.state.path) == ("sqlite", "/tmp/state/aetherflow.sqlite")
    assert (flow.locks.scope, flow.locks.ttl_seconds) == ("job", 3600)


def test_profiles_are_merged_and_templates_parsed() -> None:
    (db,) = _flow().resources
    assert db.config.get("password") == "s3cr3t"
    path = db.config.get("path")
    assert isinstance(path, Template) and path.refs == (Ref(("env", "DB"), "/tmp/x.sqlite", 0, 24),)
    assert db.options == ir.Map((("timeout", 5),))
    assert db.decode == (("config", "password"),)


def test_jobs_steps_when_and_origins() -> None:
    flow = _flow()
    probe, load = flow.jobs
    assert probe.steps[0].skip_job_on_no_data and probe.steps[0].origin == ir.Origin(
        "flows/orders.yaml", 10
    )
    assert load.depends_on == ("probe",)
    assert load.when == Compare(JobOutput("probe", "has_data", (), 0), ("==",), (Literal(True),))
    assert load.origin.line == 15
    assert flow.step_types() == ["check_items", "external.process", "with_lock"]
    assert flow.env_refs() == {"DB": True, "FILES": False}


def test_every_example_builds() -> None:
    for path in sorted((EXAMPLES / "flows").glob("*.yaml")):
        doc, _ = load_bytes(path.read_bytes(), path.name)
        assert doc is not None
        flow = build_flow(doc, path.name)
        assert flow.jobs and flow.source == path.name and len(flow.source_sha256) == 64
