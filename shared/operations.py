"""The imperative shell behind the API: read records and ARM, decide (shared.core), write, and hand what must
be sent to ARM to the queue worker (shared.worker).

The request path reads ARM (briefly retried) but never writes to it and never waits on it: it records the
intent (an ETag-checked record write) and enqueues the work. The one exception is a password reset, whose
secret must not travel through the queue.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from shared.azure.tables import Conflict, Stale
from shared.core import passwords
from shared.core.costs import MonthCost, accrue_record, burn_rate, carry_cost, month_costs, month_of
from shared.core.decide import snooze_until
from shared.core.lifecycle import Action, Command, Refusal, plan_action, reconcile
from shared.core.models import (
    CostReport,
    CreateVm,
    Event,
    SizeInfo,
    SizeList,
    User,
    VmCost,
    VmFields,
    VmRecord,
    VmState,
    VmView,
)
from shared.core.observations import ArmError, ObservedVm, ours
from shared.core.policy import Policy, check_create, check_quota, default_cidrs, usage
from shared.core.prices import PriceKey, Prices, load_catalogue
from shared.core.problems import FieldProblem, Problem, not_found
from shared.services import Services
from shared.settings import Settings

log = logging.getLogger(__name__)

# --- prices ---------------------------------------------------------------------------------------

_PRICES_FOR_SECONDS = 600.0
_prices_cache: dict[str, tuple[float, Prices]] = {}


def known_prices(svc: Services) -> Prices:
    """The shipped catalogue overlaid with the sweeper's cached Retail Prices figures (no network here)."""
    region = svc.settings.location
    hit = _prices_cache.get(region)
    if hit is not None and time.monotonic() - hit[0] < _PRICES_FOR_SECONDS:
        return hit[1]
    prices: dict[PriceKey, float] = dict(load_catalogue().prices)
    cached = svc.store.get_prices(region)
    if cached is not None:
        prices.update({(size, region): usd for size, usd in cached[0].items()})
    _prices_cache[region] = (time.monotonic(), prices)
    return prices


def forget_prices() -> None:
    _prices_cache.clear()


# --- reads ------------------------------------------------------------------------------------------


def owned(svc: Services, user: User, name: str) -> VmRecord:
    """The record, if the caller may see it; another user's VM is reported as absent."""
    record = svc.store.get_vm(name)
    if record is None or (record.owner != user.name and not user.is_admin):
        raise not_found(name)
    return record


def view(record: VmRecord, prices: Prices | None = None, now: datetime | None = None) -> VmView:
    """The API's view of a record; with prices and `now`, the cost includes what accrued since it was written."""
    ip = record.public_ip if record.state not in (VmState.DELETED, VmState.FAILED, VmState.LOST) else None
    burn = None
    if prices is not None and now is not None:
        record = accrue_record(record, prices, now).record
        burn = burn_rate(record, prices)
    return VmView(
        **record.model_dump(include=set(VmFields.model_fields)),
        burn_usd_per_hour=burn,
        jupyterhub_url=f"https://{ip}:8000" if ip else None,
        rstudio_url=f"http://{ip}:8787" if ip else None,
        ssh=f"ssh {record.admin_username}@{ip}" if ip else None,
    )


def list_views(svc: Services, user: User, owner: str | None, include_deleted: bool) -> list[VmView]:
    """Records plus (at most) one paged ARM list call; each record shown as reconciled now; writes nothing."""
    if not user.is_admin:
        owner = user.name
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The ARM list and the table query do not depend on each other: run them side by side.
        listing = pool.submit(svc.arm.recent_vms)
        records = svc.store.list_vms(owner=owner, include_deleted=include_deleted)
        try:
            observed: dict[str, ObservedVm] | None = listing.result()
        except ArmError as exc:
            log.warning("listing VMs without live state: %s", exc)
            observed = None
    now = svc.clock()
    prices = known_prices(svc)
    views = []
    for record in records:
        if observed is not None and record.state != VmState.DELETED:
            record = reconcile(record, observed.get(record.name), None, now).record
        views.append(view(record, prices, now))
    return views


# --- writes -----------------------------------------------------------------------------------------


def save(svc: Services, before: VmRecord, after: VmRecord, events: list[Event]) -> VmRecord:
    """The one way the API path writes a record. Raises Stale if someone changed it since `before` was read.

    - cost: accrued up to now at the power state `before` had, in the same write (so a power change seen
      by a GET or an action never bills the interval before it at the new state);
    - events: an outbox. They are written inside the record (`pending_events`) and then to the events table;
      events an earlier writer left in the record are written first, so an event is never lost between the
      record write and the events write (event rows are idempotent).
    """
    now = svc.clock()
    accrual = carry_cost(before, after, known_prices(svc), now)
    for closed in accrual.closed:
        svc.store.put_month_cost(closed.month, closed.record_id, closed.name, closed.owner, closed.usd)
    if before.pending_events:
        svc.store.add_events(before.id, before.pending_events)
    saved = svc.store.update_vm(accrual.record.model_copy(update={"pending_events": events}))
    if events:
        svc.store.add_events(saved.id, events)
    return saved


def enqueue(svc: Services, record: VmRecord, command: Command) -> None:
    """Hand an ARM call to the queue worker. If the queue is down the intent is still recorded (the record's
    state and `action_at`): reconcile sends the call itself once the action is stale."""
    try:
        svc.queue.send({"op": "command", "name": record.name, "id": record.id, "command": command})
    except Exception as exc:
        log.warning("could not enqueue %s of %s (reconcile will send it): %s", command, record.name, type(exc).__name__)


def refresh(svc: Services, record: VmRecord) -> VmRecord:
    """Reconcile one record with ARM (a GET; an absent VM counts as one observation), save the result and
    enqueue the ARM calls it owes."""
    if record.state == VmState.DELETED:
        return record
    arm = svc.arm
    vm = arm.get_vm(record.name)
    nsg_present = arm.nsg_owner(record.name) == record.id if ours(record.id, vm) is None else None
    step = reconcile(record, vm, nsg_present, svc.clock())
    updated = step.record
    if (
        updated.public_ip is None
        and vm is not None
        and vm.record_id == record.id
        and vm.provisioning_state.lower() == "succeeded"
    ):
        updated = updated.model_copy(update={"public_ip": arm.public_ip(record.name)})
    unchanged = {"updated_at", "etag"}
    if updated.model_dump(exclude=unchanged) == record.model_dump(exclude=unchanged):
        # Idempotent clean-up owed without a change is left to the sweeper: a GET loop must not flood the queue.
        return record
    try:
        saved = save(svc, record, updated, step.events)
    except Stale:
        # Someone else moved it first; their write wins and they owe the ARM calls.
        return svc.store.get_vm(record.name) or record
    for command in step.commands:
        enqueue(svc, saved, command)
    return saved


# --- create -----------------------------------------------------------------------------------------


def new_record(
    request: CreateVm,
    user: User,
    policy: Policy,
    settings: Settings,
    caller_ip: str | None,
    now: datetime,
    request_key: str | None,
) -> VmRecord:
    cidrs = request.allowed_cidrs or default_cidrs(caller_ip)
    if cidrs is None:
        raise Problem(
            422,
            "Unprocessable Content",
            "Your address could not be determined; give allowed_cidrs explicitly.",
            errors=[FieldProblem(field="allowed_cidrs", message="required: the caller's address is unknown")],
        )
    ttl = request.ttl_hours or policy.default_ttl_hours
    record = VmRecord(
        id=uuid.uuid4().hex,
        name=request.name,
        owner=user.name,
        state=VmState.CREATING,
        size=request.size,
        location=settings.location,
        image=request.image,
        os_disk_gb=request.os_disk_gb,
        os_disk_type=request.os_disk_type,
        admin_username=request.admin_username,
        ssh_public_key=request.ssh_public_key,
        password_auth=request.admin_password is not None,
        allowed_cidrs=cidrs,
        tags=request.tags,
        ttl_hours=ttl,
        budget_usd=request.budget_usd,
        schedule=request.schedule,
        idle=request.idle,
        created_at=now,
        updated_at=now,
        action_at=now,
        keep_until=now + timedelta(hours=ttl),
        cost_at=now,
        month=month_of(now),
        create_step="queued",
        request_key=request_key,
    )
    event = Event(
        time=now,
        actor=user.name,
        action="create",
        state=VmState.CREATING,
        reason=f"{user.name} asked for a {record.size} VM",
        evidence={"size": record.size, "image": record.image.value, "allowed_cidrs": record.allowed_cidrs},
    )
    return record.model_copy(update={"pending_events": [event]})


def validate_create(request: CreateVm, policy: Policy, location: str) -> None:
    errors = check_create(request, policy, location)
    if errors:
        raise Problem(
            422,
            "Unprocessable Content",
            "The request breaks the team's policy.",
            errors=[FieldProblem(field=e.field, message=e.message) for e in errors],
        )


def vcpus_needed(svc: Services, size: str) -> int:
    vcpus = svc.arm.size_vcpus().get(size)
    if vcpus is None:
        raise Problem(
            422,
            "Unprocessable Content",
            f"{size} is not offered in {svc.settings.location}.",
            errors=[FieldProblem(field="size", message=f"not offered in {svc.settings.location}")],
        )
    return vcpus


@contextlib.contextmanager
def quota_held(svc: Services, owner: str, policy: Policy, size: str) -> Iterator[None]:
    """Check the user's quota and keep it locked while the caller takes the slot (create or start).

    The lease serialises one user's concurrent creates, so parallel requests cannot overrun the quota.
    """
    needed = vcpus_needed(svc, size)
    try:
        with svc.store.lease(f"quota-{hashlib.sha256(owner.encode()).hexdigest()[:32]}"):
            records = svc.store.list_vms(owner=owner, include_deleted=True)
            held = usage(records, svc.arm.size_vcpus(), month_of(svc.clock()))
            refusal = check_quota(held, needed, policy)
            if refusal is not None:
                raise Problem(409, "Quota exceeded", refusal, code="UserQuotaExceeded")
            yield
    except Stale:
        raise Problem(
            503, "Busy", "Too many of your requests at once; try again.", headers={"Retry-After": "2"}
        ) from None


def create_message(record: VmRecord, request: CreateVm) -> dict[str, Any]:
    """The queue message for a create. The password travels only as its one-way hash."""
    password = request.admin_password.get_secret_value() if request.admin_password else None
    return {
        "op": "create",
        "name": record.name,
        "id": record.id,
        "password_hash": passwords.linux_hash(password) if password else None,
    }


def create(
    svc: Services, user: User, request: CreateVm, caller_ip: str | None, request_key: str | None = None
) -> VmRecord:
    """Record the VM (Creating) and enqueue its creation; no ARM call. The worker creates the NSG and the VM.

    With `request_key` (an Idempotency-Key's hash), a record this same request left half-made (its instance
    died before answering) is picked up and finished instead of refused.
    """
    if request_key is not None:
        earlier = svc.store.get_vm(request.name)
        if earlier is not None and earlier.request_key == request_key and earlier.owner == user.name:
            if earlier.state == VmState.CREATING and earlier.create_step == "queued":
                svc.queue.send(create_message(earlier, request))
            return earlier
    policy = svc.policy_for(user.name)
    validate_create(request, policy, svc.settings.location)
    record = new_record(request, user, policy, svc.settings, caller_ip, svc.clock(), request_key)
    message = create_message(record, request)
    with quota_held(svc, user.name, policy, record.size):
        try:
            record = svc.store.create_vm(record)
        except Conflict:
            raise Problem(409, "Conflict", f"a VM named '{request.name}' already exists") from None
    svc.store.add_events(record.id, record.pending_events)
    try:
        svc.queue.send(message)
    except Exception as exc:
        log.warning("could not enqueue the create of %s: %s", record.name, type(exc).__name__)
        with contextlib.suppress(Stale):
            svc.store.delete_vm_row(record)
        raise Problem(
            503,
            "Service Unavailable",
            "The work queue did not take the create; nothing was created. Send the same request again.",
            headers={"Retry-After": "5"},
        ) from None
    return record


# --- actions ----------------------------------------------------------------------------------------


def act(svc: Services, user: User, name: str, action: Action) -> VmRecord:
    """start | stop (deallocate) | restart | delete: decided on the record as ARM shows it now, recorded,
    and handed to the queue worker."""
    record = refresh(svc, owned(svc, user, name))
    now = svc.clock()
    plan = plan_action(accrue_record(record, known_prices(svc), now).record, action)
    if isinstance(plan, Refusal):
        headers = {"Retry-After": str(plan.retry_after)} if plan.retry_after else None
        raise Problem(plan.status, "Conflict", plan.detail, headers=headers)
    if plan is None:
        return record
    state, command = plan
    moved = record.model_copy(
        update={"state": state, "action_at": now, "action_attempts": 0, "error_code": None, "error_message": None}
    )
    event = Event(time=now, actor=user.name, action=action, state=state, reason=f"{user.name} asked")
    if action == "start" and not record.still_billing:
        with quota_held(svc, record.owner, svc.policy_for(record.owner), record.size):
            saved = take(svc, record, moved, event, action)
    else:
        saved = take(svc, record, moved, event, action)
    enqueue(svc, saved, command)
    return saved


def take(svc: Services, before: VmRecord, after: VmRecord, event: Event, action: str) -> VmRecord:
    """Save the action's state, unless someone else moved the record first."""
    try:
        return save(svc, before, after, [event])
    except Stale:
        raise Problem(
            409,
            "Conflict",
            f"VM '{before.name}' changed while you asked to {action} it; look again",
            headers={"Retry-After": "1"},
        ) from None


def snooze(svc: Services, user: User, name: str, hours: float) -> VmRecord:
    """Hold off schedule, time-limit and idle stops for `hours` (bounded by policy); budgets still apply."""
    record = owned(svc, user, name)
    now = svc.clock()
    until = snooze_until(record, hours, svc.policy_for(record.owner), now)
    if isinstance(until, Refusal):
        if until.status == 422:
            errors = [FieldProblem(field="hours", message=until.detail)]
            raise Problem(422, "Snooze refused", "The snooze breaks the team's policy.", errors=errors)
        raise Problem(until.status, "Snooze refused", until.detail)
    snoozed = record.model_copy(update={"snoozed_until": until, "keep_until": max(record.keep_until, until)})
    event = Event(
        time=now,
        actor=user.name,
        action="snooze",
        state=record.state,
        reason=f"{user.name} snoozed automatic stops for {hours:g} h",
        evidence={"snoozed_until": until.isoformat(), "keep_until": snoozed.keep_until.isoformat()},
    )
    try:
        return save(svc, record, snoozed, [event])
    except Stale:
        raise Problem(
            409, "Conflict", f"VM '{name}' changed while you snoozed it; try again", headers={"Retry-After": "1"}
        ) from None


def month_report(svc: Services, user: User, month: str, owner: str | None) -> CostReport:
    """Cost per VM and per owner for a calendar month (UTC); users see their own, admins everyone's."""
    if not user.is_admin:
        owner = user.name
    finished = [
        MonthCost(month, str(row["RowKey"]), str(row["name"]), str(row["owner"]), float(row["usd"]))
        for row in svc.store.month_costs(month)
    ]
    now = svc.clock()
    prices = known_prices(svc)
    records = []
    for record in svc.store.list_vms(owner=owner, include_deleted=True):
        accrual = accrue_record(record, prices, now)
        records.append(accrual.record)
        finished += accrual.closed
    rows = [c for c in month_costs(records, finished, month) if owner is None or c.owner == owner]
    by_owner: dict[str, float] = {}
    for row in rows:
        by_owner[row.owner] = round(by_owner.get(row.owner, 0.0) + row.usd, 4)
    return CostReport(
        month=month,
        total_usd=round(sum(r.usd for r in rows), 4),
        by_owner=by_owner,
        by_vm=[VmCost(name=r.name, owner=r.owner, usd=round(r.usd, 4)) for r in rows],
    )


def sizes(svc: Services, user: User) -> SizeList:
    """The sizes this user may create, with vCPUs, memory and the hourly price in the workload region."""
    catalogue = load_catalogue()
    prices = known_prices(svc)
    region = svc.settings.location
    infos = []
    for name in svc.policy_for(user.name).allowed_sizes:
        spec = catalogue.sizes.get(name)
        infos.append(
            SizeInfo(
                name=name,
                vcpus=spec.vcpus if spec else None,
                memory_gib=spec.memory_gib if spec else None,
                hourly_usd=prices.get((name, region)),
            )
        )
    return SizeList(region=region, value=infos)
