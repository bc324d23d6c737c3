"""Option values that become parts of a request body: schedules, idle rules, times, and `none` to clear.

Each parses into what the API expects or fails as a usage error naming the option; the API's own policy
bounds are left to the API, which names the field and the bound when it refuses.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import click

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)$")


class Clear:
    """`none` on the command line: send null, which clears the setting."""

    def __repr__(self) -> str:
        return "none"


CLEAR = Clear()


def working_days_to_days_off(text: str) -> list[str]:
    """`mon-fri` or `mon,wed,fri` (ranges may wrap: `sun-thu`) → the days the VM is kept stopped."""
    working: set[str] = set()
    for part in text.lower().split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"{part!r} is not a day or range of days such as mon-fri")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        working.update(WEEKDAYS[(start + step) % 7] for step in range((end - start) % 7 + 1))
    return [day for day in WEEKDAYS if day not in working]


class ScheduleSpec(click.ParamType[Any]):
    name = "schedule"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dict | Clear):
            return value
        text = str(value).strip()
        if text.lower() == "none":
            return CLEAR
        words = text.split()
        if not words:
            self.fail("give a time zone, e.g. 'Europe/Berlin 07:00-19:00 mon-fri'", param, ctx)
        body: dict[str, Any] = {"timezone": words[0]}
        for word in words[1:]:
            hours = HOURS.match(word)
            if hours:
                resume_h, resume_m, stop_h, stop_m = (int(g) for g in hours.groups())
                body["resume_at"] = f"{resume_h:02d}:{resume_m:02d}"
                body["stop_at"] = f"{stop_h:02d}:{stop_m:02d}"
                continue
            try:
                body["days_off"] = working_days_to_days_off(word)
            except ValueError as exc:
                self.fail(f"{exc} (expected 'ZONE [HH:MM-HH:MM] [DAYS]')", param, ctx)
        return body


class LocalTime(click.ParamType[Any]):
    """An ISO date and time; without an offset it is the user's own local time."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Clear) or str(value).strip().lower() == "none":
            return CLEAR
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a time such as 2026-12-01T18:00 (your zone) or ...+01:00", param, ctx)
        return (moment if moment.tzinfo else moment.astimezone()).isoformat()


class OrClear(click.ParamType[Any]):
    """Another type, or `none` to clear the setting."""

    def __init__(self, inner: click.ParamType[Any]) -> None:
        self.inner = inner
        self.name = f"{inner.name}|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Clear) or str(value).strip().lower() == "none":
            return CLEAR
        return self.inner.convert(value, param, ctx)


def idle_body(enabled: bool | None, cpu: float | None, minutes: int | None, network_mb: float | None) -> Any:
    """The idle rule from its options, or None when none was given (the API's default stands)."""
    if enabled is False:
        return {"enabled": False}
    fields = {"cpu_percent": cpu, "window_minutes": minutes, "network_in_mb": network_mb}
    given = {key: value for key, value in fields.items() if value is not None}
    if not given and enabled is None:
        return None
    return {"enabled": True, **given}


def body_value(value: Any) -> Any:
    return None if isinstance(value, Clear) else value


IDLE_CPU = click.FloatRange(0, 100, min_open=True)
IDLE_MINUTES = click.IntRange(15, 24 * 60)
IDLE_NETWORK_MB = click.FloatRange(0, 1_000_000)


def idle_options(command: Any) -> Any:
    """--idle/--no-idle and the rule's three numbers, for create and set alike."""
    for decorator in (
        click.option("--idle-network-mb", type=IDLE_NETWORK_MB, metavar="MB", help="…and less network in than this."),
        click.option("--idle-minutes", type=IDLE_MINUTES, metavar="MIN", help="…for this long."),
        click.option("--idle-cpu", type=IDLE_CPU, metavar="PERCENT", help="Idle: every CPU sample below this…"),
        click.option(
            "--idle/--no-idle",
            "idle_enabled",
            default=None,
            help="Stop the VM when it sits idle (on by default at create).",
        ),
    ):  # applied bottom-up, so help lists them top-down
        command = decorator(command)
    return command
