"""The VM state machine as pure functions: reconcile a record with what ARM reports, and decide what a
user's action does to a record. No I/O here: callers pass the record, the observation and `now`.

The promises (each a rule below):
- Observe more than once before concluding: a VM missing from ARM becomes Lost only after it was missing
  on `LOST_AFTER_SEEN` observations spread over at least `LOST_AFTER`; one 404 or one list is no evidence.
- A VM whose `dsvm-record` tag is not the record's id is not ours: it counts as absent, and nothing is ever
  sent to it (see `observations.ours`).
- The control plane deletes a VM only when its owner or an admin asked (state Deleting), or to clean up a
  create that failed (state Failed: that VM never ran). A Lost VM that comes back is found again, never
  deleted.
- A run's time limit counts from its start: each start reconcile sees (asked for, a restart, or made outside
  the control plane) sets `keep_until = now + ttl_hours`.
- Every failure settles: an action Azure failed (provisioning Failed) settles on the power state ARM
  reports, with Azure's error; an action that does not take effect is re-sent at most `MAX_ATTEMPTS` times
  and settles with an error after `ACTION_TIMEOUT`; a create that never reaches Azure fails after a bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from shared.core.models import TRANSITIONAL_STATES, Event, VmRecord, VmState
from shared.core.observations import ObservedVm, ours
from shared.core.problems import Problem

# How long an action may show no effect in ARM before reconcile sends it again.
ACTION_GRACE = timedelta(minutes=2)
# How often an action is re-sent, and how long a transition may last, before the record settles with an error.
MAX_ATTEMPTS = 5
ACTION_TIMEOUT = timedelta(minutes=20)
# How long a create whose VM PUT was sent may show no VM in ARM before we conclude it never got there.
CREATE_GRACE = timedelta(minutes=5)
# How long a create may wait for the queue worker (retries included) before it fails.
QUEUE_TIMEOUT = timedelta(minutes=30)
# A VM missing from ARM is Lost only after this many observations spread over at least this long.
LOST_AFTER_SEEN = 3
LOST_AFTER = timedelta(minutes=5)

Command = Literal["start", "deallocate", "restart", "delete", "delete_nsg", "update_nsg"]
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
# Where a transition that will not finish settles, by the power state ARM last reported.
_SETTLE_ON = {
    "running": VmState.RUNNING,
    "starting": VmState.RUNNING,
    "stopping": VmState.STOPPED,
    "stopped": VmState.STOPPED,
    "deallocating": VmState.STOPPED,
    "deallocated": VmState.STOPPED,
}
_VERB = {VmState.STARTING: "start", VmState.STOPPING: "stop", VmState.RESTARTING: "restart"}
# Records whose NSG should carry their allowed_cidrs (a creating VM's NSG is made from the latest record).
NSG_FOLLOWS = frozenset({VmState.RUNNING, VmState.STOPPED, VmState.STARTING, VmState.STOPPING, VmState.RESTARTING})


@dataclass(frozen=True)
class Step:
    """The next record, the events that explain the change, and the ARM calls still owed."""

    record: VmRecord
    events: list[Event] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)


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
    if state not in TRANSITIONAL_STATES:
        changes["action_attempts"] = 0
    event = Event(time=now, actor=SYSTEM, action="reconcile", state=state, reason=reason)
    return Step(record.model_copy(update=changes), [event], commands)


def _resend(record: VmRecord, command: Command, now: datetime) -> Step:
    return Step(
        record.model_copy(update={"action_at": now, "action_attempts": record.action_attempts + 1}), [], [command]
    )


def _observed(record: VmRecord, vm: ObservedVm, now: datetime) -> VmRecord:
    power = vm.power_state
    since = record.power_since if power == record.power_state and record.power_since else now
    return record.model_copy(
        update={
            "power_state": power,
            "still_billing": power == "stopped",
            "power_since": since,
            "missing_since": None,
            "missing_seen": 0,
        }
    )


def reconcile(record: VmRecord, vm: ObservedVm | None, nsg_present: bool | None, now: datetime) -> Step:
    """Move a record one step towards what ARM reports.

    `vm` is what ARM reports under the record's name (None when ARM has none); a VM whose tag names another
    record counts as absent. `nsg_present` says whether the record's own NSG exists (None when the caller did
    not look; it only matters once the VM is gone).
    """
    if record.state == VmState.DELETED:
        return Step(record)
    mine = ours(record.id, vm)
    if mine is None:
        return _network_rules(_absent(record, nsg_present, now, foreign=vm is not None), now)
    return _network_rules(_present(record, mine, now), now)


def _network_rules(step: Step, now: datetime) -> Step:
    """Send the NSG update a change of allowed_cidrs owes again when it has not been confirmed in time (the
    queue may have been down), at most MAX_ATTEMPTS times; then settle with an error."""
    record = step.record
    pending = record.nsg_pending_since
    if pending is None or now - pending < ACTION_GRACE:
        return step
    if record.state not in NSG_FOLLOWS:
        return Step(record.model_copy(update={"nsg_pending_since": None}), step.events, step.commands)
    if record.nsg_attempts >= MAX_ATTEMPTS:
        text = f"the network rules for {', '.join(record.allowed_cidrs)} could not be applied; change them again"
        event = Event(time=now, actor=SYSTEM, action="reconcile", state=record.state, reason=text)
        failed = {
            "nsg_pending_since": None,
            "nsg_attempts": 0,
            "error_code": "NetworkRulesNotApplied",
            "error_message": text[0].upper() + text[1:] + ".",
        }
        return Step(record.model_copy(update=failed), [*step.events, event], step.commands)
    again = {"nsg_pending_since": now, "nsg_attempts": record.nsg_attempts + 1}
    return Step(record.model_copy(update=again), step.events, [*step.commands, "update_nsg"])


def started(now: datetime, record: VmRecord) -> dict[str, object]:
    """What a new run of the VM resets: its time limit counts from the start."""
    return {"keep_until": now + timedelta(hours=record.ttl_hours)}


def _absent(record: VmRecord, nsg_present: bool | None, now: datetime, *, foreign: bool) -> Step:
    state = record.state
    # Deleting an NSG is idempotent and cheap, so it is sent on every pass that still finds one.
    cleanup: list[Command] = ["delete_nsg"] if nsg_present else []
    gone: dict[str, object] = {"power_state": None, "still_billing": False, "power_since": None}
    if state == VmState.CREATING:
        waited = now - record.action_at
        if record.create_step == "vm" and waited >= CREATE_GRACE:
            return _move(
                record,
                now,
                VmState.FAILED,
                "the VM create never reached Azure",
                cleanup,
                error_code="CreateNotStarted",
                error_message="Azure has no VM for this create; nothing was left running. Create it again.",
                **gone,
            )
        if record.create_step != "vm" and waited >= QUEUE_TIMEOUT:
            return _move(
                record,
                now,
                VmState.FAILED,
                "the create was not carried out in time",
                cleanup,
                error_code="CreateTimedOut",
                error_message="The create did not reach Azure in time; nothing was left running. Create it again.",
                **gone,
            )
        return Step(record)
    if state == VmState.DELETING:
        if nsg_present is False:
            return _move(record, now, VmState.DELETED, "the VM and its network security group are gone", None, **gone)
        return Step(record.model_copy(update=gone), [], cleanup)
    if state == VmState.FAILED:
        # Nothing of a failed create is left once its NSG is gone too: the name may be taken again.
        released = record.released or nsg_present is False
        return Step(record.model_copy(update={**gone, "released": released}), [], cleanup)
    if state == VmState.LOST:
        return Step(record.model_copy(update=gone))
    seen = record.missing_seen + 1
    since = record.missing_since or now
    if seen >= LOST_AFTER_SEEN and now - since >= LOST_AFTER:
        why = "a VM of this name in Azure belongs to something else" if foreign else "the VM no longer exists in Azure"
        return _move(
            record,
            now,
            VmState.LOST,
            f"{why} (missing on {seen} observations since {since.isoformat()})",
            None,
            missing_since=since,
            missing_seen=seen,
            **gone,
        )
    return Step(record.model_copy(update={"missing_since": since, "missing_seen": seen}))


def _present(record: VmRecord, vm: ObservedVm, now: datetime) -> Step:
    state = record.state
    stale = now - record.action_at >= ACTION_GRACE
    provisioning = vm.provisioning_state.lower()
    seen = _observed(record, vm, now)
    power = vm.power_state
    settled = _POWER_TO_STATE.get(power or "")

    if state == VmState.DELETING:
        return _resend(seen, "delete", now) if provisioning != "deleting" and stale else Step(seen)
    if state == VmState.FAILED:
        # A failed create's VM never ran, but its NIC, public IP and disk bill: remove them.
        return _resend(seen, "delete", now) if provisioning != "deleting" and stale else Step(seen)
    if state == VmState.LOST:
        back = settled if settled is not None else VmState.STOPPED
        return _move(seen, now, back, f"the VM is back in Azure ({power or provisioning}): found again")
    if provisioning == "failed":
        code = vm.error_code or "ProvisioningFailed"
        message = vm.error_message or "Azure reported the VM as failed."
        if state == VmState.CREATING:
            return _move(
                seen,
                now,
                VmState.FAILED,
                f"Azure failed the create: {code}",
                ["delete"],
                error_code=code,
                error_message=message,
            )
        if state in _VERB:
            return _move(
                seen,
                now,
                _SETTLE_ON.get(power or "", VmState.STOPPED),
                f"Azure failed the {_VERB[state]}: {code}",
                error_code=code,
                error_message=message,
            )
    if provisioning == "creating":
        return Step(seen)
    if provisioning == "deleting":
        return _move(seen, now, VmState.DELETING, "the VM is being deleted outside the control plane")
    if state in _VERB and (
        now - record.action_at >= ACTION_TIMEOUT or (record.action_attempts >= MAX_ATTEMPTS and stale)
    ):
        return _move(
            seen,
            now,
            _SETTLE_ON.get(power or "", VmState.STOPPED),
            f"the {_VERB[state]} did not finish in time; the VM is {power or 'in an unknown power state'}",
            error_code="ActionTimedOut",
            error_message=f"Azure did not finish the {_VERB[state]}; the VM is {power or 'unknown'}. Try again.",
        )
    if settled is None:
        return Step(seen)
    if state == VmState.STARTING:
        if power == "running":
            return _move(seen, now, VmState.RUNNING, "the VM started", None, **started(now, record))
        if power in ("deallocated", "stopped") and stale:
            return _resend(seen, "start", now)
        return Step(seen)
    if state == VmState.STOPPING:
        if power == "deallocated":
            return _move(seen, now, VmState.STOPPED, "the VM is deallocated")
        if power == "stopped" or (power == "running" and stale):
            # "stopped" still bills for compute: finish the job with a deallocate.
            return _resend(seen, "deallocate", now)
        return Step(seen)
    if state == VmState.RESTARTING:
        if power == "running":
            return _move(seen, now, VmState.RUNNING, "the VM restarted", None, **started(now, record))
        return Step(seen)
    if state == VmState.CREATING:
        reason = "the VM is provisioned" if power == "running" else f"the VM is provisioned and {power}"
        return _move(seen, now, settled, reason, None, **(started(now, record) if settled == VmState.RUNNING else {}))
    billing = " but still allocated: compute bills until it is deallocated" if seen.still_billing else ""
    if settled != state:
        # A start outside the control plane begins a run; a stop there was not the control plane's to explain.
        outside: dict[str, object] = {}
        if settled == VmState.RUNNING:
            outside = started(now, record)
        elif settled in (VmState.STOPPING, VmState.STOPPED) and state == VmState.RUNNING:
            outside = {"last_stop": None}
        return _move(seen, now, settled, f"the VM became {power} outside the control plane{billing}", None, **outside)
    if seen.still_billing and not record.still_billing:
        return _move(seen, now, settled, f"the VM is stopped{billing}")
    return Step(seen)


@dataclass(frozen=True)
class Refusal:
    """An action that cannot be done now; `status` is the HTTP status to answer with, `retry_after` the
    seconds after which trying again makes sense (when the refusal is a state in progress)."""

    status: int
    detail: str
    retry_after: int | None = None

    def problem(self, title: str = "Conflict") -> Problem:
        """The problem+json answer, with Retry-After when trying again later makes sense."""
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after else None
        return Problem(self.status, title, self.detail, headers=headers)


# How long to suggest waiting when an action meets a transition in progress (seconds).
_RETRY_AFTER = {
    VmState.CREATING: 30,
    VmState.STARTING: 15,
    VmState.STOPPING: 15,
    VmState.RESTARTING: 15,
    VmState.DELETING: 15,
}


def in_progress(record: VmRecord) -> Refusal | None:
    """The refusal for a change that meets a transition in progress, saying when to try again."""
    state = record.state
    if state not in TRANSITIONAL_STATES:
        return None
    verb = "being deleted" if state == VmState.DELETING else state.value
    return Refusal(409, f"VM '{record.name}' is {verb}; try again once that has finished", _RETRY_AFTER[state])


def plan_guest_change(record: VmRecord) -> Refusal | None:
    """Whether something may be sent into the VM (a password reset): only while it runs."""
    busy = in_progress(record)
    if busy is not None:
        return busy
    if record.state != VmState.RUNNING or record.power_state != "running":
        how = (
            f"start it first (POST /api/vms/{record.name}/start)" if record.state == VmState.STOPPED else "it must run"
        )
        return Refusal(409, f"VM '{record.name}' is {record.state.value}; {how}")
    return None


def plan_action(record: VmRecord, action: Action, now: datetime) -> tuple[VmState, Command] | Refusal | None:
    """What a user's action does: (new state, ARM call), None when there is nothing to do, or a Refusal.

    Delete is accepted in every state (ARM accepts it too). Start is refused while the VM's own budget is
    spent (`record.cost_usd` must be accrued up to now by the caller) and once its hard expiry has passed.
    """
    state, name = record.state, record.name
    if action == "delete":
        if state in (VmState.DELETING, VmState.DELETED):
            return None
        return VmState.DELETING, "delete"
    busy = in_progress(record)
    if busy is not None:
        return busy
    if state == VmState.DELETED:
        return Refusal(
            409, f"VM '{name}' was deleted; create a new one with POST /api/vms (the name '{name}' is free again)"
        )
    if state == VmState.FAILED:
        how = "create it again" if record.released else f"delete it (DELETE /api/vms/{name}), then create it again"
        return Refusal(409, f"VM '{name}' failed ({record.error_code}): {record.error_message} To retry, {how}.")
    if state == VmState.LOST:
        return Refusal(
            409, f"VM '{name}' is no longer in Azure; delete its record (DELETE /api/vms/{name}) and create a new one"
        )
    if action == "start":
        if state == VmState.RUNNING:
            return None
        if record.budget_usd is not None and record.cost_usd >= record.budget_usd:
            return Refusal(
                409,
                f"VM '{name}' has cost ${record.cost_usd:.2f}, reaching its budget of ${record.budget_usd:.2f}; "
                "raise its budget_usd to start it again",
            )
        if record.expires_at is not None and record.expires_at <= now:
            return Refusal(
                409,
                f"VM '{name}' expired at {record.expires_at.isoformat()}; move its expires_at "
                f"(PATCH /api/vms/{name}) to start it again",
            )
        return VmState.STARTING, "start"
    if action == "stop":
        if state == VmState.STOPPED and not record.still_billing:
            return None
        return VmState.STOPPING, "deallocate"
    if state != VmState.RUNNING:
        return Refusal(409, f"VM '{name}' is {state.value}; only a running VM can be restarted")
    return VmState.RESTARTING, "restart"
