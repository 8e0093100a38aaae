"""The one place where values become Python source.

Every value from YAML reaches generated code through `py_literal`: strings through
`repr`, numbers and booleans through their canonical spelling, templates as calls of the
runtime's `Ref`/`Text` whose arguments are again literals. Nothing is pasted as text.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from aetherflow_compiler import ir
from aetherflow_compiler.templates import Ref, Template


def py_literal(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else 'float("-inf")'
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return repr(value)  # datetime.date(2024, 1, 31): the artifact imports datetime
    if isinstance(value, Template):
        return template_literal(value)
    if isinstance(value, ir.Seq):
        return "[" + ", ".join(py_literal(v) for v in value.items) + "]"
    if isinstance(value, ir.Map):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.entries) + "}"
    raise TypeError(f"no literal for {type(value).__name__}")


def ref_literal(ref: Ref) -> str:
    if ref.default is None:
        return f"Ref({py_literal(ref.dotted)})"
    return f"Ref({py_literal(ref.dotted)}, default={py_literal(ref.default)})"


def template_literal(template: Template) -> str:
    refs = template.refs
    if not refs:  # only text: nothing to render at run time
        return py_literal(template.source)
    if template.standalone:
        return ref_literal(refs[0])
    pieces = [ref_literal(p) if isinstance(p, Ref) else py_literal(p.text) for p in template.parts]
    return "Text(" + ", ".join(pieces) + ")"


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
