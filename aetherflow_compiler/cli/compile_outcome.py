"""The end of `aetherflow compile`: write (or, with --check, compare) the output directory
and tell the user, in the format of `--format`: text, one JSON object (json) shaped like
`validate --json`, or the diagnostics in a CI format (github, sarif, gitlab, junit) with
what a person reads on stderr."""

from __future__ import annotations

import os
from typing import Any

import click

from aetherflow_compiler.cli.exit_codes import EXIT_DRIFT, EXIT_INVALID, EXIT_OK
from aetherflow_compiler.cli.formats import DOCUMENT_FORMATS
from aetherflow_compiler.cli.report import counts, echo_diagnostics, print_report, skipped_note
from aetherflow_compiler.diagnostics import one_line
from aetherflow_compiler.driver.compile import CompileResult
from aetherflow_compiler.driver.output import OutputError, drift, json_text, write_output


def problem(path: str, message: str) -> dict[str, Any]:
    """An error about the output rather than an input: no position, no code."""
    return {
        "file": path,
        "line": None,
        "column": None,
        "severity": "error",
        "code": None,
        "message": message,
        "hint": None,
    }


def as_json(result: CompileResult, output: str, check: bool) -> dict[str, Any]:
    report = result.report.as_json()
    return {
        "ok": report["ok"],
        "command": "compile --check" if check else "compile",
        "output": output,
        "flows": sorted(result.flow_ids),
        "inputs": report["files"],
        "files": sorted(result.files) if result.ok else [],
        "errors": report["errors"],
        "warnings": report["warnings"],
        "skipped": report["skipped"],
        "notes": report["notes"],
    }


def emit(document: dict[str, Any]) -> None:
    """Print one JSON object on stdout (always UTF-8: a file name that is not is escaped)."""
    click.echo(json_text(document, sort_keys=False))


def finish(
    result: CompileResult,
    output: str,
    *,
    check: bool,
    diff: bool,
    fmt: str,
    archive: str | None,
) -> int:
    """Exit status: 0 written (or up to date with --check), 1 drift found by --check or
    --diff, 2 invalid input or an output that cannot be written."""
    json_output = fmt == "json"
    document = as_json(result, output, check or diff)
    if not result.ok:
        print_report(result.report, fmt, document)
        return EXIT_INVALID
    if not json_output:
        report = result.report
        echo_diagnostics(
            report, fmt, [d for d in report.diagnostics() if not d.is_error], "compile"
        )
    if check or diff:
        return _compare(result, output, diff, fmt, document)
    try:
        written = write_output(result.files, output)
    except (OutputError, OSError) as exc:
        return _fail(document, output, str(exc), json_output)
    document["written"] = [path for state, path in written if state != "unexpected"]
    document["removed"] = [path for state, path in written if state == "unexpected"]
    n_flows, n_files = len(result.flow_ids), len(result.files)
    flows_text = f"{n_flows} flow{'s' if n_flows != 1 else ''}"
    tail = counts(result.report) + skipped_note(result.report)
    if not json_output:
        if written:
            click.echo(
                f"compiled {flows_text} into {one_line(output)} ({n_files} files){tail}", err=True
            )
        else:
            click.echo(
                f"compiled {flows_text}: {one_line(output)} was already up to date "
                f"({n_files} files){tail}",
                err=True,
            )
    if archive is not None:
        from aetherflow_compiler.driver.archive import write_archive

        try:
            digest = write_archive(result.files, archive)
        except OSError as exc:
            return _fail(document, archive, f"cannot write {archive}: {exc}", json_output)
        document["archive"] = {
            "path": archive,
            "sha256": digest,
            "sums": os.path.join(os.path.dirname(archive), "SHA256SUMS"),
        }
        if not json_output:
            click.echo(
                f"archived {one_line(output)} as {one_line(archive)} (sha256 {digest}, in SHA256SUMS)",
                err=True,
            )
    if json_output:
        emit(document)
    return EXIT_OK


def _compare(
    result: CompileResult, output: str, diff: bool, fmt: str, document: dict[str, Any]
) -> int:
    json_output = fmt == "json"
    # sarif, gitlab and junit write one document on stdout: the drift goes to stderr.
    to_stderr = fmt in DOCUMENT_FORMATS
    changes = drift(result.files, output)
    n_flows, n_files = len(result.flow_ids), len(result.files)
    document["up_to_date"] = not changes
    document["changes"] = [{"state": state, "path": path} for state, path in changes]
    text = ""
    if diff:
        from aetherflow_compiler.driver.drift_diff import unified_diff

        text = unified_diff(changes, result.files, output)
        document["diff"] = text
    if json_output:
        emit(document)
    elif diff:
        click.echo(text, nl=False, err=to_stderr)
    else:
        for state, path in changes:
            click.echo(f"{state}: {one_line(os.path.join(output, path))}", err=to_stderr)
    if changes:
        if not json_output:
            click.echo(
                f"{one_line(output)} is out of date ({len(changes)} of {n_files} files); "
                "run aetherflow compile without --check",
                err=True,
            )
        return EXIT_DRIFT
    if not json_output:
        click.echo(f"{one_line(output)} is up to date ({n_flows} flows, {n_files} files)", err=True)
    return EXIT_OK


def _fail(document: dict[str, Any], path: str, message: str, json_output: bool) -> int:
    if json_output:
        document["ok"] = False
        document["errors"].append(problem(path, message))
        emit(document)
    else:
        click.echo(f"aetherflow: {one_line(message)}", err=True)
    return EXIT_INVALID
