"""The sweeper's decisions as a table: (records, what ARM reports, metrics, costs, now) -> actions and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.core.decide import Decisions, Sample, decide, prune_warned, snooze_until, warning_key
from shared.core.lifecycle import Refusal
from shared.core.models import IdleRule, VmRecord, VmState
from shared.core.observations import ObservedVm
from shared.core.policy import Policy
from shared.core.prices import load_catalogue
from tests.support.factories import sched, utc, vm_record

LEAD = timedelta(minutes=30)
POLICY = Policy(
    allowed_sizes=["Standard_E4s_v5"],
    max_os_disk_gb=1024,
    default_ttl_hours=12,
    max_ttl_hours=336,
    max_budget_usd=1000,
    monthly_budget_usd=500,
    max_vms_per_user=5,
    max_vcpus_per_user=64,
    allow_open_cidr=False,
    max_snooze_hours=12,
)
PRICES = load_catalogue().prices


BERLIN = sched("Europe/Berlin")  # Nov 2026: CET, 19:00 local = 18:00 UTC
BERLIN_EVERY_DAY = sched("Europe/Berlin", days_off=[])
BERLIN_NIGHT = sched("Europe/Berlin", resume="22:00", stop="02:30", days_off=[])
NEW_YORK_EVERY_DAY = sched("America/New_York", days_off=[])
NEW_YORK_NIGHT = sched("America/New_York", resume="22:00", stop="02:30", days_off=[])
NEW_YORK_LATE = sched("America/New_York", resume="18:00", stop="01:30", days_off=[])

WED = utc(2026, 11, 25, 12, 0)
IDLE = IdleRule(enabled=True, cpu_percent=5, network_in_mb=50, window_minutes=60)


def warned(rule: str, trigger: datetime, sent: datetime) -> dict[str, datetime]:
    return {warning_key(rule, trigger): sent}  # type: ignore[arg-type]


def samples(
    now: datetime,
    cpu: float = 1.0,
    net_bytes: float = 100_000,
    minutes: int = 60,
    step: int = 5,
    busy_at: int | None = None,
    missing: range = range(0),
) -> list[Sample]:
    """One sample per `step` minutes over the last `minutes`; `busy_at` (index) at 40 % CPU; `missing` indexes dropped."""
    points = []
    for index in range(minutes // step):
        if index in missing:
            continue
        value = 40.0 if index == busy_at else cpu
        points.append(Sample(now - timedelta(minutes=minutes - index * step), value, net_bytes))
    return points


@dataclass
class Case:
    name: str
    now: datetime
    record: dict[str, Any] = field(default_factory=dict)
    power: str | None = "running"
    metrics: list[Sample] = field(default_factory=list)
    owner_costs: dict[str, float] = field(default_factory=dict)
    expect: str | None = None
    warnings: list[str] = field(default_factory=list)
    owner_budgets: dict[str, float] | None = None
    lead: timedelta = LEAD


def record(now: datetime, **extra: Any) -> VmRecord:
    created = extra.pop("created_at", now - timedelta(hours=10))
    keep_until = extra.pop("keep_until", now + timedelta(hours=24))
    return vm_record(created, keep_until, **{"idle": IdleRule(enabled=False), "cost_usd": 1.0, **extra})


def run(case: Case) -> Decisions:
    vm = record(case.now, **case.record)
    observed = {} if case.power is None else {"vm1": ObservedVm("vm1", "Succeeded", case.power)}
    return decide(
        [vm],
        observed,
        {"vm1": case.metrics},
        PRICES,
        case.owner_costs,
        POLICY,
        case.now,
        owner_budgets=case.owner_budgets,
        lead=case.lead,
    )


SAT = utc(2026, 11, 28, 10, 0)
STOP = utc(2026, 11, 25, 18, 0)  # Wednesday 19:00 Berlin


def w(rule: str, trigger: datetime, sent: datetime) -> dict[str, Any]:
    return {"warned": warned(rule, trigger, sent)}


def idle_warned(sent: datetime) -> dict[str, datetime]:
    """An idle warning sent at `sent` (its key is the moment it was sent)."""
    return warned("idle", sent, sent)


WARNED_IDLE = {"warned": idle_warned(WED - timedelta(minutes=5))}  # one pass before WED


EXPIRED = {
    "keep_until": WED - timedelta(minutes=2),
    **w("time-limit", WED - timedelta(minutes=2), WED - timedelta(minutes=32)),
}


CASES = [
    Case("working hours: nothing", WED, {"schedule": BERLIN}),
    # --- schedule ---
    Case(
        "stop passed by 3 min",
        STOP + timedelta(minutes=3),
        {"schedule": BERLIN, **w("schedule", STOP, STOP - LEAD)},
        expect="schedule",
    ),
    Case(
        "stop passed by 3 h",
        STOP + timedelta(hours=3),
        {"schedule": BERLIN, **w("schedule", STOP, STOP - LEAD)},
        expect="schedule",
    ),
    Case(
        "stop passed, never warned: warn late", STOP + timedelta(minutes=3), {"schedule": BERLIN}, warnings=["schedule"]
    ),
    Case(
        "late warning 30 min ago",
        STOP + timedelta(minutes=33),
        {"schedule": BERLIN, **w("schedule", STOP, STOP + timedelta(minutes=3))},
        expect="schedule",
    ),
    Case(
        "late warning 20 min ago: wait",
        STOP + timedelta(minutes=23),
        {"schedule": BERLIN, **w("schedule", STOP, STOP + timedelta(minutes=3))},
    ),
    Case(
        "snoozed past the stop",
        STOP + timedelta(minutes=3),
        {"schedule": BERLIN, "snoozed_until": STOP + timedelta(hours=2)},
    ),
    Case(
        "snooze ends within lead",
        STOP + timedelta(minutes=100),
        {"schedule": BERLIN, "snoozed_until": STOP + timedelta(hours=2)},
        warnings=["schedule"],
    ),
    Case(
        "snooze ended",
        STOP + timedelta(minutes=121),
        {
            "schedule": BERLIN,
            "snoozed_until": STOP + timedelta(hours=2),
            **w("schedule", STOP + timedelta(hours=2), STOP + timedelta(minutes=90)),
        },
        expect="schedule",
    ),
    Case(
        "weekend: still running from friday",
        SAT,
        {
            "schedule": BERLIN,
            "created_at": utc(2026, 11, 27, 7, 0),
            **w("schedule", utc(2026, 11, 27, 18, 0), utc(2026, 11, 27, 17, 30)),
        },
        expect="schedule",
    ),
    Case(
        "weekend: started on saturday",
        SAT + timedelta(minutes=5),
        {"schedule": BERLIN, "created_at": utc(2026, 11, 27, 7, 0), "action_at": SAT},
        warnings=["schedule"],
    ),
    Case(
        "weekend: started on saturday, warned 30 min ago",
        SAT + timedelta(minutes=35),
        {
            "schedule": BERLIN,
            "created_at": utc(2026, 11, 27, 7, 0),
            "action_at": SAT,
            **w("schedule", SAT, SAT + timedelta(minutes=5)),
        },
        expect="schedule",
    ),
    # --- DST change days ---
    Case(
        "berlin spring: stop at 02:30, inside the gap",
        utc(2026, 3, 29, 1, 3),
        {"schedule": BERLIN_NIGHT, **w("schedule", utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 0, 30))},
        expect="schedule",
    ),
    Case(
        "berlin spring: warned before the gap",
        utc(2026, 3, 29, 0, 40),
        {"schedule": BERLIN_NIGHT},
        warnings=["schedule"],
    ),
    Case(
        "berlin spring: 19:00 CEST",
        utc(2026, 3, 29, 17, 3),
        {"schedule": BERLIN_EVERY_DAY, **w("schedule", utc(2026, 3, 29, 17, 0), utc(2026, 3, 29, 16, 30))},
        expect="schedule",
    ),
    Case(
        "berlin the day before: same UTC time is working hours", utc(2026, 3, 28, 17, 3), {"schedule": BERLIN_EVERY_DAY}
    ),
    Case(
        "berlin autumn: ambiguous 02:30, first occurrence",
        utc(2026, 10, 25, 0, 33),
        {"schedule": BERLIN_NIGHT, **w("schedule", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 0, 0))},
        expect="schedule",
    ),
    Case(
        "berlin autumn: warned before the first 02:30",
        utc(2026, 10, 25, 0, 5),
        {"schedule": BERLIN_NIGHT},
        warnings=["schedule"],
    ),
    Case(
        "new york spring: stop at 02:30, inside the gap",
        utc(2026, 3, 8, 7, 3),
        {"schedule": NEW_YORK_NIGHT, **w("schedule", utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 6, 30))},
        expect="schedule",
    ),
    Case(
        "new york spring: 19:00 EDT",
        utc(2026, 3, 8, 23, 3),
        {"schedule": NEW_YORK_EVERY_DAY, **w("schedule", utc(2026, 3, 8, 23, 0), utc(2026, 3, 8, 22, 30))},
        expect="schedule",
    ),
    Case("new york the day before: 23:03 UTC is 18:03 EST", utc(2026, 3, 7, 23, 3), {"schedule": NEW_YORK_EVERY_DAY}),
    Case(
        "new york autumn: ambiguous 01:30, first occurrence",
        utc(2026, 11, 1, 5, 33),
        {"schedule": NEW_YORK_LATE, **w("schedule", utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 5, 0))},
        expect="schedule",
    ),
    Case(
        "new york autumn: 19:00 EST",
        utc(2026, 11, 2, 0, 3),
        {"schedule": NEW_YORK_EVERY_DAY, **w("schedule", utc(2026, 11, 2, 0, 0), utc(2026, 11, 1, 23, 30))},
        expect="schedule",
    ),
    # --- time limit ---
    Case("time limit passed, warned", WED, EXPIRED, expect="time-limit"),
    Case(
        "time limit passed, never warned: warn late",
        WED,
        {"keep_until": WED - timedelta(minutes=2)},
        warnings=["time-limit"],
    ),
    Case("time limit in 20 min", WED, {"keep_until": WED + timedelta(minutes=20)}, warnings=["time-limit"]),
    Case("time limit in 40 min", WED, {"keep_until": WED + timedelta(minutes=40)}),
    Case(
        "snooze moved the time limit",
        WED,
        {"keep_until": WED + timedelta(hours=2), "snoozed_until": WED + timedelta(hours=2)},
    ),
    Case("time limit passed, snooze active", WED, {**EXPIRED, "snoozed_until": WED + timedelta(hours=2)}),
    Case(
        "started again after its time limit",
        WED,
        {
            "created_at": WED - timedelta(days=1),
            "action_at": WED - timedelta(minutes=5),
            "keep_until": WED - timedelta(hours=12),
            **w("time-limit", WED - timedelta(hours=12), WED - timedelta(hours=12, minutes=30)),
        },
        warnings=["time-limit"],
    ),
    # --- budget (snooze does not lift it) ---
    Case(
        "vm budget reached",
        WED,
        {"budget_usd": 40, "cost_usd": 40, "snoozed_until": WED + timedelta(hours=2)},
        expect="budget",
    ),
    Case("vm budget not reached", WED, {"budget_usd": 40, "cost_usd": 39.99}),
    Case(
        "owner budget reached",
        WED,
        {"snoozed_until": WED + timedelta(hours=2)},
        owner_costs={"ana@example.com": 500.0},
        expect="budget",
    ),
    Case(
        "owner budget raised by override",
        WED,
        owner_costs={"ana@example.com": 600.0},
        owner_budgets={"ana@example.com": 1000.0},
    ),
    Case("another owner over budget", WED, owner_costs={"bob@example.com": 900.0}),
    # --- idle ---
    Case("idle for the window: warned first", WED, {"idle": IDLE}, metrics=samples(WED), warnings=["idle"]),
    Case("idle, warned one pass ago", WED, {"idle": IDLE, **WARNED_IDLE}, metrics=samples(WED), expect="idle"),
    Case(
        "idle, warned 3 min ago: waits",
        WED,
        {"idle": IDLE, "warned": idle_warned(WED - timedelta(minutes=3))},
        metrics=samples(WED),
    ),
    Case(
        "idle, warned in an earlier spell (before the window): warned afresh",
        WED,
        {"idle": IDLE, "warned": idle_warned(WED - timedelta(minutes=61))},
        metrics=samples(WED),
        warnings=["idle"],
    ),
    Case(
        "idle, warned before a snooze that has ended: warned afresh",
        WED,
        {"idle": IDLE, **WARNED_IDLE, "snoozed_until": WED - timedelta(minutes=2)},
        metrics=samples(WED),
        warnings=["idle"],
    ),
    Case("idle with lead 0: acts at once", WED, {"idle": IDLE}, metrics=samples(WED), expect="idle", lead=timedelta(0)),
    Case(
        "a dry run's idle warning does not count",
        WED,
        {"idle": IDLE, "warned": {"dry-run:idle:x": WED - timedelta(minutes=5)}},
        metrics=samples(WED),
        warnings=["idle"],
    ),
    Case("busy cpu", WED, {"idle": IDLE, **WARNED_IDLE}, metrics=samples(WED, busy_at=6)),
    Case("busy network", WED, {"idle": IDLE}, metrics=samples(WED, net_bytes=5_000_000)),
    Case("young vm", WED, {"idle": IDLE, "created_at": WED - timedelta(minutes=50)}, metrics=samples(WED)),
    Case("started 30 min ago", WED, {"idle": IDLE, "action_at": WED - timedelta(minutes=30)}, metrics=samples(WED)),
    Case("no samples: unknown is not idle", WED, {"idle": IDLE}),
    Case("gap in samples", WED, {"idle": IDLE}, metrics=samples(WED, missing=range(4, 8))),
    Case("only the last half hour", WED, {"idle": IDLE}, metrics=samples(WED, missing=range(6))),
    Case("idle but snoozed", WED, {"idle": IDLE, "snoozed_until": WED + timedelta(hours=1)}, metrics=samples(WED)),
    Case("idle rule off", WED, {"idle": IdleRule(enabled=False)}, metrics=samples(WED)),
    # --- stopped but still allocated ---
    Case(
        "stopped-allocated: first sight",
        WED,
        {"state": VmState.STOPPED},
        power="stopped",
        warnings=["stopped-allocated"],
    ),
    Case(
        "stopped-allocated: warned 30 min ago",
        WED,
        {"state": VmState.STOPPED, **w("stopped-allocated", WED - timedelta(hours=10), WED - timedelta(minutes=30))},
        power="stopped",
        expect="stopped-allocated",
    ),
    Case(
        "stopped-allocated: snooze does not hold it",
        WED,
        {
            "state": VmState.STOPPED,
            "snoozed_until": WED + timedelta(hours=2),
            **w("stopped-allocated", WED - timedelta(hours=10), WED - timedelta(minutes=30)),
        },
        power="stopped",
        expect="stopped-allocated",
    ),
    Case(
        "deallocated: nothing to do",
        WED,
        {"state": VmState.STOPPED, "budget_usd": 1, "cost_usd": 5},
        power="deallocated",
    ),
    Case("ARM says starting", WED, {"budget_usd": 1, "cost_usd": 5}, power="starting"),
    Case("ARM says deallocating", WED, {"budget_usd": 1, "cost_usd": 5}, power="deallocating"),
    Case("not in ARM", WED, {"budget_usd": 1, "cost_usd": 5}, power=None),
    # --- precedence ---
    Case(
        "budget beats everything",
        STOP + timedelta(minutes=3),
        {
            "budget_usd": 40,
            "cost_usd": 41,
            "schedule": BERLIN,
            "idle": IDLE,
            "keep_until": STOP - timedelta(minutes=10),
            **w("schedule", STOP, STOP - LEAD),
        },
        metrics=samples(STOP + timedelta(minutes=3)),
        expect="budget",
    ),
    Case(
        "time limit beats schedule",
        STOP + timedelta(minutes=3),
        {
            "schedule": BERLIN,
            "keep_until": STOP - timedelta(minutes=10),
            "warned": {
                **warned("schedule", STOP, STOP - LEAD),
                **warned("time-limit", STOP - timedelta(minutes=10), STOP - timedelta(minutes=40)),
            },
        },
        expect="time-limit",
    ),
    Case(
        "schedule beats idle",
        STOP + timedelta(minutes=3),
        {"schedule": BERLIN, "idle": IDLE, **w("schedule", STOP, STOP - LEAD)},
        metrics=samples(STOP + timedelta(minutes=3)),
        expect="schedule",
    ),
    Case(
        "schedule beats stopped-allocated",
        STOP + timedelta(minutes=3),
        {
            "state": VmState.STOPPED,
            "schedule": BERLIN,
            "warned": {
                **warned("schedule", STOP, STOP - LEAD),
                **warned("stopped-allocated", STOP - timedelta(hours=10, minutes=-3), STOP - LEAD),
            },
        },
        power="stopped",
        expect="schedule",
    ),
    Case(
        "idle acts while a late schedule warning waits",
        STOP + timedelta(minutes=10),
        {
            "schedule": BERLIN,
            "idle": IDLE,
            "warned": {
                **warned("schedule", STOP, STOP + timedelta(minutes=5)),
                **idle_warned(STOP + timedelta(minutes=5)),
            },
        },
        metrics=samples(STOP + timedelta(minutes=10)),
        expect="idle",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision_table(case: Case) -> None:
    decisions = run(case)
    assert [a.rule for a in decisions.actions] == ([case.expect] if case.expect else [])
    assert [w.rule for w in decisions.warnings] == case.warnings
    for action in decisions.actions:
        assert action.kind == "deallocate"
        assert action.vm == "vm1" and action.owner == "ana@example.com"
        assert f"({action.rule})" in action.reason


TRANSITIONAL = [
    VmState.CREATING,
    VmState.STARTING,
    VmState.STOPPING,
    VmState.RESTARTING,
    VmState.DELETING,
    VmState.DELETED,
    VmState.FAILED,
    VmState.LOST,
]


@pytest.mark.parametrize("state", TRANSITIONAL, ids=[s.value for s in TRANSITIONAL])
@pytest.mark.parametrize("power", ["running", "stopped"])
def test_unsettled_records_are_never_acted_on(state: VmState, power: str) -> None:
    """Every rule applies (budget, time limit, schedule, idle), yet nothing happens and nothing is warned."""
    now = STOP + timedelta(minutes=3)
    case = Case(
        "unsettled",
        now,
        {
            "state": state,
            "budget_usd": 1,
            "cost_usd": 5,
            "schedule": BERLIN,
            "idle": IDLE,
            "keep_until": now - timedelta(hours=1),
        },
        power=power,
        metrics=samples(now),
        owner_costs={"ana@example.com": 10_000},
    )
    assert run(case) == Decisions()


# --- warnings ---


def test_warning_due_in_20_minutes() -> None:
    decisions = run(Case("due in 20", STOP - timedelta(minutes=20), {"schedule": BERLIN}))
    assert decisions.actions == []
    (warning,) = decisions.warnings
    assert warning.rule == "schedule" and warning.vm == "vm1" and warning.owner == "ana@example.com"
    assert warning.due_at == STOP
    assert warning.key == "schedule:2026-11-25T18:00:00+00:00"
    assert 'POST /api/vms/vm1/snooze {"hours": 2}' in warning.text
    assert "dsvm snooze vm1 --hours 2" in warning.text
    assert "19:00 Europe/Berlin" in warning.text
    assert "working hours end" in warning.text


def test_no_warning_40_minutes_ahead() -> None:
    assert run(Case("due in 40", STOP - timedelta(minutes=40), {"schedule": BERLIN})) == Decisions()


def test_a_sent_warning_is_not_repeated() -> None:
    now = STOP - timedelta(minutes=15)
    case = Case("sent", now, {"schedule": BERLIN, **w("schedule", STOP, STOP - timedelta(minutes=25))})
    assert run(case) == Decisions()


def test_late_warning_gives_lead_minutes() -> None:
    now = STOP + timedelta(hours=3)
    (warning,) = run(Case("late", now, {"schedule": BERLIN})).warnings
    assert warning.key == warning_key("schedule", STOP)
    assert warning.due_at == now + LEAD


def test_lead_zero_acts_at_the_stop_without_waiting() -> None:
    decisions = run(Case("lead 0", STOP, {"schedule": BERLIN}, lead=timedelta(0)))
    assert [a.rule for a in decisions.actions] == ["schedule"]
    assert decisions.warnings == []


def test_a_vm_being_stopped_gets_no_warning() -> None:
    case = Case(
        "budget now, schedule soon", STOP - timedelta(minutes=20), {"schedule": BERLIN, "budget_usd": 1, "cost_usd": 2}
    )
    decisions = run(case)
    assert [a.rule for a in decisions.actions] == ["budget"]
    assert decisions.warnings == []


def test_stopped_allocated_warning_offers_start_not_snooze() -> None:
    (warning,) = run(Case("stopped", WED, {"state": VmState.STOPPED}, power="stopped")).warnings
    assert "still allocated" in warning.text
    assert "dsvm start vm1" in warning.text
    assert "snooze" not in warning.text


def test_an_idle_stop_is_warned_one_pass_ahead_with_how_to_keep_it() -> None:
    decisions = run(Case("idle", WED, {"idle": IDLE}, metrics=samples(WED)))
    assert decisions.actions == []
    (warning,) = decisions.warnings
    assert (warning.rule, warning.due_at, warning.key) == ("idle", WED + timedelta(minutes=4), warning_key("idle", WED))
    assert warning.text.startswith("VM 'vm1' (")
    assert "first check after 2026-11-25 12:04 UTC unless it is used" in warning.text
    assert "idle for 60 min" in warning.text
    assert 'POST /api/vms/vm1/snooze {"hours": 2}' in warning.text


def test_an_idle_warning_is_never_longer_than_the_notify_lead() -> None:
    (warning,) = run(Case("idle", WED, {"idle": IDLE}, metrics=samples(WED), lead=timedelta(minutes=2))).warnings
    assert warning.due_at == WED + timedelta(minutes=2)
    waiting = Case("idle", WED, {"idle": IDLE, "warned": idle_warned(WED - timedelta(minutes=2))}, metrics=samples(WED))
    assert [a.rule for a in run(replace(waiting, lead=timedelta(minutes=2))).actions] == ["idle"]
    assert run(waiting).actions == []  # with the default lead, 4 minutes must pass


# --- evidence ---


def test_idle_evidence_lists_the_samples() -> None:
    (action,) = run(Case("idle", WED, {"idle": IDLE, **WARNED_IDLE}, metrics=samples(WED))).actions
    evidence = action.evidence
    assert evidence["rule"] == "idle"
    assert evidence["warned_at"] == (WED - timedelta(minutes=5)).isoformat()
    assert evidence["sample_count"] == 12 and len(evidence["samples"]) == 12
    assert evidence["cpu_max_percent"] == 1.0
    assert evidence["network_in_mb"] == pytest.approx(1.2)
    assert evidence["cost_usd"] == 1.0
    assert evidence["burn_usd_per_hour"] == pytest.approx(0.252 + 38.02 / 730, abs=1e-4)
    assert "idle for 60 min" in action.reason


def test_schedule_evidence_and_other_rules() -> None:
    now = STOP + timedelta(minutes=3)
    case = Case(
        "both",
        now,
        {
            "schedule": BERLIN,
            "idle": IDLE,
            "warned": {**warned("schedule", STOP, STOP - LEAD), **idle_warned(now - timedelta(minutes=5))},
        },
        metrics=samples(now),
    )
    (action,) = run(case).actions
    assert action.evidence["schedule"]["timezone"] == "Europe/Berlin"
    assert action.evidence["due_at"] == STOP.isoformat()
    assert action.evidence["warned_at"] == (STOP - LEAD).isoformat()
    assert action.evidence["off_hours_since"] == STOP.isoformat()
    assert [other["rule"] for other in action.evidence["also"]] == ["idle"]


def test_owner_budget_evidence() -> None:
    (action,) = run(Case("owner", WED, owner_costs={"ana@example.com": 512.5}, expect="budget")).actions
    assert action.evidence["scope"] == "owner"
    assert action.evidence["owner_month_usd"] == 512.5 and action.evidence["owner_budget_usd"] == 500
    assert "$512.50" in action.reason


def test_many_vms_each_decided_alone() -> None:
    now = STOP + timedelta(minutes=3)
    records = [
        record(now, name="a", budget_usd=1, cost_usd=2),
        record(now, name="b", schedule=BERLIN),
        record(now, name="c"),
    ]
    observed = {name: ObservedVm(name, "Succeeded", "running") for name in ("a", "b", "c")}
    decisions = decide(records, observed, {}, PRICES, {}, POLICY, now, lead=LEAD)
    assert [(a.vm, a.rule) for a in decisions.actions] == [("a", "budget")]
    assert [(w.vm, w.rule) for w in decisions.warnings] == [("b", "schedule")]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        decide([], {}, {}, PRICES, {}, POLICY, datetime(2026, 11, 25, 12, 0))


# --- snooze ---


def test_snooze_until() -> None:
    vm = record(WED)
    assert snooze_until(vm, 2, POLICY, WED) == WED + timedelta(hours=2)
    assert snooze_until(vm, 12, POLICY, WED) == WED + timedelta(hours=12)
    too_long = snooze_until(vm, 13, POLICY, WED)
    assert isinstance(too_long, Refusal) and too_long.status == 422
    assert isinstance(snooze_until(vm, 0, POLICY, WED), Refusal)
    gone = snooze_until(record(WED, state=VmState.DELETED), 2, POLICY, WED)
    assert isinstance(gone, Refusal) and gone.status == 409


def test_prune_warned() -> None:
    kept = {"schedule:new": WED - timedelta(days=1)}
    assert prune_warned({**kept, "schedule:old": WED - timedelta(days=8)}, WED) == kept


# --- the hard expiry (issue 12) ---

EXPIRES = WED + timedelta(hours=1)


def test_an_expiry_is_warned_ahead_then_acted_on_whatever_the_snooze() -> None:
    snoozed = {"expires_at": EXPIRES, "snoozed_until": EXPIRES + timedelta(hours=6)}
    (warning,) = run(Case("expiry soon", EXPIRES - timedelta(minutes=20), snoozed)).warnings
    assert warning.rule == "expiry" and warning.due_at == EXPIRES
    assert "cannot be snoozed" in warning.text and "PATCH /api/vms/vm1" in warning.text
    sent = {**snoozed, **w("expiry", EXPIRES, EXPIRES - timedelta(minutes=20))}
    decisions = run(Case("expired", EXPIRES + timedelta(minutes=1), sent))
    assert [a.rule for a in decisions.actions] == ["expiry"]
    assert decisions.actions[0].evidence["expires_at"] == EXPIRES.isoformat()


def test_an_expiry_outranks_the_time_limit_and_yields_to_the_budget() -> None:
    now = EXPIRES + timedelta(minutes=1)
    both = {
        "expires_at": EXPIRES,
        "keep_until": EXPIRES,
        "warned": {**warned("expiry", EXPIRES, EXPIRES - LEAD), **warned("time-limit", EXPIRES, EXPIRES - LEAD)},
    }
    action = run(Case("expiry and time limit", now, both)).actions[0]
    assert action.rule == "expiry"
    assert [a["rule"] for a in action.evidence["also"]] == ["time-limit"]
    assert run(Case("and budget", now, {**both, "budget_usd": 0.5})).actions[0].rule == "budget"


def test_a_vm_started_after_its_expiry_is_warned_then_stopped_lead_later() -> None:
    started = EXPIRES + timedelta(hours=2)
    now = started + timedelta(minutes=5)
    late = {"expires_at": EXPIRES, "power_since": started}
    (warning,) = run(Case("started after expiry", now, late)).warnings
    assert warning.rule == "expiry" and warning.due_at == now + LEAD
    assert "running past its expiry" in warning.text
