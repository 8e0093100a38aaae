"""A validated scheduler file as data: its timezone and items, each with a parsed cron."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aetherflow_compiler.codegen.literals import unique_names
from aetherflow_compiler.schedule.cron import Cron, parse_cron
from aetherflow_compiler.walk import mapping, sequence

DEFAULT_TIMEZONE = "Europe/Berlin"  # the engine's scheduler default
DEFAULT_MISFIRE_GRACE = 300  # seconds, the engine's scheduler default


@dataclass(frozen=True)
class Item:
    id: str
    slug: str  # the id as a name for files, units and Kubernetes objects: [a-z0-9-]
    cron: Cron
    flow_yaml: str | None  # None: the item runs bundle_manifest's entry flow
    flow_job: str | None
    misfire_grace_time: int | None  # None: no limit
    index: int  # position in `items`, for located errors
    bundle_manifest: str | None = None

    @property
    def target(self) -> str:
        """What the item runs, for comments and listings."""
        return (
            self.flow_yaml
            if self.flow_yaml is not None
            else f"the entry flow of {self.bundle_manifest}"
        )


@dataclass(frozen=True)
class Schedule:
    source: str  # the file name as given on the command line
    sha256: str
    timezone: str
    items: tuple[Item, ...]


def schedule_of(data: Any, source: str, sha256: str) -> Schedule:
    """The Schedule of a scheduler file that validated without errors."""
    doc = mapping(data)
    raw_items = [mapping(raw) for raw in sequence(doc.get("items"))]
    # Item ids are unique (AF311); their slugs are made unique too.
    slugs = unique_names([str(item["id"]) for item in raw_items], _slug, "-")
    items = []
    for index, item in enumerate(raw_items):
        item_id = str(item["id"])
        slug = slugs[item_id]
        grace = item.get("misfire_grace_time", DEFAULT_MISFIRE_GRACE)
        flow = item.get("flow_yaml", item.get("flow"))
        items.append(
            Item(
                item_id,
                slug,
                parse_cron(str(item["cron"])),
                None if flow is None else str(flow),
                None if item.get("flow_job") is None else str(item["flow_job"]),
                grace,
                index,
                None if item.get("bundle_manifest") is None else str(item["bundle_manifest"]),
            )
        )
    return Schedule(source, sha256, str(doc.get("timezone") or DEFAULT_TIMEZONE), tuple(items))


def _slug(item_id: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", item_id.lower()).strip("-")[:40] or "item"
