"""The per-file phase of a compile: load, check and build the IR of one file (`analyse`),
in a pool worker, with its result in the cache; where the options allow, the flow's Python
script is generated in the same pass (`Ahead`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aetherflow_compiler.cache import CompileCache, key
from aetherflow_compiler.codegen.python.layout import string_literal
from aetherflow_compiler.codegen.runtime.bundle import RuntimeBundle
from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.driver.options import CompileTarget
from aetherflow_compiler.driver.pool import WORKER
from aetherflow_compiler.frontend.loader import load_bytes, read_source, unreadable
from aetherflow_compiler.frontend.targets import check_python_target
from aetherflow_compiler.frontend.validate import FileResult, check_document
from aetherflow_compiler.project.sources import OTHER, classify, classify_text, detect_kind
from aetherflow_compiler.steps import StepRegistry

# Building the IR and generating code are imported where they are used: a compile that
# the cache answers needs neither (and starts ~0.1 s sooner).
if TYPE_CHECKING:
    from aetherflow_compiler.ir import nodes as ir
    from aetherflow_compiler.ir.nodes import EnvFile


@dataclass
class Analysis:
    """What compiling needs to know about one source file (picklable, cacheable)."""

    path: str  # as shown in diagnostics
    source_name: str  # as shown in artifacts
    key: str  # cache key of this analysis
    kind: str
    diagnostics: list[Diagnostic]
    flow_id: str | None = None
    flow_id_at: tuple[int, int] = (1, 1)
    summary: dict[str, Any] = field(default_factory=dict)  # manifest entry and step types
    flow: ir.Flow | None = None  # absent when read back from the cache

    def to_cache(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "diagnostics": [d.as_json() for d in self.diagnostics],
            "flow_id": self.flow_id,
            "flow_id_at": list(self.flow_id_at),
            "summary": self.summary,
        }

    @classmethod
    def from_cache(cls, path: str, source_name: str, key: str, data: dict[str, Any]) -> Analysis:
        diagnostics = [
            Diagnostic(path, d["line"], d["column"], d["code"], d["message"], d["hint"])
            for d in data["diagnostics"]
        ]
        line, column = data["flow_id_at"]
        return cls(
            path,
            source_name,
            key,
            data["kind"],
            diagnostics,
            data["flow_id"],
            (line, column),
            data["summary"],
        )


def analyse(
    path: str,
    source_name: str,
    key: str,
    raw: bytes | None,
    profiles: dict[str, Any] | None,
    registry: StepRegistry,
    single_file: bool = False,
    target: CompileTarget = CompileTarget.PYTHON,
    by_content: bool = False,
) -> Analysis:
    """Load, check and (when valid) build the IR of one file. A file `by_content` (found in
    a folder) that is not an AetherFlow file is an analysis of kind OTHER, unchecked."""
    from aetherflow_compiler.codegen import sh
    from aetherflow_compiler.codegen.python.generate import (
        package_needs,
        requirements,
        uses_plugins,
    )
    from aetherflow_compiler.frontend.sh_target import blockers as sh_blockers_of
    from aetherflow_compiler.ir.builder import build_flow

    result = FileResult(path, "flow", None)
    if raw is None:
        try:
            raw = read_source(path)
        except OSError as exc:
            return Analysis(path, source_name, key, "flow", [unreadable(path, exc)])
    doc, load_diags = load_bytes(raw, path)
    if by_content:
        found = (
            classify(doc.data)
            if doc is not None
            else classify_text(raw[: 1 << 16].decode("utf-8", errors="replace"))
        )
        if found == OTHER:
            return Analysis(path, source_name, key, OTHER, [])
    result.diagnostics.extend(load_diags)
    if doc is not None:
        result.document = doc
        result.kind = found if by_content else detect_kind(doc.data, path)
        result.diagnostics.extend(check_document(doc, result.kind, registry, profiles))
        result.note_flow_id()
        if result.kind == "flow" and result.ok and target.python:
            check_python_target(result, registry, single_file)
    analysis = Analysis(
        path,
        source_name,
        key,
        result.kind,
        result.diagnostics.items,
        result.flow_id,
        result.flow_id_at,
    )
    if doc is not None and result.kind == "flow" and result.ok:
        flow = build_flow(doc, source_name, profiles)
        analysis.flow = flow
        modules, packages = requirements(flow, registry)
        needs = []
        for requirement, why, yaml_path in package_needs(flow, registry):
            span = doc.span(yaml_path)
            needs.append([requirement, why, span.line, span.column])
        sh_blockers = []
        derived = None
        if target.sh:  # what keeps a flow from the sh target (the cache key holds the target)
            for blocker in sh_blockers_of(flow, registry.plugin_type_names()):
                span = doc.span(blocker.path)
                sh_blockers.append([span.line, span.column, blocker.message])
            derived = sh.state_path_note(flow)
        state_span = doc.span(("flow", "state", "backend"))
        analysis.summary = {
            "source_sha256": flow.source_sha256,
            "sh_blockers": sh_blockers,
            "sh_state": (
                None
                if derived is None
                else [state_span.line, state_span.column, flow.state.backend, derived]
            ),
            "runtime_modules": modules,
            "uses_plugins": uses_plugins(flow, registry),
            "package_needs": needs,
            "manifest": {
                "artifact": f"{flow.id}.py",
                "source": flow.source,
                "jobs": [job.id for job in flow.jobs],
                "step_types": flow.step_types(),
                "env": {
                    name: {"required": not default} for name, default in flow.env_refs().items()
                },
                "packages": sorted(set(packages.values())),
            },
        }
    return analysis


# Scripts generated before the runtime is chosen (in the same pass as the analysis, see
# `Ahead`) carry this hash in place of the runtime's; the real one is put in afterwards.
RUNTIME_PLACEHOLDER = hashlib.sha256(
    b"aetherflow-compiler: the vendored runtime's sha256"
).hexdigest()


@dataclass(frozen=True)
class Ahead:
    """What generating a script in the analysis pass needs (the Python target without
    --single-file and --wheelhouse: then a script depends on the runtime only by its hash)."""

    bundle: RuntimeBundle  # the real runtime's version, RUNTIME_PLACEHOLDER as its hash
    plugin_files: tuple[str, ...]
    env_files: tuple[EnvFile, ...]
    key_parts: tuple[str, ...]  # CompileOptions.key_parts("script-ahead")
    from_bundle: bool

    def digest(self, analysis_key: str) -> str:
        return key(
            analysis_key, "script-ahead", *self.key_parts
        )  # the analysis key holds the compiler's fingerprint

    def generate(self, flow: ir.Flow, registry: StepRegistry) -> str:
        from aetherflow_compiler.codegen.python.generate import generate_flow

        return generate_flow(
            flow,
            registry,
            self.bundle,
            False,
            self.plugin_files,
            self.env_files,
            from_bundle=self.from_bundle,
        )


def with_runtime(text: str, bundle: RuntimeBundle) -> str | None:
    """A script generated ahead with the runtime's real hash; None when the placeholder is
    not there exactly once (a flow that holds the placeholder text itself)."""
    placeholder = string_literal(RUNTIME_PLACEHOLDER)  # as the template writes it (py_literal)
    at = text.find(placeholder)
    if at < 0 or text.find(placeholder, at + 1) >= 0:
        return None
    return text[:at] + string_literal(bundle.sha256) + text[at + len(placeholder) :]


def analyse_in_worker(
    task: tuple[str, str, str, bytes | None, bool],
) -> tuple[Analysis, str | None]:
    """The analysis of one file, stored in the cache; with `ahead`, also its script
    (stored with it). The IR is only sent back when the caller still needs it."""
    path, name, digest, raw, by_content = task
    analysis = analyse(
        path,
        name,
        digest,
        raw,
        WORKER["profiles"],
        WORKER["registry"],
        WORKER["single_file"],
        WORKER["target"],
        by_content,
    )
    store: CompileCache = WORKER["store"]
    ahead: Ahead | None = WORKER["ahead"]
    text = None
    if ahead is not None and analysis.flow is not None:
        text = ahead.generate(analysis.flow, WORKER["registry"])
    if analysis.key and not any(d.code in ("AF100", "AF101") for d in analysis.diagnostics):
        store.put_json("analysis", analysis.key, analysis.to_cache())
        if ahead is not None and text is not None:
            store.put_text("script", ahead.digest(analysis.key), text)
    if not WORKER["keep_flows"]:
        analysis.flow = None
    return analysis, text


def generate_in_worker(analysis: Analysis) -> str:
    from aetherflow_compiler.codegen.python.generate import generate_flow

    assert analysis.flow is not None
    ahead: Ahead | None = WORKER["ahead"]
    if ahead is not None:
        return ahead.generate(analysis.flow, WORKER["registry"])
    return generate_flow(
        analysis.flow,
        WORKER["registry"],
        WORKER["bundle"],
        WORKER["single_file"],
        WORKER["plugin_files"],
        WORKER["env_files"],
        WORKER["folders"].get(analysis.path, ()),
        WORKER["from_bundle"],
    )
