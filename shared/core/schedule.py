"""Working hours in the owner's time zone, as pure functions of a `Schedule` and an aware `now`.

A schedule says when a VM may run: on each work day (a weekday not in `days_off`, in the schedule's
IANA time zone) from `resume_at` until `stop_at`. All other time is off-hours; a day off is off all day.

Night shifts: when `stop_at` is earlier than `resume_at` (resume 22:00, stop 06:00), a work day's window
runs from `resume_at` on that day to `stop_at` on the next: a shift belongs to the day it begins. With
days off Saturday and Sunday, Friday's shift runs Fri 22:00 -> Sat 06:00 and none begins on Sat or Sun.

Local wall times become instants day by day through zoneinfo, so DST changes are exact:
- a local time that does not exist (spring forward: 02:30 in Europe/Berlin on 2026-03-29) resolves to the
  first valid instant after it, the transition itself (03:00 CEST = 01:00 UTC);
- an ambiguous local time (fall back: 02:30 in Europe/Berlin on 2026-10-25 happens twice) resolves to its
  first occurrence, fold=0 (02:30 CEST = 00:30 UTC).

Every instant returned is an aware UTC datetime. `now` must be aware (any zone).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from shared.core.models import WEEKDAYS, Schedule

# How far back and ahead to look for windows: a week of days off plus the overnight spill.
_SPAN_DAYS = 8

Window = tuple[datetime, datetime]


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def resolve(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time `at` on `day` in `zone` (gap: first instant after; overlap: fold=0)."""
    naive = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    later = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if later.astimezone(zone).replace(tzinfo=None) == naive:
        return later
    # `naive` falls in a gap. fold=1 reads it with the offset after the transition (an instant before it),
    # fold=0 with the offset before (an instant after it): the transition lies between. Find it to the second.
    low = int(naive.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = int(later.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) > naive:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def windows(schedule: Schedule, first_day: date, last_day: date) -> list[Window]:
    """The working windows [start, end) that begin on local days first_day..last_day, in UTC, merged."""
    key = (schedule.timezone, schedule.resume_at, schedule.stop_at, frozenset(schedule.days_off))
    return list(_windows(*key, first_day, last_day))


# Teams share a handful of schedules: a sweep over thousands of VMs computes each day's windows once.
@lru_cache(maxsize=4096)
def _windows(
    timezone: str, resume_at: time, stop_at: time, days_off: frozenset[str], first_day: date, last_day: date
) -> tuple[Window, ...]:
    zone = ZoneInfo(timezone)
    overnight = stop_at < resume_at
    found: list[Window] = []
    day = first_day
    while day <= last_day:
        if WEEKDAYS[day.weekday()] not in days_off:
            start = resolve(day, resume_at, zone)
            end = resolve(day + timedelta(days=1 if overnight else 0), stop_at, zone)
            if end > start:
                found.append((start, end))
        day += timedelta(days=1)
    merged: list[Window] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _around(schedule: Schedule, now: datetime, before: int, after: int) -> list[Window]:
    today = now.astimezone(ZoneInfo(schedule.timezone)).date()
    return windows(schedule, today - timedelta(days=before), today + timedelta(days=after))


def is_off_hours(schedule: Schedule, now: datetime) -> bool:
    """True when `now` is outside every working window."""
    now = _aware(now)
    return not any(start <= now < end for start, end in _around(schedule, now, 2, 0))


def last_stop_time(schedule: Schedule, now: datetime) -> datetime | None:
    """When the current off-hours began (at or before `now`), in UTC.

    None during working hours, and when there is no working window in the past week (every day off).
    """
    now = _aware(now)
    if not is_off_hours(schedule, now):
        return None
    ends = [end for _, end in _around(schedule, now, _SPAN_DAYS, 0) if end <= now]
    return max(ends, default=None)


def next_stop_time(schedule: Schedule, now: datetime) -> datetime | None:
    """The next moment (strictly after `now`) that off-hours begin, in UTC; None if every day is a day off."""
    now = _aware(now)
    ends = [end for _, end in _around(schedule, now, 1, _SPAN_DAYS) if end > now]
    return min(ends, default=None)


def describe(schedule: Schedule) -> str:
    """Working hours in words, e.g. 'runs 07:00-19:00 Europe/Berlin, not on sat, sun'."""
    hours = f"{schedule.resume_at:%H:%M}-{schedule.stop_at:%H:%M}"
    if schedule.stop_at < schedule.resume_at:
        hours += " (overnight)"
    days = ", ".join(d for d in WEEKDAYS if d in schedule.days_off)
    return f"runs {hours} {schedule.timezone}" + (f", not on {days}" if days else "")
