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
    return text + skipped_note(report)


def skipped_note(report: Report) -> str:
    """The summary's count of files found in folders that are not AetherFlow files."""
    if not report.skipped:
        return ""
    return f"; {_plural(len(report.skipped), 'file')} skipped: not AetherFlow files"


def print_skipped(report: Report) -> None:
    """With -v: each skipped file, on stderr (stdout holds only diagnostics)."""
    for path in report.skipped:
        click.echo(f"{path}: skipped: not an AetherFlow file", err=True)


def print_report(report: Report, verbose: bool = False) -> None:
    """Diagnostics on stdout (file order, then position); the summary on stderr."""
    for diag in report.general:
        click.echo(diag.format_text())
    for result in report.files:
        for diag in sorted(result.diagnostics.items):
            click.echo(diag.format_text())
    if verbose:
        print_skipped(report)
    click.echo(summary(report), err=True)
