"""Read a YAML file into plain values while remembering where every value came from.

Values match what PyYAML's `safe_load` gives the reference engine (YAML 1.1: `yes` is
True, `017` is 15, `1:30` is 90), but the loader is stricter than `safe_load`:

- files over `MAX_FILE_BYTES`, non-UTF-8 files and multi-document files are refused;
- only core-schema tags are accepted (no `!!python/object`, `!!binary`, `!!set`, ...);
- aliases may not expand the document by more than `yaml_tree.ALIAS_BUDGET` nodes, and may not
  refer to themselves, so a "billion laughs" file fails fast in bounded memory;
- duplicate keys and list/mapping keys are errors (PyYAML keeps the last key silently).

The result is a `Document`: the values plus a `Span` for every value and mapping key,
addressed by path (a tuple of mapping keys and list indexes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.project.sources import read_regular

MAX_FILE_BYTES = 4 * 1024 * 1024


Path = tuple[Any, ...]
# A Span's fields as a plain tuple: what a Document keeps per value (a tuple costs a
# twentieth of a frozen dataclass to make, and most positions are never asked for).
Position = tuple[int, int, int, str | None]


@dataclass(frozen=True)
class Span:
    """Where a value or key starts: 1-based line and column, 0-based text index, scalar style."""

    line: int
    column: int
    index: int
    style: str | None = None


@dataclass
class Document:
    """A loaded YAML file: its values and the position of each of them."""

    path: str
    text: str
    data: Any
    sha256: str = ""  # of the file's bytes
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    # Per string: how many of its first characters are written as is in the text, on
    # the scalar's first line (see position_in_scalar).
    _verbatim: dict[Path, int] = field(default_factory=dict, repr=False, compare=False)

    def span(self, path: Path, *, key: bool = False) -> Span:
        """The position of `path` (or of its key), else of its nearest ancestor that has one."""
        cur = tuple(path)
        if key and cur in self.keys:
            return Span(*self.keys[cur])
        while cur:
            if cur in self.values:
                return Span(*self.values[cur])
            cur = cur[:-1]
        return Span(*self.values[()]) if () in self.values else Span(1, 1, 0)

    def position_in_scalar(self, path: Path, offset: int) -> tuple[int, int]:
        """Line and column of character `offset` inside the string at `path`.

        Exact when the scalar is written on one line without escapes; otherwise the
        scalar's own start, which is still the right line for a reader.
        """
        span = self.span(path)
        value = _get(self.data, path)
        if not isinstance(value, str) or path not in self.values or span.style in ("|", ">"):
            return span.line, span.column
        quote = 1 if span.style in ("'", '"') else 0
        verbatim = self._verbatim.get(path)
        if verbatim is None:
            verbatim = self._verbatim[path] = _verbatim_prefix(value, self.text, span.index + quote)
        if offset <= verbatim:
            return span.line, span.column + quote + offset
        return span.line, span.column


def _verbatim_prefix(value: str, text: str, start: int) -> int:
    """How many first characters of `value` are written as is at text[start:] and hold no
    line break: computed once per string (a slice compare per token made a `when` with
    50,000 errors take seconds per thousand)."""
    newline = value.find("\n")
    end = len(value) if newline == -1 else newline
    if text.startswith(value[:end], start):
        return end
    low, high = 0, end  # the longest equal prefix, by halving (equal at low, not at high)
    while high - low > 1:
        middle = (low + high) // 2
        if text.startswith(value[:middle], start):
            low = middle
        else:
            high = middle
    return low


def _get(data: Any, path: Path) -> Any:
    cur = data
    for part in path:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def read_source(path: str) -> bytes:
    """The file's bytes, at most MAX_FILE_BYTES + 1 of them (enough to tell it is too big);
    a FIFO, socket or device is refused rather than read (sources.read_regular)."""
    return read_regular(path, MAX_FILE_BYTES + 1)


def unreadable(name: str, exc: OSError) -> Diagnostic:
    return Diagnostic(
        name, 1, 1, "AF100", f"cannot read file: {exc.strerror or type(exc).__name__}"
    )


def load_file(path: str, display: str | None = None) -> tuple[Document | None, list[Diagnostic]]:
    """Load `path`; `display` is the name used in diagnostics (defaults to `path`)."""
    name = display if display is not None else path
    try:
        raw = read_source(path)
    except OSError as exc:
        return None, [unreadable(name, exc)]
    return load_bytes(raw, name)


def load_bytes(raw: bytes, name: str) -> tuple[Document | None, list[Diagnostic]]:
    """Load YAML from bytes; returns the document (None on a fatal error) and diagnostics."""
    if len(raw) > MAX_FILE_BYTES:
        return None, [
            Diagnostic(
                name,
                1,
                1,
                "AF101",
                f"file is larger than the limit of {MAX_FILE_BYTES // (1024 * 1024)} MiB",
                "flow files are small; check that this is the file you meant",
            )
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        return None, [
            Diagnostic(
                name,
                line,
                column,
                "AF102",
                f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                "save the file as UTF-8",
            )
        ]
    if text.startswith("\ufeff"):
        text = text[1:]
    from aetherflow_compiler.frontend.yaml_tree import (  # PyYAML is imported only to load something
        Builder,
        LoadError,
    )

    warnings: list[Diagnostic] = []
    try:
        data, values, keys = Builder(name, text, warnings).build()
    except LoadError as exc:
        return None, [exc.diag]
    except RecursionError:
        return None, [
            Diagnostic(
                name,
                1,
                1,
                "AF103",
                "invalid YAML: the document nests too deeply",
                "flows need only a few levels of nesting",
            )
        ]
    return Document(name, text, data, hashlib.sha256(raw).hexdigest(), values, keys), warnings
