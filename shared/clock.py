"""The system clock. Everything that writes a timestamp takes its clock from `Services.clock`, which is this
function in production and a simulated clock in tests; nothing else reads the time of day."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
