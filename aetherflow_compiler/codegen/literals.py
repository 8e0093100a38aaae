"""The one place where values become Python source.

Every value from YAML reaches generated code through `to_node`: strings as string
literals (black's quoting of `repr`'s escapes), numbers and booleans in their canonical
spelling, templates as calls of the runtime's `Ref`/`Text` whose arguments are again
literals. Nothing is pasted as text.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from typing import Any

from aetherflow_compiler.codegen.python.layout import (
    Atom,
    Call,
    Collection,
    Node,
    flat,
    from_code,
    number_literal,
    string_literal,
)
from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.template import Ref, Template


def to_node(value: Any) -> Node:
    kind = type(value)  # the common exact types first; subclasses take the general path below
    if kind is str:
        return Atom(string_literal(value))
    if kind is ir.Map:
        return Collection(
            "{", "}", tuple((flat(to_node(k)) + ": ", to_node(v)) for k, v in value.entries)
        )
    if kind is int:
        return Atom(number_literal(value))
    if kind is Template:
        return template_node(value)
    if value is None or isinstance(value, bool):
        return Atom(repr(value))
    if isinstance(value, int):
        return Atom(number_literal(value))
    if isinstance(value, float):
        if math.isnan(value):
            return Call("float", ((None, Atom('"nan"')),))
        if math.isinf(value):
            return Call("float", ((None, Atom('"inf"' if value > 0 else '"-inf"')),))
        return Atom(number_literal(value))
    if isinstance(value, str):
        return Atom(string_literal(value))
    if isinstance(value, (datetime.date, datetime.datetime)):
        return from_code(repr(value))  # datetime.date(2024, 1, 31): the artifact imports datetime
    if isinstance(value, Template):
        return template_node(value)
    if isinstance(value, (ir.Seq, list, tuple)):
        items = value.items if isinstance(value, ir.Seq) else value
        return Collection("[", "]", tuple(("", to_node(v)) for v in items))
    if isinstance(value, (ir.Map, dict)):
        entries = value.entries if isinstance(value, ir.Map) else tuple(value.items())
        return Collection(
            "{", "}", tuple((flat(to_node(k)) + ": ", to_node(v)) for k, v in entries)
        )
    raise TypeError(f"no literal for {type(value).__name__}")


def py_literal(value: Any) -> str:
    """The value as one line of code."""
    return flat(to_node(value))


def ref_node(ref: Ref) -> Node:
    args: list[tuple[str | None, Node]] = [(None, to_node(ref.dotted))]
    if ref.default is not None:
        args.append(("default", to_node(ref.default)))
    return Call("Ref", tuple(args))


def template_node(template: Template) -> Node:
    refs = template.refs
    if not refs:  # only text: nothing to render at run time
        return to_node(template.source)
    if template.standalone:
        return ref_node(refs[0])
    pieces = [ref_node(p) if isinstance(p, Ref) else to_node(p.text) for p in template.parts]
    return Call("Text", tuple((None, p) for p in pieces))


def uses_dates(value: Any) -> bool:
    if isinstance(value, (datetime.date, datetime.datetime)):
        return True
    if isinstance(value, ir.Seq):
        return any(uses_dates(v) for v in value.items)
    if isinstance(value, ir.Map):
        return any(uses_dates(k) or uses_dates(v) for k, v in value.entries)
    return False


def comment_text(text: str) -> str:
    """Text safe inside a `#` comment: anything that could end the line is escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def function_names(ids: list[str], prefix: str) -> dict[str, str]:
    """Id -> a function name made of `prefix` and the id, with every character that is
    not [A-Za-z0-9_] as `_`: a name both Python and sh accept. Unique and deterministic:
    ids that map to the same name get `_2`, `_3`, ... in declared order."""
    return unique_names(ids, lambda ident: prefix + re.sub(r"[^A-Za-z0-9_]", "_", ident), "_")


def unique_names(ids: list[str], base_of: Callable[[str], str], separator: str) -> dict[str, str]:
    """Id -> base_of(id), made unique in declared order: a name already taken gets
    `separator` and 2, 3, ... (the first free one)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for ident in ids:
        base = base_of(ident)
        name, n = base, 2
        while name in used:
            name, n = f"{base}{separator}{n}", n + 1
        used.add(name)
        out[ident] = name
    return out
