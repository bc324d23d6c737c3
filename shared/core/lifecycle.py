"""The VM state machine as pure functions: reconcile a record with what ARM reports, and decide what a
user's action does to a record. No I/O here: callers pass the record, the observation and `now`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from shared.core.models import TRANSITIONAL_STATES, Event, VmRecord, VmState
from shared.core.observations import ObservedVm

# How long an action may show no effect in ARM before reconcile sends it again.
ACTION_GRACE = timedelta(minutes=2)
# How long a record may sit in Creating with no VM in ARM before we conclude the create never got there.
CREATE_GRACE = timedelta(minutes=5)

Command = Literal["start", "deallocate", "restart", "delete", "delete_nsg"]
Action = Literal["start", "stop", "restart", "delete"]

SYSTEM = "system:reconcile"

# ARM power state -> the state a settled record shows.
_POWER_TO_STATE = {
    "running": VmState.RUNNING,
    "starting": VmState.STARTING,
    "stopping": VmState.STOPPING,
    "stopped": VmState.STOPPED,
    "deallocating": VmState.STOPPING,
    "deallocated": VmState.STOPPED,
}


@dataclass(frozen=True)
class Step:
    """The next record, the events that explain the change, and the ARM calls still owed."""

    record: VmRecord
    events: list[Event] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.events or self.commands)


def _move(
    record: VmRecord,
    now: datetime,
    state: VmState,
    reason: str,
    commands: list[Command] | None = None,
    **updates: object,
) -> Step:
    commands = commands or []
    changes: dict[str, object] = {"state": state, **updates}
    if commands:
        changes["action_at"] = now
    event = Event(time=now, actor=SYSTEM, action="reconcile", state=state, reason=reason)
    return Step(record.model_copy(update=changes), [event], commands)


def _observed(record: VmRecord, vm: ObservedVm, now: datetime) -> VmRecord:
    power = vm.power_state
    since = record.power_since if power == record.power_state and record.power_since else now
    return record.model_copy(update={"power_state": power, "still_billing": power == "stopped", "power_since": since})


def reconcile(record: VmRecord, vm: ObservedVm | None, nsg_present: bool | None, now: datetime) -> Step:
    """Move a record one step towards what ARM reports.

    `vm` is None when ARM has no such VM. `nsg_present` is None when the caller did not look
    (it only matters once the VM is gone).
    """
    state = record.state
    stale = now - record.action_at >= ACTION_GRACE
    if state == VmState.DELETED:
        return Step(record)

    if vm is None:
        # Deleting an NSG is idempotent and cheap, so it is sent on every pass that still finds one.
        cleanup: list[Command] = ["delete_nsg"] if nsg_present else []
        gone: dict[str, object] = {"power_state": None, "still_billing": False, "power_since": None}
        if state == VmState.CREATING:
            if now - record.action_at < CREATE_GRACE:
                return Step(record)
            return _move(
                record,
                now,
                VmState.FAILED,
                "the VM create never reached Azure",
                cleanup,
                error_code="CreateNotStarted",
                error_message="The control plane stopped before Azure accepted the VM; create it again.",
                **gone,
            )
        if state == VmState.DELETING:
            if nsg_present is False:
                return _move(
                    record, now, VmState.DELETED, "the VM and its network security group are gone", None, **gone
                )
            return Step(record.model_copy(update=gone), [], cleanup)
        if state in (VmState.FAILED, VmState.LOST):
            return Step(record.model_copy(update=gone), [], cleanup)
        return _move(record, now, VmState.LOST, "the VM no longer exists in Azure", cleanup, **gone)

    provisioning = vm.provisioning_state.lower()
    seen = _observed(record, vm, now)
    if state == VmState.DELETING:
        return Step(seen, [], ["delete"] if provisioning != "deleting" and stale else [])
    if state in (VmState.FAILED, VmState.LOST):
        # A failed VM still holds its NIC, public IP and disk, which bill: remove them.
        return Step(seen, [], ["delete"] if provisioning != "deleting" and stale else [])
    if provisioning == "failed" and state == VmState.CREATING:
        return _move(
            seen,
            now,
            VmState.FAILED,
            f"Azure failed the create: {vm.error_code or 'ProvisioningFailed'}",
            ["delete"],
            error_code=vm.error_code or "ProvisioningFailed",
            error_message=vm.error_message or "Azure reported the VM as failed.",
        )
    if provisioning == "creating":
        return Step(seen)
    if provisioning == "deleting":
        return _move(seen, now, VmState.DELETING, "the VM is being deleted outside the control plane")

    power = vm.power_state
    settled = _POWER_TO_STATE.get(power or "")
    if settled is None:
        return Step(seen)
    if state == VmState.STARTING:
        if power == "running":
            return _move(seen, now, VmState.RUNNING, "the VM started")
        if power in ("deallocated", "stopped") and stale:
            return Step(seen.model_copy(update={"action_at": now}), [], ["start"])
        return Step(seen)
    if state == VmState.STOPPING:
        if power == "deallocated":
            return _move(seen, now, VmState.STOPPED, "the VM is deallocated")
        if power == "stopped" or (power == "running" and stale):
            # "stopped" still bills for compute: finish the job with a deallocate.
            return Step(seen.model_copy(update={"action_at": now}), [], ["deallocate"])
        return Step(seen)
    if state == VmState.RESTARTING:
        if power == "running":
            return _move(seen, now, VmState.RUNNING, "the VM restarted")
        return Step(seen)
    if state == VmState.CREATING:
        reason = "the VM is provisioned" if power == "running" else f"the VM is provisioned and {power}"
        return _move(seen, now, settled, reason)
    billing = " but still allocated: compute bills until it is deallocated" if seen.still_billing else ""
    if settled != state:
        return _move(seen, now, settled, f"the VM became {power} outside the control plane{billing}")
    if seen.still_billing and not record.still_billing:
        return _move(seen, now, settled, f"the VM is stopped{billing}")
    return Step(seen)


@dataclass(frozen=True)
class Refusal:
    """An action that cannot be done now; `status` is the HTTP status to answer with."""

    status: int
    detail: str


def plan_action(record: VmRecord, action: Action) -> tuple[VmState, Command] | Refusal | None:
    """What a user's action does: (new state, ARM call), None when there is nothing to do, or a Refusal."""
    state = record.state
    if action == "delete":
        if state in (VmState.DELETING, VmState.DELETED):
            return None
        if state in TRANSITIONAL_STATES:
            return Refusal(409, f"VM '{record.name}' is {state.value}; delete it once that has finished")
        return VmState.DELETING, "delete"
    if state in TRANSITIONAL_STATES:
        return Refusal(409, f"VM '{record.name}' is {state.value}; try again once that has finished")
    if state in (VmState.DELETED, VmState.FAILED, VmState.LOST):
        return Refusal(409, f"VM '{record.name}' is {state.value}; only delete is possible")
    if action == "start":
        if state == VmState.RUNNING:
            return None
        return VmState.STARTING, "start"
    if action == "stop":
        if state == VmState.STOPPED and not record.still_billing:
            return None
        return VmState.STOPPING, "deallocate"
    if state != VmState.RUNNING:
        return Refusal(409, f"VM '{record.name}' is {state.value}; only a running VM can be restarted")
    return VmState.RESTARTING, "restart"
