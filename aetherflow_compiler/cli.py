"""The `aetherflow` command line."""

from __future__ import annotations

import datetime
import json
import os
import sys
import zoneinfo
from typing import Any

import click

from aetherflow_compiler import __version__
from aetherflow_compiler.cache import CompileCache
from aetherflow_compiler.compile import (
    CompileOptions,
    OutputError,
    compile_paths,
    drift,
    write_output,
)
from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.explain import as_text, explain_flow
from aetherflow_compiler.plugins import PluginSet, toolchain
from aetherflow_compiler.report import print_report
from aetherflow_compiler.schedule.build import DeployOptions
from aetherflow_compiler.schedule.explain import explain_text
from aetherflow_compiler.schedule.kubernetes import KubeOptions
from aetherflow_compiler.schedule.model import schedule_of
from aetherflow_compiler.schema_check import SCHEMA_KINDS, schema_text
from aetherflow_compiler.steps import StepRegistry
from aetherflow_compiler.validate import Report, validate_paths
from aetherflow_compiler.walk import mapping

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_INVALID = 2
EXIT_INTERNAL = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aetherflow")
def cli() -> None:
    """Validate and compile AetherFlow YAML flows into self-contained artifacts."""


def plugins_option(function: Any) -> Any:
    function = click.option(
        "--mode", type=click.Choice(["internal_fast", "enterprise"]),
        help="Policy mode (default: $AETHERFLOW_MODE, else internal_fast). enterprise: plugins only from "
             "--plugins, archive drivers zipfile and pyzipper only.",
    )(function)
    return click.option(
        "--plugins", "plugin_dirs", multiple=True, type=click.Path(),
        help="Plugin directory (repeatable); $AETHERFLOW_PLUGIN_PATHS adds more outside enterprise mode.",
    )(function)


def load_toolchain(plugin_dirs: tuple[str, ...], mode: str | None, as_json: bool = False
                   ) -> tuple[StepRegistry, PluginSet]:
    """The registry with the plugins loaded; exits 2 with their errors when one cannot be used."""
    registry, plugins = toolchain(list(plugin_dirs), os.environ, mode)
    if not plugins.ok:
        report = Report()
        report.general.extend([*plugins.diagnostics, *plugins.warnings])
        if as_json:
            click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        else:
            print_report(report)
        sys.exit(EXIT_INVALID)
    return registry, plugins


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--profiles", "profiles", type=click.Path(), help="Profiles file; resources' profiles must exist in it.")
@plugins_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def validate(paths: tuple[str, ...], profiles: str | None, plugin_dirs: tuple[str, ...], mode: str | None,
             as_json: bool) -> None:
    """Check flow, profiles and scheduler files (directories are searched for *.yaml/*.yml).

    Exit status: 0 when every file is valid (warnings allowed), 2 when any has an error.
    """
    registry, plugins = load_toolchain(plugin_dirs, mode, as_json)
    report = validate_paths(list(paths), profiles_path=profiles, registry=registry)
    report.general[:0] = plugins.warnings
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        print_report(report)
    sys.exit(EXIT_OK if report.ok else EXIT_INVALID)


@cli.command("compile")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--profiles", "profiles", type=click.Path(), help="Profiles file merged into resources.")
@click.option("--check", is_flag=True, help="Compare with the output directory instead of writing; exit 1 on drift.")
@click.option("--single-file", is_flag=True, help="Inline the runtime: one .py file per flow is the whole deployment.")
@click.option("--target", type=click.Choice(["python", "sh", "all"]), default="python", show_default=True,
              help="python: <flow>.py and its runtime; sh: a POSIX shell script per flow; all: both (flows the "
                   "shell cannot express get a warning and a Python artifact only).")
@plugins_option
@click.option("--no-cache", is_flag=True, help="Ignore and do not write the compile cache ($AETHERFLOW_CACHE_DIR).")
@click.option("--schedule", "schedule", type=click.Path(),
              help="Scheduler file: also write OUTPUT/schedule/ (crontab, systemd units, Kubernetes CronJobs).")
@click.option("--deploy-dir", default=DeployOptions.dist, show_default=True,
              help="Where OUTPUT is on the hosts (and in pods); the schedule files run the artifacts there.")
@click.option("--log-dir", default=DeployOptions.log_dir, show_default=True,
              help="Directory for the crontab's output, one <item>.log per scheduler item.")
@click.option("--python", "python_bin", default=DeployOptions.python, show_default=True,
              help="The Python that crontab and systemd run the artifacts with.")
@click.option("--k8s-image", help="Container image of the CronJobs (default python:3.12-slim; busybox:1.36 for "
                                  "flows with a shell artifact only).")
@click.option("--k8s-claim", default=KubeOptions.claim, show_default=True,
              help="PersistentVolumeClaim mounted where each flow keeps its state.")
@click.option("--k8s-namespace", help="Namespace of the Kubernetes objects (default: none, kubectl's current).")
@click.option("--k8s-request", "k8s_requests", multiple=True, metavar="NAME=QUANTITY",
              help="Container resource request, e.g. cpu=250m or memory=256Mi (repeatable; default cpu=100m, "
                   "memory=128Mi).")
def compile_command(paths: tuple[str, ...], output: str, profiles: str | None, check: bool, single_file: bool,
                    target: str, plugin_dirs: tuple[str, ...], mode: str | None, no_cache: bool,
                    schedule: str | None, deploy_dir: str, log_dir: str, python_bin: str, k8s_image: str | None,
                    k8s_claim: str, k8s_namespace: str | None, k8s_requests: tuple[str, ...]) -> None:
    """Compile flows into OUTPUT: one script per flow, the vendored runtime and manifest.json.

    Exit status: 0 written (or up to date with --check), 1 drift found by --check,
    2 invalid input or output directory.
    """
    registry, plugins = load_toolchain(plugin_dirs, mode)
    requests = KubeOptions.requests
    if k8s_requests:
        pairs = [r.partition("=") for r in k8s_requests]
        if any(not name or not sep or not value for name, sep, value in pairs):
            raise click.BadParameter("write NAME=QUANTITY, e.g. cpu=250m", param_hint="--k8s-request")
        requests = tuple((name, value) for name, _, value in pairs)
    deploy = DeployOptions(dist=deploy_dir, log_dir=log_dir, python=python_bin,
                           kube=KubeOptions(image=k8s_image, claim=k8s_claim, namespace=k8s_namespace,
                                            requests=requests))
    options = CompileOptions(output=output, profiles=profiles, single_file=single_file, target=target,
                             schedule=schedule, deploy=deploy)
    result = compile_paths(list(paths), options, registry, CompileCache(enabled=not no_cache), plugins)
    if not result.ok:
        print_report(result.report)
        sys.exit(EXIT_INVALID)
    for diag in result.report.warnings:
        click.echo(diag.format_text())
    n_flows = len(result.flow_ids)
    if check:
        changes = drift(result.files, output)
        for state, path in changes:
            click.echo(f"{state}: {os.path.join(output, path)}")
        if changes:
            click.echo(f"{output} is out of date ({len(changes)} of {len(result.files)} files); "
                       "run aetherflow compile without --check", err=True)
            sys.exit(EXIT_DRIFT)
        click.echo(f"{output} is up to date ({n_flows} flows, {len(result.files)} files)", err=True)
        sys.exit(EXIT_OK)
    try:
        written = write_output(result.files, output)
    except (OutputError, OSError) as exc:
        click.echo(f"aetherflow: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    flows_text = f"{n_flows} flow{'s' if n_flows != 1 else ''}"
    if written:
        click.echo(f"compiled {flows_text} into {output} ({len(result.files)} files)", err=True)
    else:
        click.echo(f"compiled {flows_text}: {output} was already up to date ({len(result.files)} files)", err=True)
    sys.exit(EXIT_OK)


@cli.command()
@click.argument("flow", type=click.Path())
@click.option("--profiles", "profiles", type=click.Path(), help="Profiles file merged into resources.")
@plugins_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def explain(flow: str, profiles: str | None, plugin_dirs: tuple[str, ...], mode: str | None, as_json: bool) -> None:
    """Show where each resource setting of FLOW comes from: the flow or a profile, a
    literal or env variables (with their defaults), and which are decoded as secrets.

    Nothing is read from the environment and decoded values are not shown. Exit status:
    0, or 2 when FLOW is not a valid flow file.
    """
    registry, plugins = load_toolchain(plugin_dirs, mode, as_json)
    report = validate_paths([flow], profiles_path=profiles, registry=registry)
    report.general[:0] = plugins.warnings
    flows = [f for f in report.flows() if f.document is not None]
    if not report.ok or len(flows) != 1 or os.path.isdir(flow):
        if report.ok:
            report.general.append(Diagnostic(flow, 1, 1, "AF100", "explain needs one flow file"))
        print_report(report)
        sys.exit(EXIT_INVALID)
    result = flows[0]
    assert result.document is not None
    profiles_docs = [f.document for f in report.files if f.kind == "profiles" and f.document is not None]
    profiles_doc = profiles_docs[0] if profiles_docs else None
    profiles_data = mapping(profiles_doc.data) if profiles_doc is not None else None
    resources = explain_flow(result.document, profiles_data, profiles_doc)
    if not as_json:
        for diag in report.warnings:
            click.echo(diag.format_text(), err=True)
    if as_json:
        click.echo(json.dumps({"flow": result.flow_id, "file": result.path,
                               "resources": [r.as_json() for r in resources]}, indent=2, ensure_ascii=False))
    else:
        click.echo(as_text(str(result.flow_id), result.path, resources), nl=False)
    sys.exit(EXIT_OK)


@cli.group()
def schedule() -> None:
    """Scheduler files: see when items run."""


@schedule.command("explain")
@click.argument("scheduler_file", type=click.Path())
@click.option("-n", "--count", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="How many trigger times per item.")
@click.option("--from", "start", metavar="ISO-TIME",
              help="Start after this time (ISO 8601; without an offset it is in the file's timezone). Default: now.")
def schedule_explain(scheduler_file: str, count: int, start: str | None) -> None:
    """Print the next trigger times of every item of SCHEDULER_FILE in its timezone, so a
    reviewer can see what the crontab, timers and CronJobs will do. Exit status: 0, or 2
    when the file is not a valid scheduler file."""
    report = validate_paths([scheduler_file])
    files = [f for f in report.files if f.document is not None]
    if report.ok and (len(files) != 1 or files[0].kind != "scheduler"):
        report.general.append(Diagnostic(scheduler_file, 1, 1, "AF100", "schedule explain needs one scheduler file"))
    if not report.ok:
        print_report(report)
        sys.exit(EXIT_INVALID)
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
        click.echo("aetherflow: this is a bug; please report it with the input that caused it", err=True)
        sys.exit(EXIT_INTERNAL)
