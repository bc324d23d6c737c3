"""`next_stop` against the sweeper's own decisions: a simulated clock runs sweeps every 5 minutes (accrue,
decide, record warnings, as shared/sweeper.py does) and the VM is stopped exactly at the first pass at or
after the forecast's `due_at`, by the forecast's rule, whenever the forecast is taken."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.core.costs import accrue_record, burn_rate, month_of
from shared.core.decide import decide
from shared.core.forecast import OwnerSpend, next_stop
from shared.core.models import NextStop, VmRecord, VmState
from shared.core.observations import ObservedVm
from tests.support.factories import sched, utc, vm_record
from tests.unit.test_decide import LEAD, POLICY, PRICES, samples

SWEEP_EVERY = timedelta(minutes=5)
WED = utc(2026, 11, 25, 12, 0)  # Berlin working hours end at 18:00 UTC


def vm(now: datetime, **extra: Any) -> VmRecord:
    """A running E4s_v5 whose run began an hour ago, with a 48 h limit, no idle rule, cost accrued to now."""
    fields: dict[str, Any] = {
        "power_state": "running",
        "power_since": now - timedelta(hours=1),
        "cost_at": now,
        "month": month_of(now),
        "idle": {"enabled": False},
        **extra,
    }
    keep_until = fields.pop("keep_until", now + timedelta(hours=47))
    return vm_record(now - timedelta(days=3), keep_until, **fields)


def forecast(record: VmRecord, now: datetime, policy: Any = POLICY) -> NextStop | None:
    owner = OwnerSpend(record.month_cost_usd, burn_rate(record, PRICES))
    return next_stop(record, now, PRICES, policy, owner, LEAD)


@dataclass
class Run:
    """What the simulated sweeper did: the forecast taken before each pass, and the stop it made."""

    forecasts: list[tuple[datetime, NextStop | None]] = field(default_factory=list)
    stopped_at: datetime | None = None
    rule: str | None = None


def sweep_until_stopped(record: VmRecord, start: datetime, policy: Any = POLICY, days: int = 3) -> Run:
    run = Run()
    now = start
    while now < start + timedelta(days=days):
        record = accrue_record(record, PRICES, now).record
        run.forecasts.append((now, forecast(record, now, policy)))
        observed = {record.name: ObservedVm(record.name, "Succeeded", record.power_state, record_id=record.id)}
        owner_costs = {record.owner: record.month_cost_usd}
        decisions = decide([record], observed, {}, PRICES, owner_costs, policy, now, lead=LEAD)
        for warning in decisions.warnings:
            record = record.model_copy(update={"warned": {**record.warned, warning.key: now}})
        if decisions.actions:
            run.stopped_at, run.rule = now, decisions.actions[0].rule
            return run
        now += SWEEP_EVERY
    return run


def first_pass_at_or_after(start: datetime, due: datetime) -> datetime:
    passes = max(0, -(-(due - start) // SWEEP_EVERY))
    return start + passes * SWEEP_EVERY


CASES = {
    "time limit": {"keep_until": WED + timedelta(hours=3, minutes=2)},
    "schedule": {"schedule": sched("Europe/Berlin")},
    "schedule, snoozed past it": {
        "schedule": sched("Europe/Berlin"),
        "snoozed_until": WED + timedelta(hours=7, minutes=12),
    },
    "expiry before the time limit": {
        "expires_at": WED + timedelta(hours=4, minutes=17),
        "keep_until": WED + timedelta(hours=9),
    },
    "expiry, snooze does not lift it": {
        "expires_at": WED + timedelta(hours=2, minutes=41),
        "snoozed_until": WED + timedelta(hours=8),
    },
    "budget at the burn rate": {"budget_usd": 2.0, "cost_usd": 1.0},
    "budget already spent": {"budget_usd": 2.0, "cost_usd": 2.5},
    "owner's monthly budget": {"month_cost_usd": 499.2},
    "time limit passed, never warned": {"keep_until": WED - timedelta(hours=2)},
    "schedule before budget and time limit": {
        "schedule": sched("America/New_York"),
        "budget_usd": 10.0,
        "keep_until": WED + timedelta(hours=30),
    },
    "stopped but allocated": {"power_state": "stopped", "power_since": WED - timedelta(minutes=7)},
}


@pytest.mark.parametrize("extra", CASES.values(), ids=list(CASES))
def test_next_stop_is_the_sweepers_next_action(extra: dict[str, Any]) -> None:
    record = vm(WED, **extra)
    run = sweep_until_stopped(record, WED)
    assert run.stopped_at is not None, "the sweeper stopped the VM"
    for taken_at, predicted in run.forecasts:
        assert predicted is not None, f"no forecast at {taken_at}"
        assert predicted.rule == run.rule, f"at {taken_at}"
        assert first_pass_at_or_after(taken_at, predicted.due_at) == run.stopped_at, f"at {taken_at}: {predicted}"


def test_the_forecasts_differ_by_rule_and_say_what_to_do() -> None:
    stops = {name: forecast(vm(WED, **extra), WED) for name, extra in CASES.items()}
    assert {name: s.rule for name, s in stops.items() if s} == {
        "time limit": "time-limit",
        "schedule": "schedule",
        "schedule, snoozed past it": "schedule",
        "expiry before the time limit": "expiry",
        "expiry, snooze does not lift it": "expiry",
        "budget at the burn rate": "budget",
        "budget already spent": "budget",
        "owner's monthly budget": "budget",
        "time limit passed, never warned": "time-limit",
        "schedule before budget and time limit": "schedule",
        "stopped but allocated": "stopped-allocated",
    }
    schedule = stops["schedule"]
    assert schedule is not None and schedule.due_at == utc(2026, 11, 25, 18, 0) and schedule.snoozable
    assert "snooze" in schedule.how
    expiry = stops["expiry before the time limit"]
    assert expiry is not None and not expiry.snoozable and "expires_at" in expiry.how
    spent = stops["budget already spent"]
    assert spent is not None and spent.due_at == WED and "budget_usd" in spent.how
    owner = stops["owner's monthly budget"]
    assert owner is not None and "monthly budget" in owner.how
    never_warned = stops["time limit passed, never warned"]
    assert never_warned is not None and never_warned.due_at == WED + LEAD


def test_no_forecast_for_a_vm_the_sweeper_leaves_alone() -> None:
    assert forecast(vm(WED, state=VmState.STOPPED, power_state="deallocated"), WED) is None
    assert forecast(vm(WED, state=VmState.STARTING, power_state="starting"), WED) is None


def test_a_budget_far_beyond_the_horizon_is_no_forecast() -> None:
    rich = POLICY.model_copy(update={"monthly_budget_usd": 1_000_000})
    far = vm(WED, budget_usd=1_000_000.0, keep_until=WED + timedelta(hours=8000))
    stop = forecast(far, WED, rich)
    assert stop is not None and stop.rule == "time-limit"


def test_a_warned_idle_stop_is_foreseen_and_the_sweeper_makes_it_then() -> None:
    idle = {"enabled": True, "cpu_percent": 5, "network_in_mb": 50, "window_minutes": 60}
    record = vm(WED, idle=idle, warned={"idle:2026-11-25T11:58:00+00:00": WED - timedelta(minutes=2)})
    unwarned = forecast(vm(WED, idle=idle), WED)
    assert unwarned is not None and unwarned.rule == "time-limit", "an idle stop not yet warned of is not foreseen"
    predicted = forecast(record, WED)
    assert predicted is not None and (predicted.rule, predicted.snoozable) == ("idle", True)
    assert predicted.due_at == WED + timedelta(minutes=2)
    assert "looks idle" in predicted.how and "snooze" in predicted.how

    def acts(now: datetime) -> list[str]:
        observed = {record.name: ObservedVm(record.name, "Succeeded", "running", record_id=record.id)}
        decided = decide([record], observed, {record.name: samples(now)}, PRICES, {}, POLICY, now, lead=LEAD)
        return [a.rule for a in decided.actions]

    assert acts(WED) == []
    assert acts(first_pass_at_or_after(WED, predicted.due_at)) == ["idle"]
