"""The state machine, as pure functions of (record, what ARM reports, now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.core.lifecycle import ACTION_GRACE, CREATE_GRACE, Refusal, plan_action, reconcile
from shared.core.models import VmRecord, VmState
from shared.core.observations import ObservedVm
from tests.support.factories import vm_record

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def record(state: VmState, acted: timedelta = timedelta(0), **extra: object) -> VmRecord:
    fields = {"updated_at": NOW - acted, "action_at": NOW - acted, "state": state, "ttl_hours": 8, **extra}
    return vm_record(NOW - timedelta(hours=1), NOW + timedelta(hours=7), **fields)


def vm(provisioning: str = "Succeeded", power: str | None = "running", **extra: object) -> ObservedVm:
    return ObservedVm(name="vm1", provisioning_state=provisioning, power_state=power, **extra)  # type: ignore[arg-type]


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
    (
        "create never reached ARM",
        VmState.CREATING,
        CREATE_GRACE,
        None,
        True,
        VmState.FAILED,
        ["delete_nsg"],
    ),
    ("stop done", VmState.STOPPING, timedelta(0), vm(power="deallocated"), None, VmState.STOPPED, []),
    ("stop in progress", VmState.STOPPING, timedelta(0), vm(power="deallocating"), None, VmState.STOPPING, []),
    ("stop lost, retried", VmState.STOPPING, STALE, vm(power="running"), None, VmState.STOPPING, ["deallocate"]),
    ("stop not yet visible", VmState.STOPPING, timedelta(0), vm(power="running"), None, VmState.STOPPING, []),
    ("start done", VmState.STARTING, timedelta(0), vm(), None, VmState.RUNNING, []),
    ("start lost, retried", VmState.STARTING, STALE, vm(power="deallocated"), None, VmState.STARTING, ["start"]),
    ("restart done", VmState.RESTARTING, timedelta(0), vm(), None, VmState.RUNNING, []),
    ("stopped outside", VmState.RUNNING, timedelta(0), vm(power="deallocated"), None, VmState.STOPPED, []),
    ("started outside", VmState.STOPPED, timedelta(0), vm(), None, VmState.RUNNING, []),
    ("vanished", VmState.RUNNING, timedelta(0), None, True, VmState.LOST, ["delete_nsg"]),
    ("deleting, VM going", VmState.DELETING, timedelta(0), vm("Deleting", None), None, VmState.DELETING, []),
    ("deleting, VM gone", VmState.DELETING, timedelta(0), None, True, VmState.DELETING, ["delete_nsg"]),
    ("deleting, all gone", VmState.DELETING, timedelta(0), None, False, VmState.DELETED, []),
    ("delete lost, retried", VmState.DELETING, STALE, vm(), None, VmState.DELETING, ["delete"]),
    ("failed VM removed", VmState.FAILED, STALE, vm("Failed", None), None, VmState.FAILED, ["delete"]),
    ("failed, NSG left", VmState.FAILED, timedelta(0), None, True, VmState.FAILED, ["delete_nsg"]),
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
    assert plan_action(step.record, "stop") == (VmState.STOPPING, "deallocate")
    assert plan_action(step.record, "start") == (VmState.STARTING, "start")


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
        (VmState.DELETED, "delete", None),
        (VmState.DELETING, "delete", None),
    ],
)
def test_plan_action(state: VmState, action: str, expected: object) -> None:
    assert plan_action(record(state), action) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("state", [VmState.CREATING, VmState.STARTING, VmState.STOPPING, VmState.RESTARTING])
@pytest.mark.parametrize("action", ["start", "stop", "restart", "delete"])
def test_actions_in_a_transition_are_refused_with_409(state: VmState, action: str) -> None:
    refusal = plan_action(record(state), action)  # type: ignore[arg-type]
    assert isinstance(refusal, Refusal)
    assert refusal.status == 409
    assert state.value in refusal.detail


def test_restart_needs_a_running_vm() -> None:
    refusal = plan_action(record(VmState.STOPPED), "restart")
    assert isinstance(refusal, Refusal) and refusal.status == 409


def test_a_vm_found_stopped_while_stopped_record_is_flagged_with_an_event() -> None:
    step = reconcile(record(VmState.STOPPED, power_state="deallocated"), vm(power="stopped"), None, NOW)
    assert step.record.still_billing is True
    assert len(step.events) == 1
