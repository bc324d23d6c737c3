"""The clock. Everything that writes a timestamp takes its clock from `Services.clock`: the system clock in
Azure, and on the local stack, when `DSVM_CLOCK_URL` is set, the ARM simulator's clock, so that a whole
stack (API, worker, sweeper) lives in the same simulated time as the Azure it talks to."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]

# How long the simulator's time is extrapolated locally before it is asked again.
RESYNC_SECONDS = 0.05


def utcnow() -> datetime:
    return datetime.now(UTC)


class SimulatorClock:
    """The ARM simulator's time (`GET /_sim/clock`: `{"now", "speed"}`), extrapolated between reads."""

    def __init__(self, url: str, ca_file: str | None) -> None:
        self.url = url
        self._context = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None
        self._lock = threading.Lock()
        self._synced: tuple[float, datetime, float] | None = None

    def __call__(self) -> datetime:
        with self._lock:
            if self._synced is None or time.monotonic() - self._synced[0] >= RESYNC_SECONDS:
                with urllib.request.urlopen(self.url, timeout=10, context=self._context) as answer:  # noqa: S310
                    body = json.load(answer)
                now = datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00"))
                self._synced = (time.monotonic(), now, float(body.get("speed", 1.0)))
            at, base, speed = self._synced
        return base + timedelta(seconds=(time.monotonic() - at) * speed)


def clock_for(url: str | None, ca_file: str | None) -> Clock:
    return SimulatorClock(url, ca_file) if url else utcnow
