"""Walking loaded values: every string with its path, and defensive lookups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aetherflow_compiler.frontend.loader import Path


def iter_strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Every string value (not mapping key) under `value`, depth first, in document order."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_strings(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_strings(v, path + (i,))


def mapping(value: Any) -> dict[Any, Any]:
    """`value` if it is a mapping, else an empty one (for checks over possibly bad input)."""
    return value if isinstance(value, dict) else {}


def mapping_at(value: Any, *keys: Any) -> dict[Any, Any]:
    """The mapping found by following `keys` through mappings from `value`, else an empty
    one: `mapping_at(doc, "flow", "state")` for `mapping(mapping(mapping(doc).get("flow")).get("state"))`.
    """
    for key in keys:
        value = mapping(value).get(key)
    return mapping(value)


def sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def dig(value: Any, dotted: str) -> tuple[bool, Any]:
    """Follow a dotted path through mappings; (found, value)."""
    cur = value
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return False, None
    return True, cur
