"""The front end: load, schema-check and semantically check files; one Report for all."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.codes import Severity
from aetherflow_compiler.diagnostics import Diagnostic, DiagnosticList
from aetherflow_compiler.frontend.loader import Document, load_file
from aetherflow_compiler.project.sources import detect_kind, expand_paths
from aetherflow_compiler.steps import StepRegistry, default_registry
from aetherflow_compiler.walk import mapping, mapping_at


@dataclass
class FileResult:
    path: str
    kind: str
    document: Document | None
    diagnostics: DiagnosticList = field(default_factory=DiagnosticList)
    # The flow's id and where it is written (flows only; for the duplicate-id check).
    flow_id: str | None = None
    flow_id_at: tuple[int, int] = (1, 1)

    @property
    def ok(self) -> bool:
        return not self.diagnostics.has_errors

    def note_flow_id(self) -> None:
        if self.kind != "flow" or self.document is None:
            return
        flow_id = mapping_at(self.document.data, "flow").get("id")
        if isinstance(flow_id, str):
            span = self.document.span(("flow", "id"))
            self.flow_id, self.flow_id_at = flow_id, (span.line, span.column)


@dataclass
class Report:
    files: list[FileResult] = field(default_factory=list)
    # Problems that belong to no file (a path on the command line that does not exist).
    general: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        out = [d for d in self.general if d.is_error]
        for f in self.files:
            out.extend(f.diagnostics.errors)
        return out

    @property
    def warnings(self) -> list[Diagnostic]:
        """Warnings and notes: what does not fail the command (`of_severity` tells them apart)."""
        out = [d for d in self.general if not d.is_error]
        for f in self.files:
            out.extend(f.diagnostics.warnings)
        return out

    def of_severity(self, severity: Severity) -> list[Diagnostic]:
        out = [d for d in self.general if d.severity is severity]
        for f in self.files:
            out.extend(f.diagnostics.of_severity(severity))
        return out

    def diagnostics(self) -> list[Diagnostic]:
        """Every diagnostic in the order the text output prints them: those of no file, then
        each file's, by position."""
        out = list(self.general)
        for f in self.files:
            out.extend(sorted(f.diagnostics.items))
        return out

    @property
    def ok(self) -> bool:
        return not self.errors

    def flows(self) -> list[FileResult]:
        return [f for f in self.files if f.kind == "flow"]

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": [{"path": f.path, "kind": f.kind, "ok": f.ok} for f in self.files],
            "errors": [d.as_json() for d in self.errors],
            "warnings": [d.as_json() for d in self.of_severity(Severity.WARNING)],
            "notes": [d.as_json() for d in self.of_severity(Severity.NOTE)],
        }


def check_document(
    doc: Document,
    kind: str,
    registry: StepRegistry,
    profiles: dict[str, Any] | None = None,
) -> list[Diagnostic]:
    """Every schema and semantic problem of one loaded document."""
    # The checks are imported when a document is checked: a compile that the cache answers
    # needs only this module's Report and FileResult.
    from aetherflow_compiler.frontend.checks.context import FlowContext
    from aetherflow_compiler.frontend.checks.graph import check_dependencies, check_ids
    from aetherflow_compiler.frontend.checks.references import (
        check_profile_templates,
        check_templates,
        check_when,
    )
    from aetherflow_compiler.frontend.checks.resources import check_profile_decode, check_resources
    from aetherflow_compiler.frontend.checks.scheduler import check_scheduler
    from aetherflow_compiler.frontend.checks.steps import check_steps
    from aetherflow_compiler.frontend.schema_check import check_schema
    from aetherflow_compiler.project.bundles.manifest import check_manifest

    out = check_schema(doc, kind, registry.plugin_type_names())
    if kind == "flow":
        ctx = FlowContext.of(doc, registry, profiles)
        for check in (
            check_ids,
            check_dependencies,
            check_steps,
            check_resources,
            check_templates,
            check_when,
        ):
            out.extend(check(ctx))
    elif kind == "profiles":
        ctx = FlowContext.of(doc, registry)
        out.extend(check_profile_templates(ctx))
        out.extend(check_profile_decode(ctx))
    elif kind == "manifest":
        out.extend(check_manifest(doc))
    else:
        out.extend(check_scheduler(doc))
    return out


def check_file(
    path: str, kind: str | None, registry: StepRegistry, profiles: dict[str, Any] | None
) -> FileResult:
    doc, load_diags = load_file(path)
    result = FileResult(path, kind or "flow", doc)
    result.diagnostics.extend(load_diags)
    if doc is None:
        return result
    result.kind = kind or detect_kind(doc.data, path)
    result.diagnostics.extend(check_document(doc, result.kind, registry, profiles))
    result.note_flow_id()
    return result


def validate_paths(
    paths: list[str],
    profiles_path: str | None = None,
    registry: StepRegistry | None = None,
) -> Report:
    """Validate files and directories (recursing into *.yaml / *.yml)."""
    registry = registry or default_registry()
    report = Report()
    files, problems = expand_paths(paths)
    report.general.extend(problems)

    profiles: dict[str, Any] | None = None
    profiles_file = os.path.normpath(profiles_path) if profiles_path is not None else None
    if profiles_file is not None:
        prof = check_file(profiles_file, "profiles", registry, None)
        report.files.append(prof)
        profiles = mapping(prof.document.data) if prof.document is not None else {}

    for path in files:
        if path != profiles_file:
            report.files.append(check_file(path, None, registry, profiles))
    check_unique_flow_ids(report)
    return report


def check_unique_flow_ids(report: Report) -> None:
    """AF702 on every flow whose id an earlier file already uses."""
    first: dict[str, FileResult] = {}
    for result in report.flows():
        flow_id = result.flow_id
        if flow_id is None:
            continue
        if flow_id in first:
            line, column = result.flow_id_at
            result.diagnostics.add(
                Diagnostic(
                    result.path,
                    line,
                    column,
                    "AF702",
                    f"flow id '{flow_id}' is also used by {first[flow_id].path}",
                    "flow ids name the artifacts, state and locks; make them unique",
                )
            )
        else:
            first[flow_id] = result
