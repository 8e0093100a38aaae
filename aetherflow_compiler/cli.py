"""The `aetherflow` command line."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from aetherflow_compiler import __version__
from aetherflow_compiler.report import print_report
from aetherflow_compiler.schema_check import SCHEMA_KINDS, schema_text
from aetherflow_compiler.validate import validate_paths

EXIT_OK = 0
EXIT_INVALID = 2
EXIT_INTERNAL = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aetherflow")
def cli() -> None:
    """Validate and compile AetherFlow YAML flows into self-contained artifacts."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--profiles", "profiles", type=click.Path(), help="Profiles file; resources' profiles must exist in it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def validate(paths: tuple[str, ...], profiles: str | None, as_json: bool) -> None:
    """Check flow, profiles and scheduler files (directories are searched for *.yaml/*.yml).

    Exit status: 0 when every file is valid (warnings allowed), 2 when any has an error.
    """
    report = validate_paths(list(paths), profiles_path=profiles)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        print_report(report)
    sys.exit(EXIT_OK if report.ok else EXIT_INVALID)


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
