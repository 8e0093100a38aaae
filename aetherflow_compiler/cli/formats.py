"""The machine output formats of `validate` and `compile` (`--format`): GitHub Actions
workflow commands, SARIF 2.1.0, a GitLab code quality report and JUnit XML.

Each renderer takes the diagnostics of a Report and returns the text for stdout; what a
person reads (the summary, what was written) goes to stderr in every format but `json`.
Paths are shown relative to the working directory when they are under it (CI runs from
the repository's root, which is what GitHub and GitLab resolve paths against).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from aetherflow_compiler import __version__
from aetherflow_compiler.codes import CODES, Severity
from aetherflow_compiler.diagnostics import Diagnostic, one_line
from aetherflow_compiler.driver.output import json_text as _json_text

FORMATS = ("text", "json", "github", "sarif", "gitlab", "junit")
# The formats whose whole stdout is one document (a file for a CI system to read).
DOCUMENT_FORMATS = ("json", "sarif", "gitlab", "junit")

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)


def json_text(value: Any) -> str:
    """One JSON document, keys in the order written, always UTF-8 (driver/output.py)."""
    return _json_text(value, sort_keys=False)


def relative(path: str) -> str:
    """`path` relative to the working directory when it is below it, with `/` separators."""
    if os.path.isabs(path):
        try:
            rel = os.path.relpath(path)
        except ValueError:  # another drive (Windows)
            return path
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
            path = rel
    return path.replace(os.sep, "/")


def _with_hint(diag: Diagnostic) -> str:
    text = diag.full_message()
    return f"{text}\nhint: {diag.hint}" if diag.hint else text


# --- GitHub Actions -----------------------------------------------------------------------

_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def _escape_data(text: str) -> str:
    """As the Actions toolkit's escapeData: `%`, CR and LF (other control characters, and
    what a file name that is not UTF-8 holds, escaped as in a Python string literal)."""
    text = "".join(ch if ch.isprintable() or ch in "\r\n" else one_line(ch) for ch in text)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """As the Actions toolkit's escapeProperty: escapeData plus `:` and `,`."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(diag: Diagnostic) -> str:
    """One workflow command: `::error file=F,line=L,col=C,title=AF201::message`, which
    Actions shows as an annotation at that line of the pull request."""
    props = [
        f"file={_escape_property(relative(diag.file))}",
        f"line={diag.line}",
        f"col={diag.column}",
        f"title={_escape_property(diag.code)}",
    ]
    return f"::{_GITHUB_COMMAND[diag.severity]} {','.join(props)}::{_escape_data(_with_hint(diag))}"


def github(diagnostics: list[Diagnostic]) -> str:
    return "".join(github_line(d) + "\n" for d in diagnostics)


# --- SARIF 2.1.0 --------------------------------------------------------------------------


def _artifact_location(path: str) -> dict[str, Any]:
    shown = relative(path)
    if os.path.isabs(shown):
        return {"uri": Path(shown).as_uri()}
    return {"uri": quote(shown, errors="surrogateescape"), "uriBaseId": "%SRCROOT%"}


def _region(line: int | None, column: int | None) -> dict[str, Any]:
    region: dict[str, Any] = {}
    if line is not None:
        region["startLine"] = max(1, line)
        if column is not None:
            region["startColumn"] = max(1, column)
    return region


def sarif_document(diagnostics: list[Diagnostic]) -> dict[str, Any]:
    """One SARIF 2.1.0 log: the tool with every code as a rule, one result per diagnostic
    (related places as relatedLocations, the hint after the message)."""
    index = {code: i for i, code in enumerate(CODES)}
    rules = [
        {
            "id": code.code,
            "name": code.name,
            "shortDescription": {"text": code.summary},
            "help": {"text": code.fix},
            "defaultConfiguration": {"level": code.severity.value},
        }
        for code in CODES.values()
    ]
    results = []
    for diag in diagnostics:
        location = {"artifactLocation": _artifact_location(diag.file)}
        location["region"] = _region(diag.line, diag.column)
        result: dict[str, Any] = {
            "ruleId": diag.code,
            "ruleIndex": index[diag.code],
            "level": diag.severity.value,
            "message": {"text": diag.message + (f"\nhint: {diag.hint}" if diag.hint else "")},
            "locations": [{"physicalLocation": location}],
        }
        if diag.related:
            related = []
            for i, rel in enumerate(diag.related, start=1):
                place: dict[str, Any] = {"artifactLocation": _artifact_location(diag.file)}
                region = _region(rel.line, rel.column)
                if region:
                    place["region"] = region
                related.append(
                    {"id": i, "physicalLocation": place, "message": {"text": rel.message}}
                )
            result["relatedLocations"] = related
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "aetherflow",
                        "fullName": "aetherflow-compiler",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


# --- GitLab code quality ------------------------------------------------------------------

_GITLAB_SEVERITY = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.NOTE: "info"}


def gitlab_document(diagnostics: list[Diagnostic]) -> list[dict[str, Any]]:
    """A code quality report (the Code Climate subset GitLab reads): description,
    check_name, fingerprint, severity, location.path and location.lines.begin. The
    fingerprint leaves the line out (a finding that moves stays the same finding) and counts
    repeats of the same message in the same file."""
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for diag in diagnostics:
        path = relative(diag.file)
        key = (path, diag.code, diag.message)
        seen[key] = seen.get(key, 0) + 1
        fingerprint = hashlib.sha256(
            json.dumps([*key, seen[key]], ensure_ascii=False).encode("utf-8", "surrogatepass")
        ).hexdigest()
        out.append(
            {
                "description": f"{diag.code} {_with_hint(diag)}",
                "check_name": f"{diag.code} {CODES[diag.code].name}",
                "fingerprint": fingerprint,
                "severity": _GITLAB_SEVERITY[diag.severity],
                "location": {"path": path, "lines": {"begin": max(1, diag.line)}},
            }
        )
    return out


# --- JUnit XML ----------------------------------------------------------------------------


def junit_document(name: str, files: list[str], diagnostics: list[Diagnostic]) -> str:
    """One test suite, one test case per file checked (plus one for problems of no checked
    file): a file with errors fails, with its errors as the failure's text; its warnings
    and notes are the case's system-out."""
    by_file: dict[str, list[Diagnostic]] = {path: [] for path in files}
    for diag in diagnostics:
        by_file.setdefault(diag.file, []).append(diag)
    cases = []
    failures = 0
    for path, diags in by_file.items():
        errors = [d for d in diags if d.is_error]
        others = [d for d in diags if not d.is_error]
        body = ""
        if errors:
            failures += 1
            word = "error" if len(errors) == 1 else "errors"
            text = "\n".join(d.format_text() for d in errors)
            body += (
                f"<failure message={quoteattr(f'{len(errors)} {word}')} "
                f"type={quoteattr(errors[0].code)}>{escape(text)}</failure>"
            )
        if others:
            text = "\n".join(d.format_text() for d in others)
            body += f"<system-out>{escape(text)}</system-out>"
        attrs = f"classname={quoteattr(name)} name={quoteattr(one_line(relative(path)))}"
        cases.append(
            f"    <testcase {attrs}>{body}</testcase>" if body else f"    <testcase {attrs}/>"
        )
    head = (
        f'<testsuites name={quoteattr(name)} tests="{len(cases)}" failures="{failures}">\n'
        f'  <testsuite name={quoteattr(name)} tests="{len(cases)}" failures="{failures}" '
        'errors="0" skipped="0">\n'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + head
        + "".join(c + "\n" for c in cases)
        + "  </testsuite>\n</testsuites>\n"
    )
