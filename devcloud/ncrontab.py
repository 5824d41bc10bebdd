"""NCRONTAB schedules as Azure Functions timer triggers read them (six fields, seconds first).

`{second} {minute} {hour} {day} {month} {day-of-week}`, each field `*`, a value, a range `a-b`,
a step `*/n`, `a-b/n` or `a/n` (from a to the field's maximum), or a comma list of those. Months and
days of the week may be written as names or their prefixes of three letters or more (`Jan`,
`monday`); Sunday is 0. As in NCrontab (the library the Functions host uses), a time matches when
EVERY field matches: day-of-month and day-of-week are combined with AND, not with the OR of
Vixie cron. Times are UTC, like the host's default (WEBSITE_TIME_ZONE is not supported here).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]
_DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
# (name, lowest, highest, names for the lowest value onwards)
_FIELDS = [("second", 0, 59, None), ("minute", 0, 59, None), ("hour", 0, 23, None), ("day", 1, 31, None),
           ("month", 1, 12, _MONTHS), ("day-of-week", 0, 6, _DAYS)]
_SEARCH_YEARS = 30  # longer than any real schedule's gap (Feb 29 on a given weekday recurs within 28)


class CronError(ValueError):
    """The expression is not a valid six-field NCRONTAB schedule."""


def _value(text: str, field: str, low: int, high: int, names: list[str] | None) -> int:
    if text.isdigit():
        number = int(text)
    elif names and len(text) >= 3 and any(n.startswith(text.lower()) for n in names):
        number = low + next(i for i, n in enumerate(names) if n.startswith(text.lower()))
    else:
        raise CronError(f"{text!r} is not a valid {field} value")
    if not low <= number <= high:
        raise CronError(f"{field} value {number} is outside {low}-{high}")
    return number


def _field(text: str, field: str, low: int, high: int, names: list[str] | None) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{part!r}: the step of a {field} must be a positive number")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _value(a, field, low, high, names), _value(b, field, low, high, names)
            if first > last:
                raise CronError(f"{part!r}: the {field} range runs backwards")
        else:
            first = _value(base, field, low, high, names)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        parts = expression.split()
        if len(parts) != 6:
            raise CronError(f"{expression!r} must have 6 fields (second minute hour day month day-of-week), "
                            f"it has {len(parts)}")
        fields = [_field(text, *spec) for text, spec in zip(parts, _FIELDS, strict=True)]
        return cls(expression, *fields)

    def matches(self, t: datetime) -> bool:
        return (t.second in self.seconds and t.minute in self.minutes and t.hour in self.hours
                and t.day in self.days and t.month in self.months and (t.weekday() + 1) % 7 in self.weekdays)

    def next_after(self, after: datetime) -> datetime:
        """The first matching time strictly after `after` (naive times are taken as UTC)."""
        if after.tzinfo is None:
            after = after.replace(tzinfo=UTC)
        t = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        limit = t.year + _SEARCH_YEARS
        # Skip whole months, days, hours and minutes that cannot match, then step through seconds.
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
            elif t.day not in self.days or (t.weekday() + 1) % 7 not in self.weekdays:
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                return t
        raise CronError(f"{self.expression!r} has no occurrence within {_SEARCH_YEARS} years of {after.isoformat()}")

    def period_at(self, occurrence: datetime) -> timedelta:
        """Time from this occurrence to the next one (how late a run may be before it is past due)."""
        return self.next_after(occurrence) - occurrence
