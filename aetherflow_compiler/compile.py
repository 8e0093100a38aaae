"""`aetherflow compile`: validate, build the IR, generate every file in memory, then either
compare with the output directory (--check) or replace it atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler import __version__, ir
from aetherflow_compiler.build import build_flow
from aetherflow_compiler.codegen.python import generate_flow, runtime_bundle
from aetherflow_compiler.codegen.vendor import PACKAGE
from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.sources import expand_paths
from aetherflow_compiler.steps import StepRegistry, default_registry
from aetherflow_compiler.validate import FileResult, Report, validate_paths
from aetherflow_compiler.walk import mapping

MANIFEST = "manifest.json"
EXECUTABLE = 0o755
REGULAR = 0o644


@dataclass(frozen=True)
class CompileOptions:
    output: str
    profiles: str | None = None
    single_file: bool = False
    target: str = "python"


@dataclass
class CompileResult:
    report: Report
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content
    flows: list[ir.Flow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.ok


def source_names(paths: list[str]) -> dict[str, str]:
    """Display path -> the name artifacts use for it: relative to the directory it was found
    under, or the bare file name for files given directly. Independent of the working
    directory and of where the repository lives, so output is the same on every machine."""
    names: dict[str, str] = {}
    for given in paths:
        if os.path.isdir(given):
            found, _ = expand_paths([given])
            for path in found:
                names.setdefault(path, os.path.relpath(path, given).replace(os.sep, "/"))
        else:
            names.setdefault(os.path.normpath(given), os.path.basename(given))
    return names


def compile_paths(paths: list[str], options: CompileOptions, registry: StepRegistry | None = None) -> CompileResult:
    registry = registry or default_registry()
    report = validate_paths(paths, profiles_path=options.profiles, registry=registry)
    result = CompileResult(report)
    if not report.ok:
        return result
    names = source_names(paths)
    profiles: dict[str, Any] | None = None
    profiles_result = next((f for f in report.files if options.profiles and f.path == os.path.normpath(options.profiles)), None)
    if profiles_result is not None and profiles_result.document is not None:
        profiles = mapping(profiles_result.document.data)

    flow_results = [f for f in report.flows() if f is not profiles_result]
    for fr in flow_results:
        _check_target(fr, registry)
    if not report.ok:
        return result
    for fr in flow_results:
        assert fr.document is not None
        result.flows.append(build_flow(fr.document, names.get(fr.path, os.path.basename(fr.path)), profiles))
    result.files = _generate(result.flows, registry, options, report, profiles_result, names)
    return result


def _check_target(fr: FileResult, registry: StepRegistry) -> None:
    """AF701 for everything the Python target cannot compile yet."""
    doc = fr.document
    assert doc is not None
    data = mapping(doc.data)

    def report(path: tuple[Any, ...], message: str, hint: str) -> None:
        span = doc.span(path)
        fr.diagnostics.add(Diagnostic(fr.path, span.line, span.column, "AF701", message, hint))

    supported = sorted(t.name for t in map(registry.get, registry.names()) if t is not None and t.runtime)
    for name in mapping(data.get("resources")):
        report(("resources", name), f"resource '{name}' is not supported by the python target yet",
               "resources, connectors and the steps that use them come in a later release")
    for ji, job in enumerate(data.get("jobs") or []):
        for si, step in enumerate(mapping(job).get("steps") or []):
            types: list[tuple[Any, tuple[Any, ...]]] = [(mapping(step).get("type"), ("jobs", ji, "steps", si, "type"))]
            inner = mapping(mapping(mapping(step).get("inputs")).get("step"))
            if mapping(step).get("type") == "with_lock" and "type" in inner:
                types.append((inner["type"], ("jobs", ji, "steps", si, "inputs", "step", "type")))
            for step_type, path in types:
                known = registry.get(step_type) if isinstance(step_type, str) else None
                if known is not None and known.runtime is None:
                    report(path, f"step type '{step_type}' is not supported by the python target yet",
                           "supported: " + ", ".join(supported))


def _generate(flows: list[ir.Flow], registry: StepRegistry, options: CompileOptions, report: Report,
              profiles_result: FileResult | None, names: dict[str, str]) -> dict[str, bytes]:
    bundle = runtime_bundle(flows, registry)
    files: dict[str, bytes] = {}
    for flow in flows:
        files[f"{flow.id}.py"] = generate_flow(flow, registry, bundle, options.single_file).encode("utf-8")
    if not options.single_file:
        for name, text in bundle.files.items():
            files[f"{PACKAGE}/{name}"] = text.encode("utf-8")
    sources = {flow.source: flow.source_sha256 for flow in flows}
    if profiles_result is not None and profiles_result.document is not None:
        sources[names.get(profiles_result.path, os.path.basename(profiles_result.path))] = profiles_result.document.sha256
    manifest = {
        "compiler": {"name": "aetherflow-compiler", "version": __version__},
        "target": options.target,
        "single_file": options.single_file,
        "runtime": {"version": bundle.version, "sha256": bundle.sha256, "step_modules": bundle.step_modules},
        "sources": dict(sorted(sources.items())),
        "flows": {
            flow.id: {
                "artifact": f"{flow.id}.py",
                "source": flow.source,
                "jobs": [job.id for job in flow.jobs],
                "step_types": flow.step_types(),
                "env": {name: {"required": not has_default} for name, has_default in flow.env_refs().items()},
            }
            for flow in sorted(flows, key=lambda f: f.id)
        },
        "artifacts": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    return dict(sorted(files.items()))


def file_mode(path: str) -> int:
    return EXECUTABLE if "/" not in path and path.endswith(".py") else REGULAR


def drift(files: dict[str, bytes], output: str) -> list[tuple[str, str]]:
    """(state, path) for every difference between generated files and `output`."""
    found: dict[str, bytes] = {}
    if os.path.isdir(output):
        for root, _dirs, names in os.walk(output):
            for name in names:
                full = os.path.join(root, name)
                rel = os.path.relpath(full, output).replace(os.sep, "/")
                if "__pycache__" in rel.split("/"):
                    continue
                with open(full, "rb") as fh:
                    found[rel] = fh.read()
    out = []
    for path in sorted(set(files) | set(found)):
        if path not in found:
            out.append(("missing", path))
        elif path not in files:
            out.append(("unexpected", path))
        elif files[path] != found[path]:
            out.append(("differs", path))
        elif os.stat(os.path.join(output, path)).st_mode & 0o777 != file_mode(path):
            out.append(("mode differs", path))
    return out


class OutputError(Exception):
    pass


def write_output(files: dict[str, bytes], output: str) -> None:
    """Write every file into a temp directory next to `output`, then swap it into place."""
    output = os.path.abspath(output)
    parent = os.path.dirname(output)
    if os.path.exists(output) and not _is_compiler_output(output):
        raise OutputError(f"refusing to replace {output}: it exists and was not written by aetherflow compile")
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.tmp-", dir=parent)
    try:
        for rel, data in files.items():
            target = os.path.join(staging, *rel.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
            os.chmod(target, file_mode(rel))
        os.chmod(staging, 0o755)
        old = None
        if os.path.exists(output):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.old-", dir=parent)
            os.rmdir(old)
            os.rename(output, old)
        os.rename(staging, output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _is_compiler_output(path: str) -> bool:
    if not os.path.isdir(path):
        return False
    if not os.listdir(path):
        return True
    try:
        with open(os.path.join(path, MANIFEST), encoding="utf-8") as fh:
            return bool(json.load(fh).get("compiler", {}).get("name") == "aetherflow-compiler")
    except (OSError, ValueError, AttributeError):
        return False
