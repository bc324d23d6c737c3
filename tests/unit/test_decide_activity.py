"""Decisions with the activity agent's reports: a VM someone is using is not idle, and its time limit moves
while its owner is active; budgets, expiry and schedules do not move; stale reports are no evidence."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.core.activity import Activity, ActivityReport
from shared.core.decide import REPORT_FRESH, Decisions, decide
from shared.core.models import IdleRule
from shared.core.observations import ObservedVm
from tests.unit.test_decide import BERLIN, LEAD, POLICY, PRICES, STOP, WARNED_IDLE, WED, record, samples, w

IDLE = IdleRule(enabled=True, cpu_percent=5, network_in_mb=50, window_minutes=60)
# Idle by CPU and network and warned a pass ago: without activity, the VM is stopped now.
IDLE_WARNED = {"idle": IDLE, **WARNED_IDLE}
VCPUS = {"Standard_E4s_v5": 4}


def report(now: datetime, *, received: timedelta = timedelta(minutes=2), **fields: Any) -> Activity:
    """A report received `received` before now; `fields` are ActivityReport fields (last_input, busy)."""
    return Activity(record_id="r1", received_at=now - received, report=ActivityReport.model_validate(fields))


def run(now: datetime, activity: Activity | None, metrics: bool = True, **fields: Any) -> Decisions:
    vm = record(now, **fields)
    return decide(
        [vm],
        {"vm1": ObservedVm("vm1", "Succeeded", "running")},
        {"vm1": samples(now) if metrics else []},
        PRICES,
        {},
        POLICY,
        now,
        lead=LEAD,
        activity={"vm1": activity} if activity else {},
        vcpus=VCPUS,
    )


def ago(now: datetime, minutes: float) -> str:
    return (now - timedelta(minutes=minutes)).isoformat()


def test_recent_input_on_any_channel_keeps_a_quiet_vm_running() -> None:
    for channel in ("ssh", "jupyter", "rstudio"):
        seen = report(WED, last_input={channel: ago(WED, 45)})
        assert run(WED, seen, **IDLE_WARNED) == Decisions(), channel


def test_a_busy_signal_keeps_a_quiet_vm_running() -> None:
    for busy in ({"kernels": 1}, {"gpu_percent": 80.0}, {"load1": 3.0}):
        seen = report(WED, last_input={"ssh": ago(WED, 300)}, busy=busy)
        assert run(WED, seen, **IDLE_WARNED) == Decisions(), busy


def test_no_input_and_nothing_busy_is_idle_and_the_evidence_says_what_was_seen() -> None:
    seen = report(WED, last_input={"ssh": ago(WED, 90)}, busy={"load1": 0.2})
    (action,) = run(WED, seen, **IDLE_WARNED).actions
    assert action.rule == "idle"
    assert "no user input on any channel" in action.reason
    assert action.evidence["activity"]["reported"] is True
    assert action.evidence["activity"]["last_input"]["ssh"] is not None


def test_a_stale_report_is_no_evidence_and_cpu_and_network_decide() -> None:
    old = report(WED, received=REPORT_FRESH + timedelta(minutes=1), last_input={"ssh": ago(WED, 20)})
    (action,) = run(WED, old, **IDLE_WARNED).actions
    assert action.rule == "idle"
    assert action.evidence["activity"] == {"reported": False}


def test_a_report_for_an_earlier_vm_of_the_same_name_is_ignored() -> None:
    other = Activity(
        record_id="someone-else", received_at=WED, report=ActivityReport.model_validate({"busy": {"kernels": 3}})
    )
    assert [a.rule for a in run(WED, other, **IDLE_WARNED).actions] == ["idle"]


def test_an_active_owner_moves_the_time_limit_instead_of_being_warned_or_stopped() -> None:
    due = {"keep_until": WED - timedelta(minutes=2), **w("time-limit", WED - timedelta(minutes=2), WED - LEAD)}
    active = report(WED, last_input={"jupyter": ago(WED, 5)})
    decisions = run(WED, active, **due)
    assert decisions.actions == [] and decisions.warnings == []
    (bump,) = decisions.bumps
    assert bump.keep_until == WED + timedelta(hours=POLICY.activity_bump_hours)
    assert "gave input 5 min ago" in bump.reason
    assert bump.evidence["activity"]["last_input"]["jupyter"]

    # Input older than the grace: the time limit applies as before.
    gone = report(WED, last_input={"jupyter": ago(WED, POLICY.activity_grace_minutes + 5)})
    assert [a.rule for a in run(WED, gone, **due).actions] == ["time-limit"]
    # The warning a time limit gets 30 minutes ahead is replaced by a move too.
    soon = run(WED, active, keep_until=WED + timedelta(minutes=20))
    assert soon.warnings == [] and len(soon.bumps) == 1


def test_a_move_never_passes_the_expiry_nor_the_longest_time_limit() -> None:
    active = report(WED, last_input={"ssh": ago(WED, 1)})
    capped = run(WED, active, keep_until=WED + timedelta(minutes=10), expires_at=WED + timedelta(minutes=25))
    assert capped.bumps[0].keep_until == WED + timedelta(minutes=25)
    # Started max_ttl_hours ago: the time limit cannot move, so the owner is warned as usual.
    started = WED - timedelta(hours=POLICY.max_ttl_hours)
    stuck = run(WED, active, keep_until=WED + timedelta(minutes=10), power_since=started, created_at=started)
    assert stuck.bumps == [] and [x.rule for x in stuck.warnings] == ["time-limit"]


def test_budget_and_schedule_stops_are_not_moved_by_activity() -> None:
    active = report(WED, last_input={"ssh": ago(WED, 1)}, busy={"kernels": 2})
    over = run(WED, active, budget_usd=0.5, cost_usd=0.6)
    assert [a.rule for a in over.actions] == ["budget"] and over.bumps == []
    after_hours = STOP + timedelta(minutes=3)
    evening = report(after_hours, last_input={"ssh": ago(after_hours, 1)})
    decisions = run(after_hours, evening, schedule=BERLIN, **w("schedule", STOP, STOP - LEAD))
    assert [a.rule for a in decisions.actions] == ["schedule"]


def test_a_job_left_running_moves_the_time_limit_too() -> None:
    due = {"keep_until": WED - timedelta(minutes=2), **w("time-limit", WED - timedelta(minutes=2), WED - LEAD)}
    computing = report(WED, last_input={"jupyter": ago(WED, 180)}, busy={"kernels": 1})
    decisions = run(WED, computing, **due)
    assert decisions.actions == []
    (bump,) = decisions.bumps
    assert "still working (1 kernel(s) executing)" in bump.reason
    # Nothing busy and nobody there: the time limit applies.
    finished = report(WED, last_input={"jupyter": ago(WED, 180)})
    assert [a.rule for a in run(WED, finished, **due).actions] == ["time-limit"]
