"""The `aetherflow` command line."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from aetherflow_compiler import __version__
from aetherflow_compiler.cache import CompileCache, compiler_fingerprint
from aetherflow_compiler.cli import dropin
from aetherflow_compiler.cli.compile_outcome import emit, finish, problem
from aetherflow_compiler.cli.config_defaults import GIVEN, ConfiguredCommand, config_warnings
from aetherflow_compiler.cli.exit_codes import EXIT_INTERNAL, EXIT_INVALID, EXIT_OK
from aetherflow_compiler.cli.formats import FORMATS
from aetherflow_compiler.cli.report import print_report
from aetherflow_compiler.diagnostics import Diagnostic, one_line
from aetherflow_compiler.driver.compile import compile_paths
from aetherflow_compiler.driver.options import CompileOptions, CompileTarget
from aetherflow_compiler.driver.output import OutputError, write_output
from aetherflow_compiler.frontend.schema_check import SCHEMA_KINDS, schema_text
from aetherflow_compiler.frontend.validate import FileResult, Report, check_file, validate_paths
from aetherflow_compiler.project.plugins import PluginSet, toolchain
from aetherflow_compiler.project.sources import Selection
from aetherflow_compiler.schedule.deploy import DeployOptions, KubeOptions
from aetherflow_compiler.steps import StepRegistry, default_registry
from aetherflow_compiler.walk import mapping

# What only some commands use (bundles, explain, scheduling, archives) is imported in
# them: `aetherflow compile` with nothing to do is mostly the interpreter's start.
if TYPE_CHECKING:
    from aetherflow_compiler.frontend.loader import Document
    from aetherflow_compiler.project.bundles.project import BundleProject
    from aetherflow_compiler.vendoring.target import Target


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aetherflow")
def cli() -> None:
    """Validate and compile AetherFlow YAML flows into self-contained artifacts."""


def plugins_option(function: Any) -> Any:
    function = click.option(
        "--mode",
        type=click.Choice(["internal_fast", "enterprise"]),
        help="Policy mode (default: $AETHERFLOW_MODE, else internal_fast). enterprise: plugins only from "
        "--plugins, archive drivers zipfile and pyzipper only.",
    )(function)
    return click.option(
        "--plugins",
        "plugin_dirs",
        multiple=True,
        type=click.Path(),
        help="Plugin directory (repeatable); $AETHERFLOW_PLUGIN_PATHS adds more outside enterprise mode.",
    )(function)


def load_toolchain(
    plugin_dirs: tuple[str, ...],
    mode: str | None,
    fmt: str = "text",
    archive_drivers: tuple[str, ...] | None = None,
) -> tuple[StepRegistry, PluginSet]:
    """The registry with the plugins loaded; exits 2 with their errors when one cannot be used.
    What plugin files print while imported is shown on stderr (never on stdout)."""
    try:
        registry, plugins = toolchain(list(plugin_dirs), os.environ, mode, archive_drivers)
    except ValueError as exc:  # AETHERFLOW_PLUGIN_IMPORT_TIMEOUT
        raise click.UsageError(one_line(str(exc))) from None
    for where, text in plugins.output:
        click.echo(
            f"aetherflow: {one_line(where or 'plugins')} printed while being imported:", err=True
        )
        click.echo("".join(f"  {line}\n" for line in text.splitlines()), err=True, nl=False)
    if not plugins.ok:
        report = Report()
        report.general.extend([*plugins.diagnostics, *plugins.warnings])
        print_report(report, fmt)
        sys.exit(EXIT_INVALID)
    return registry, plugins


@dataclass
class Inputs:
    """What a command works on: flow paths, profiles, plugins and mode, from the command
    line or from a bundle manifest (which names them all)."""

    paths: list[str]
    profiles: str | None
    plugin_dirs: tuple[str, ...]
    mode: str | None
    bundle: BundleProject | None = None
    archive_drivers: tuple[str, ...] | None = None


def resolve_inputs(
    paths: tuple[str, ...],
    flow_yaml: str | None,
    profiles: str | None,
    plugin_dirs: tuple[str, ...],
    mode: str | None,
    bundle_manifest: str | None,
    fmt: str = "text",
) -> Inputs:
    """The command's inputs; with --bundle-manifest the bundle is fetched (exit 2 with
    located errors when the manifest or the bundle is wrong). --flow-yaml is the engine's
    spelling of a flow path (relative to the bundle root with a manifest)."""
    given = [*paths, *([flow_yaml] if flow_yaml else [])]
    if bundle_manifest is None:
        if not given:
            raise click.UsageError(
                "give flow files or directories (or --bundle-manifest), or set paths in the "
                "project config: [tool.aetherflow] in pyproject.toml, or aetherflow.toml"
            )
        return Inputs(given, profiles, plugin_dirs, mode)
    if profiles or plugin_dirs or paths:
        raise click.UsageError(
            "a bundle manifest names the flows, profiles and plugins: drop "
            + ", ".join(
                x
                for x, on in (
                    ("PATHS", paths),
                    ("--profiles", profiles),
                    ("--plugins", plugin_dirs),
                )
                if on
            )
        )
    from aetherflow_compiler.project.bundles.project import open_bundle

    result = check_file(bundle_manifest, "manifest", default_registry(), None)
    report = Report(files=[result])
    project = None
    if result.ok and result.document is not None:
        project, problems = open_bundle(result.document, os.environ)
        result.diagnostics.extend(problems)
    if project is None or not report.ok:
        print_report(report, fmt)
        sys.exit(EXIT_INVALID)
    if mode is not None and mode != project.manifest.mode:
        raise click.UsageError(
            f"--mode {mode}: the bundle manifest says mode {project.manifest.mode}"
        )
    flows = [os.path.join(project.root, flow_yaml)] if flow_yaml else list(project.flow_paths)
    return Inputs(
        flows,
        project.profiles,
        project.plugin_dirs,
        project.manifest.mode,
        project,
        project.manifest.zip_drivers,
    )


def bundle_options(function: Any) -> Any:
    function = click.option(
        "--flow-yaml",
        "flow_yaml",
        type=click.Path(),
        help="A flow file (the engine's spelling; relative to the bundle root with "
        "--bundle-manifest).",
    )(function)
    return click.option(
        "--bundle-manifest",
        "bundle_manifest",
        type=click.Path(),
        help="The engine's bundle manifest: its flows, profiles and plugins are read now, "
        "from its source, and never on the production host.",
    )(function)


def selection_options(function: Any) -> Any:
    """--include, --exclude and --skip-other-files (the project config's include/exclude)."""
    function = click.option(
        "--skip-other-files",
        is_flag=True,
        help="Treat the files named like the files found in folders: skip those that are not "
        "AetherFlow files and apply --exclude (for tools that pass every YAML file: pre-commit).",
    )(function)
    function = click.option(
        "--exclude",
        "exclude",
        multiple=True,
        metavar="GLOB",
        help="Leave out the files and folders found that match (repeatable; a pattern with a / "
        "matches the path, one without any name on it).",
    )(function)
    return click.option(
        "--include",
        "include",
        multiple=True,
        metavar="GLOB",
        help="Check the files found that match as AetherFlow files, whatever their content says "
        "(repeatable).",
    )(function)


def make_selection(
    include: tuple[str, ...], exclude: tuple[str, ...], every_file: bool
) -> Selection:
    """The globs made absolute: the project config's from its folder, the command line's
    from the working directory."""

    def absolute(patterns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(
            os.path.join(os.getcwd(), p) if "/" in p.rstrip("/") and not os.path.isabs(p) else p
            for p in patterns
        )

    return Selection(absolute(include), absolute(exclude), every_file)


def format_options(function: Any) -> Any:
    """--format (also the project config's `format`) and --json, its old spelling."""
    function = click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="The same as --format json (one JSON object on stdout).",
    )(function)
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        help="How the diagnostics are printed: text (default); json (one object); github "
        "(workflow commands: annotations at the lines of a pull request); sarif (SARIF 2.1.0, "
        "for code scanning); gitlab (a code quality report); junit (JUnit XML, a test case per "
        "file). The summary goes to stderr in every format but json.",
    )(function)


def output_format_of(output_format: str | None, as_json: bool) -> str:
    """The format of this run: --json is --format json; a --format from the project config
    gives way to --json on the command line, one from the command line does not."""
    if as_json:
        ctx = click.get_current_context()
        given = ctx.get_parameter_source("output_format") in GIVEN
        if output_format not in (None, "json") and given:
            raise click.UsageError(
                f"--json is --format json; --format {output_format} asks for another (leave one out)"
            )
        return "json"
    return output_format or "text"


@cli.command(cls=ConfiguredCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--profiles",
    "profiles",
    type=click.Path(),
    help="Profiles file; resources' profiles must exist in it.",
)
@plugins_option
@bundle_options
@format_options
@selection_options
@click.option(
    "-v", "--verbose", is_flag=True, help="List the files skipped as not AetherFlow files."
)
def validate(
    paths: tuple[str, ...],
    profiles: str | None,
    plugin_dirs: tuple[str, ...],
    mode: str | None,
    flow_yaml: str | None,
    bundle_manifest: str | None,
    output_format: str | None,
    as_json: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    skip_other_files: bool,
    verbose: bool,
) -> None:
    """Check flow, profiles, scheduler and bundle manifest files. Directories are searched
    for *.yaml/*.yml, and each file found is checked as what its content is: one that is
    not an AetherFlow file (a CI workflow, a Kubernetes manifest) is skipped, and a bundle
    manifest brings its own profiles, plugins and flows (docs/validate.md). With none
    given: the project config's paths, profiles and schedule.

    Exit status: 0 when every file is valid (warnings and notes allowed), 2 when any has an
    error.
    """
    from aetherflow_compiler.cli.tree_bundles import TreeBundles

    fmt = output_format_of(output_format, as_json)
    inputs = resolve_inputs(paths, flow_yaml, profiles, plugin_dirs, mode, bundle_manifest, fmt)
    registry, plugins = load_toolchain(inputs.plugin_dirs, inputs.mode, fmt, inputs.archive_drivers)
    selection = make_selection(include, exclude, skip_other_files)
    report = validate_paths(
        inputs.paths,
        profiles_path=inputs.profiles,
        registry=registry,
        selection=selection,
        bundles=TreeBundles(os.environ, selection) if inputs.bundle is None else None,
    )
    report.general[:0] = [*config_warnings(), *plugins.warnings]
    print_report(report, fmt, verbose=verbose)
    sys.exit(EXIT_OK if report.ok else EXIT_INVALID)


@cli.command("compile", cls=ConfiguredCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    help="Output directory (required here or in " "the project config).",
)
@click.option(
    "--profiles", "profiles", type=click.Path(), help="Profiles file merged into resources."
)
@click.option(
    "--check",
    is_flag=True,
    help="Compare with the output directory instead of writing; exit 1 on drift.",
)
@click.option(
    "--diff",
    is_flag=True,
    help="Like --check, and print a unified diff of what a compile would change.",
)
@format_options
@click.option(
    "--single-file/--no-single-file",
    default=False,
    help="Inline the runtime: one .py file per flow is the whole deployment.",
)
@click.option(
    "--target",
    type=click.Choice(["python", "sh", "all"]),
    default="python",
    show_default=True,
    help="python: <flow>.py and its runtime; sh: a POSIX shell script per flow; all: both (flows the "
    "shell cannot express get a Python artifact only, and a note AF806 saying why).",
)
@plugins_option
@bundle_options
@click.option(
    "--no-cache",
    is_flag=True,
    help="Ignore and do not write the compile cache ($AETHERFLOW_CACHE_DIR).",
)
@click.option(
    "--wheelhouse",
    type=click.Path(exists=True, file_okay=False),
    help="Vendor the host packages the flows need (and their dependencies) from the wheels in this "
    "directory (pip download --only-binary=:all:) into OUTPUT/aetherflow_vendor/.",
)
@click.option(
    "--python-version",
    "python_version",
    metavar="X.Y",
    help="With --wheelhouse: the Python of the hosts (default: the one compiling).",
)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="TAG",
    help="With --wheelhouse: a platform tag of the hosts, as pip download takes it, e.g. "
    "manylinux2014_x86_64 (repeatable; default: this machine's).",
)
@click.option(
    "--bytecode",
    "bytecode",
    multiple=True,
    metavar="PYTHON",
    help="Ship the runtime's bytecode for this interpreter of the hosts (a name on PATH such as "
    "python3.12, or a path; repeatable; default: the one compiling), so that a read-only dist "
    "does not compile it at every start.",
)
@click.option(
    "--no-bytecode", is_flag=True, help="Ship no bytecode: hosts compile the runtime from source."
)
@click.option(
    "--shared-state/--no-shared-state",
    default=False,
    help="The hosts keep state in PostgreSQL (AETHERFLOW_STATE_URL): the flows need psycopg (vendored "
    "with --wheelhouse), and the schedule files take the URL from --state-env-file / --state-secret.",
)
@click.option(
    "--state-env-file",
    default=DeployOptions.state_env_file,
    show_default=True,
    help="With --shared-state: the env file cron and systemd read AETHERFLOW_STATE_URL from.",
)
@click.option(
    "--state-secret",
    default=DeployOptions.state_secret,
    show_default=True,
    help="With --shared-state: the Kubernetes Secret the CronJobs take AETHERFLOW_STATE_URL from.",
)
@click.option(
    "--archive",
    type=click.Path(dir_okay=False),
    help="Also write OUTPUT as a reproducible FILE.tar.gz, with SHA256SUMS next to it.",
)
@click.option(
    "--schedule",
    "schedule",
    type=click.Path(),
    help="Scheduler file: also write OUTPUT/schedule/ (crontab, systemd units, Kubernetes CronJobs).",
)
@click.option(
    "--deploy-dir",
    default=DeployOptions.dist,
    show_default=True,
    help="Where OUTPUT is on the hosts (and in pods); the schedule files run the artifacts there.",
)
@click.option(
    "--log-dir",
    default=DeployOptions.log_dir,
    show_default=True,
    help="Directory for the crontab's output, one <item>.log per scheduler item.",
)
@click.option(
    "--python",
    "python_bin",
    default=DeployOptions.python,
    show_default=True,
    help="The Python that crontab and systemd run the artifacts with.",
)
@click.option(
    "--k8s-image",
    help="Container image of the CronJobs (default python:3.12-slim; busybox:1.36 for "
    "flows with a shell artifact only).",
)
@click.option(
    "--k8s-claim",
    default=KubeOptions.claim,
    show_default=True,
    help="PersistentVolumeClaim mounted where each flow keeps its state.",
)
@click.option(
    "--k8s-namespace",
    help="Namespace of the Kubernetes objects (default: none, kubectl's current).",
)
@click.option(
    "--k8s-request",
    "k8s_requests",
    multiple=True,
    metavar="NAME=QUANTITY",
    help="Container resource request, e.g. cpu=250m or memory=256Mi (repeatable; default cpu=100m, "
    "memory=128Mi).",
)
@selection_options
def compile_command(
    paths: tuple[str, ...],
    output: str | None,
    profiles: str | None,
    check: bool,
    diff: bool,
    output_format: str | None,
    as_json: bool,
    single_file: bool,
    target: str,
    plugin_dirs: tuple[str, ...],
    mode: str | None,
    flow_yaml: str | None,
    bundle_manifest: str | None,
    no_cache: bool,
    wheelhouse: str | None,
    python_version: str | None,
    platforms: tuple[str, ...],
    bytecode: tuple[str, ...],
    no_bytecode: bool,
    shared_state: bool,
    state_env_file: str,
    state_secret: str,
    archive: str | None,
    schedule: str | None,
    deploy_dir: str,
    log_dir: str,
    python_bin: str,
    k8s_image: str | None,
    k8s_claim: str,
    k8s_namespace: str | None,
    k8s_requests: tuple[str, ...],
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    skip_other_files: bool,
) -> None:
    """Compile flows into OUTPUT: one script per flow, the vendored runtime and manifest.json.

    Exit status: 0 written (or up to date with --check), 1 drift found by --check,
    2 invalid input or output directory.
    """
    if output is None:
        raise click.UsageError(
            "Missing option '-o' / '--output': give it, or set output in the project config "
            "([tool.aetherflow] in pyproject.toml, or aetherflow.toml)"
        )
    fmt = output_format_of(output_format, as_json)
    inputs = resolve_inputs(paths, flow_yaml, profiles, plugin_dirs, mode, bundle_manifest, fmt)
    registry, plugins = load_toolchain(inputs.plugin_dirs, inputs.mode, fmt, inputs.archive_drivers)
    requests = KubeOptions.requests
    if k8s_requests:
        pairs = [r.partition("=") for r in k8s_requests]
        if any(not name or not sep or not value for name, sep, value in pairs):
            raise click.BadParameter(
                "write NAME=QUANTITY, e.g. cpu=250m", param_hint="--k8s-request"
            )
        requests = tuple((name, value) for name, _, value in pairs)
    if shared_state and target == "sh":
        raise click.UsageError(
            "--shared-state keeps state in PostgreSQL, which only Python artifacts use; "
            "--target sh writes none"
        )
    deploy = DeployOptions(
        dist=deploy_dir,
        log_dir=log_dir,
        python=python_bin,
        shared_state=shared_state,
        state_env_file=state_env_file,
        state_secret=state_secret,
        kube=KubeOptions(
            image=k8s_image, claim=k8s_claim, namespace=k8s_namespace, requests=requests
        ),
    )
    vendor_target = _vendor_target(wheelhouse, python_version, platforms, single_file, target)
    if archive is not None:
        if check or diff:
            raise click.UsageError(
                f"--archive writes files; {'--check' if check else '--diff'} writes none "
                "(leave one out)"
            )
        if _inside(archive, output):
            raise click.UsageError(
                f"--archive {one_line(archive)} is inside the output directory {one_line(output)}: it would "
                "become part of the dist (write it next to it)"
            )
        if any(ch in os.path.basename(archive) for ch in "\n\r\\"):
            raise click.UsageError(
                f"--archive {archive!r}: SHA256SUMS cannot name a file whose name holds a line "
                "break or a backslash (rename it)"
            )
    for given in [*inputs.paths, inputs.profiles, schedule, *inputs.plugin_dirs]:
        if given is not None and _inside(given, output):
            raise click.UsageError(
                f"{one_line(given)} is inside the output directory {one_line(output)}, which the compile replaces "
                "(keep inputs out of it)"
            )
    options = CompileOptions(
        output=output,
        profiles=inputs.profiles,
        single_file=single_file,
        target=CompileTarget(target),
        schedule=schedule,
        deploy=deploy,
        bundle=inputs.bundle,
        wheelhouse=wheelhouse,
        vendor_target=vendor_target,
        bytecode=_bytecode_for(bytecode, no_bytecode, single_file),
        selection=make_selection(include, exclude, skip_other_files),
    )
    # Imported here: it imports subprocess, which no other command's start needs.
    from aetherflow_compiler.codegen.runtime.bytecode import BytecodeError

    progress = _progress_bar() if fmt != "json" else None
    try:
        with progress if progress is not None else contextlib.nullcontext():
            options = dataclasses.replace(
                options, progress=progress
            )  # not part of the compile's inputs
            result = compile_paths(
                inputs.paths, options, registry, CompileCache(enabled=not no_cache), plugins
            )
    except BytecodeError as exc:
        if fmt == "json":
            emit(
                {
                    "ok": False,
                    "command": "compile",
                    "output": output,
                    "errors": [problem(output, str(exc))],
                    "warnings": [],
                }
            )
        else:
            click.echo(f"aetherflow: {one_line(str(exc))}", err=True)
        sys.exit(EXIT_INVALID)
    result.report.general[:0] = config_warnings()
    sys.exit(finish(result, output, check=check, diff=diff, fmt=fmt, archive=archive))


def _inside(path: str, folder: str) -> bool:
    """True when `path` is `folder` or below it, symbolic links followed (as compile writes
    through a link given as -o)."""
    rel = os.path.relpath(os.path.realpath(path), os.path.realpath(folder))
    return rel != os.pardir and not rel.startswith(os.pardir + os.sep)


class _ProgressBar:
    """click's progress bar on stderr over the files compiled, only when stderr is a
    terminal and there are enough of them to wait for; nothing otherwise."""

    MIN_FILES = 8

    def __init__(self) -> None:
        self.bar: Any = None

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.render_finish()

    def start(self, total: int) -> None:
        if total >= self.MIN_FILES:
            self.bar = click.progressbar(
                length=total, label="compiling", file=sys.stderr, show_pos=True
            )
            self.bar.render_progress()

    def advance(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done)


def _progress_bar() -> _ProgressBar | None:
    return _ProgressBar() if sys.stderr.isatty() else None


def _bytecode_for(
    bytecode: tuple[str, ...], no_bytecode: bool, single_file: bool
) -> tuple[str, ...] | None:
    if no_bytecode and bytecode:
        raise click.UsageError(
            "--bytecode names interpreters to ship bytecode for; --no-bytecode ships none "
            "(leave one out)"
        )
    if single_file and bytecode:
        raise click.UsageError(
            "--bytecode ships the runtime package's bytecode; a --single-file script has no "
            "runtime package (Python compiles a script it runs at every start)"
        )
    return () if no_bytecode else (tuple(bytecode) or None)


def _vendor_target(
    wheelhouse: str | None,
    python_version: str | None,
    platforms: tuple[str, ...],
    single_file: bool,
    target: str,
) -> Target | None:
    if wheelhouse is None:
        if python_version is not None or platforms:
            raise click.UsageError(
                "--python-version and --platform describe the hosts for --wheelhouse"
            )
        return None
    if single_file:
        raise click.UsageError(
            "--wheelhouse vendors packages as folders next to the scripts; a --single-file "
            "script cannot carry them (compile without --single-file)"
        )
    if target == "sh":
        raise click.UsageError(
            "--wheelhouse vendors packages for Python artifacts; --target sh writes none"
        )
    from aetherflow_compiler.vendoring.target import target_for

    try:
        return target_for(python_version, platforms)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--python-version") from None


def one_valid_flow(
    command: str,
    flow: str | None,
    profiles: str | None,
    plugin_dirs: tuple[str, ...],
    mode: str | None,
    flow_yaml: str | None,
    bundle_manifest: str | None,
    as_json: bool = False,
) -> tuple[Report, FileResult, Document | None]:
    """The one flow file a command works on, validated as `validate` does (with the bundle's
    entry flow when only a manifest names it); exits 2 with the located diagnostics when it
    is invalid or not one flow file. Returns the report, the flow's result and the profiles
    document (None without --profiles)."""
    fmt = "json" if as_json else "text"
    inputs = resolve_inputs(
        (flow,) if flow else (), flow_yaml, profiles, plugin_dirs, mode, bundle_manifest, fmt
    )
    if inputs.bundle is not None and not flow_yaml:
        inputs.paths = [inputs.bundle.entry_flow]  # the flow the engine runs
    registry, plugins = load_toolchain(inputs.plugin_dirs, inputs.mode, fmt, inputs.archive_drivers)
    report = validate_paths(inputs.paths, profiles_path=inputs.profiles, registry=registry)
    report.general[:0] = plugins.warnings
    flows = [f for f in report.flows() if f.document is not None]
    path = inputs.paths[0]
    if not report.ok or len(flows) != 1 or os.path.isdir(path):
        if report.ok:
            report.general.append(Diagnostic(path, 1, 1, "AF100", f"{command} needs one flow file"))
        print_report(report, fmt)
        sys.exit(EXIT_INVALID)
    profiles_docs = [
        f.document for f in report.files if f.kind == "profiles" and f.document is not None
    ]
    return report, flows[0], (profiles_docs[0] if profiles_docs else None)


@cli.command(cls=ConfiguredCommand)
@click.argument("flow", required=False, type=click.Path())
@click.option(
    "--profiles", "profiles", type=click.Path(), help="Profiles file merged into resources."
)
@plugins_option
@bundle_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def explain(
    flow: str | None,
    profiles: str | None,
    plugin_dirs: tuple[str, ...],
    mode: str | None,
    flow_yaml: str | None,
    bundle_manifest: str | None,
    as_json: bool,
) -> None:
    """Show where each resource setting of FLOW comes from: the flow or a profile, a
    literal or env variables (with their defaults), and which are decoded as secrets.

    Nothing is read from the environment and decoded values are not shown. Exit status:
    0, or 2 when FLOW is not a valid flow file.
    """
    report, result, profiles_doc = one_valid_flow(
        "explain", flow, profiles, plugin_dirs, mode, flow_yaml, bundle_manifest, as_json
    )
    assert result.document is not None
    profiles_data = mapping(profiles_doc.data) if profiles_doc is not None else None
    from aetherflow_compiler.frontend.explain_resources import as_text, explain_flow

    resources = explain_flow(result.document, profiles_data, profiles_doc)
    if not as_json:
        for diag in [*config_warnings(), *report.warnings]:
            click.echo(diag.format_text(), err=True)
    if as_json:  # one object, as validate --json prints it, then the explanation
        report.general[:0] = config_warnings()
        emit(
            {
                **report.as_json(),
                "flow": result.flow_id,
                "file": result.path,
                "resources": [r.as_json() for r in resources],
            }
        )
    else:
        click.echo(as_text(str(result.flow_id), result.path, resources), nl=False)
    sys.exit(EXIT_OK)


@cli.command()
@click.argument("flow", required=False, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "json"]),
    default="mermaid",
    show_default=True,
    help="mermaid: a flowchart for Markdown docs; dot: Graphviz (dot -Tsvg); "
    "json: one object (flow, jobs, edges).",
)
@click.option(
    "--profiles",
    "profiles",
    type=click.Path(),
    help="Profiles file; resources' profiles must exist in it.",
)
@plugins_option
@bundle_options
def graph(
    flow: str | None,
    fmt: str,
    profiles: str | None,
    plugin_dirs: tuple[str, ...],
    mode: str | None,
    flow_yaml: str | None,
    bundle_manifest: str | None,
) -> None:
    """Draw FLOW: its jobs in declared order with their steps, depends_on edges, the jobs
    each `when` reads (the condition as written on the gated job), steps whose on_no_data:
    skip_job can skip their job, and the flow lock, job locks and with_lock keys.

    Exit status: 0, or 2 when FLOW is not a valid flow file (the diagnostics of `validate`).
    """
    report, result, _ = one_valid_flow(
        "graph", flow, profiles, plugin_dirs, mode, flow_yaml, bundle_manifest
    )
    assert result.document is not None
    from aetherflow_compiler.codegen.diagram import flow_graph, render
    from aetherflow_compiler.ir.builder import build_flow

    for diag in report.warnings:
        click.echo(diag.format_text(), err=True)
    built = build_flow(result.document, result.path)
    click.echo(render(flow_graph(built, result.path), fmt), nl=False)
    sys.exit(EXIT_OK)


# --- the engine's command line, as a drop-in ---------------------------------------------


def _compile_for_run(
    flow: str | None, flow_yaml: str | None, bundle_manifest: str | None, argv: list[str]
) -> str:
    """Compile the flow `aetherflow run` (or `doctor`) names into its run dist under the
    compile cache (see dropin.py); the path of its flow script."""
    args = dropin.run_parser().parse_args(argv)
    profiles = os.environ.get("AETHERFLOW_PROFILES_FILE") if not bundle_manifest else None
    inputs = resolve_inputs((flow,) if flow else (), flow_yaml, profiles, (), None, bundle_manifest)
    if inputs.bundle is not None:
        inputs.paths = [
            inputs.bundle.entry_flow
        ]  # the engine runs the entry flow, whatever --flow-yaml says
    registry, plugins = load_toolchain(
        inputs.plugin_dirs, inputs.mode, "text", inputs.archive_drivers
    )
    files = dropin.input_files(args, os.environ)
    digest = dropin.run_digest(args, os.environ, files) if files is not None else None
    if digest is None:  # a remote bundle: named by its fingerprint
        assert inputs.bundle is not None
        digest = hashlib.sha256(
            json.dumps(
                [
                    compiler_fingerprint(),
                    os.path.abspath(bundle_manifest or ""),
                    inputs.bundle.fingerprint,
                ]
            ).encode()
        ).hexdigest()
    directory = dropin.run_dir(digest)
    script = dropin.recorded_script(directory)
    if script is not None:
        return script
    options = CompileOptions(
        output=os.path.join(directory, "dist"), profiles=inputs.profiles, bundle=inputs.bundle
    )
    result = compile_paths(inputs.paths, options, registry, CompileCache(), plugins)
    if not result.ok or len(result.flow_ids) != 1:
        if result.ok:
            result.report.general.append(
                Diagnostic(inputs.paths[0], 1, 1, "AF100", "run needs one flow file")
            )
        print_report(result.report)
        sys.exit(EXIT_INVALID)
    for diag in result.report.warnings:
        click.echo(diag.format_text(), err=True)
    try:
        write_output(result.files, options.output)
    except (OutputError, OSError) as exc:
        click.echo(f"aetherflow: {one_line(str(exc))}", err=True)
        sys.exit(EXIT_INVALID)
    record = os.path.join(directory, f".run.json.{os.getpid()}")
    try:
        with open(record, "w", encoding="utf-8") as fh:
            json.dump({"script": f"{result.flow_ids[0]}.py"}, fh)
        os.replace(record, os.path.join(directory, "run.json"))
    except OSError:
        pass  # unrecorded, the next run compiles again (through the cache)
    return os.path.join(options.output, f"{result.flow_ids[0]}.py")


def _bundle_env(bundle_manifest: str | None, script: str) -> dict[str, str]:
    """The environment of the artifact: a bundle's env files resolve from its root."""
    env = dict(os.environ)
    if bundle_manifest:
        inputs_root = os.path.dirname(os.path.dirname(script))
        env.setdefault("AETHERFLOW_BUNDLE_ROOT", inputs_root)
    return env


def _engine_options(function: Any) -> Any:
    for option in reversed(
        [
            click.argument("flow", required=False, type=click.Path()),
            click.option(
                "--flow-yaml",
                "flow_yaml",
                type=click.Path(),
                help="The flow file (the engine's spelling).",
            ),
            click.option(
                "--bundle-manifest",
                "bundle_manifest",
                type=click.Path(),
                help="The engine's bundle manifest: its entry_flow, with its profiles and plugins.",
            ),
            click.option(
                "--allow-stale-bundle",
                is_flag=True,
                help="Accepted for the engine's command lines (a bundle is read when compiling).",
            ),
        ]
    ):
        function = option(function)
    return function


@cli.command("run", context_settings={"help_option_names": ["-h", "--help"]})
@_engine_options
@click.option("--run-id", "run_id", help="Run id; an earlier run's id resumes it.")
@click.option("--flow-job", "flow_job", multiple=True, help="Run only this job (repeatable).")
@click.pass_context
def run_command(
    ctx: click.Context,
    flow: str | None,
    flow_yaml: str | None,
    bundle_manifest: str | None,
    allow_stale_bundle: bool,
    run_id: str | None,
    flow_job: tuple[str, ...],
) -> None:
    """The engine's `aetherflow run`, as a drop-in: compile FLOW through the compile cache
    (a second call with nothing changed compiles nothing) and run the artifact, whose exit
    status this command returns: 0 no job failed, 1 a job failed, 2 invalid input or
    configuration, 3 a lock is held (docs/migration.md compares them with the engine's).
    """
    argv = _argv_of(ctx)
    script = _compile_for_run(flow, flow_yaml, bundle_manifest, argv)
    command = dropin.artifact_argv(script, dropin.run_parser().parse_args(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, _bundle_env(bundle_manifest, script))


def _argv_of(ctx: click.Context) -> list[str]:
    """The engine-style arguments of `run` or `doctor`, as dropin.fast_run parses them
    (so that both name the same run dist)."""
    params = ctx.params
    argv: list[str] = [params["flow"]] if params.get("flow") else []
    for name, option in (
        ("flow_yaml", "--flow-yaml"),
        ("bundle_manifest", "--bundle-manifest"),
        ("run_id", "--run-id"),
    ):
        if params.get(name):
            argv += [option, params[name]]
    for job in params.get("flow_job") or ():
        argv += ["--flow-job", job]
    return argv


@cli.command("doctor")
@_engine_options
@click.pass_context
def doctor(
    ctx: click.Context,
    flow: str | None,
    flow_yaml: str | None,
    bundle_manifest: str | None,
    allow_stale_bundle: bool,
) -> None:
    """The engine's `aetherflow doctor`: compile the flow (through the cache) and run the
    artifact's `check-env`: every env variable the flow reads, set or missing, and every
    host package its connectors need. Prints each check and its result, then OK or FAIL
    with the counts. Exit status: 0, or 2 when something is missing."""
    import subprocess

    script = _compile_for_run(flow, flow_yaml, bundle_manifest, _argv_of(ctx))
    flow_id = os.path.splitext(os.path.basename(script))[0]
    named = flow_yaml or flow or bundle_manifest or flow_id
    click.echo(f"aetherflow doctor: flow '{one_line(flow_id)}' ({one_line(named)})")
    click.echo(f"  {'flow':<32} valid, compiled")
    sys.stdout.flush()
    proc = subprocess.run(
        [sys.executable, script, "check-env"],
        env=_bundle_env(bundle_manifest, script),
        stdout=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    # check-env prints one line per check: an env variable, a vendored or host package;
    # a failed one says MISSING (its reasons follow on stderr, passed through).
    checks = proc.stdout.splitlines()
    for line in checks:
        click.echo(f"  {line}")
    if not checks:
        click.echo(f"  {'env and packages':<32} none read, none needed")
    failed = sum(1 for line in checks if line.rstrip().endswith("MISSING"))
    total = len(checks) + 1  # and the compile
    word = "check" if total == 1 else "checks"
    if proc.returncode == EXIT_OK:
        click.echo(f"OK: {one_line(named)}: {total} {word} passed")
    else:
        what = f"{failed} of {total} {word} failed" if failed else f"exit {proc.returncode}"
        click.echo(f"FAIL: {one_line(named)}: {what}")
    sys.exit(proc.returncode)


@cli.group()
def bundle() -> None:
    """The engine's bundle commands: bundles are read when compiling now."""


BUNDLE_NOTE = (
    "bundles are read at compile time now: `aetherflow compile --bundle-manifest M -o dist/` "
    "fetches the bundle once and compiles it; production hosts run the compiled dist and never sync "
    "(docs/migration.md)"
)


@bundle.command("sync")
@click.option("--bundle-manifest", "bundle_manifest", required=True, type=click.Path())
@click.option("--work-root", "work_root", help="Accepted for the engine's command lines.")
@click.option("--allow-stale-bundle", is_flag=True, help="Accepted for the engine's command lines.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--print-local-root", is_flag=True, help="Accepted for the engine's command lines.")
def bundle_sync(
    bundle_manifest: str,
    work_root: str | None,
    allow_stale_bundle: bool,
    as_json: bool,
    print_local_root: bool,
) -> None:
    """Nothing to sync: say so (exit 0, so that existing cron lines keep working)."""
    _bundle_note(bundle_manifest, as_json)


@bundle.command("status")
@click.option("--bundle-manifest", "bundle_manifest", required=True, type=click.Path())
@click.option("--work-root", "work_root", help="Accepted for the engine's command lines.")
@click.option("--json", "as_json", is_flag=True)
def bundle_status(bundle_manifest: str, work_root: str | None, as_json: bool) -> None:
    """No synced state to show: say so (exit 0)."""
    _bundle_note(bundle_manifest, as_json)


def _bundle_note(bundle_manifest: str, as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": True,
                    "bundle_manifest": bundle_manifest,
                    "synced": False,
                    "note": BUNDLE_NOTE,
                }
            )
        )
    else:
        click.echo(f"aetherflow: {BUNDLE_NOTE}", err=True)
    sys.exit(EXIT_OK)


@cli.group()
def schedule() -> None:
    """Scheduler files: see when items run."""


@schedule.command("explain")
@click.argument("scheduler_file", type=click.Path())
@click.option(
    "-n",
    "--count",
    default=5,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many trigger times per item.",
)
@click.option(
    "--from",
    "start",
    metavar="ISO-TIME",
    help="Start after this time (ISO 8601; without an offset it is in the file's timezone). Default: now.",
)
@click.option(
    "--json",
    "json_output",
    is_flag=True,
    help="Print one JSON object (the items and their next times; errors and warnings as validate --json "
    "prints them) instead of text.",
)
def schedule_explain(scheduler_file: str, count: int, start: str | None, json_output: bool) -> None:
    """Print the next trigger times of every item of SCHEDULER_FILE in its timezone, so a
    reviewer can see what the crontab, timers and CronJobs will do. Exit status: 0, or 2
    when the file is not a valid scheduler file."""
    import datetime
    import zoneinfo

    from aetherflow_compiler.schedule.explain import explain_json, explain_text
    from aetherflow_compiler.schedule.model import schedule_of

    report = validate_paths([scheduler_file])
    files = [f for f in report.files if f.document is not None]
    if report.ok and (len(files) != 1 or files[0].kind != "scheduler"):
        report.general.append(
            Diagnostic(scheduler_file, 1, 1, "AF100", "schedule explain needs one scheduler file")
        )
    if not report.ok:
        print_report(report, "json" if json_output else "text")
        sys.exit(EXIT_INVALID)
    if not json_output:
        for diag in report.warnings:
            click.echo(diag.format_text(), err=True)
    doc = files[0].document
    assert doc is not None
    plan = schedule_of(doc.data, scheduler_file, doc.sha256)
    zone = zoneinfo.ZoneInfo(plan.timezone)
    if start is None:
        moment = datetime.datetime.now(zone)
    else:
        try:
            moment = datetime.datetime.fromisoformat(start)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--from") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
    if json_output:
        emit({**report.as_json(), **explain_json(plan, moment, count)})
    else:
        click.echo(explain_text(plan, moment, count), nl=False)
    sys.exit(EXIT_OK)


@cli.command()
@click.argument("kind", type=click.Choice(SCHEMA_KINDS))
def schema(kind: str) -> None:
    """Print the JSON Schema of a file kind (for editors: yaml-language-server)."""
    click.echo(schema_text(kind), nl=False)


def main(argv: list[str] | None = None) -> Any:
    """Entry point; turns any unexpected exception into a short message and exit 3."""
    try:
        return cli.main(args=argv, prog_name="aetherflow", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # never show a traceback to users
        click.echo(f"aetherflow: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo(
            "aetherflow: this is a bug; please report it with the input that caused it", err=True
        )
        sys.exit(EXIT_INTERNAL)
