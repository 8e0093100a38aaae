"""What the user sees at the end of `validate`: located diagnostics and a summary line."""

from __future__ import annotations

import click

from aetherflow_compiler.frontend.validate import Report


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(report: Report) -> str:
    n_files = len(report.files)
    errors, warnings = len(report.errors), len(report.warnings)
    bad_files = sum(1 for f in report.files if not f.ok) + (
        1 if any(d.is_error for d in report.general) else 0
    )
    if errors and not report.files:
        text = _plural(errors, "error") + " before any file was checked"
    elif errors:
        text = f"{_plural(errors, 'error')} in {_plural(bad_files, 'file')} (of {n_files} checked)"
    else:
        text = f"{_plural(n_files, 'file')} valid"
    if warnings:
        text += f", {_plural(warnings, 'warning')}"
    return text


def print_report(report: Report) -> None:
    """Diagnostics on stdout (file order, then position); the summary on stderr."""
    for diag in report.general:
        click.echo(diag.format_text())
    for result in report.files:
        for diag in sorted(result.diagnostics.items):
            click.echo(diag.format_text())
    click.echo(summary(report), err=True)
