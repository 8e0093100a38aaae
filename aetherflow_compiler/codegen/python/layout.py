"""Laying out generated expressions in black's style, without running black per file.

Running black costs about 1 ms per generated line, which is most of a compile. The code
the compiler writes has few shapes (calls, lists, dicts, literals), so it is laid out
here directly, by one rule that black leaves unchanged:

- an expression whose line fits in 88 columns (black's width) stays on one line;
- otherwise its brackets are exploded, one element per line, each followed by a comma.
  That trailing comma is "magic" to black, which then keeps the explosion as it is.

Strings use black's quote preference and numbers its spelling. Tests run black over
every golden artifact and over generated flows to prove the output is a fixed point.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


def _str_width(line: str) -> int:
    """The width black measures a line with: wide characters count twice."""
    if line.isascii():
        return len(line)
    from black.strings import (
        str_width,  # imported only for non-ASCII lines: black is slow to import
    )

    return int(str_width(line))


LINE_LENGTH = 88


@dataclass(frozen=True)
class Atom:
    """Code that is never split: a name, a number, a string literal."""

    code: str


@dataclass(frozen=True)
class Call:
    """`func(arg, name=value, ...)`; a None name is a positional argument."""

    func: str
    args: tuple[tuple[str | None, Node], ...]


@dataclass(frozen=True)
class Collection:
    """`[a, b]` or `{k: v}`; each item is (prefix, node), the prefix being `key: ` in dicts."""

    open: str
    close: str
    items: tuple[tuple[str, Node], ...]


Node = Atom | Call | Collection


def string_literal(text: str) -> str:
    """A string literal as black writes it: double quotes unless that needs more escapes."""
    quote = "'" if text.count('"') > text.count("'") else '"'
    if quote not in text and "\\" not in text and text.isprintable():
        return quote + text + quote
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append("\\" + quote)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(repr(ch)[1:-1])
        else:
            out.append(ch)
    return quote + "".join(out) + quote


def number_literal(value: int | float) -> str:
    """repr() spelling, normalized like black (`1e+16` is written `1e16`)."""
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{exponent.lstrip('+')}"
    return text


def from_code(code: str) -> Node:
    """Layout nodes for a small expression given as code (the repr of a date, say)."""
    return _from_ast(ast.parse(code, mode="eval").body)


def _from_ast(node: ast.expr) -> Node:
    if isinstance(node, ast.Call):
        func = ast.unparse(node.func)
        args: list[tuple[str | None, Node]] = [(None, _from_ast(a)) for a in node.args]
        args += [(k.arg, _from_ast(k.value)) for k in node.keywords]
        return Call(func, tuple(args))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return Atom(string_literal(node.value))
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return Atom(number_literal(node.value))
    return Atom(ast.unparse(node))


def flat(node: Node) -> str:
    if isinstance(node, Atom):
        return node.code
    if isinstance(node, Call):
        parts = [flat(v) if k is None else f"{k}={flat(v)}" for k, v in node.args]
        return f"{node.func}({', '.join(parts)})"
    return node.open + ", ".join(p + flat(v) for p, v in node.items) + node.close


def fits(line: str) -> bool:
    return _str_width(line) <= LINE_LENGTH


def lay_out(node: Node, indent: int, prefix: str = "", suffix: str = "") -> list[str]:
    """The lines of `prefix + node + suffix` at `indent` spaces."""
    return _lay_out(node, indent, prefix, suffix, {})


def _flat(node: Node, flats: dict[int, str]) -> str:
    """`flat(node)`, remembering the text of every call and collection in `flats` (by id:
    the nodes live as long as the layout), so that nested levels are joined only once."""
    if isinstance(node, Atom):
        return node.code
    code = flats.get(id(node))
    if code is None:
        if isinstance(node, Call):
            parts = [
                _flat(v, flats) if k is None else f"{k}={_flat(v, flats)}" for k, v in node.args
            ]
            code = f"{node.func}({', '.join(parts)})"
        else:
            code = node.open + ", ".join(p + _flat(v, flats) for p, v in node.items) + node.close
        flats[id(node)] = code
    return code


def _lay_out(node: Node, indent: int, prefix: str, suffix: str, flats: dict[int, str]) -> list[str]:
    pad = " " * indent
    one_line = pad + prefix + _flat(node, flats) + suffix
    if fits(one_line) or isinstance(node, Atom):
        return [one_line]
    if isinstance(node, Call):
        if not node.args:
            return [one_line]
        opening, closing = node.func + "(", ")"
        items = [("" if k is None else f"{k}=", v) for k, v in node.args]
    else:
        if not node.items:
            return [one_line]
        opening, closing, items = node.open, node.close, list(node.items)
    lines = [pad + prefix + opening]
    for item_prefix, item in items:
        lines.extend(_lay_out(item, indent + 4, item_prefix, ",", flats))
    lines.append(pad + closing + suffix)
    return lines


def text(node: Node, indent: int, prefix: str = "", suffix: str = "") -> str:
    return "\n".join(lay_out(node, indent, prefix, suffix))
