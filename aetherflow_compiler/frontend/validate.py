"""The front end: load, schema-check and semantically check files; one Report for all."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.codes import Severity
from aetherflow_compiler.diagnostics import Diagnostic, DiagnosticList
from aetherflow_compiler.frontend.loader import Document, load_bytes, read_source, unreadable
from aetherflow_compiler.project.sources import (
    OTHER,
    Selection,
    classify,
    classify_text,
    detect_kind,
    find_sources,
)
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
    # Files found by content that are not AetherFlow files (a CI workflow, a Kubernetes
    # manifest): not checked, listed with -v and counted in the summary.
    skipped: list[str] = field(default_factory=list)

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
            "skipped": [
                {"path": path, "reason": "not an AetherFlow file"} for path in self.skipped
            ],
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


def load_source(path: str, kind: str | None, by_content: bool = False) -> FileResult:
    """`path` loaded, with its kind: `kind` when given; from its content alone when
    `by_content` (sources.classify: OTHER for a file that is not an AetherFlow file, one
    that is not valid YAML by its top-level keys); else from its content and name
    (sources.detect_kind). Not checked yet (check_loaded)."""
    try:
        raw = read_source(path)
    except OSError as exc:
        failed = FileResult(path, kind or "flow", None)
        failed.diagnostics.add(unreadable(path, exc))
        return failed
    doc, load_diags = load_bytes(raw, path)
    if by_content and kind is None:
        if doc is not None:
            kind = classify(doc.data)
        else:
            kind = classify_text(raw[: 1 << 16].decode("utf-8", errors="replace"))
        if kind == OTHER:
            return FileResult(path, OTHER, None)
    result = FileResult(path, kind or "flow", doc)
    result.diagnostics.extend(load_diags)
    if doc is not None and kind is None:
        result.kind = detect_kind(doc.data, path)
    return result


def check_loaded(
    result: FileResult, registry: StepRegistry, profiles: dict[str, Any] | None
) -> FileResult:
    """Every schema and semantic problem of a loaded file, in its result."""
    if result.document is not None and result.kind != OTHER:
        result.diagnostics.extend(check_document(result.document, result.kind, registry, profiles))
        result.note_flow_id()
    return result


def check_file(
    path: str, kind: str | None, registry: StepRegistry, profiles: dict[str, Any] | None
) -> FileResult:
    return check_loaded(load_source(path, kind), registry, profiles)


@dataclass
class BundleCheck:
    """A bundle manifest found in a folder, checked as --bundle-manifest checks it: the
    report of its profiles and flows (with its plugins), and the files it takes over (on
    disk, real paths), which are not checked a second time without them."""

    report: Report
    claimed: set[str] = field(default_factory=set)


# Opens the bundle of a valid manifest found in a folder (cli.tree_bundles); None when it
# cannot be opened (its problems are then on the manifest's result).
BundleChecker = Callable[[FileResult], "BundleCheck | None"]


def validate_paths(
    paths: list[str],
    profiles_path: str | None = None,
    registry: StepRegistry | None = None,
    selection: Selection | None = None,
    bundles: BundleChecker | None = None,
) -> Report:
    """Validate files and directories (recursing into *.yaml / *.yml). Files found in
    folders are skipped when their content is not an AetherFlow file; with `bundles`, a
    bundle manifest found in a folder brings its own profiles, plugins and flows."""
    registry = registry or default_registry()
    report = Report()
    found = find_sources(paths, selection=selection or Selection())
    report.general.extend(found.problems)

    profiles: dict[str, Any] | None = None
    profiles_file = os.path.normpath(profiles_path) if profiles_path is not None else None
    if profiles_file is not None:
        prof = check_file(profiles_file, "profiles", registry, None)
        report.files.append(prof)
        profiles = mapping(prof.document.data) if prof.document is not None else {}

    loaded = [
        load_source(path, None, path in found.by_content and path not in found.pinned)
        for path in found.files
        if path != profiles_file
    ]
    checks: dict[str, BundleCheck] = {}
    claimed: set[str] = set()
    checked: set[str] = set()
    for result in loaded:
        if bundles is not None and result.kind == "manifest" and result.path in found.by_content:
            check_loaded(result, registry, None)
            checked.add(result.path)
            check = bundles(result) if result.ok else None
            if check is not None:
                checks[result.path] = check
                claimed |= check.claimed
    own = Report()
    for result in loaded:
        if result.path not in checks and os.path.realpath(result.path) in claimed:
            continue  # checked with its bundle
        if result.kind == OTHER:
            report.skipped.append(result.path)
            continue
        if result.path not in checked:
            check_loaded(result, registry, profiles)
        report.files.append(result)
        own.files.append(result)
        check = checks.get(result.path)
        if check is not None:
            report.files.extend(check.report.files)
            report.general.extend(check.report.general)
            report.skipped.extend(check.report.skipped)
    check_unique_flow_ids(own)  # a bundle's flow ids are its own (each compiles to a dist)
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
