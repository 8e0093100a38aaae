"""What the user sees at the end of `validate`: located diagnostics and a summary line, in
the output format chosen with `--format` (cli/formats.py has the machine formats)."""

from __future__ import annotations

from typing import Any

import click

from aetherflow_compiler.cli import formats
from aetherflow_compiler.codes import Severity
from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend.validate import Report


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(report: Report) -> str:
    """The last line, the same in every format that has one: what was checked, then how
    many of each severity (`2 errors in 1 file (of 14 checked), 1 warning, 1 note`). Every
    count the report has is rendered here, and only here."""
    n_files = len(report.files)
    errors = len(report.errors)
    bad_files = sum(1 for f in report.files if not f.ok) + (
        1 if any(d.is_error for d in report.general) else 0
    )
    if errors and not report.files:
        head = _plural(errors, "error") + " before any file was checked"
    elif errors:
        head = f"{_plural(errors, 'error')} in {_plural(bad_files, 'file')} (of {n_files} checked)"
    else:
        head = f"{_plural(n_files, 'file')} valid"
    return head + counts(report) + skipped_note(report)


def counts(report: Report) -> str:
    """`, 1 warning, 2 notes`: what does not fail the command (empty when there is none)."""
    shown = [(len(report.of_severity(s)), s.value) for s in (Severity.WARNING, Severity.NOTE)]
    return "".join(f", {_plural(n, word)}" for n, word in shown if n)


def skipped_note(report: Report) -> str:
    """The summary's count of files found in folders that are not AetherFlow files."""
    if not report.skipped:
        return ""
    return f"; {_plural(len(report.skipped), 'file')} skipped: not AetherFlow files"


def print_skipped(report: Report) -> None:
    """With -v: each skipped file, on stderr (stdout holds only the report)."""
    for path in report.skipped:
        click.echo(f"{path}: skipped: not an AetherFlow file", err=True)


def print_report(
    report: Report,
    fmt: str = "text",
    document: dict[str, Any] | None = None,
    verbose: bool = False,
) -> None:
    """The report on stdout in `fmt`; the summary on stderr (in `json`, the one object on
    stdout is all: `document` when the command has its own, else the report's, whose
    `skipped` lists the files skipped). With `verbose`, the skipped files on stderr."""
    if fmt == "json":
        click.echo(formats.json_text(document if document is not None else report.as_json()))
        return
    echo_diagnostics(report, fmt, report.diagnostics())
    if verbose:
        print_skipped(report)
    click.echo(summary(report), err=True)


def echo_diagnostics(
    report: Report, fmt: str, diagnostics: list[Diagnostic], command: str = "validate"
) -> None:
    """`diagnostics` (of `report`) on stdout in a format other than json."""
    if fmt == "text":
        for diag in diagnostics:
            click.echo(diag.format_text())
    elif fmt == "github":
        click.echo(formats.github(diagnostics), nl=False)
    elif fmt == "sarif":
        click.echo(formats.json_text(formats.sarif_document(diagnostics)))
    elif fmt == "gitlab":
        click.echo(formats.json_text(formats.gitlab_document(diagnostics)))
    elif fmt == "junit":
        files = [f.path for f in report.files]
        click.echo(formats.junit_document(f"aetherflow {command}", files, diagnostics), nl=False)
    else:  # click.Choice and the config's check allow only FORMATS
        raise ValueError(f"unknown output format {fmt!r}")
