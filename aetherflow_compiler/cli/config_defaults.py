"""The project config on the command line: `validate`, `compile` and `explain` take the
defaults of their options from it (project_config.py reads and checks it).

A flag given on the command line always wins, even one equal to its default: click's
parameter source says which values the command line gave. Inputs go as a group: flows or a
bundle manifest named on the command line replace the config's `paths` and
`bundle-manifest` (and a manifest its `profiles` and `plugins`, which it names itself).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from click.core import ParameterSource

from aetherflow_compiler.cli.exit_codes import EXIT_INVALID
from aetherflow_compiler.cli.project_config import (
    KEYS,
    ConfigFile,
    ProjectConfig,
    config_file,
    find_config,
    load_config,
)
from aetherflow_compiler.diagnostics import Diagnostic

GIVEN = {ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT}
INPUTS = ("paths", "flow", "flow_yaml", "bundle_manifest")
META = "aetherflow.project_config"


class ConfiguredCommand(click.Command):
    """A command that reads the project config: `--config FILE`, else the nearest
    aetherflow.toml or pyproject.toml with [tool.aetherflow] (`--no-config`: none)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params += [
            click.Option(
                ["--config", "config_path"],
                type=click.Path(dir_okay=False),
                metavar="FILE",
                help="The project config to read (default: the nearest aetherflow.toml, or "
                "pyproject.toml with [tool.aetherflow], from here up to the repository root).",
            ),
            click.Option(["--no-config"], is_flag=True, help="Read no project config."),
        ]

    def invoke(self, ctx: click.Context) -> Any:
        path = ctx.params.pop("config_path", None)
        if ctx.params.pop("no_config", False):
            if path is not None:
                raise click.UsageError(
                    "--config names a project config; --no-config reads none (leave one out)"
                )
        else:
            found = config_file(path) if path is not None else _discovered()
            if found is not None:
                config = _load(ctx, found)
                ctx.meta[META] = config
                apply_config(ctx, self, config)
        return super().invoke(ctx)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        found = _discovered()
        with formatter.section("Project config"):
            if found is None:
                formatter.write_text(
                    "None found here. Its keys are the long options' names (paths, output, "
                    "target, deploy-dir, ...), in [tool.aetherflow] of pyproject.toml or in "
                    "aetherflow.toml; see docs/configuration.md."
                )
            else:
                formatter.write_text(
                    f"{found.path} ({found.where}): its keys are the defaults of the options "
                    "above; options given on the command line win."
                )


def _discovered() -> ConfigFile | None:
    try:
        return find_config(os.getcwd())
    except OSError:  # a working directory that no longer exists has no config
        return None


def config_warnings() -> list[Diagnostic]:
    """The warnings of the project config the running command read."""
    config = click.get_current_context().meta.get(META)
    return list(config.warnings) if config is not None else []


def _load(ctx: click.Context, found: ConfigFile) -> ProjectConfig:
    config, problems = load_config(found)
    if config is not None:
        return config
    if not problems:  # only a named pyproject.toml can lack the table
        raise click.BadParameter(
            f"{found.path} has no [tool.aetherflow] table", ctx=ctx, param_hint="--config"
        )
    from aetherflow_compiler.cli.report import print_report
    from aetherflow_compiler.frontend.validate import Report

    report = Report(general=problems)
    # A config that cannot be read has no format: the command line's, else text.
    fmt = "json" if ctx.params.get("as_json") else (ctx.params.get("output_format") or "text")
    print_report(report, fmt)
    sys.exit(EXIT_INVALID)


def config_keys(command: click.Command) -> dict[str, str]:
    """Config key -> the name of the command's parameter it sets: a key is an option's long
    name without `--` (the argument PATHS is `paths`)."""
    out: dict[str, str] = {}
    for param in command.params:
        assert param.name is not None
        if isinstance(param, click.Argument):
            key = param.name
        else:
            longs = [o[2:] for o in param.opts if o.startswith("--")]
            key = max(longs, key=len) if longs else ""
        if key in KEYS:
            out[key] = param.name
    return out


def apply_config(ctx: click.Context, command: click.Command, config: ProjectConfig) -> None:
    """Put the config's values into the parameters the command line did not give."""
    given = {name for name in ctx.params if ctx.get_parameter_source(name) in GIVEN}
    values = dict(config.values)
    if given & set(INPUTS):
        values.pop("paths", None)
        values.pop("bundle-manifest", None)
    if "bundle_manifest" in given:
        values.pop("profiles", None)
        values.pop("plugins", None)
    if "bytecode" in given:
        values.pop("no-bytecode", None)
    if "no_bytecode" in given:
        values.pop("bytecode", None)
    if ctx.params.get("check") or ctx.params.get("diff"):
        values.pop("archive", None)  # --check and --diff write nothing
    if os.environ.get("AETHERFLOW_MODE", "").strip():
        values.pop("mode", None)  # the machine's policy wins over the project's
    if command.name == "validate" and "paths" in values and "schedule" in values:
        values["paths"] = [
            *values["paths"],
            values["schedule"],
        ]  # validate checks what compile reads
    names = config_keys(command)
    for key, value in values.items():
        name = names.get(key)
        if name is not None and name not in given:
            ctx.params[name] = tuple(value) if isinstance(value, list) else value
