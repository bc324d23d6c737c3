"""`next_stop` on the local stack equals what the sweeper then does: VMs with a time limit, an expiry, a budget
and a schedule are created through the API, and a clock driven by the test runs the sweeper every 5 minutes
(as in Azure) while the view (the code behind GET /api/vms/{name}) is read at the same clock before each pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared import operations
from shared.azure.webhook import Webhook
from shared.settings import Settings
from shared.sweeper import sweep
from tests.api.test_lifecycle import body
from tests.support.polling import wait_for_state
from tests.support.services import Clock, clocked

SWEEP_EVERY = timedelta(minutes=5)


def first_pass_at_or_after(start: datetime, due: datetime) -> datetime:
    passes = max(0, -(-(due - start) // SWEEP_EVERY))
    return start + passes * SWEEP_EVERY


def test_next_stop_equals_the_sweepers_next_action(api: httpx.Client, settings: Settings, vm_name: str) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    off = {"enabled": False}
    schedule = {
        "timezone": "UTC",
        "resume_at": f"{(start - timedelta(hours=2)):%H:%M}",
        "stop_at": f"{(start + timedelta(hours=2, minutes=40)):%H:%M}",
        "days_off": [],
    }
    plans: dict[str, dict[str, Any]] = {
        "time-limit": {"ttl_hours": 1, "idle": off},
        "expiry": {"expires_at": (start + timedelta(minutes=100)).isoformat(), "idle": off},
        "budget": {"budget_usd": 1000, "idle": off},
        "schedule": {"schedule": schedule, "idle": off},
    }
    names = {rule: f"{vm_name}-{rule[:4]}" for rule in plans}
    for rule, extra in plans.items():
        assert api.post("/vms", json=body(names[rule], **extra)).status_code == 202
    for name in names.values():
        wait_for_state(api, name, "Running")
    # A budget that its burn rate reaches in about two and a quarter hours.
    budget = api.get(f"/vms/{names['budget']}").json()
    spend = round(budget["cost_usd"] + budget["burn_usd_per_hour"] * 2.25, 4)
    assert api.patch(f"/vms/{names['budget']}", json={"budget_usd": spend}).status_code == 200

    clock = Clock(datetime.now(UTC))
    first = clock.now
    svc = clocked(settings, clock)
    stopped: dict[str, tuple[datetime, str]] = {}
    forecasts: dict[str, list[tuple[datetime, dict[str, Any] | None]]] = {name: [] for name in names.values()}
    while len(stopped) < len(names) and clock.now < first + timedelta(hours=4):
        for name in names.values():
            if name not in stopped:
                record = svc.store.get_vm(name)
                assert record is not None
                view = operations.present_one(svc, record)
                forecasts[name].append((clock.now, view.model_dump(mode="json")["next_stop"]))
        report = sweep(svc, Webhook(None), clock.now)
        for action in report.actions:
            stopped.setdefault(action["vm"], (clock.now, action["rule"]))
        clock.advance(minutes=5)

    assert {name: rule for name, (_, rule) in stopped.items()} == {name: rule for rule, name in names.items()}
    for name, taken in forecasts.items():
        when, rule = stopped[name]
        for at, stop in taken:
            assert stop is not None and stop["rule"] == rule, (name, at, stop)
            due = datetime.fromisoformat(stop["due_at"])
            assert first_pass_at_or_after(at, due) == when, (name, at, stop, when)
    # The budget stop came when the forecast said, about 2 h 15 min after the budget was set.
    assert timedelta(hours=2) <= stopped[names["budget"]][0] - first <= timedelta(hours=2, minutes=30)
    for rule, name in names.items():
        last = svc.store.get_vm(name).last_stop  # type: ignore[union-attr]
        assert last is not None and (last.by, last.rule) == ("sweeper", rule)
