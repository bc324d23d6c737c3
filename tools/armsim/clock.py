"""Simulator time: real elapsed time scaled by `speed`, plus jumps."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SimClock:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._base = datetime.now(UTC)
        self._anchor = time.monotonic()
        self.speed = 1.0

    def now(self) -> datetime:
        return self._base + timedelta(seconds=(time.monotonic() - self._anchor) * self.speed)

    def _rebase(self, new_now: datetime) -> None:
        self._base = new_now
        self._anchor = time.monotonic()

    def advance(self, seconds: float) -> None:
        self._rebase(self.now() + timedelta(seconds=seconds))

    def set(self, when: datetime) -> None:
        self._rebase(when)

    def set_speed(self, speed: float) -> None:
        self._rebase(self.now())
        self.speed = speed


def iso(dt: datetime) -> str:
    """ISO 8601 in UTC with a 'Z', the form ARM and Azure Monitor answer with."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
