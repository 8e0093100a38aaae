"""`aetherflow compile`: validate, build the IR, generate every file in memory; the
command line then writes them (output.write_output) or compares them (--check).

`compile_paths` runs the phases in order, one function each: read the inputs (sources,
profiles, scheduler file), analyse every file (checks and IR, in a pool, through the
cache), report per-file problems (the targets' checks included), choose the runtime,
vendor host packages, generate the Python and sh scripts, schedule, and assemble the dist.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aetherflow_compiler.cache import CompileCache, compiler_fingerprint, key
from aetherflow_compiler.codegen.runtime.bundle import RuntimeBundle, runtime_bundle
from aetherflow_compiler.codegen.runtime.package import runtime_version
from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.driver.analysis import (
    RUNTIME_PLACEHOLDER,
    Ahead,
    Analysis,
    analyse,
    analyse_in_worker,
    generate_in_worker,
    with_runtime,
)
from aetherflow_compiler.driver.assemble import STATE_DRIVER, assemble
from aetherflow_compiler.driver.options import CompileOptions
from aetherflow_compiler.driver.pool import pool_map
from aetherflow_compiler.frontend import fastcheck
from aetherflow_compiler.frontend.loader import read_source
from aetherflow_compiler.frontend.targets import (
    ENV_FILES_BLOCKER,
    artifact_name_problem,
    sh_target_problems,
)
from aetherflow_compiler.frontend.validate import (
    FileResult,
    Report,
    check_file,
    check_unique_flow_ids,
)
from aetherflow_compiler.package_data import DIST_RUNTIME
from aetherflow_compiler.project.plugins import PluginSet, plugin_entry_files, vendored_files
from aetherflow_compiler.project.sources import OTHER, find_sources
from aetherflow_compiler.steps import StepRegistry, default_registry
from aetherflow_compiler.suggest import closest
from aetherflow_compiler.walk import mapping

# Building the IR, generating code and scheduling are imported where they are used: a
# compile that the cache answers needs none of them (and starts ~0.1 s sooner).
if TYPE_CHECKING:
    from aetherflow_compiler.ir import nodes as ir
    from aetherflow_compiler.project.bundles.project import BundleProject
    from aetherflow_compiler.schedule.build import Scheduled
    from aetherflow_compiler.schedule.model import Schedule
    from aetherflow_compiler.vendoring.dist import VendoredDist
    from aetherflow_compiler.vendoring.target import Target


@dataclass
class CompileResult:
    report: Report
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content
    flow_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.ok


@dataclass
class _Compile:
    """One compile's inputs and what its phases share."""

    options: CompileOptions
    registry: StepRegistry
    store: CompileCache
    plugins: PluginSet | None
    report: Report
    fingerprint: str
    files: list[str]  # every source file found, in order
    names: dict[str, str]  # path -> name shown in artifacts
    profiles: dict[str, Any] | None = None
    profiles_digest: str = ""
    profiles_result: FileResult | None = None
    schedule_result: FileResult | None = None
    by_content: set[str] = field(default_factory=set)  # kinds from the content: sources.classify

    def flow_of(self, analysis: Analysis) -> ir.Flow:
        """The IR of a flow; built again when its analysis came from the cache."""
        if analysis.flow is None:
            analysis.flow = analyse(
                analysis.path,
                analysis.source_name,
                analysis.key,
                None,
                self.profiles,
                self.registry,
                self.options.single_file,
                self.options.target,
            ).flow
        assert analysis.flow is not None
        return analysis.flow


def compile_paths(
    paths: list[str],
    options: CompileOptions,
    registry: StepRegistry | None = None,
    compile_cache: CompileCache | None = None,
    plugins: PluginSet | None = None,
) -> CompileResult:
    """Compile `paths`. `registry` and `plugins` come from plugins.toolchain() when the
    compile uses plugins (their files are then vendored for the flows that need them)."""
    run = _read_inputs(
        paths,
        options,
        registry or default_registry(),
        compile_cache or CompileCache(enabled=False),
        plugins,
    )
    ahead = _ahead(run)
    analyses, ahead_scripts = _analyse_all(run, ahead)
    _report_files(run, analyses)
    result = CompileResult(run.report)
    if not run.report.ok:
        return result

    flows = [a for a in analyses if a.kind == "flow"]
    python = options.target.python
    bundle = _runtime(
        sorted({m for a in flows for m in a.summary["runtime_modules"]}) if python else [],
        run.store,
        run.fingerprint,
    )
    vendored_plugins = (
        python and any(a.summary["uses_plugins"] for a in flows) and plugins is not None
    )
    vendored = None
    if python and options.wheelhouse is not None:
        vendored = _vendor(
            flows,
            options.wheelhouse,
            options.vendor_target,
            run.report,
            options.deploy.shared_state,
        )
        if vendored is None:
            return result

    scripts: dict[str, str] = {}
    if python and ahead is not None:
        scripts = _scripts_ahead(run, flows, ahead, ahead_scripts, bundle)
    elif python:
        scripts = _python_scripts(
            run, flows, bundle, vendored_plugins, vendored.folders if vendored else {}
        )
    shell_scripts = _shell_scripts(run, flows) if options.target.sh else {}

    scheduling = _schedule(run, flows, scripts, shell_scripts)
    if not run.report.ok:
        return result

    result.flow_ids = [str(a.flow_id) for a in flows]
    extra = vendored_files(plugins) if plugins is not None and vendored_plugins else {}
    pycs = _bytecode(bundle, options, run.store) if scripts and not options.single_file else {}
    result.files = assemble(
        flows,
        scripts,
        shell_scripts,
        bundle,
        options,
        run.profiles_result,
        run.names,
        extra,
        scheduling,
        vendored,
        pycs,
        run.store,
    )
    return result


def _read_inputs(
    paths: list[str],
    options: CompileOptions,
    registry: StepRegistry,
    store: CompileCache,
    plugins: PluginSet | None,
) -> _Compile:
    """Phase 1: the source files, and the profiles and scheduler files checked."""
    fastcheck.use(store)  # the schema checks' compiled code is cached too
    report = Report()
    report.general.extend(plugins.warnings if plugins is not None else [])
    found = find_sources(
        paths, exclude=[options.output], selection=options.selection
    )  # an output inside a folder given is not an input
    report.general.extend(found.problems)
    run = _Compile(
        options, registry, store, plugins, report, compiler_fingerprint(), found.files, found.names
    )
    run.by_content = found.by_content - found.pinned
    if options.profiles:
        run.profiles_result = check_file(
            os.path.normpath(options.profiles), "profiles", registry, None
        )
        report.files.append(run.profiles_result)
        if run.profiles_result.document is not None:
            run.profiles = mapping(run.profiles_result.document.data)
            run.profiles_digest = run.profiles_result.document.sha256
    if options.schedule:
        run.schedule_result = check_file(
            os.path.normpath(options.schedule), "scheduler", registry, None
        )
        report.files.append(run.schedule_result)
    return run


def _ahead(run: _Compile) -> Ahead | None:
    """How the analysis pass generates Python scripts too, when the options allow it."""
    if not run.options.generates_ahead:
        return None
    plugins = run.plugins
    return Ahead(
        RuntimeBundle({}, RUNTIME_PLACEHOLDER, [], runtime_version()),
        tuple(plugin_entry_files(plugins)) if plugins is not None else (),
        run.options.env_files,
        run.options.key_parts("script-ahead"),
        run.options.from_bundle,
    )


def _analyse_all(run: _Compile, ahead: Ahead | None) -> tuple[list[Analysis], dict[str, str]]:
    """Phase 2: every source file analysed (from the cache, else in the pool), in order;
    and path -> script of the flows whose script was generated ahead in this pass."""
    options = run.options
    skipped = {r.path for r in (run.profiles_result, run.schedule_result) if r is not None}
    keep_flows = run.schedule_result is not None or options.target.sh or ahead is None
    analyses: list[Analysis | None] = []
    pending: list[tuple[int, tuple[str, str, str, bytes | None, bool]]] = []
    for path in run.files:
        if path in skipped:
            continue
        name = run.names.get(path, os.path.basename(path))
        by_content = path in run.by_content
        try:
            raw: bytes | None = read_source(path)
        except OSError:
            raw = None  # analysed (and reported) uncached
        digest = (
            key(
                run.fingerprint,
                run.registry.fingerprint,
                "analysis",
                name,
                run.profiles_digest,
                *options.key_parts("analysis"),
                "by-content" if by_content else "as-named",
                raw,
            )
            if raw is not None
            else ""
        )
        cached = run.store.get_json("analysis", digest) if digest else None
        if cached is not None:
            analyses.append(Analysis.from_cache(path, name, digest, cached))
        else:
            pending.append((len(analyses), (path, name, digest, raw, by_content)))
            analyses.append(None)
    if options.progress is not None:
        options.progress.start(len(pending))
    fresh = pool_map(
        analyse_in_worker,
        [task for _, task in pending],
        {
            "profiles": run.profiles,
            "registry": run.registry,
            "single_file": options.single_file,
            "target": options.target,
            "store": run.store,
            "ahead": ahead,
            "keep_flows": keep_flows,
        },
        options.progress.advance if options.progress is not None else None,
    )
    ahead_scripts: dict[str, str] = {}
    for (index, _), (analysis, text) in zip(pending, fresh, strict=True):
        analyses[index] = analysis
        if text is not None:
            ahead_scripts[analysis.path] = text
    run.report.skipped.extend(a.path for a in analyses if a is not None and a.kind == OTHER)
    kept = [a for a in analyses if a is not None and a.kind != OTHER]
    claimed = _bundle_flows(
        [a.path for a in kept if a.kind == "manifest" and a.path in run.by_content]
    )
    return [a for a in kept if os.path.realpath(a.path) not in claimed], ahead_scripts


def _bundle_flows(manifests: list[str]) -> set[str]:
    """The real paths of the flows and profiles of the bundle manifests found in the
    folders given: they compile with their bundle's plugins and profiles, through
    `--bundle-manifest`, so this compile leaves them out and says so on stderr."""
    import click

    from aetherflow_compiler.frontend.loader import load_bytes
    from aetherflow_compiler.project.bundles.project import open_bundle

    claimed: set[str] = set()
    for path in manifests:
        try:
            doc, _ = load_bytes(read_source(path), path)
        except OSError:
            continue
        project = open_bundle(doc, os.environ)[0] if doc is not None else None
        if project is None:
            continue  # its own problems are reported by `aetherflow validate`
        flows, files = project.claimed_files()
        claimed |= files
        counted = "its 1 flow compiles" if len(flows) == 1 else f"its {len(flows)} flows compile"
        click.echo(
            f"{path}: a bundle manifest: {counted} with its bundle's plugins and profiles"
            f" (aetherflow compile --bundle-manifest {path}); left out here",
            err=True,
        )
    return claimed


def _report_files(run: _Compile, analyses: list[Analysis]) -> None:
    """Phase 3: each file's diagnostics in the report, with the ones of the compile's
    targets (frontend.targets), and flow ids that are not unique."""
    options = run.options
    for analysis in analyses:
        result = FileResult(
            analysis.path,
            analysis.kind,
            None,
            flow_id=analysis.flow_id,
            flow_id_at=analysis.flow_id_at,
        )
        result.diagnostics.extend(analysis.diagnostics)
        if analysis.kind == "flow" and analysis.flow_id is not None:
            too_long = artifact_name_problem(
                analysis.path, str(analysis.flow_id), analysis.flow_id_at
            )
            if too_long is not None:
                result.diagnostics.add(too_long)
        if options.env_files and analysis.kind == "flow" and analysis.summary:
            analysis.summary.setdefault("sh_blockers", []).append([None, None, ENV_FILES_BLOCKER])
        if options.target.sh:
            result.diagnostics.extend(
                sh_target_problems(
                    analysis.path,
                    analysis.flow_id,
                    analysis.flow_id_at,
                    not options.target.python,
                    analysis.summary.get("sh_blockers", []),
                    analysis.summary.get("sh_state"),
                )
            )
        run.report.files.append(result)
    check_unique_flow_ids(run.report)


def _runtime(modules: list[str], store: CompileCache, fingerprint: str) -> RuntimeBundle:
    """Phase 4: runtime_bundle(modules), through the cache: choosing the files parses the
    runtime's imports (about 0.1 s), and the compiler's fingerprint covers every runtime file."""
    digest = key(fingerprint, "runtime", *sorted(set(modules)))
    cached = store.get_json("runtime", digest)
    if cached is not None:
        return RuntimeBundle(
            cached["files"], cached["sha256"], cached["modules"], cached["version"]
        )
    bundle = runtime_bundle(modules)
    store.put_json(
        "runtime",
        digest,
        {
            "files": bundle.files,
            "sha256": bundle.sha256,
            "modules": bundle.modules,
            "version": bundle.version,
        },
    )
    return bundle


def _python_scripts(
    run: _Compile,
    flows: list[Analysis],
    bundle: RuntimeBundle,
    vendored_plugins: bool,
    folders: dict[str, tuple[str, ...]],
) -> dict[str, str]:
    """Phase 6 (Python, with --single-file or --wheelhouse): path -> script of every flow,
    from the cache, else generated in the pool."""
    options, plugins, store = run.options, run.plugins, run.store
    plugin_files = (
        tuple(plugin_entry_files(plugins)) if plugins is not None and vendored_plugins else ()
    )
    scripts: dict[str, str] = {}
    to_generate: list[Analysis] = []
    digests = {
        a.path: key(
            a.key, "script", bundle.sha256, *options.key_parts("script"), *folders.get(a.path, ())
        )
        for a in flows
    }
    for analysis in flows:
        text = store.get_text("script", digests[analysis.path]) if analysis.key else None
        if text is not None:
            scripts[analysis.path] = text
        else:
            run.flow_of(analysis)
            to_generate.append(analysis)
    generated = pool_map(
        generate_in_worker,
        to_generate,
        {
            "registry": run.registry,
            "bundle": bundle,
            "single_file": options.single_file,
            "plugin_files": plugin_files,
            "env_files": options.env_files,
            "folders": folders,
            "from_bundle": options.from_bundle,
            "ahead": None,
        },
    )
    for analysis, text in zip(to_generate, generated, strict=True):
        scripts[analysis.path] = text
        if analysis.key:
            store.put_text("script", digests[analysis.path], text)
    return scripts


def _shell_scripts(run: _Compile, flows: list[Analysis]) -> dict[str, str]:
    """Phase 6 (sh): path -> script of every flow the sh target takes."""
    from aetherflow_compiler.codegen import sh

    runtime_digest = hashlib.sha256(sh.runtime_source().encode("utf-8")).hexdigest()
    out: dict[str, str] = {}
    for analysis in flows:
        if analysis.summary.get("sh_blockers"):
            continue
        digest = key(analysis.key, "sh", runtime_digest, *run.options.key_parts("sh"))
        text = run.store.get_text("script", digest) if analysis.key else None
        if text is None:
            text = sh.generate_sh(
                run.flow_of(analysis), run.options.from_bundle, run.options.single_file
            )
            if analysis.key:
                run.store.put_text("script", digest, text)
        out[analysis.path] = text
    return out


def _schedule(
    run: _Compile, flows: list[Analysis], scripts: dict[str, str], shell_scripts: dict[str, str]
) -> tuple[Schedule, list[Scheduled]] | None:
    """Phase 7: the scheduler file's items with the compiled flows they run (problems go
    to the report), or None without a scheduler file."""
    result = run.schedule_result
    if result is None or result.document is None:
        return None
    from aetherflow_compiler.schedule.model import schedule_of

    doc = result.document
    schedule = schedule_of(
        doc.data, run.names.get(result.path, os.path.basename(result.path)), doc.sha256
    )
    scheduled = _scheduled(
        schedule, result, flows, run.flow_of, scripts, shell_scripts, run.options.bundle
    )
    # Items of another bundle (AF815) are left out of this dist's schedule files.
    return dataclasses.replace(schedule, items=tuple(s.item for s in scheduled)), scheduled


def _bytecode(
    bundle: RuntimeBundle, options: CompileOptions, store: CompileCache
) -> dict[str, dict[str, bytes]]:
    """Phase 8: cache tag -> {dist path: pyc} of the runtime, for each interpreter of --bytecode.
    Raises BytecodeError for an interpreter that cannot be run."""
    from aetherflow_compiler.codegen.runtime.bytecode import (
        Interpreter,
        default_interpreter,
        find_interpreter,
        runtime_bytecode,
    )

    interpreters: list[Interpreter | None] = (
        [find_interpreter(python) for python in options.bytecode]
        if options.bytecode is not None
        # None when the hosts' --python-version X.Y has no pythonX.Y here: no bytecode
        else [
            default_interpreter(
                options.vendor_target.python_version if options.vendor_target else None
            )
        ]
    )
    found: dict[str, dict[str, bytes]] = {}
    for interpreter in filter(None, interpreters):
        tag, pycs = runtime_bytecode(bundle.files, bundle.sha256, interpreter, DIST_RUNTIME, store)
        found[tag] = pycs
    return dict(sorted(found.items()))


def _scripts_ahead(
    run: _Compile,
    flows: list[Analysis],
    ahead: Ahead,
    generated: dict[str, str],
    bundle: RuntimeBundle,
) -> dict[str, str]:
    """Phase 6 (Python, generated ahead): path -> script of every flow, from the scripts
    generated in the analysis pass, else from the cache, else generated now; each with the
    runtime's real hash put in."""
    registry, store, flow_of = run.registry, run.store, run.flow_of
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
    fresh = pool_map(generate_in_worker, to_generate, {"registry": registry, "ahead": ahead})
    for analysis, text in zip(to_generate, fresh, strict=True):
        texts[analysis.path] = text
        if analysis.key:
            store.put_text("script", ahead.digest(analysis.key), text)
    scripts = {}
    for analysis in flows:
        script = with_runtime(texts[analysis.path], bundle)
        if script is None:  # the flow holds the placeholder: generate it with the real hash
            from aetherflow_compiler.codegen.python.generate import generate_flow

            script = generate_flow(
                flow_of(analysis),
                registry,
                bundle,
                False,
                ahead.plugin_files,
                ahead.env_files,
                from_bundle=ahead.from_bundle,
            )
        scripts[analysis.path] = script
    return scripts


def _vendor(
    flows: list[Analysis],
    wheelhouse: str,
    target: Target | None,
    report: Report,
    shared_state: bool = False,
) -> VendoredDist | None:
    """Phase 5: the host packages of every flow, from the wheelhouse; None (and AF323 errors in
    `report`) when a package is missing or only there for another target."""
    from aetherflow_compiler.vendoring.dist import FlowNeeds, vendor_flows
    from aetherflow_compiler.vendoring.target import Target
    from aetherflow_compiler.vendoring.wheelhouse import Need, Wheelhouse

    target = target or Target()

    state_need = (
        (Need(STATE_DRIVER, "the PostgreSQL state store (--shared-state)"),) if shared_state else ()
    )
    wanted = [
        FlowNeeds(
            a.path, str(a.flow_id), tuple(Need(*n) for n in a.summary["package_needs"]) + state_need
        )
        for a in flows
    ]
    result = vendor_flows(wanted, Wheelhouse(wheelhouse), target)
    if not isinstance(result, list):
        return result
    for refusal in result:
        need = refusal.need
        report.general.append(
            Diagnostic(
                refusal.flow.key,
                need.line,
                need.column,
                "AF323",
                f"flow '{refusal.flow.flow_id}', {need.why}: {refusal.message}",
                (
                    "download that wheel again (pip download --only-binary=:all: --no-deps ...) into the wheelhouse"
                    if refusal.damaged
                    else f"add its wheels for {target.describe()} to the wheelhouse (pip download --only-binary=:all: "
                    f"--dest {wheelhouse} ...), or compile without --wheelhouse and install it on the hosts"
                ),
            )
        )
    return None


def _scheduled(
    schedule: Schedule,
    result: FileResult,
    flows: list[Analysis],
    flow_of: Callable[[Analysis], ir.Flow],
    scripts: dict[str, str],
    shell_scripts: dict[str, str],
    bundle: BundleProject | None = None,
) -> list[Scheduled]:
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
            if bundle is None or manifest != os.path.normpath(
                os.path.abspath(bundle.manifest.path)
            ):
                span = doc.span(("items", item.index, "bundle_manifest"))
                result.diagnostics.add(
                    Diagnostic(
                        result.path,
                        span.line,
                        span.column,
                        "AF815",
                        f"item '{item.id}' runs bundle {item.bundle_manifest}, which is "
                        "not the one being compiled: left out of this dist",
                        "compile that bundle into its own dist with this scheduler file",
                    )
                )
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
            hint = (
                f"did you mean '{best}'?"
                if best
                else "compiled: " + (", ".join(known) or "no flows")
            )
            result.diagnostics.add(
                Diagnostic(
                    result.path,
                    span.line,
                    span.column,
                    "AF316",
                    f"item '{item.id}': flow_yaml '{item.flow_yaml}' is not among the "
                    "compiled flows",
                    hint,
                )
            )
            continue
        flow = flow_of(analysis)
        jobs = [job.id for job in flow.jobs]
        if item.flow_job is not None and item.flow_job not in jobs:
            span = doc.span(("items", item.index, "flow_job"))
            best = closest(item.flow_job, jobs)
            result.diagnostics.add(
                Diagnostic(
                    result.path,
                    span.line,
                    span.column,
                    "AF317",
                    f"item '{item.id}': flow '{flow.id}' has no job '{item.flow_job}'",
                    f"did you mean '{best}'?" if best else "jobs: " + ", ".join(jobs),
                )
            )
            continue
        if analysis.path in scripts:
            out.append(Scheduled(item, flow, f"{flow.id}.py"))
        elif analysis.path in shell_scripts:
            out.append(Scheduled(item, flow, f"{flow.id}.sh"))
    return out
