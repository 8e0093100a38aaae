"""`aetherflow compile`: validate, build the IR, generate every file in memory, then either
compare with the output directory (--check) or replace it atomically."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aetherflow_compiler import __version__
from aetherflow_compiler.cache import CompileCache, compiler_fingerprint, key
from aetherflow_compiler.codegen.python.layout import string_literal
from aetherflow_compiler.codegen.runtime.bundle import RuntimeBundle, runtime_bundle
from aetherflow_compiler.codegen.runtime.package import PACKAGE, runtime_version
from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend import fastcheck
from aetherflow_compiler.frontend.checks.context import FlowContext, embedded_steps
from aetherflow_compiler.frontend.loader import load_bytes, read_source, unreadable
from aetherflow_compiler.frontend.validate import (
    FileResult,
    Report,
    check_document,
    check_file,
    check_unique_flow_ids,
)
from aetherflow_compiler.project.plugins import PluginSet, plugin_entry_files, vendored_files
from aetherflow_compiler.project.sources import (
    MANIFEST,
    detect_kind,
    find_sources,
    is_dist,
    read_regular,
)
from aetherflow_compiler.schedule.options import DeployOptions
from aetherflow_compiler.steps import StepRegistry, default_registry
from aetherflow_compiler.suggest import closest
from aetherflow_compiler.walk import mapping

# Building the IR, generating code and scheduling are imported where they are used: a
# compile that the cache answers needs none of them (and starts ~0.1 s sooner).
if TYPE_CHECKING:
    from aetherflow_compiler.ir import nodes as ir
    from aetherflow_compiler.project.bundles.manifest import EnvFile
    from aetherflow_compiler.project.bundles.project import BundleProject
    from aetherflow_compiler.schedule.build import Scheduled
    from aetherflow_compiler.schedule.model import Schedule
    from aetherflow_compiler.vendoring.dist import VendoredDist
    from aetherflow_compiler.vendoring.target import Target

EXECUTABLE = 0o755
REGULAR = 0o644


@dataclass(frozen=True)
class CompileOptions:
    output: str
    profiles: str | None = None
    single_file: bool = False
    target: str = "python"
    schedule: str | None = None  # a scheduler file: DIR/schedule/ gets crontab, systemd and Kubernetes files
    deploy: DeployOptions = field(default_factory=DeployOptions)
    bundle: BundleProject | None = None  # --bundle-manifest: recorded in manifest.json, env files loaded at run time
    wheelhouse: str | None = None  # --wheelhouse: host packages vendored from the wheels there
    vendor_target: Target | None = None  # --python-version, --platform (None: the compiling interpreter)
    # --bytecode: interpreters to ship runtime bytecode for (None: the compiling one; (): none)
    bytecode: tuple[str, ...] | None = None
    # The command line's progress bar over the files to analyse; not part of any cache key.
    progress: Progress | None = field(default=None, compare=False)


class Progress(Protocol):
    def start(self, total: int) -> None:
        """`total` files are about to be analysed (those the cache does not answer)."""

    def advance(self, done: int) -> None:
        """`done` more of them are."""


@dataclass
class CompileResult:
    report: Report
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content
    flow_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.ok


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
            Diagnostic(path, d["line"], d["column"], d["code"], d["message"], d["hint"]) for d in data["diagnostics"]
        ]
        line, column = data["flow_id_at"]
        return cls(path, source_name, key, data["kind"], diagnostics, data["flow_id"], (line, column),
                   data["summary"])


def analyse(path: str, source_name: str, key: str, raw: bytes | None, profiles: dict[str, Any] | None,
            registry: StepRegistry, single_file: bool = False, target: str = "python") -> Analysis:
    """Load, check and (when valid) build the IR of one file."""
    from aetherflow_compiler.codegen import sh
    from aetherflow_compiler.codegen.python.generate import (
        package_needs,
        requirements,
        uses_plugins,
    )
    from aetherflow_compiler.ir.builder import build_flow

    result = FileResult(path, "flow", None)
    if raw is None:
        try:
            raw = read_source(path)
        except OSError as exc:
            return Analysis(path, source_name, key, "flow", [unreadable(path, exc)])
    doc, load_diags = load_bytes(raw, path)
    result.diagnostics.extend(load_diags)
    if doc is not None:
        result.document = doc
        result.kind = detect_kind(doc.data, path)
        result.diagnostics.extend(check_document(doc, result.kind, registry, profiles))
        result.note_flow_id()
        if result.kind == "flow" and result.ok and target != "sh":
            _check_target(result, registry, single_file)
    analysis = Analysis(path, source_name, key, result.kind, result.diagnostics.items,
                        result.flow_id, result.flow_id_at)
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
        if target != "python":  # what keeps a flow from the sh target (the cache key holds the target)
            for blocker in sh.blockers(flow, registry.plugin_type_names()):
                span = doc.span(blocker.path)
                sh_blockers.append([span.line, span.column, blocker.message])
            derived = sh.state_path_note(flow)
        state_span = doc.span(("flow", "state", "backend"))
        analysis.summary = {
            "source_sha256": flow.source_sha256,
            "sh_blockers": sh_blockers,
            "sh_state": None if derived is None else [state_span.line, state_span.column, flow.state.backend, derived],
            "runtime_modules": modules,
            "uses_plugins": uses_plugins(flow, registry),
            "package_needs": needs,
            "manifest": {
                "artifact": f"{flow.id}.py",
                "source": flow.source,
                "jobs": [job.id for job in flow.jobs],
                "step_types": flow.step_types(),
                "env": {name: {"required": not default} for name, default in flow.env_refs().items()},
                "packages": sorted(set(packages.values())),
            },
        }
    return analysis


# Worker state for the process pool (forked, so the compiler is already imported).
_WORKER: dict[str, Any] = {}

# Scripts generated before the runtime is chosen (in the same pass as the analysis, see
# `_ahead`) carry this hash in place of the runtime's; the real one is put in afterwards.
RUNTIME_PLACEHOLDER = hashlib.sha256(b"aetherflow-compiler: the vendored runtime's sha256").hexdigest()


@dataclass(frozen=True)
class _Ahead:
    """What generating a script in the analysis pass needs (the Python target without
    --single-file and --wheelhouse: then a script depends on the runtime only by its hash)."""

    bundle: RuntimeBundle  # the real runtime's version, RUNTIME_PLACEHOLDER as its hash
    plugin_files: tuple[str, ...]
    env_files: tuple[EnvFile, ...]
    env_key: str
    from_bundle: bool

    def digest(self, analysis_key: str) -> str:
        return key(analysis_key, "script-ahead", self.env_key)  # the analysis key holds the compiler's fingerprint

    def generate(self, flow: ir.Flow, registry: StepRegistry) -> str:
        from aetherflow_compiler.codegen.python.generate import generate_flow

        return generate_flow(flow, registry, self.bundle, False, self.plugin_files, self.env_files,
                             from_bundle=self.from_bundle)


def _runtime(modules: list[str], store: CompileCache, fingerprint: str) -> RuntimeBundle:
    """runtime_bundle(modules), through the cache: choosing the files parses the runtime's
    imports (about 0.1 s), and the compiler's fingerprint covers every runtime file."""
    digest = key(fingerprint, "runtime", *sorted(set(modules)))
    cached = store.get_json("runtime", digest)
    if cached is not None:
        return RuntimeBundle(cached["files"], cached["sha256"], cached["modules"], cached["version"])
    bundle = runtime_bundle(modules)
    store.put_json("runtime", digest, {"files": bundle.files, "sha256": bundle.sha256, "modules": bundle.modules,
                                       "version": bundle.version})
    return bundle


def _with_runtime(text: str, bundle: RuntimeBundle) -> str | None:
    """A script generated ahead with the runtime's real hash; None when the placeholder is
    not there exactly once (a flow that holds the placeholder text itself)."""
    placeholder = string_literal(RUNTIME_PLACEHOLDER)  # as the template writes it (py_literal)
    at = text.find(placeholder)
    if at < 0 or text.find(placeholder, at + 1) >= 0:
        return None
    return text[:at] + string_literal(bundle.sha256) + text[at + len(placeholder):]


def _analyse_in_worker(task: tuple[str, str, str, bytes | None]) -> tuple[Analysis, str | None]:
    """The analysis of one file, stored in the cache; with `ahead`, also its script
    (stored with it). The IR is only sent back when the caller still needs it."""
    analysis = analyse(*task, _WORKER["profiles"], _WORKER["registry"], _WORKER["single_file"], _WORKER["target"])
    store: CompileCache = _WORKER["store"]
    ahead: _Ahead | None = _WORKER["ahead"]
    text = None
    if ahead is not None and analysis.flow is not None:
        text = ahead.generate(analysis.flow, _WORKER["registry"])
    if analysis.key and not any(d.code in ("AF100", "AF101") for d in analysis.diagnostics):
        store.put_json("analysis", analysis.key, analysis.to_cache())
        if ahead is not None and text is not None:
            store.put_text("script", ahead.digest(analysis.key), text)
    if not _WORKER["keep_flows"]:
        analysis.flow = None
    return analysis, text


def _generate_in_worker(analysis: Analysis) -> str:
    from aetherflow_compiler.codegen.python.generate import generate_flow

    assert analysis.flow is not None
    ahead: _Ahead | None = _WORKER["ahead"]
    if ahead is not None:
        return ahead.generate(analysis.flow, _WORKER["registry"])
    return generate_flow(analysis.flow, _WORKER["registry"], _WORKER["bundle"], _WORKER["single_file"],
                         _WORKER["plugin_files"], _WORKER["env_files"], _WORKER["folders"].get(analysis.path, ()),
                         _WORKER["from_bundle"])


def _pool_map(function: Any, items: list[Any], state: dict[str, Any],
              progress: Callable[[int], None] | None = None) -> list[Any]:
    """`map` over a process pool when there is enough work for it, else in this process;
    `progress(1)` after each item, in order."""
    _WORKER.clear()
    _WORKER.update(state)
    workers = min(os.cpu_count() or 1, 8)
    results: Any = None
    if len(items) >= PARALLEL_MIN and workers >= 2:
        import multiprocessing  # only now: importing it and concurrent.futures costs ~20 ms

        if "fork" in multiprocessing.get_all_start_methods():
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                # Small chunks, so that no worker is left with a long last one while the others wait.
                chunks = max(1, min(16, len(items) // (workers * 8)))
                return _collect(pool.map(function, items, chunksize=chunks), progress)
    results = (function(item) for item in items)
    return _collect(results, progress)


def _collect(results: Any, progress: Callable[[int], None] | None) -> list[Any]:
    out = []
    for result in results:
        out.append(result)
        if progress is not None:
            progress(1)
    return out


PARALLEL_MIN = 16


def compile_paths(paths: list[str], options: CompileOptions, registry: StepRegistry | None = None,
                  compile_cache: CompileCache | None = None, plugins: PluginSet | None = None) -> CompileResult:
    """Compile `paths`. `registry` and `plugins` come from plugins.toolchain() when the
    compile uses plugins (their files are then vendored for the flows that need them)."""
    registry = registry or default_registry()
    store = compile_cache or CompileCache(enabled=False)
    fastcheck.use(store)  # the schema checks' compiled code is cached too
    report = Report()
    report.general.extend(plugins.warnings if plugins is not None else [])
    found = find_sources(paths, exclude=[options.output])  # an output inside a folder given is not an input
    files, names = found.files, found.names
    report.general.extend(found.problems)

    profiles: dict[str, Any] | None = None
    profiles_digest = ""
    profiles_file = os.path.normpath(options.profiles) if options.profiles else None
    profiles_result: FileResult | None = None
    if profiles_file is not None:
        profiles_result = check_file(profiles_file, "profiles", registry, None)
        report.files.append(profiles_result)
        if profiles_result.document is not None:
            profiles = mapping(profiles_result.document.data)
            profiles_digest = profiles_result.document.sha256

    schedule_file = os.path.normpath(options.schedule) if options.schedule else None
    schedule_result: FileResult | None = None
    if schedule_file is not None:
        schedule_result = check_file(schedule_file, "scheduler", registry, None)
        report.files.append(schedule_result)

    fingerprint = compiler_fingerprint()
    python = options.target in ("python", "all")
    env_files = options.bundle.env_files if options.bundle is not None else ()
    from_bundle = options.bundle is not None
    env_key = json.dumps([list(vars(f).values()) for f in env_files] + ([["bundle"]] if from_bundle else []))
    ahead = None
    if python and not options.single_file and options.wheelhouse is None:
        ahead = _Ahead(RuntimeBundle({}, RUNTIME_PLACEHOLDER, [], runtime_version()),
                       tuple(plugin_entry_files(plugins)) if plugins is not None else (), env_files, env_key,
                       from_bundle)
    keep_flows = schedule_file is not None or options.target in ("sh", "all") or ahead is None
    analyses: list[Analysis | None] = []
    pending: list[tuple[int, tuple[str, str, str, bytes | None]]] = []
    ahead_scripts: dict[str, str] = {}  # path -> script generated ahead in this compile
    for path in files:
        if path in (profiles_file, schedule_file):
            continue
        name = names.get(path, os.path.basename(path))
        try:
            raw: bytes | None = read_source(path)
        except OSError:
            raw = None  # analysed (and reported) uncached
        digest = key(fingerprint, registry.fingerprint, "analysis", name, profiles_digest, str(options.single_file),
                     options.target, raw) if raw is not None else ""
        cached = store.get_json("analysis", digest) if digest else None
        if cached is not None:
            analyses.append(Analysis.from_cache(path, name, digest, cached))
        else:
            pending.append((len(analyses), (path, name, digest, raw)))
            analyses.append(None)
    if options.progress is not None:
        options.progress.start(len(pending))
    fresh = _pool_map(_analyse_in_worker, [task for _, task in pending],
                      {"profiles": profiles, "registry": registry, "single_file": options.single_file,
                       "target": options.target, "store": store, "ahead": ahead, "keep_flows": keep_flows},
                      options.progress.advance if options.progress is not None else None)
    for (index, _), (analysis, text) in zip(pending, fresh, strict=True):
        analyses[index] = analysis
        if text is not None:
            ahead_scripts[analysis.path] = text
    done = [a for a in analyses if a is not None]

    for analysis in done:
        result = FileResult(analysis.path, analysis.kind, None, flow_id=analysis.flow_id, flow_id_at=analysis.flow_id_at)
        result.diagnostics.extend(analysis.diagnostics)
        if analysis.kind == "flow" and analysis.flow_id is not None:
            too_long = _artifact_name_problem(analysis)
            if too_long is not None:
                result.diagnostics.add(too_long)
        if env_files and analysis.kind == "flow" and analysis.summary:
            analysis.summary.setdefault("sh_blockers", []).append(
                [1, 1, "the bundle manifest's env_files are loaded by the Python artifact only"])
        if options.target in ("sh", "all"):
            code = "AF705" if options.target == "sh" else "AF806"
            hint = ("compile it for python (--target python), or change what the message names" if code == "AF705"
                    else "this flow gets a Python artifact only")
            for line, column, message in analysis.summary.get("sh_blockers", []):
                if code == "AF806":
                    message = f"no sh artifact for flow '{analysis.flow_id}': {message}"
                result.diagnostics.add(Diagnostic(analysis.path, line, column, code, message, hint))
            sh_state = analysis.summary.get("sh_state")
            if sh_state and not analysis.summary.get("sh_blockers"):
                line, column, backend, derived = sh_state
                result.diagnostics.add(Diagnostic(
                    analysis.path, line, column, "AF816",
                    f"the sh artifact of flow '{analysis.flow_id}' keeps its state in the file layout at "
                    f"'{derived}', not in the {backend} state store the flow declares: runs and locks of the "
                    "sh artifact and of the Python artifact (or the engine) do not see each other",
                    "run one target of this flow per state store, or set state.backend: file for both; "
                    "AETHERFLOW_SH_SQLITE_MIRROR=1 also writes the sh runs' statuses into the declared "
                    "database where a sqlite3 command exists (docs/sh-target.md)"))
        report.files.append(result)
    check_unique_flow_ids(report)
    result_ = CompileResult(report)
    if not report.ok:
        return result_

    flows = [a for a in done if a.kind == "flow"]
    modules = sorted({m for a in flows for m in a.summary["runtime_modules"]}) if python else []
    bundle = _runtime(modules, store, fingerprint)
    vendored_plugins = python and any(a.summary["uses_plugins"] for a in flows) and plugins is not None
    plugin_files = tuple(plugin_entry_files(plugins)) if plugins is not None and vendored_plugins else ()

    def flow_of(analysis: Analysis) -> ir.Flow:
        if analysis.flow is None:  # its analysis came from the cache: build the IR again
            analysis.flow = analyse(analysis.path, analysis.source_name, analysis.key, None, profiles,
                                    registry, options.single_file, options.target).flow
        assert analysis.flow is not None
        return analysis.flow

    vendored = None
    if python and options.wheelhouse is not None:
        vendored = _vendor(flows, options.wheelhouse, options.vendor_target, report, options.deploy.shared_state)
        if vendored is None:
            return result_
    folders = vendored.folders if vendored is not None else {}

    scripts: dict[str, str] = {}
    if python and ahead is not None:
        scripts = _scripts_ahead(flows, ahead, ahead_scripts, bundle, registry, store, flow_of)
    elif python:
        to_generate: list[Analysis] = []
        digests = {a.path: key(a.key, "script", bundle.sha256, str(options.single_file), env_key,
                               *folders.get(a.path, ())) for a in flows}
        for analysis in flows:
            text = store.get_text("script", digests[analysis.path]) if analysis.key else None
            if text is not None:
                scripts[analysis.path] = text
            else:
                flow_of(analysis)
                to_generate.append(analysis)
        generated = _pool_map(_generate_in_worker, to_generate,
                              {"registry": registry, "bundle": bundle, "single_file": options.single_file,
                               "plugin_files": plugin_files, "env_files": env_files, "folders": folders,
                               "from_bundle": from_bundle, "ahead": None})
        for analysis, text in zip(to_generate, generated, strict=True):
            scripts[analysis.path] = text
            if analysis.key:
                store.put_text("script", digests[analysis.path], text)
    shell_scripts: dict[str, str] = {}
    if options.target in ("sh", "all"):
        from aetherflow_compiler.codegen import sh

        runtime_digest = hashlib.sha256(sh.runtime_source().encode("utf-8")).hexdigest()
        for analysis in flows:
            if analysis.summary.get("sh_blockers"):
                continue
            digest = key(analysis.key, "sh", runtime_digest, str(from_bundle))
            text = store.get_text("script", digest) if analysis.key else None
            if text is None:
                text = sh.generate_sh(flow_of(analysis), from_bundle)
                if analysis.key:
                    store.put_text("script", digest, text)
            shell_scripts[analysis.path] = text

    scheduled: list[Scheduled] = []
    schedule: Schedule | None = None
    if schedule_result is not None and schedule_result.document is not None:
        from aetherflow_compiler.schedule.model import schedule_of

        doc = schedule_result.document
        schedule = schedule_of(doc.data, names.get(schedule_result.path, os.path.basename(schedule_result.path)),
                               doc.sha256)
        scheduled = _scheduled(schedule, schedule_result, flows, flow_of, scripts, shell_scripts, options.bundle)
        if not report.ok:
            return result_
        # Items of another bundle (AF815) are left out of this dist's schedule files.
        schedule = dataclasses.replace(schedule, items=tuple(s.item for s in scheduled))

    result_.flow_ids = [str(a.flow_id) for a in flows]
    extra = vendored_files(plugins) if plugins is not None and vendored_plugins else {}
    pycs = _bytecode(bundle, options, store) if scripts and not options.single_file else {}
    result_.files = _assemble(flows, scripts, shell_scripts, bundle, options, profiles_result, names, extra,
                              (schedule, scheduled) if schedule is not None else None, vendored, pycs, store)
    return result_


NAME_MAX = 255  # bytes in a file name, on nearly every file system (ext4, XFS, btrfs, APFS, NTFS)


def _artifact_name_problem(analysis: Analysis) -> Diagnostic | None:
    """AF206 at the flow id when `<flow id>.py` (or `.sh`) is too long for a file name."""
    flow_id = str(analysis.flow_id)
    size = len(f"{flow_id}.py".encode("utf-8", "surrogatepass"))
    if size <= NAME_MAX:
        return None
    line, column = analysis.flow_id_at
    shown = flow_id if len(flow_id) <= 40 else flow_id[:37] + "..."
    return Diagnostic(analysis.path, line, column, "AF206",
                      f"flow id '{shown}' is too long to name its artifact: '<flow id>.py' would be a file name "
                      f"of {size} bytes, and file systems allow {NAME_MAX}",
                      f"shorten the flow id to at most {NAME_MAX - 3} bytes (UTF-8; 'é' takes 2)")


def _bytecode(bundle: RuntimeBundle, options: CompileOptions, store: CompileCache) -> dict[str, dict[str, bytes]]:
    """Cache tag -> {dist path: pyc} of the runtime, for each interpreter of --bytecode.
    Raises BytecodeError for an interpreter that cannot be run."""
    from aetherflow_compiler.codegen.runtime.bytecode import (
        Interpreter,
        default_interpreter,
        find_interpreter,
        runtime_bytecode,
    )

    interpreters: list[Interpreter | None] = (
        [find_interpreter(python) for python in options.bytecode] if options.bytecode is not None
        # None when the hosts' --python-version X.Y has no pythonX.Y here: no bytecode
        else [default_interpreter(options.vendor_target.python_version if options.vendor_target else None)])
    found: dict[str, dict[str, bytes]] = {}
    for interpreter in filter(None, interpreters):
        tag, pycs = runtime_bytecode(bundle.files, bundle.sha256, interpreter, PACKAGE, store)
        found[tag] = pycs
    return dict(sorted(found.items()))


def _scripts_ahead(flows: list[Analysis], ahead: _Ahead, generated: dict[str, str], bundle: RuntimeBundle,
                   registry: StepRegistry, store: CompileCache, flow_of: Callable[[Analysis], ir.Flow]) -> dict[str, str]:
    """Path -> script of every flow, from the scripts generated in the analysis pass, else
    from the cache, else generated now; each with the runtime's real hash put in."""
    texts: dict[str, str] = {}
    to_generate: list[Analysis] = []
    for analysis in flows:
        text = generated.get(analysis.path)
        if text is None and analysis.key:
            text = store.get_text("script", ahead.digest(analysis.key))
        if text is not None:
            texts[analysis.path] = text
        else:
            flow_of(analysis)
            to_generate.append(analysis)
    fresh = _pool_map(_generate_in_worker, to_generate, {"registry": registry, "ahead": ahead})
    for analysis, text in zip(to_generate, fresh, strict=True):
        texts[analysis.path] = text
        if analysis.key:
            store.put_text("script", ahead.digest(analysis.key), text)
    scripts = {}
    for analysis in flows:
        script = _with_runtime(texts[analysis.path], bundle)
        if script is None:  # the flow holds the placeholder: generate it with the real hash
            from aetherflow_compiler.codegen.python.generate import generate_flow

            script = generate_flow(flow_of(analysis), registry, bundle, False, ahead.plugin_files, ahead.env_files,
                                   from_bundle=ahead.from_bundle)
        scripts[analysis.path] = script
    return scripts


STATE_DRIVER = "psycopg[binary]"  # what --shared-state hosts need for AETHERFLOW_STATE_URL


def _vendor(flows: list[Analysis], wheelhouse: str, target: Target | None, report: Report,
            shared_state: bool = False) -> VendoredDist | None:
    """The host packages of every flow, from the wheelhouse; None (and AF323 errors in
    `report`) when a package is missing or only there for another target."""
    from aetherflow_compiler.vendoring.dist import FlowNeeds, vendor_flows
    from aetherflow_compiler.vendoring.target import Target
    from aetherflow_compiler.vendoring.wheelhouse import Need, Wheelhouse

    target = target or Target()

    state_need = (Need(STATE_DRIVER, "the PostgreSQL state store (--shared-state)"),) if shared_state else ()
    wanted = [FlowNeeds(a.path, str(a.flow_id), tuple(Need(*n) for n in a.summary["package_needs"]) + state_need)
              for a in flows]
    result = vendor_flows(wanted, Wheelhouse(wheelhouse), target)
    if not isinstance(result, list):
        return result
    for refusal in result:
        need = refusal.need
        report.general.append(Diagnostic(
            refusal.flow.key, need.line, need.column, "AF323",
            f"flow '{refusal.flow.flow_id}', {need.why}: {refusal.message}",
            "download that wheel again (pip download --only-binary=:all: --no-deps ...) into the wheelhouse"
            if refusal.damaged else
            f"add its wheels for {target.describe()} to the wheelhouse (pip download --only-binary=:all: "
            f"--dest {wheelhouse} ...), or compile without --wheelhouse and install it on the hosts"))
    return None


def schedule_files(schedule: Schedule, scheduled: list[Scheduled], artifacts: dict[str, bytes],
                   options: DeployOptions) -> dict[str, bytes]:
    """schedule.build.schedule_files (for _assemble), imported when a compile has a scheduler file."""
    from aetherflow_compiler.schedule.build import schedule_files as build_schedule_files

    return build_schedule_files(schedule, scheduled, artifacts, options)


def _scheduled(schedule: Schedule, result: FileResult, flows: list[Analysis], flow_of: Callable[[Analysis], ir.Flow],
               scripts: dict[str, str], shell_scripts: dict[str, str],
               bundle: BundleProject | None = None) -> list[Scheduled]:
    """Each item with the compiled flow it runs; AF316/AF317 (on `result`) for the others.
    `flow_yaml` is a path relative to the scheduler file, as the engine's scheduler reads it."""
    from aetherflow_compiler.schedule.build import Scheduled

    assert result.document is not None
    doc = result.document
    base = os.path.dirname(os.path.abspath(result.path))
    by_path = {os.path.normpath(os.path.abspath(a.path)): a for a in flows}
    out = []
    for item in schedule.items:
        if item.flow_yaml is None:  # the item runs a bundle's entry flow
            manifest = os.path.normpath(os.path.join(base, str(item.bundle_manifest)))
            if bundle is None or manifest != os.path.normpath(os.path.abspath(bundle.manifest.path)):
                span = doc.span(("items", item.index, "bundle_manifest"))
                result.diagnostics.add(Diagnostic(result.path, span.line, span.column, "AF815",
                                                  f"item '{item.id}' runs bundle {item.bundle_manifest}, which is "
                                                  "not the one being compiled: left out of this dist",
                                                  "compile that bundle into its own dist with this scheduler file"))
                continue
            entry = by_path.get(os.path.normpath(os.path.abspath(bundle.entry_flow)))
            assert entry is not None, "the entry flow of a bundle is compiled"
            item = dataclasses.replace(item, flow_yaml=os.path.relpath(entry.path, base))
        flow_yaml = str(item.flow_yaml)
        analysis = by_path.get(os.path.normpath(os.path.join(base, flow_yaml)))
        if analysis is None:
            span = doc.span(("items", item.index, "flow_yaml"))
            known = sorted(os.path.relpath(p, base) for p in by_path)
            best = closest(flow_yaml, known)
            hint = f"did you mean '{best}'?" if best else "compiled: " + (", ".join(known) or "no flows")
            result.diagnostics.add(Diagnostic(result.path, span.line, span.column, "AF316",
                                              f"item '{item.id}': flow_yaml '{item.flow_yaml}' is not among the "
                                              "compiled flows", hint))
            continue
        flow = flow_of(analysis)
        jobs = [job.id for job in flow.jobs]
        if item.flow_job is not None and item.flow_job not in jobs:
            span = doc.span(("items", item.index, "flow_job"))
            best = closest(item.flow_job, jobs)
            result.diagnostics.add(Diagnostic(result.path, span.line, span.column, "AF317",
                                              f"item '{item.id}': flow '{flow.id}' has no job '{item.flow_job}'",
                                              f"did you mean '{best}'?" if best else "jobs: " + ", ".join(jobs)))
            continue
        if analysis.path in scripts:
            out.append(Scheduled(item, flow, f"{flow.id}.py"))
        elif analysis.path in shell_scripts:
            out.append(Scheduled(item, flow, f"{flow.id}.sh"))
    return out


def _check_target(fr: FileResult, registry: StepRegistry, single_file: bool) -> None:
    """AF701 for everything the Python target cannot compile yet; AF704 for plugin use
    with --single-file (plugins ship as files next to the script)."""
    doc = fr.document
    assert doc is not None
    data = mapping(doc.data)

    def report(path: tuple[Any, ...], message: str, hint: str, code: str = "AF701") -> None:
        span = doc.span(path)
        fr.diagnostics.add(Diagnostic(fr.path, span.line, span.column, code, message, hint))

    single_file_hint = "plugins are vendored as files in aetherflow_plugins/; compile without --single-file"
    supported = sorted(t.name for t in map(registry.get, registry.names()) if t is not None and t.runtime)
    for name, resource in mapping(data.get("resources")).items():
        kind, driver = mapping(resource).get("kind"), mapping(resource).get("driver")
        connector = registry.connector(str(kind), str(driver))
        if connector is not None and connector.plugin and single_file:
            report(("resources", name, "driver"), f"connector {kind}:{driver} comes from a plugin, which "
                   "--single-file cannot include", single_file_hint, "AF704")
        elif connector is not None and connector.runtime is None and not connector.plugin:
            report(("resources", name, "driver"), f"connector {kind}:{driver} is not supported by the python target yet",
                   "supported: " + ", ".join(c.key for c in registry.connectors() if c.runtime))
    for job in FlowContext.of(doc, registry).jobs:
        for step in job.steps:
            for each in (step, *embedded_steps(registry, step)):  # with_lock's, at any depth
                known = registry.get(each.type) if each.type is not None else None
                path = each.path + ("type",)
                if known is not None and known.plugin and single_file:
                    report(path, f"step type '{each.type}' comes from a plugin, which --single-file cannot include",
                           single_file_hint, "AF704")
                elif known is not None and known.runtime is None and not known.plugin:
                    report(path, f"step type '{each.type}' is not supported by the python target yet",
                           "supported: " + ", ".join(supported))


def _assemble(flows: list[Analysis], scripts: dict[str, str], shell_scripts: dict[str, str], bundle: RuntimeBundle,
              options: CompileOptions, profiles_result: FileResult | None, names: dict[str, str],
              extra: dict[str, bytes], scheduling: tuple[Schedule, list[Scheduled]] | None,
              vendored: VendoredDist | None = None, pycs: dict[str, dict[str, bytes]] | None = None,
              store: CompileCache | None = None) -> dict[str, bytes]:
    files: dict[str, bytes] = dict(extra)
    for tagged in (pycs or {}).values():
        files.update(tagged)
    if vendored is not None:
        files.update(vendored.files)
    for analysis in flows:
        if analysis.path in scripts:
            files[f"{analysis.flow_id}.py"] = scripts[analysis.path].encode("utf-8")
        if analysis.path in shell_scripts:
            # A file name that is not UTF-8 (in the header comment) keeps its bytes: sh reads bytes
            files[f"{analysis.flow_id}.sh"] = shell_scripts[analysis.path].encode("utf-8", "surrogateescape")
    if scripts and not options.single_file:
        for name, text in bundle.files.items():
            files[f"{PACKAGE}/{name}"] = text.encode("utf-8")
    sources = {a.source_name: a.summary["source_sha256"] for a in flows}
    if profiles_result is not None and profiles_result.document is not None:
        sources[names.get(profiles_result.path, os.path.basename(profiles_result.path))] = profiles_result.document.sha256
    schedule_entry: dict[str, Any] = {}
    if scheduling is not None:
        schedule, scheduled = scheduling
        # The ConfigMap carries the artifacts written so far: scripts, runtime, plugins.
        files.update(schedule_files(schedule, scheduled, dict(files), options.deploy))
        sources[schedule.source] = schedule.sha256
        schedule_entry = {"schedule": {
            s.item.id: {"cron": s.item.cron.text, "timezone": schedule.timezone, "flow": s.flow.id,
                        "job": s.item.flow_job, "unit": f"aetherflow-{s.item.slug}"}
            for s in scheduled}}
    manifest = {
        "compiler": {"name": "aetherflow-compiler", "version": __version__},
        "target": options.target,
        "single_file": options.single_file,
        **({"runtime": {"version": bundle.version, "sha256": bundle.sha256, "modules": bundle.modules,
                        **({"bytecode": sorted(pycs)} if pycs else {})}}
           if scripts else {}),
        "sources": dict(sorted(sources.items())),
        "flows": {str(a.flow_id): _flow_manifest(a, scripts, shell_scripts, options,
                                                 vendored.folders.get(a.path, ()) if vendored else ())
                  for a in sorted(flows, key=lambda a: str(a.flow_id))},
        **({"plugins": sorted(extra)} if extra else {}),
        **({"vendored": vendored.entries,
            "vendor_target": vendored.target.as_json()}
           if vendored is not None and vendored.entries else {}),
        **({"bundle": options.bundle.manifest_entry()} if options.bundle is not None else {}),
        **schedule_entry,
        "artifacts": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
    }
    files[MANIFEST] = _manifest_text(manifest, store).encode("utf-8")
    return dict(sorted(files.items()))


def _manifest_text(manifest: dict[str, Any], store: CompileCache | None) -> str:
    """manifest.json's text. json writes indented JSON with its pure-Python encoder (about
    30 ms for 1000 flows), so the text is kept in the cache under the compact encoding,
    which the C encoder makes in a few."""
    digest = key("manifest", json.dumps(manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
    text = store.get_text("manifest", digest) if store is not None else None
    if text is None:
        text = json_text(manifest) + "\n"
        if store is not None:
            store.put_text("manifest", digest, text)
    return text


def _flow_manifest(analysis: Analysis, scripts: dict[str, str], shell_scripts: dict[str, str],
                   options: CompileOptions, folders: tuple[str, ...] = ()) -> dict[str, Any]:
    entry = dict(analysis.summary["manifest"])
    if options.deploy.shared_state and analysis.path in scripts:
        entry["packages"] = sorted({*entry["packages"], STATE_DRIVER})
    if folders:
        entry["vendored"] = list(folders)
    if analysis.path not in scripts:
        del entry["artifact"]
    if options.target in ("sh", "all"):
        entry["sh_artifact"] = f"{analysis.flow_id}.sh" if analysis.path in shell_scripts else None
    return entry


def file_mode(path: str) -> int:
    return EXECUTABLE if "/" not in path and path.endswith((".py", ".sh")) else REGULAR


def drift(files: dict[str, bytes], output: str) -> list[tuple[str, str]]:
    """(state, path) for every difference between generated files and `output`. Only the
    files a compile writes are read (regular files only: a FIFO there never blocks); a
    file that cannot be read differs."""
    found: dict[str, bytes | None] = {}
    modes: dict[str, int] = {}
    if os.path.isdir(output):
        for root, _dirs, names in os.walk(output):
            folder = os.path.relpath(root, output).replace(os.sep, "/")
            for name in names:
                rel = name if folder == "." else f"{folder}/{name}"
                if rel not in files:
                    if "__pycache__" not in rel.split("/"):  # else bytecode Python wrote itself
                        found[rel] = None
                    continue
                try:
                    found[rel], modes[rel] = _read_with_mode(os.path.join(root, name))
                except OSError:
                    found[rel] = None
    out = []
    for path in sorted(set(files) | set(found)):
        if path not in found:
            out.append(("missing", path))
        elif path not in files:
            out.append(("unexpected", path))
        elif files[path] != found[path]:
            out.append(("differs", path))
        elif modes[path] & 0o777 != file_mode(path):
            out.append(("mode differs", path))
    return out


def _read_with_mode(path: str) -> tuple[bytes, int]:
    data = read_regular(path)
    return data, os.stat(path).st_mode


class OutputError(Exception):
    pass


def output_target(output: str) -> str:
    """The directory a compile writes for `-o output`: the output itself, or, when it is a
    symbolic link, where the link leads (the link stays, its target is replaced)."""
    output = os.path.abspath(output)
    return os.path.realpath(output) if os.path.islink(output) else output


def write_output(files: dict[str, bytes], output: str) -> list[tuple[str, str]]:
    """Make `output` hold exactly `files`; returns what changed, as drift() names it
    ([] when it already held them: nothing is touched).

    Otherwise everything is assembled in a temp directory next to `output`, which is then
    swapped into place, so `output` is never half-written. Files that did not change are
    hard-linked from the previous output instead of being written again. An `output` that
    is a symbolic link is written through: its target is replaced, the link stays.
    OutputError when it cannot be written.
    """
    shown = output
    output = output_target(output)
    parent = os.path.dirname(output)
    if os.path.lexists(output) and not _is_compiler_output(output):
        what = "a file" if not os.path.isdir(output) else "a directory"
        raise OutputError(f"refusing to replace {shown}: it is {what} that was not written by aetherflow compile")
    if os.path.lexists(parent) and not os.path.isdir(parent):
        raise OutputError(f"cannot write {shown}: {parent} is not a directory")
    try:
        return _swap(files, output, parent)
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {exc.strerror or type(exc).__name__}"
                          + (f" ({exc.filename})" if exc.filename else "")) from None


def _swap(files: dict[str, bytes], output: str, parent: str) -> list[tuple[str, str]]:
    found = drift(files, output) if os.path.isdir(output) else [("missing", path) for path in sorted(files)]
    changes = {path for _, path in found}
    if not found and os.path.isdir(output):
        return []
    os.makedirs(parent, exist_ok=True)
    # Beside the output, named after it (cut short: the name of `output` may be as long as a name can be)
    stem = _short(os.path.basename(output), 100)
    staging = tempfile.mkdtemp(prefix=f".{stem}.tmp-", dir=parent)
    try:
        for rel, data in files.items():
            target = os.path.join(staging, *rel.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if rel not in changes and _link(os.path.join(output, *rel.split("/")), target):
                continue
            with open(target, "wb") as fh:
                fh.write(data)
            os.chmod(target, file_mode(rel))
        os.chmod(staging, 0o755)
        old = None
        if os.path.lexists(output):
            old = tempfile.mkdtemp(prefix=f".{stem}.old-", dir=parent)
            os.rmdir(old)
            os.rename(output, old)
        os.rename(staging, output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return found


def _short(name: str, size: int) -> str:
    """`name` cut to at most `size` bytes of the file system's encoding, whole characters only."""
    while len(os.fsencode(name)) > size:
        name = name[:-1]
    return name


def _link(source: str, target: str) -> bool:
    try:
        os.link(source, target)
    except OSError:
        return False
    return True


def _is_compiler_output(path: str) -> bool:
    """An empty directory, or one holding the manifest.json of `aetherflow compile`."""
    if not os.path.isdir(path):
        return False
    try:
        if not os.listdir(path):
            return True
    except OSError:
        return False
    return is_dist(path)


def json_text(value: Any, indent: int | None = 2, sort_keys: bool = True) -> str:
    """JSON text with non-ASCII characters as they are, and lone surrogates (what Python
    makes of a file name that is not UTF-8) as \\u escapes, so that it is always UTF-8."""
    text = json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_SURROGATE = re.compile("[\ud800-\udfff]")
