"""Working hours across time zones, weekends, night shifts and DST changes (pure: schedule + now)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from shared.core.models import Schedule
from shared.core.schedule import describe, is_off_hours, last_stop_time, next_stop_time, resolve
from tests.support.factories import sched, utc

BERLIN = sched("Europe/Berlin")
BERLIN_EVERY_DAY = sched("Europe/Berlin", days_off=[])
BERLIN_NIGHT = sched("Europe/Berlin", resume="22:00", stop="02:30", days_off=[])
NEW_YORK_EVERY_DAY = sched("America/New_York", days_off=[])
NEW_YORK_NIGHT = sched("America/New_York", resume="22:00", stop="02:30", days_off=[])
NEW_YORK_LATE = sched("America/New_York", resume="18:00", stop="01:30", days_off=[])
NIGHT_SHIFT_WEEKDAYS = sched("Europe/Berlin", resume="22:00", stop="06:00")
NEVER = sched("Europe/Berlin", days_off=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])


RESOLVE_CASES = [
    # (zone, day, local time, expected UTC instant)
    ("Europe/Berlin", date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 1, 0)),  # gap: first instant after
    ("Europe/Berlin", date(2026, 3, 29), time(3, 0), utc(2026, 3, 29, 1, 0)),
    ("Europe/Berlin", date(2026, 3, 29), time(1, 59), utc(2026, 3, 29, 0, 59)),
    ("Europe/Berlin", date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30)),  # overlap: first (CEST)
    ("Europe/Berlin", date(2026, 10, 25), time(3, 0), utc(2026, 10, 25, 2, 0)),
    ("America/New_York", date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 0)),  # gap -> 03:00 EDT
    ("America/New_York", date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),  # overlap -> EDT
    ("America/New_York", date(2026, 11, 1), time(19, 0), utc(2026, 11, 2, 0, 0)),  # EST after the change
]


@pytest.mark.parametrize(("zone", "day", "at", "expected"), RESOLVE_CASES)
def test_resolve(zone: str, day: date, at: time, expected: datetime) -> None:
    assert resolve(day, at, ZoneInfo(zone)) == expected


CASES = [
    # (name, schedule, now, off-hours?, last stop, next stop)
    ("weekday working hours", BERLIN, utc(2026, 11, 25, 12, 0), False, None, utc(2026, 11, 25, 18, 0)),
    ("weekday just before stop", BERLIN, utc(2026, 11, 25, 17, 59), False, None, utc(2026, 11, 25, 18, 0)),
    ("weekday at stop", BERLIN, utc(2026, 11, 25, 18, 0), True, utc(2026, 11, 25, 18, 0), utc(2026, 11, 26, 18, 0)),
    ("weekday 3 min late", BERLIN, utc(2026, 11, 25, 18, 3), True, utc(2026, 11, 25, 18, 0), utc(2026, 11, 26, 18, 0)),
    ("weekday 3 h late", BERLIN, utc(2026, 11, 25, 21, 0), True, utc(2026, 11, 25, 18, 0), utc(2026, 11, 26, 18, 0)),
    ("before resume", BERLIN, utc(2026, 11, 26, 5, 59), True, utc(2026, 11, 25, 18, 0), utc(2026, 11, 26, 18, 0)),
    ("at resume", BERLIN, utc(2026, 11, 26, 6, 0), False, None, utc(2026, 11, 26, 18, 0)),
    ("saturday", BERLIN, utc(2026, 11, 28, 12, 0), True, utc(2026, 11, 27, 18, 0), utc(2026, 11, 30, 18, 0)),
    ("sunday night", BERLIN, utc(2026, 11, 29, 23, 0), True, utc(2026, 11, 27, 18, 0), utc(2026, 11, 30, 18, 0)),
    # The same UTC clock time on either side of the spring change gives different answers.
    ("berlin day before spring", BERLIN_EVERY_DAY, utc(2026, 3, 28, 17, 30), False, None, utc(2026, 3, 28, 18, 0)),
    (
        "berlin spring day",
        BERLIN_EVERY_DAY,
        utc(2026, 3, 29, 17, 30),
        True,
        utc(2026, 3, 29, 17, 0),
        utc(2026, 3, 30, 17, 0),
    ),
    ("berlin spring night shift", BERLIN_NIGHT, utc(2026, 3, 29, 0, 58), False, None, utc(2026, 3, 29, 1, 0)),
    (
        "berlin spring stop in the gap",
        BERLIN_NIGHT,
        utc(2026, 3, 29, 1, 0),
        True,
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
    ),
    ("berlin autumn first 02:20", BERLIN_NIGHT, utc(2026, 10, 25, 0, 20), False, None, utc(2026, 10, 25, 0, 30)),
    (
        "berlin autumn second 02:20",
        BERLIN_NIGHT,
        utc(2026, 10, 25, 1, 20),
        True,
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ),
    ("new york spring evening", NEW_YORK_EVERY_DAY, utc(2026, 3, 8, 22, 30), False, None, utc(2026, 3, 8, 23, 0)),
    ("new york day before spring", NEW_YORK_EVERY_DAY, utc(2026, 3, 7, 23, 30), False, None, utc(2026, 3, 8, 0, 0)),
    ("new york spring night shift", NEW_YORK_NIGHT, utc(2026, 3, 8, 6, 59), False, None, utc(2026, 3, 8, 7, 0)),
    (
        "new york spring stop in the gap",
        NEW_YORK_NIGHT,
        utc(2026, 3, 8, 7, 3),
        True,
        utc(2026, 3, 8, 7, 0),
        utc(2026, 3, 9, 6, 30),
    ),
    ("new york autumn first 01:20", NEW_YORK_LATE, utc(2026, 11, 1, 5, 20), False, None, utc(2026, 11, 1, 5, 30)),
    (
        "new york autumn second 01:20",
        NEW_YORK_LATE,
        utc(2026, 11, 1, 6, 20),
        True,
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ),
    (
        "new york autumn evening",
        NEW_YORK_EVERY_DAY,
        utc(2026, 11, 2, 0, 3),
        True,
        utc(2026, 11, 2, 0, 0),
        utc(2026, 11, 3, 0, 0),
    ),
    # Night shift on weekdays: a shift belongs to the day it begins.
    ("friday shift into saturday", NIGHT_SHIFT_WEEKDAYS, utc(2026, 11, 28, 4, 0), False, None, utc(2026, 11, 28, 5, 0)),
    (
        "saturday after the shift",
        NIGHT_SHIFT_WEEKDAYS,
        utc(2026, 11, 28, 12, 0),
        True,
        utc(2026, 11, 28, 5, 0),
        utc(2026, 12, 1, 5, 0),
    ),
    (
        "sunday night: no shift",
        NIGHT_SHIFT_WEEKDAYS,
        utc(2026, 11, 29, 23, 0),
        True,
        utc(2026, 11, 28, 5, 0),
        utc(2026, 12, 1, 5, 0),
    ),
    ("monday night shift", NIGHT_SHIFT_WEEKDAYS, utc(2026, 11, 30, 23, 0), False, None, utc(2026, 12, 1, 5, 0)),
    ("every day off", NEVER, utc(2026, 11, 25, 12, 0), True, None, None),
]


@pytest.mark.parametrize(
    ("schedule", "now", "off", "last", "upcoming"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_schedule(
    schedule: Schedule, now: datetime, off: bool, last: datetime | None, upcoming: datetime | None
) -> None:
    assert is_off_hours(schedule, now) is off
    assert last_stop_time(schedule, now) == last
    assert next_stop_time(schedule, now) == upcoming


def test_answers_are_utc_and_any_aware_now_works() -> None:
    now = datetime(2026, 11, 25, 20, 3, tzinfo=timezone(timedelta(hours=2)))  # 18:03 UTC
    stop = last_stop_time(BERLIN, now)
    assert stop == utc(2026, 11, 25, 18, 0)
    assert stop is not None and stop.tzinfo == UTC


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_off_hours(BERLIN, datetime(2026, 11, 25, 12, 0))


def test_every_minute_of_a_dst_week_agrees_with_local_wall_clock() -> None:
    """Brute force: off-hours exactly when the Berlin wall clock is outside 07:00-19:00 Mon-Fri."""
    zone = ZoneInfo("Europe/Berlin")
    moment = utc(2026, 3, 26, 0, 0)
    while moment < utc(2026, 4, 2, 0, 0):
        local = moment.astimezone(zone)
        working = local.weekday() < 5 and time(7, 0) <= local.time() < time(19, 0)
        assert is_off_hours(BERLIN, moment) is not working, moment
        moment += timedelta(minutes=13)


def test_describe() -> None:
    assert describe(BERLIN) == "runs 07:00-19:00 Europe/Berlin, not on sat, sun"
    assert describe(BERLIN_NIGHT) == "runs 22:00-02:30 (overnight) Europe/Berlin"
