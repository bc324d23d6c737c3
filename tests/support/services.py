"""In-process Services for shell tests that need simulated time, and extra API processes with other settings.

The shells run in the test process against the same Azurite and ARM simulator as the API under uvicorn,
through the same SDK clients; only the clock is the test's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.azure.arm import Arm
from shared.azure.queue import WorkQueue
from shared.azure.tables import Store
from shared.services import Services
from shared.settings import Settings
from tools.devstack import PYTHON, Stack, free_port, spawn, wait_for_port


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def clocked(settings: Settings, clock: Clock, *, patient: bool = True) -> Services:
    """Services like the worker's (or, patient=False, the API's) with the test's clock for every timestamp."""
    store = Store.from_settings(settings, clock)
    return Services(
        settings=settings, store=store, arm=Arm(settings, patient=patient), queue=WorkQueue(settings), clock=clock
    )


@contextlib.contextmanager
def api_process(stack: Stack, name: str, **env: str) -> Iterator[str]:
    """A second API process on a free port with some settings changed; yields its base URL."""
    port = free_port()
    args = [PYTHON, "-m", "uvicorn", "--factory", "shared.api.app:app_from_env", "--port", str(port)]
    service = spawn(name, args, stack.state_dir / f"{name}.log", {**stack.app_env(), **env})
    try:
        wait_for_port(port, service.process)
        yield f"http://127.0.0.1:{port}/api"
    finally:
        service.stop()
