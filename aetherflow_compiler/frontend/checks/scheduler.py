"""Scheduler files: unique item ids, a real IANA timezone, valid cron expressions, and
warnings where the engine's APScheduler reads an expression differently from cron."""

from __future__ import annotations

import zoneinfo
from functools import cache

from aetherflow_compiler.diagnostics import Diagnostic
from aetherflow_compiler.frontend.loader import Document
from aetherflow_compiler.schedule.cron import CronError, parse_cron
from aetherflow_compiler.suggest import closest
from aetherflow_compiler.walk import mapping, sequence


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_scheduler(doc: Document) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    data = mapping(doc.data)

    def at(
        path: tuple[object, ...], code: str, message: str, hint: str | None = None
    ) -> Diagnostic:
        span = doc.span(path)
        return Diagnostic(doc.path, span.line, span.column, code, message, hint)

    tz = data.get("timezone")
    zones = _zones()
    if isinstance(tz, str) and zones and tz not in zones:
        best = closest(tz, zones)
        hint = (
            f"did you mean '{best}'?" if best else "use an IANA name such as UTC or Europe/Berlin"
        )
        out.append(at(("timezone",), "AF312", f"unknown timezone '{tz}'", hint))

    first: dict[str, int] = {}
    for i, item in enumerate(sequence(data.get("items"))):
        item_id = mapping(item).get("id")
        if not isinstance(item_id, str):
            continue
        targets = [
            k for k in ("flow_yaml", "flow", "bundle_manifest") if mapping(item).get(k) is not None
        ]
        if len(targets) != 1:
            out.append(
                at(
                    ("items", i) + ((targets[1],) if targets[1:] else ()),
                    "AF322",
                    f"item '{item_id}' names {' and '.join(targets) if targets else 'no flow'}",
                    "give exactly one of flow_yaml (or flow) and bundle_manifest, as the engine's scheduler "
                    "requires",
                )
            )
        cron = mapping(item).get("cron")
        if isinstance(cron, str):
            out.extend(
                at(("items", i, "cron"), code, message, hint)
                for code, message, hint in _cron_problems(item_id, cron)
            )
        if item_id in first:
            line = doc.span(("items", first[item_id], "id")).line
            out.append(
                at(
                    ("items", i, "id"),
                    "AF311",
                    f"duplicate scheduler item id '{item_id}'",
                    f"first used at line {line}",
                )
            )
        else:
            first[item_id] = i
    return out


def _cron_problems(item_id: str, text: str) -> list[tuple[str, str, str]]:
    """(code, message, hint) for an item's cron expression."""
    if len(text.split()) != 5:
        return []  # the schema says it: five fields
    try:
        cron = parse_cron(text)
    except CronError as exc:
        return [
            (
                "AF315",
                f"item '{item_id}': cron '{text}': {exc}",
                "fields: minute hour day-of-month month day-of-week",
            )
        ]
    out = []
    if not cron.any_day and not cron.any_weekday:
        out.append(
            (
                "AF807",
                f"item '{item_id}': cron '{text}' runs on days matching the day of month or the day "
                "of week (the engine's APScheduler needs both)",
                "keep one of the two fields '*', or split the item in two",
            )
        )
    if cron.numeric_weekdays:
        out.append(
            (
                "AF808",
                f"item '{item_id}': cron '{text}' numbers weekdays: 0 and 7 are Sunday here and in "
                "cron, while the engine's APScheduler reads 0 as Monday",
                "write weekday names such as mon-fri",
            )
        )
    return out
