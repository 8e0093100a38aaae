"""`aetherflow schedule explain`: the next trigger times of each item, in its timezone."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from croniter import croniter

from aetherflow_compiler.schedule.model import Schedule


def next_times(
    cron: str, timezone: str, start: datetime.datetime, count: int
) -> list[datetime.datetime]:
    """The next `count` times after `start` at which `cron` fires in `timezone` (croniter,
    cron's day-of-month/day-of-week rule)."""
    zone = zoneinfo.ZoneInfo(timezone)
    it = croniter(cron, start.astimezone(zone))
    return [it.get_next(datetime.datetime) for _ in range(count)]


def explain_json(schedule: Schedule, start: datetime.datetime, count: int) -> dict[str, Any]:
    """The same as explain_text, for machines: times in ISO 8601 with their offset."""
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    return {
        "source": schedule.source,
        "timezone": schedule.timezone,
        "start": start.astimezone(zone).isoformat(timespec="seconds"),
        "items": [
            {
                "id": item.id,
                "cron": item.cron.text,
                "target": item.target,
                "job": item.flow_job,
                "misfire_grace_time": item.misfire_grace_time,
                "next": [
                    moment.isoformat(timespec="seconds")
                    for moment in next_times(item.cron.text, schedule.timezone, start, count)
                ],
            }
            for item in schedule.items
        ],
    }


def explain_text(schedule: Schedule, start: datetime.datetime, count: int) -> str:
    lines = [
        f"{schedule.source}: timezone {schedule.timezone}, next {count} time{'s' if count != 1 else ''} after "
        f"{start.astimezone(zoneinfo.ZoneInfo(schedule.timezone)).isoformat(timespec='minutes')}"
    ]
    for item in schedule.items:
        job = f", job {item.flow_job}" if item.flow_job else ""
        grace = "no limit" if item.misfire_grace_time is None else f"{item.misfire_grace_time} s"
        lines += [
            "",
            f"{item.id}  cron '{item.cron.text}'  {item.target}{job}  (misfire grace {grace})",
        ]
        for moment in next_times(item.cron.text, schedule.timezone, start, count):
            lines.append(f"  {moment.strftime('%a')} {moment.isoformat(timespec='minutes')}")
    return "\n".join(lines) + "\n"
