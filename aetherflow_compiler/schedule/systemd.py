"""systemd timers: a cron expression as `OnCalendar=` lines, and the unit files per item.

systemd ANDs the weekday with the date, where cron ORs them when both are restricted; such
an expression becomes two `OnCalendar=` lines (a timer fires on the union of its lines),
one for the weekdays and one for the days of the month.
"""

from __future__ import annotations

import shlex

from aetherflow_compiler.schedule.cron import Cron

SYSTEMD_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def on_calendar(cron: Cron, timezone: str) -> list[str]:
    """The OnCalendar= values (without the key) that fire when `cron` does, in `timezone`."""
    time = f"{_numbers(cron.hours, 0, 23)}:{_numbers(cron.minutes, 0, 59)}:00"
    month = _numbers(cron.months, 1, 12)
    weekdays = _weekdays(cron.weekdays)
    days = _numbers(cron.days, 1, 31)
    if cron.any_day and cron.any_weekday:
        forms = [f"*-{month}-* {time}"]
    elif cron.any_day:
        forms = [f"{weekdays} *-{month}-* {time}"]
    elif cron.any_weekday:
        forms = [f"*-{month}-{days} {time}"]
    else:
        forms = [f"{weekdays} *-{month}-* {time}", f"*-{month}-{days} {time}"]
    return [f"{form} {timezone}" for form in forms]


def _numbers(values: frozenset[int], low: int, high: int) -> str:
    """`*`, `START/STEP` for a whole arithmetic run to the end of the field, or a comma
    list of numbers and `A..B` ranges; two digits each, as systemd prints them."""
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    if len(ordered) >= 3:
        step = ordered[1] - ordered[0]
        if ordered == list(range(ordered[0], high + 1, step)):
            return f"{ordered[0]:02d}/{step}"
    return ",".join(f"{a:02d}" if a == b else f"{a:02d}..{b:02d}" for a, b in _runs(ordered))


def _weekdays(values: frozenset[int]) -> str:
    # Monday first, as systemd counts, so that Mon..Fri is one range.
    monday_first = sorted((d - 1) % 7 for d in values)
    names = [(SYSTEMD_DAYS[(a + 1) % 7], SYSTEMD_DAYS[(b + 1) % 7]) for a, b in _runs(monday_first)]
    return ",".join(a if a == b else f"{a}..{b}" for a, b in names)


def _runs(ordered: list[int]) -> list[tuple[int, int]]:
    """Consecutive numbers as (first, last); a run of two stays two single numbers."""
    runs: list[tuple[int, int]] = []
    for value in ordered:
        if runs and runs[-1][1] == value - 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    out: list[tuple[int, int]] = []
    for a, b in runs:
        out.extend([(a, a), (b, b)] if b == a + 1 else [(a, b)])
    return out


def service_unit(
    description: str, workdir: str, argv: list[str], env_file: str | None = None
) -> str:
    """With `env_file` (shared state), the service reads AETHERFLOW_STATE_URL from it."""
    return "\n".join(
        [
            "[Unit]",
            f"Description={description}",
            "",
            "[Service]",
            "Type=oneshot",
            f"WorkingDirectory={workdir}",
            *([f"EnvironmentFile={env_file}"] if env_file is not None else []),
            f"ExecStart={' '.join(_exec_word(word) for word in argv)}",
            "",
        ]
    )


def timer_unit(description: str, calendars: list[str], persistent: bool, service: str) -> str:
    return "\n".join(
        [
            "[Unit]",
            f"Description={description}",
            "",
            "[Timer]",
            *[f"OnCalendar={calendar}" for calendar in calendars],
            f"Persistent={'true' if persistent else 'false'}",
            f"Unit={service}",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )


def _exec_word(word: str) -> str:
    """One word of ExecStart=: systemd splits on spaces and honours quotes much like sh,
    and expands `$` and `%`; those are doubled so that they arrive as written."""
    quoted = shlex.quote(word)
    return quoted.replace("%", "%%").replace("$", "$$")
