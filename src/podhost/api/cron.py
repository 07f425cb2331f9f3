"""Cron schedules as CronJobs read them (robfig/cron v3 `ParseStandard`): five fields
(minute hour day-of-month month day-of-week) with `*`, `?`, lists, ranges, steps and names, and
the descriptors @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly and
`@every <duration>`. Errors carry robfig's words, which the API server puts in its 422.

Pure: `parse(text)` returns a `Schedule` whose `next(after)` is the first activation strictly
after `after` (in `after`'s time zone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_MONTHS = {n: i + 1 for i, n in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_NO_NAMES: dict[str, int] = {}
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, _NO_NAMES), (0, 23, _NO_NAMES), (1, 31, _NO_NAMES), (1, 12, _MONTHS), (0, 6, _DAYS))
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                "@hourly": "0 * * * *"}
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
YEARS_AHEAD = 5


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    day_star: bool = True  # day-of-month was * or ?
    weekday_star: bool = True
    every: float = 0.0  # seconds, for @every

    def _day_matches(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.day_star or self.weekday_star:
            return dom and dow
        return dom or dow

    def next(self, after: datetime) -> datetime | None:
        """The first activation after `after`; None if there is none within five years."""
        if self.every:
            step = max(1.0, float(int(self.every)))
            return after.replace(microsecond=0) + timedelta(seconds=step)
        t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = after.year + YEARS_AHEAD
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        return None


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds."""
    rest, total = text, 0.0
    if not rest:
        raise CronError(f'time: invalid duration "{text}"')
    while rest:
        m = _DURATION.match(rest)
        if not m:
            raise CronError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        rest = rest[m.end():]
    return total


def _value(text: str, names: dict[str, int], expr: str) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"failed to parse int from {text}: strconv.Atoi: parsing "
                        f'"{text}": invalid syntax')
    return int(text)


def _range(expr: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    """One comma-separated term; returns its values and whether it was a star."""
    range_and_step = expr.split("/")
    if len(range_and_step) > 2:
        raise CronError(f"too many slashes: {expr}")
    bounds = range_and_step[0].split("-")
    if len(bounds) > 2:
        raise CronError(f"too many hyphens: {expr}")
    star = bounds[0] in ("*", "?")
    if star:
        start, end = low, high
    else:
        start = _value(bounds[0], names, expr)
        end = _value(bounds[1], names, expr) if len(bounds) == 2 else start
    step = 1
    if len(range_and_step) == 2:
        step = _value(range_and_step[1], {}, expr)
        if len(bounds) == 1 and not star:
            end = high
        if step <= 0:
            raise CronError(f"step of range should be a positive number: {expr}")
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    return set(range(start, end + 1, step)), star and step == 1


def _field(text: str, index: int) -> tuple[frozenset[int], bool]:
    low, high, names = _BOUNDS[index]
    values: set[int] = set()
    star = False
    for expr in text.split(","):
        found, is_star = _range(expr, low, high, names)
        values |= found
        star = star or is_star
    return frozenset(values), star


def parse(text: str) -> Schedule:
    spec = text.strip()
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith("@every "):
        seconds = parse_duration(spec[len("@every "):].strip())
        return Schedule(every=seconds)
    if spec.startswith("@"):
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: "
                        f"[{' '.join(fields)}]")
    minutes, _ = _field(fields[0], 0)
    hours, _ = _field(fields[1], 1)
    days, day_star = _field(fields[2], 2)
    months, _ = _field(fields[3], 3)
    weekdays, weekday_star = _field(fields[4], 4)
    return Schedule(minutes, hours, days, months, weekdays, day_star, weekday_star)


def most_recent(schedule: Schedule, earliest: datetime, now: datetime
                ) -> tuple[datetime | None, int]:
    """The latest activation in (earliest, now] and how many there were (capped at 101, as
    the CronJob controller stops counting)."""
    if schedule.every:
        step = timedelta(seconds=max(1.0, float(int(schedule.every))))
        base = earliest.replace(microsecond=0)
        count = int((now - base) / step) if now > base else 0
        return (base + step * count if count else None), min(count, 101)
    latest, count = None, 0
    t = schedule.next(earliest)
    while t is not None and t <= now:
        latest, count = t, count + 1
        if count > 100:  # too many missed: find the last one from a window before now
            for window in (timedelta(hours=1), timedelta(days=1), timedelta(days=32)):
                start = max(t, now - window)
                if (found := schedule.next(start)) is not None and found <= now:
                    t = found
                    break
            while t is not None and t <= now:
                latest, t = t, schedule.next(t)
            return latest, 101
        t = schedule.next(t)
    return latest, count
