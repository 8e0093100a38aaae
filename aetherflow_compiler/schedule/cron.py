"""Five-field cron expressions: parsed into the set of values each field allows.

The grammar is the crontab(5) one: per field a comma list of `*`, `N`, `N-M`, each with an
optional `/STEP`, and `N/STEP` (from N to the field's end); month and weekday names (`jan`,
`mon`) in any case; weekday 7 is Sunday like 0. Meaning follows cron (and croniter, which
`aetherflow schedule explain` uses): when both day of month and day of week are restricted,
a day matches when either does.
"""

from __future__ import annotations

from dataclasses import dataclass

FIELDS = ("minute", "hour", "day of month", "month", "day of week")
LIMITS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class CronError(ValueError):
    """An invalid expression; `field` is the index of the field at fault (None: the whole)."""

    def __init__(self, message: str, field: int | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Cron:
    text: str  # fields joined by one space
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]  # of the month
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 Sunday .. 6 Saturday

    @property
    def any_day(self) -> bool:
        return self.days == frozenset(range(1, 32))

    @property
    def any_weekday(self) -> bool:
        return self.weekdays == frozenset(range(7))

    @property
    def numeric_weekdays(self) -> bool:
        """Whether the day of week field names days by number (read differently by APScheduler)."""
        field = self.text.split()[4]
        return not self.any_weekday and any(ch.isdigit() for ch in field.split("/")[0])


def parse_cron(text: str) -> Cron:
    fields = text.split()
    if len(fields) != 5:
        raise CronError(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), not {len(fields)}"
        )
    sets = [_field(value, index) for index, value in enumerate(fields)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return Cron(" ".join(fields), sets[0], sets[1], sets[2], sets[3], weekdays)


def _field(text: str, index: int) -> frozenset[int]:
    low, high = LIMITS[index]
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"empty list item in the {FIELDS[index]} field '{text}'", index)
        base, _, step_text = part.partition("/")
        step = 1
        if step_text or part.endswith("/"):
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(
                    f"step '{step_text}' in the {FIELDS[index]} field must be a whole number from 1",
                    index,
                )
            step = int(step_text)
        if base == "*":
            start, end = low, high if index != 4 else 6
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, index), _value(last, index)
            if start > end:
                raise CronError(
                    f"range '{base}' in the {FIELDS[index]} field goes backwards", index
                )
        else:
            start = _value(base, index)
            end = (high if index != 4 else 6) if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, index: int) -> int:
    low, high = LIMITS[index]
    names = MONTHS if index == 3 else WEEKDAYS if index == 4 else ()
    if text.lower() in names:
        return names.index(text.lower()) + (1 if index == 3 else 0)
    if not text.isdigit():
        known = f" or a name ({names[0]}..{names[-1]})" if names else ""
        raise CronError(f"'{text}' in the {FIELDS[index]} field is not a number{known}", index)
    value = int(text)
    if not low <= value <= high:
        raise CronError(
            f"{value} is out of range for the {FIELDS[index]} field ({low}-{high})", index
        )
    return value
