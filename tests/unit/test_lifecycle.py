"""The state machine, as pure functions of (record, what ARM reports, now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.core.lifecycle import (
    ACTION_GRACE,
    ACTION_TIMEOUT,
    CREATE_GRACE,
    LOST_AFTER,
    LOST_AFTER_SEEN,
    MAX_ATTEMPTS,
    QUEUE_TIMEOUT,
    Refusal,
    plan_action,
    plan_guest_change,
    reconcile,
)
from shared.core.models import LastStop, VmRecord, VmState
from shared.core.observations import ObservedVm
from tests.support.factories import vm_record

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def record(state: VmState, acted: timedelta = timedelta(0), **extra: object) -> VmRecord:
    fields = {"updated_at": NOW - acted, "action_at": NOW - acted, "state": state, "ttl_hours": 8, **extra}
    return vm_record(NOW - timedelta(hours=1), NOW + timedelta(hours=7), **fields)


def vm(provisioning: str = "Succeeded", power: str | None = "running", **extra: object) -> ObservedVm:
    """What ARM reports of the record's own VM (its dsvm-record tag is the factory record's id, "r1")."""
    fields: dict[str, object] = {"record_id": "r1", **extra}
    return ObservedVm(name="vm1", provisioning_state=provisioning, power_state=power, **fields)  # type: ignore[arg-type]


STALE = ACTION_GRACE + timedelta(seconds=1)

CASES = [
    # (name, state, acted ago, observed, nsg present, expected state, expected commands)
    ("create provisioned", VmState.CREATING, timedelta(0), vm(), None, VmState.RUNNING, []),
    ("create still running", VmState.CREATING, timedelta(0), vm("Creating", None), None, VmState.CREATING, []),
    (
        "create failed in Azure",
        VmState.CREATING,
        timedelta(0),
        vm("Failed", None, error_code="AllocationFailed", error_message="no capacity"),
        None,
        VmState.FAILED,
        ["delete"],
    ),
    ("create not yet in ARM", VmState.CREATING, timedelta(0), None, True, VmState.CREATING, []),
    ("create waiting for the worker", VmState.CREATING, CREATE_GRACE, None, True, VmState.CREATING, []),
    ("stop done", VmState.STOPPING, timedelta(0), vm(power="deallocated"), None, VmState.STOPPED, []),
    ("stop in progress", VmState.STOPPING, timedelta(0), vm(power="deallocating"), None, VmState.STOPPING, []),
    ("stop lost, retried", VmState.STOPPING, STALE, vm(power="running"), None, VmState.STOPPING, ["deallocate"]),
    ("stop not yet visible", VmState.STOPPING, timedelta(0), vm(power="running"), None, VmState.STOPPING, []),
    ("start done", VmState.STARTING, timedelta(0), vm(), None, VmState.RUNNING, []),
    ("start lost, retried", VmState.STARTING, STALE, vm(power="deallocated"), None, VmState.STARTING, ["start"]),
    ("restart done", VmState.RESTARTING, timedelta(0), vm(), None, VmState.RUNNING, []),
    ("stopped outside", VmState.RUNNING, timedelta(0), vm(power="deallocated"), None, VmState.STOPPED, []),
    ("started outside", VmState.STOPPED, timedelta(0), vm(), None, VmState.RUNNING, []),
    ("missing once is no evidence", VmState.RUNNING, timedelta(0), None, True, VmState.RUNNING, []),
    (
        "a VM that is not ours counts as absent",
        VmState.RUNNING,
        timedelta(0),
        vm(record_id="other"),
        None,
        VmState.RUNNING,
        [],
    ),
    ("deleting, VM going", VmState.DELETING, timedelta(0), vm("Deleting", None), None, VmState.DELETING, []),
    ("deleting, VM gone", VmState.DELETING, timedelta(0), None, True, VmState.DELETING, ["delete_nsg"]),
    ("deleting, all gone", VmState.DELETING, timedelta(0), None, False, VmState.DELETED, []),
    ("delete lost, retried", VmState.DELETING, STALE, vm(), None, VmState.DELETING, ["delete"]),
    ("failed VM removed", VmState.FAILED, STALE, vm("Failed", None), None, VmState.FAILED, ["delete"]),
    ("failed, NSG left", VmState.FAILED, timedelta(0), None, True, VmState.FAILED, ["delete_nsg"]),
    ("lost and still missing", VmState.LOST, STALE, None, True, VmState.LOST, []),
    ("lost VM comes back", VmState.LOST, STALE, vm(power="deallocated"), None, VmState.STOPPED, []),
    (
        "start failed in Azure",
        VmState.STARTING,
        timedelta(0),
        vm("Failed", "deallocated", error_code="AllocationFailed", error_message="no capacity"),
        None,
        VmState.STOPPED,
        [],
    ),
    (
        "stop failed in Azure",
        VmState.STOPPING,
        timedelta(0),
        vm("Failed", "running", error_code="InternalError", error_message="oops"),
        None,
        VmState.RUNNING,
        [],
    ),
    ("start that never settles", VmState.STARTING, ACTION_TIMEOUT, vm(power="starting"), None, VmState.RUNNING, []),
    ("deleted stays", VmState.DELETED, timedelta(0), None, None, VmState.DELETED, []),
]


@pytest.mark.parametrize(
    ("case", "state", "acted", "observed", "nsg", "expected", "commands"), CASES, ids=[c[0] for c in CASES]
)
def test_reconcile(
    case: str,
    state: VmState,
    acted: timedelta,
    observed: ObservedVm | None,
    nsg: bool | None,
    expected: VmState,
    commands: list[str],
) -> None:
    step = reconcile(record(state, acted), observed, nsg, NOW)
    assert step.record.state == expected
    assert step.commands == commands
    if expected != state:
        assert step.events and step.events[0].state == expected and step.events[0].reason


def test_failed_create_keeps_azures_error() -> None:
    observed = vm("Failed", None, error_code="AllocationFailed", error_message="no capacity in eastus")
    step = reconcile(record(VmState.CREATING), observed, None, NOW)
    assert (step.record.error_code, step.record.error_message) == ("AllocationFailed", "no capacity in eastus")


def test_stopped_but_allocated_is_flagged_and_a_stop_deallocates() -> None:
    step = reconcile(record(VmState.RUNNING), vm(power="stopped"), None, NOW)
    assert step.record.state == VmState.STOPPED
    assert step.record.still_billing is True
    assert "compute bills until it is deallocated" in step.events[0].reason
    assert plan_action(step.record, "stop", NOW) == (VmState.STOPPING, "deallocate")
    assert plan_action(step.record, "start", NOW) == (VmState.STARTING, "start")


def test_stopping_that_ended_as_powered_off_is_finished_with_a_deallocate() -> None:
    step = reconcile(record(VmState.STOPPING), vm(power="stopped"), None, NOW)
    assert step.commands == ["deallocate"]


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [
        (VmState.RUNNING, "stop", (VmState.STOPPING, "deallocate")),
        (VmState.RUNNING, "start", None),
        (VmState.RUNNING, "restart", (VmState.RESTARTING, "restart")),
        (VmState.RUNNING, "delete", (VmState.DELETING, "delete")),
        (VmState.STOPPED, "start", (VmState.STARTING, "start")),
        (VmState.STOPPED, "stop", None),
        (VmState.FAILED, "delete", (VmState.DELETING, "delete")),
        (VmState.LOST, "delete", (VmState.DELETING, "delete")),
        (VmState.CREATING, "delete", (VmState.DELETING, "delete")),
        (VmState.STARTING, "delete", (VmState.DELETING, "delete")),
        (VmState.STOPPING, "delete", (VmState.DELETING, "delete")),
        (VmState.RESTARTING, "delete", (VmState.DELETING, "delete")),
        (VmState.DELETED, "delete", None),
        (VmState.DELETING, "delete", None),
    ],
)
def test_plan_action(state: VmState, action: str, expected: object) -> None:
    assert plan_action(record(state), action, NOW) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("state", [VmState.CREATING, VmState.STARTING, VmState.STOPPING, VmState.RESTARTING])
@pytest.mark.parametrize("action", ["start", "stop", "restart"])
def test_actions_in_a_transition_are_refused_with_409_and_when_to_retry(state: VmState, action: str) -> None:
    refusal = plan_action(record(state), action, NOW)  # type: ignore[arg-type]
    assert isinstance(refusal, Refusal)
    assert refusal.status == 409
    assert state.value in refusal.detail
    assert refusal.retry_after is not None and refusal.retry_after > 0


def test_restart_needs_a_running_vm() -> None:
    refusal = plan_action(record(VmState.STOPPED), "restart", NOW)
    assert isinstance(refusal, Refusal) and refusal.status == 409


def test_a_vm_found_stopped_while_stopped_record_is_flagged_with_an_event() -> None:
    step = reconcile(record(VmState.STOPPED, power_state="deallocated"), vm(power="stopped"), None, NOW)
    assert step.record.still_billing is True
    assert len(step.events) == 1


def missing(record_: VmRecord, times: list[timedelta]) -> VmRecord:
    """The record after one observation without its VM at each of `times` (after NOW)."""
    for after in times:
        record_ = reconcile(record_, None, True, NOW + after).record
    return record_


def test_lost_needs_several_observations_spread_over_minutes() -> None:
    quick = missing(record(VmState.RUNNING), [timedelta(seconds=s) for s in range(10)])
    assert quick.state == VmState.RUNNING, "ten observations within ten seconds are not evidence"
    assert quick.missing_seen == 10
    few = missing(record(VmState.RUNNING), [timedelta(0), LOST_AFTER + timedelta(seconds=1)])
    assert few.state == VmState.RUNNING, "two observations are not enough"
    spread = [LOST_AFTER * i / (LOST_AFTER_SEEN - 1) for i in range(LOST_AFTER_SEEN)]
    lost = missing(record(VmState.RUNNING), spread)
    assert lost.state == VmState.LOST
    assert lost.power_state is None


def test_a_vm_seen_again_resets_the_count() -> None:
    once = missing(record(VmState.RUNNING), [timedelta(0), timedelta(minutes=1)])
    seen = reconcile(once, vm(), None, NOW + timedelta(minutes=2)).record
    assert (seen.missing_seen, seen.missing_since) == (0, None)
    again = missing(seen, [timedelta(minutes=3), timedelta(minutes=6)])
    assert again.state == VmState.RUNNING, "the count started over when the VM was seen"


def test_a_lost_vm_that_comes_back_is_found_again_and_never_deleted() -> None:
    lost = missing(record(VmState.RUNNING), [timedelta(0), timedelta(minutes=3), timedelta(minutes=6)])
    assert lost.state == VmState.LOST
    back = reconcile(lost, vm(), None, NOW + timedelta(hours=1))
    assert back.record.state == VmState.RUNNING
    assert back.commands == []
    assert "found again" in back.events[0].reason


def test_a_failed_start_settles_with_azures_error() -> None:
    observed = vm("Failed", "deallocated", error_code="AllocationFailed", error_message="no capacity in eastus")
    step = reconcile(record(VmState.STARTING), observed, None, NOW)
    assert step.record.state == VmState.STOPPED
    assert (step.record.error_code, step.record.error_message) == ("AllocationFailed", "no capacity in eastus")
    assert "failed the start" in step.events[0].reason
    assert plan_action(step.record, "delete", NOW) == (VmState.DELETING, "delete")


def test_a_resent_action_gives_up_after_its_attempts() -> None:
    stuck = record(VmState.STARTING, STALE, action_attempts=MAX_ATTEMPTS)
    step = reconcile(stuck, vm(power="deallocated"), None, NOW)
    assert step.record.state == VmState.STOPPED
    assert step.record.error_code == "ActionTimedOut"
    assert step.commands == []
    retried = reconcile(record(VmState.STARTING, STALE), vm(power="deallocated"), None, NOW)
    assert retried.commands == ["start"] and retried.record.action_attempts == 1


def test_a_create_whose_put_never_landed_fails_and_is_released() -> None:
    sent = record(VmState.CREATING, CREATE_GRACE, create_step="vm")
    failed = reconcile(sent, None, True, NOW)
    assert failed.record.state == VmState.FAILED and failed.record.error_code == "CreateNotStarted"
    assert failed.commands == ["delete_nsg"]
    assert failed.record.released is False, "its NSG is still there"
    clean = reconcile(failed.record, None, False, NOW)
    assert clean.record.released is True


def test_a_create_the_worker_never_carried_out_times_out() -> None:
    queued = record(VmState.CREATING, QUEUE_TIMEOUT, create_step="queued")
    step = reconcile(queued, None, False, NOW)
    assert step.record.state == VmState.FAILED and step.record.error_code == "CreateTimedOut"


def test_start_is_refused_while_the_vms_budget_is_spent() -> None:
    spent = record(VmState.STOPPED, budget_usd=10.0, cost_usd=10.5)
    refusal = plan_action(spent, "start", NOW)
    assert isinstance(refusal, Refusal) and refusal.status == 409
    assert "$10.50" in refusal.detail and "$10.00" in refusal.detail
    assert plan_action(spent.model_copy(update={"budget_usd": 20.0}), "start", NOW) == (VmState.STARTING, "start")


def test_a_deleted_vm_says_how_to_start_over() -> None:
    refusal = plan_action(record(VmState.DELETED), "start", NOW)
    assert isinstance(refusal, Refusal)
    assert "was deleted" in refusal.detail and "POST /api/vms" in refusal.detail


# --- issue 12: a time limit per run; issue 13: a hard expiry, stops explained, network rules follow ---------


@pytest.mark.parametrize(
    ("state", "observed"),
    [
        (VmState.STARTING, vm()),
        (VmState.RESTARTING, vm()),
        (VmState.STOPPED, vm()),  # started outside the control plane
        (VmState.CREATING, vm()),
    ],
    ids=["start", "restart", "outside start", "first boot"],
)
def test_every_start_gives_the_run_its_whole_time_limit(state: VmState, observed: ObservedVm) -> None:
    stale_limit = record(state, power_state="deallocated").model_copy(update={"keep_until": NOW - timedelta(days=2)})
    step = reconcile(stale_limit, observed, None, NOW)
    assert step.record.state == VmState.RUNNING
    assert step.record.keep_until == NOW + timedelta(hours=8)


def test_a_running_vm_seen_again_keeps_its_limit() -> None:
    limited = record(VmState.RUNNING, power_state="running", power_since=NOW - timedelta(hours=3))
    assert reconcile(limited, vm(), None, NOW).record.keep_until == limited.keep_until


def test_a_stop_made_outside_the_control_plane_is_not_explained_by_an_older_one() -> None:
    earlier = LastStop(at=NOW - timedelta(days=1), by="sweeper", rule="schedule", reason="working hours ended")
    outside = reconcile(record(VmState.RUNNING, last_stop=earlier), vm(power="deallocated"), None, NOW)
    assert outside.record.state == VmState.STOPPED and outside.record.last_stop is None
    asked = reconcile(record(VmState.STOPPING, last_stop=earlier), vm(power="deallocated"), None, NOW)
    assert asked.record.last_stop == earlier


def test_start_is_refused_after_the_hard_expiry() -> None:
    expired = record(VmState.STOPPED, expires_at=NOW - timedelta(minutes=1))
    refusal = plan_action(expired, "start", NOW)
    assert isinstance(refusal, Refusal) and refusal.status == 409
    assert "expires_at" in refusal.detail
    assert plan_action(expired, "stop", NOW) is None
    later = expired.model_copy(update={"expires_at": NOW + timedelta(hours=1)})
    assert plan_action(later, "start", NOW) == (VmState.STARTING, "start")


def test_new_network_rules_are_sent_again_when_unconfirmed_then_settle() -> None:
    pending = record(VmState.RUNNING, nsg_pending_since=NOW - timedelta(seconds=30))
    assert reconcile(pending, vm(), None, NOW).commands == []
    stale = pending.model_copy(update={"nsg_pending_since": NOW - STALE})
    step = reconcile(stale, vm(), None, NOW)
    assert step.commands == ["update_nsg"]
    assert (step.record.nsg_pending_since, step.record.nsg_attempts) == (NOW, 1)
    spent = stale.model_copy(update={"nsg_attempts": MAX_ATTEMPTS})
    settled = reconcile(spent, vm(), None, NOW)
    assert settled.commands == [] and settled.record.nsg_pending_since is None
    assert settled.record.error_code == "NetworkRulesNotApplied"
    assert settled.events and "203.0.113.7/32" in settled.events[0].reason
    gone = reconcile(stale.model_copy(update={"state": VmState.DELETING}), None, False, NOW)
    assert "update_nsg" not in gone.commands


@pytest.mark.parametrize(
    ("state", "power", "status", "retry"),
    [
        (VmState.RUNNING, "running", None, None),
        (VmState.STARTING, "starting", 409, 15),
        (VmState.CREATING, None, 409, 30),
        (VmState.STOPPED, "deallocated", 409, None),
        (VmState.DELETED, None, 409, None),
    ],
)
def test_only_a_running_vm_takes_a_password_reset(
    state: VmState, power: str | None, status: int | None, retry: int | None
) -> None:
    refusal = plan_guest_change(record(state, power_state=power))
    if status is None:
        assert refusal is None
    else:
        assert refusal is not None and (refusal.status, refusal.retry_after) == (status, retry)
