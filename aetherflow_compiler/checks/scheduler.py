"""Scheduler files: unique item ids and a real IANA timezone."""

from __future__ import annotations

import zoneinfo
from functools import cache

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.loader import Document
from aetherflow_compiler.suggest import closest
from aetherflow_compiler.walk import mapping, sequence


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_scheduler(doc: Document) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    data = mapping(doc.data)

    def at(path: tuple[object, ...], code: str, message: str, hint: str | None = None) -> Diagnostic:
        span = doc.span(path)
        return Diagnostic(doc.path, span.line, span.column, code, message, hint)

    tz = data.get("timezone")
    zones = _zones()
    if isinstance(tz, str) and zones and tz not in zones:
        best = closest(tz, zones)
        hint = f"did you mean '{best}'?" if best else "use an IANA name such as UTC or Europe/Berlin"
        out.append(at(("timezone",), "AF312", f"unknown timezone '{tz}'", hint))

    first: dict[str, int] = {}
    for i, item in enumerate(sequence(data.get("items"))):
        item_id = mapping(item).get("id")
        if not isinstance(item_id, str):
            continue
        if item_id in first:
            line = doc.span(("items", first[item_id], "id")).line
            out.append(at(("items", i, "id"), "AF311", f"duplicate scheduler item id '{item_id}'",
                          f"first used at line {line}"))
        else:
            first[item_id] = i
    return out
