"""Where the keys of a TOML document are written.

`tomllib` gives values without positions. Diagnostics name `file:line:column`, so this
scanner walks the text of a document that `tomllib` has already accepted and records, for
every key path, where the key is written and where its value starts: keys under table
headers (`[tool.aetherflow]`, `[tool.aetherflow.sub]`, `[[x]]`), dotted keys
(`tool.aetherflow.paths = ...`, `k8s.image = ...`), quoted keys and inline tables. Strings
(all four kinds), arrays over several lines and comments are skipped as TOML reads them.
Items of arrays of tables share their table's path (the config has none).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
import string
from dataclasses import dataclass, field

KeyPath = tuple[str, ...]

_BARE = frozenset(string.ascii_letters + string.digits + "-_")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based, in characters


@dataclass
class Positions:
    """The first place each key path is written, and where its value (or table) starts."""

    keys: dict[KeyPath, Position] = field(default_factory=dict)
    values: dict[KeyPath, Position] = field(default_factory=dict)
    elements: dict[KeyPath, list[Position]] = field(default_factory=dict)  # array items

    def key(self, path: KeyPath) -> Position | None:
        """Where `path` is written, else where its nearest written parent is."""
        for n in range(len(path), 0, -1):
            if path[:n] in self.keys:
                return self.keys[path[:n]]
        return None

    def value(self, path: KeyPath) -> Position | None:
        return self.values.get(path) or self.key(path)

    def element(self, path: KeyPath, index: int) -> Position | None:
        items = self.elements.get(path, [])
        return items[index] if index < len(items) else self.value(path)


class _Unexpected(Exception):
    """The text is not what the scanner expects (it only reads what tomllib accepted)."""


def key_positions(text: str) -> Positions:
    """The positions of every key of `text`, a document tomllib parses. Should the scanner
    ever lose its way, the positions found so far are returned (callers fall back to a
    parent's position, or the first line)."""
    scanner = _Scanner(text)
    with contextlib.suppress(_Unexpected, IndexError):
        scanner.document()
    return scanner.found


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.found = Positions()

    # --- positions and characters ---------------------------------------------------------

    def pos(self, i: int) -> Position:
        line = bisect.bisect_right(self.line_starts, i) - 1
        return Position(line + 1, i - self.line_starts[line] + 1)

    def peek(self, n: int = 1) -> str:
        return self.text[self.i : self.i + n]

    def expect(self, token: str) -> None:
        if not self.text.startswith(token, self.i):
            raise _Unexpected(f"expected {token!r} at {self.pos(self.i)}")
        self.i += len(token)

    def blanks(self) -> None:
        """Spaces and tabs."""
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def gaps(self) -> None:
        """Whitespace, newlines and comments (between lines, and inside arrays)."""
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch in " \t\r\n":
                self.i += 1
            elif ch == "#":
                self.rest_of_line()
            else:
                return

    def rest_of_line(self) -> None:
        end = self.text.find("\n", self.i)
        self.i = len(self.text) if end < 0 else end + 1

    # --- the grammar ------------------------------------------------------------------------

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.gaps()
            if self.i >= len(self.text):
                return
            if self.peek() == "[":
                start = self.i
                double = self.peek(2) == "[["
                self.i += 2 if double else 1
                self.blanks()
                table = self.key_path(())
                self.found.values.setdefault(table, self.pos(start))
                self.blanks()
                self.expect("]]" if double else "]")
            else:
                self.pair(table)
            self.blanks()
            if self.peek() == "#" or self.peek() in ("\r", "\n"):
                self.rest_of_line()
            elif self.i < len(self.text):
                raise _Unexpected(f"text after a value at {self.pos(self.i)}")

    def pair(self, prefix: KeyPath) -> None:
        path = self.key_path(prefix)
        self.blanks()
        self.expect("=")
        self.blanks()
        self.found.values.setdefault(path, self.pos(self.i))
        self.value(path)

    def key_path(self, prefix: KeyPath) -> KeyPath:
        path = prefix
        while True:
            start = self.i
            path = (*path, self.key_part())
            self.found.keys.setdefault(path, self.pos(start))
            self.blanks()
            if self.peek() != ".":
                return path
            self.i += 1
            self.blanks()

    def key_part(self) -> str:
        ch = self.peek()
        if ch == '"':
            return self.basic_string()
        if ch == "'":
            return self.literal_string()
        start = self.i
        while self.i < len(self.text) and self.text[self.i] in _BARE:
            self.i += 1
        if self.i == start:
            raise _Unexpected(f"expected a key at {self.pos(start)}")
        return self.text[start : self.i]

    def value(self, path: KeyPath) -> None:
        if self.peek(3) in ('"""', "'''"):
            self.multiline_string(self.peek(3))
        elif self.peek() == '"':
            self.basic_string()
        elif self.peek() == "'":
            self.literal_string()
        elif self.peek() == "[":
            self.array(path)
        elif self.peek() == "{":
            self.inline_table(path)
        else:
            self.scalar()

    def array(self, path: KeyPath) -> None:
        self.expect("[")
        items = self.found.elements.setdefault(path, [])
        while True:
            self.gaps()
            if self.peek() == "]":
                self.i += 1
                return
            items.append(self.pos(self.i))
            self.value(path)
            self.gaps()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != "]":
                raise _Unexpected(f"expected ',' or ']' at {self.pos(self.i)}")

    def inline_table(self, path: KeyPath) -> None:
        self.expect("{")
        self.blanks()
        if self.peek() == "}":
            self.i += 1
            return
        while True:
            self.blanks()
            self.pair(path)
            self.blanks()
            if self.peek() == "}":
                self.i += 1
                return
            self.expect(",")

    def scalar(self) -> None:
        """A number, boolean or date: up to the next delimiter (a date and its time may be
        separated by one space)."""
        start = self.i
        while self.i < len(self.text) and self.text[self.i] not in " \t\r\n,]}#":
            self.i += 1
        if (
            _DATE.match(self.text[start : self.i])
            and self.peek() == " "
            and self.text[self.i + 1 : self.i + 2].isdigit()
        ):
            self.i += 1
            self.scalar()
        elif self.i == start:
            raise _Unexpected(f"expected a value at {self.pos(start)}")

    def basic_string(self) -> str:
        start = self.i
        self.expect('"')
        while self.text[self.i] != '"':
            self.i += 2 if self.text[self.i] == "\\" else 1
        self.i += 1
        try:  # TOML's escapes are JSON's, plus \UXXXXXXXX (kept as written)
            out: str = json.loads(self.text[start : self.i])
            return out
        except ValueError:
            return self.text[start + 1 : self.i - 1]

    def literal_string(self) -> str:
        self.expect("'")
        end = self.text.index("'", self.i)
        out = self.text[self.i : end]
        self.i = end + 1
        return out

    def multiline_string(self, quote: str) -> None:
        self.expect(quote)
        while not self.text.startswith(quote, self.i):
            self.i += 2 if quote == '"""' and self.text[self.i] == "\\" else 1
        self.i += 3
        for _ in range(2):  # up to two quotes may end the content right before the delimiter
            if self.peek() == quote[0]:
                self.i += 1
