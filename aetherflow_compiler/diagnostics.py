"""Diagnostics: what a user sees when something is wrong, always located and coded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.codes import CODES, Severity


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at one place: `file:line:column: CODE message` plus an optional hint."""

    file: str
    line: int
    column: int
    code: str
    message: str
    hint: str | None = None

    @property
    def severity(self) -> Severity:
        return CODES[self.code].severity

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format_text(self) -> str:
        """One line per diagnostic (plus a hint line): control characters are escaped."""
        head = (
            f"{one_line(self.file)}:{self.line}:{self.column}: {self.code} {one_line(self.message)}"
        )
        if self.hint:
            return f"{head}\n  hint: {one_line(self.hint)}"
        return head

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


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
        return sorted(d for d in self.items if not d.is_error)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)
