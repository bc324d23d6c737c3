from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def wait_for_state(api: httpx.Client, name: str, *states: str, timeout: float = 30.0) -> dict[str, Any]:
    """GET the VM until its state is one of `states` (each GET reconciles it with ARM)."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = api.get(f"/vms/{name}")
        if response.status_code == 503 and "retry-after" in response.headers:
            # Azure is throttling or down: try again as the API advises (capped, so a test stays quick).
            time.sleep(min(float(response.headers["retry-after"]), 2.0))
            continue
        assert response.status_code == 200, response.text
        last = response.json()
        if last["state"] in states:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{name} stayed {last.get('state')} (wanted {states}): {last}")


def eventually(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def resources_named(sim: httpx.Client, name: str) -> list[dict[str, Any]]:
    """Every simulated ARM resource whose name starts with the VM's name (the VM and its children)."""
    items = sim.get("/resources").raise_for_status().json()["value"]
    return [r for r in items if r["name"].lower().startswith(name.lower())]
