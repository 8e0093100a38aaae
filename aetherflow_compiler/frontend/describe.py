"""Words for places and values in a flow, used in diagnostic messages."""

from __future__ import annotations

import datetime
import re
from typing import Any

from aetherflow_compiler.frontend.loader import Path

# A key written as it is in a dotted place ('inputs.retry'); others are shown bracketed.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def describe_path(data: Any, path: Path) -> str:
    """`job 'extract', step 'run', inputs.retry` for ('jobs', 0, 'steps', 1, 'inputs', 'retry')."""
    parts: list[str] = []
    dotted: list[str] = []
    cur = data
    i = 0

    def flush() -> None:
        if dotted:
            parts.append(".".join(dotted).replace(".[", "["))
            dotted.clear()

    while i < len(path):
        part = path[i]
        nxt = path[i + 1] if i + 1 < len(path) else None
        if part in ("jobs", "steps", "items") and isinstance(nxt, int) and isinstance(cur, dict):
            flush()
            seq = cur.get(part)
            element = seq[nxt] if isinstance(seq, list) and nxt < len(seq) else None
            ident = element.get("id") if isinstance(element, dict) else None
            noun = {"jobs": "job", "steps": "step", "items": "item"}[part]
            parts.append(f"{noun} '{ident}'" if isinstance(ident, str) else f"{noun} #{nxt + 1}")
            cur = element
            i += 2
            continue
        if part == "resources" and nxt is not None and i == 0:
            flush()
            parts.append(f"resource '{nxt}'")
            cur = cur.get(part, {}).get(nxt) if isinstance(cur, dict) else None
            i += 2
            continue
        if isinstance(part, int):
            dotted.append(f"[{part}]")
        elif isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            dotted.append(part)
        else:  # '', 'a b', 'x.y', a key that is not a string: as it would be looked up
            dotted.append(f"[{part!r}]")
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            cur = None
        i += 1
    flush()
    return ", ".join(parts) if parts else "the file"


_KINDS = [
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "a mapping"),
    (datetime.datetime, "a date-time"),
    (datetime.date, "a date"),
]

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def value_kind(value: Any) -> str:
    if value is None:
        return "null"
    for typ, word in _KINDS:
        if isinstance(value, typ):
            return word
    return type(value).__name__


def show_value(value: Any, limit: int = 40) -> str:
    """A short rendering of a value for messages."""
    if isinstance(value, (dict, list)):
        return value_kind(value)
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    if value is None:
        text = "null"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def type_words(types: Any) -> str:
    if isinstance(types, str):
        types = [types]
    words = [_TYPE_WORDS.get(t, t) for t in types]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]
