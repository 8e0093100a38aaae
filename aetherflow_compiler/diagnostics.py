"""Diagnostics: what a user sees when something is wrong, always located and coded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.codes import CODES, Severity


@dataclass(frozen=True, order=True)
class Related:
    """A place that a diagnostic points at besides its own (AF806: each reason a flow gets
    no shell script). `line` is None for a reason with no place in the file."""

    line: int | None
    column: int | None
    message: str


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at one place: `file:line:column: SEVERITY CODE message`, plus the related
    places (same file) and an optional hint. Every output format (cli/formats.py) shows
    these fields and nothing else."""

    file: str
    line: int
    column: int
    code: str
    message: str
    hint: str | None = None
    related: tuple[Related, ...] = ()

    @property
    def severity(self) -> Severity:
        return CODES[self.code].severity

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format_text(self) -> str:
        """One line per diagnostic, the way compilers write them (`path:3:5: error AF201 ...`),
        then one indented line per related place and a hint line: control characters are
        escaped."""
        lines = [
            f"{one_line(self.file)}:{self.line}:{self.column}: {self.severity.value} {self.code} "
            f"{one_line(self.message)}"
        ]
        for rel in self.related:
            at = f"{rel.line}:{rel.column}: " if rel.line is not None else ""
            lines.append(f"  {at}{one_line(rel.message)}")
        if self.hint:
            lines.append(f"  hint: {one_line(self.hint)}")
        return "\n".join(lines)

    def full_message(self) -> str:
        """The message with the related places as lines: for formats that carry a message
        and one position only (GitHub annotations, GitLab code quality, JUnit)."""
        lines = [self.message]
        for rel in self.related:
            at = f"line {rel.line}, column {rel.column}: " if rel.line is not None else ""
            lines.append(f"- {at}{rel.message}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }
        if self.related:
            out["related"] = [
                {"line": r.line, "column": r.column, "message": r.message} for r in self.related
            ]
        return out


def one_line(text: str) -> str:
    """`text` as it is when printable, else with each control or unprintable character
    escaped as in a Python string literal: a path or message is one line of output."""
    if text.isprintable():  # the common case, without a Python loop over the characters
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


@dataclass
class DiagnosticList:
    """Diagnostics collected for one file, deduplicated and kept in source order."""

    items: list[Diagnostic] = field(default_factory=list)
    # What `items` holds, for a duplicate test in constant time (a linear one made a file
    # with 12,000 errors take half a minute). Rebuilt if `items` was changed directly.
    _seen: set[Diagnostic] = field(default_factory=set, repr=False, compare=False)
    _synced: int = field(
        default=0, repr=False, compare=False
    )  # len(items) when _seen was last right

    def add(self, diag: Diagnostic) -> None:
        if diag.code not in CODES:  # a programming error, not a user error
            raise KeyError(f"unknown diagnostic code {diag.code}")
        if self._synced != len(self.items):
            self._seen = set(self.items)
        if diag not in self._seen:
            self._seen.add(diag)
            self.items.append(diag)
        self._synced = len(self.items)

    def extend(self, diags: list[Diagnostic]) -> None:
        for d in diags:
            self.add(d)

    @property
    def errors(self) -> list[Diagnostic]:
        return sorted(d for d in self.items if d.is_error)

    @property
    def warnings(self) -> list[Diagnostic]:
        """Warnings and notes: what does not fail the command (see `of_severity`)."""
        return sorted(d for d in self.items if not d.is_error)

    def of_severity(self, severity: Severity) -> list[Diagnostic]:
        return sorted(d for d in self.items if d.severity is severity)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)
