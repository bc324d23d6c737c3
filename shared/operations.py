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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.azure.tables import Conflict, Stale
from shared.core import passwords
from shared.core.activity import Activity, ActivityReport, future_times
from shared.core.changes import plan_change
from shared.core.costs import (
    MonthCost,
    accrue_record,
    burn_rate,
    carry_cost,
    month_costs,
    month_of,
    owner_month_to_date,
)
from shared.core.decide import snooze_until
from shared.core.forecast import OwnerSpend, next_stop
from shared.core.lifecycle import Action, Command, Refusal, plan_action, plan_guest_change, reconcile
from shared.core.models import (
    CostReport,
    CreateVm,
    Event,
    LastStop,
    PasswordReset,
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
from shared.core.policy import (
    Policy,
    PolicyOverride,
    against_policy,
    check_create,
    check_quota,
    effective,
    usage,
    with_defaults,
)
from shared.core.prices import PriceKey, Prices, load_catalogue
from shared.core.problems import FieldProblem, Problem, from_arm, not_found
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


def view(record: VmRecord) -> VmView:
    """The API's view of a record as it was written (the answer to an accepted change)."""
    ip = record.public_ip if record.state not in (VmState.DELETED, VmState.FAILED, VmState.LOST) else None
    return VmView(
        **record.model_dump(include=set(VmFields.model_fields)),
        jupyterhub_url=f"https://{ip}:8000" if ip else None,
        rstudio_url=f"http://{ip}:8787" if ip else None,
        ssh=f"ssh {record.admin_username}@{ip}" if ip else None,
    )


def owner_month_costs(
    svc: Services, records: list[VmRecord], month: str, archived: list[dict[str, Any]] | None = None
) -> dict[str, float]:
    """Each owner's cost in `month` so far: their records (tombstones included, accrued by the caller) plus
    the shares of archived records (the costs table's rows of `month`, read here unless given)."""
    totals = owner_month_to_date(records, month)
    for row in svc.store.month_costs(month) if archived is None else archived:
        totals[row["owner"]] = totals.get(row["owner"], 0.0) + float(row["usd"])
    return totals


@dataclass(frozen=True)
class Owners:
    """What the forecasts of some owners' VMs need besides the VMs: every record of theirs (tombstones
    included: all of a month's spend counts against the monthly budget), this month's shares of archived
    records, and each owner's effective policy."""

    records: list[VmRecord]
    archived: list[dict[str, Any]]
    policies: dict[str, Policy]


def owners_of(svc: Services, owner: str | None, records: list[VmRecord] | None = None) -> Owners:
    """Read `Owners` for one owner, or (None) for everyone; `records` when the caller has read them already.
    The reads do not depend on each other and go side by side."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        listed = pool.submit(svc.store.list_vms, owner, True) if records is None else None
        team = pool.submit(svc.team_policy)
        archived = pool.submit(svc.store.month_costs, month_of(svc.clock()))
        overrides: dict[str, PolicyOverride | None]
        if owner is not None:
            overrides = {owner: pool.submit(svc.override, owner).result()[0]}
        else:
            overrides = dict(pool.submit(svc.overrides).result())
        records = listed.result() if listed is not None else records or []
        policy = team.result()[0]
        owners = {r.owner for r in records} | ({owner} if owner else set())
        return Owners(records, archived.result(), {name: effective(policy, overrides.get(name)) for name in owners})


def present(svc: Services, shown: list[VmRecord], owners: Owners) -> list[VmView]:
    """Full views of `shown`: cost and burn rate up to now, and the next stop the sweeper will make."""
    now = svc.clock()
    prices = known_prices(svc)
    latest = {r.name: r for r in owners.records} | {r.name: r for r in shown}
    accrued = {name: accrue_record(r, prices, now).record for name, r in latest.items()}
    spent = owner_month_costs(svc, list(accrued.values()), month_of(now), owners.archived)
    burning: dict[str, float] = {}
    for record in accrued.values():
        burning[record.owner] = burning.get(record.owner, 0.0) + burn_rate(record, prices)
    lead = timedelta(minutes=svc.settings.notify_lead_minutes)
    views = []
    for record in (accrued[r.name] for r in shown):
        policy = owners.policies.get(record.owner) or svc.policy_for(record.owner)
        owner = OwnerSpend(spent.get(record.owner, 0.0), burning.get(record.owner, 0.0))
        forecast = next_stop(record, now, prices, policy, owner, lead)
        views.append(
            view(record).model_copy(update={"burn_usd_per_hour": burn_rate(record, prices), "next_stop": forecast})
        )
    return views


def present_one(svc: Services, record: VmRecord) -> VmView:
    return present(svc, [record], owners_of(svc, record.owner))[0]


def show(svc: Services, user: User, name: str) -> tuple[VmRecord, VmView]:
    """One VM reconciled with ARM now, and its full view. The owner's records are read while ARM answers."""
    record = owned(svc, user, name)
    with ThreadPoolExecutor(max_workers=1) as pool:
        context = pool.submit(owners_of, svc, record.owner)
        record = refresh(svc, record)
        owners = context.result()
    return record, present(svc, [record], owners)[0]


def list_views(svc: Services, user: User, owner: str | None, include_deleted: bool) -> list[VmView]:
    """Records plus (at most) one paged ARM list call; each record shown as reconciled now; writes nothing."""
    if not user.is_admin:
        owner = user.name
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The ARM list and the table query do not depend on each other: run them side by side.
        listing = pool.submit(svc.arm.recent_vms)
        # Tombstones too: they count towards their owner's month.
        every = svc.store.list_vms(owner=owner, include_deleted=True)
        try:
            observed: dict[str, ObservedVm] | None = listing.result()
        except ArmError as exc:
            log.warning("listing VMs without live state: %s", exc)
            observed = None
    now = svc.clock()
    shown = []
    for record in every:
        if record.state == VmState.DELETED:
            if include_deleted:
                shown.append(record)
            continue
        if observed is not None:
            record = reconcile(record, observed.get(record.name), None, now).record
        shown.append(record)
    return present(svc, shown, owners_of(svc, owner, every))


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
    return refreshed(svc, record)[0]


def refreshed(svc: Services, record: VmRecord) -> tuple[VmRecord, ObservedVm | None]:
    """`refresh`, and what ARM reported of the VM (None for a tombstone)."""
    if record.state == VmState.DELETED:
        return record, None
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
        return record, vm
    try:
        saved = save(svc, record, updated, step.events)
    except Stale:
        # Someone else moved it first; their write wins and they owe the ARM calls.
        return svc.store.get_vm(record.name) or record, vm
    for command in step.commands:
        enqueue(svc, saved, command)
    return saved, vm


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
    chosen = with_defaults(request, policy, caller_ip)
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
        password_auth=request.admin_password is not None or request.generate_password,
        tags=request.tags,
        **chosen,
        created_at=now,
        updated_at=now,
        action_at=now,
        keep_until=now + timedelta(hours=chosen["ttl_hours"]),
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


def create_message(record: VmRecord, password: str | None) -> dict[str, Any]:
    """The queue message for a create. The password travels only as its one-way hash."""
    return {
        "op": "create",
        "name": record.name,
        "id": record.id,
        "password_hash": passwords.linux_hash(password) if password else None,
    }


def create(
    svc: Services, user: User, request: CreateVm, caller_ip: str | None, request_key: str | None = None
) -> tuple[VmRecord, str | None]:
    """Record the VM (Creating) and enqueue its creation; no ARM call. The worker creates the NSG and the VM.
    Returns the record and, with `generate_password`, the generated password (for this answer only).

    With `request_key` (an Idempotency-Key's hash), a record this same request left half-made (its instance
    died before answering) is picked up and finished instead of refused. A generated password is not shown
    then: the first attempt's may already be on its way to the VM, so the owner resets it once it runs.
    """
    password = request.admin_password.get_secret_value() if request.admin_password else None
    if request_key is not None:
        earlier = svc.store.get_vm(request.name)
        if earlier is not None and earlier.request_key == request_key and earlier.owner == user.name:
            if earlier.state == VmState.CREATING and earlier.create_step == "queued":
                unseen = passwords.generate() if request.generate_password else None
                svc.queue.send(create_message(earlier, password or unseen))
            return earlier, None
    policy = svc.policy_for(user.name)
    now = svc.clock()
    errors = check_create(request, policy, svc.settings.location, now)
    if errors:
        raise against_policy(errors)
    record = new_record(request, user, policy, svc.settings, caller_ip, now, request_key)
    generated = passwords.generate() if request.generate_password else None
    message = create_message(record, password or generated)
    with quota_held(svc, user.name, policy, record.size):
        try:
            record = svc.store.create_vm(record)
        except Conflict:
            raise name_taken(svc, request.name) from None
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
    return record, generated


def name_taken(svc: Services, name: str) -> Problem:
    """Why a name cannot be taken; when it frees itself soon (a delete or a failed create's clean-up in
    progress), with Retry-After."""
    holder = svc.store.get_vm(name)
    detail = f"a VM named '{name}' already exists"
    if holder is not None and (holder.state == VmState.DELETING or holder.state == VmState.FAILED):
        detail += f" ({holder.state.value}); the name is free again once it is cleaned up"
        return Problem(409, "Conflict", detail, headers={"Retry-After": "15"})
    return Problem(409, "Conflict", detail)


# --- actions ----------------------------------------------------------------------------------------


def act(svc: Services, user: User, name: str, action: Action) -> VmRecord:
    """start | stop (deallocate) | restart | delete: decided on the record as ARM shows it now, recorded,
    and handed to the queue worker."""
    record = refresh(svc, owned(svc, user, name))
    now = svc.clock()
    plan = plan_action(accrue_record(record, known_prices(svc), now).record, action, now)
    if isinstance(plan, Refusal):
        raise plan.problem()
    if plan is None:
        return record
    state, command = plan
    update: dict[str, Any] = {
        "state": state,
        "action_at": now,
        "action_attempts": 0,
        "error_code": None,
        "error_message": None,
    }
    if action == "stop":
        by = "owner" if user.name == record.owner else "admin"
        update["last_stop"] = LastStop(at=now, by=by, reason=f"{user.name} asked")
    moved = record.model_copy(update=update)
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
        raise until.problem("Snooze refused")
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


# How often a change without If-Match is re-applied to a record someone else wrote meanwhile.
CHANGE_ATTEMPTS = 3


def change(
    svc: Services, user: User, name: str, patch: dict[str, Any], if_match: str | None, caller_ip: str | None
) -> VmRecord:
    """Apply a JSON merge patch to a VM's settings (see shared.core.changes), recorded with an event per change.

    With If-Match the record must still carry that ETag (412 otherwise, also when someone writes it first);
    without, a concurrent write is met by applying the patch again to the fresh record. A change of
    allowed_cidrs is handed to the queue worker, which updates the NSG and waits on ARM.
    """
    for _ in range(CHANGE_ATTEMPTS):
        record = owned(svc, user, name)
        if if_match is not None and if_match.strip() not in ("*", record.etag):
            raise stale_etag(name)
        plan = plan_change(record, patch, svc.policy_for(record.owner), caller_ip, svc.clock(), user.name)
        if plan is None:
            return record
        try:
            saved = save(svc, record, plan.record, [plan.event])
        except Stale:
            if if_match is not None:
                raise stale_etag(name) from None
            continue
        if "allowed_cidrs" in plan.fields:
            enqueue(svc, saved, "update_nsg")
        return saved
    raise Problem(
        409, "Conflict", f"VM '{name}' kept changing while you changed it; try again", headers={"Retry-After": "1"}
    )


def stale_etag(name: str) -> Problem:
    return Problem(412, "Precondition Failed", f"VM '{name}' changed since you read it; GET it again and retry.")


def reset_password(svc: Services, user: User, name: str, request: PasswordReset) -> tuple[VmRecord, str | None]:
    """Reset the Linux user's password through the VMAccessForLinux extension; returns the record and, when
    generated, the password (for this answer only).

    The one ARM write on the request path: the secret must not travel through the queue, so the extension
    PUT goes from here, without waiting. The queue worker then watches the extension and events the result;
    its message carries the operation's tag, never the secret. Sent only to a running VM whose tag says it is
    this record's.
    """
    record, vm = refreshed(svc, owned(svc, user, name))
    refused = plan_guest_change(record)
    if refused is None and ours(record.id, vm) is None:
        refused = Refusal(409, f"VM '{name}' in Azure is not this record's; nothing was sent to it")
    if refused is not None:
        raise refused.problem()
    if request.password is not None:
        password = request.password.get_secret_value()
        if record.admin_username in password:
            raise Problem(
                422,
                "Unprocessable Content",
                "The password is not valid; see errors.",
                errors=[FieldProblem(field="password", message="must not contain the admin username")],
            )
    else:
        password = passwords.generate()
    tag = uuid.uuid4().hex
    try:
        svc.arm.begin_password_reset(record, password, tag)
    except ArmError as exc:
        raise from_arm(exc, "reset the password") from None
    event = Event(
        time=svc.clock(),
        actor=user.name,
        action="password",
        state=record.state,
        reason=f"{user.name} asked to reset the password of {record.admin_username} (VMAccessForLinux)",
        evidence={"username": record.admin_username, "generated": request.generate, "operation": tag},
    )
    svc.store.add_events(record.id, [event])
    try:
        svc.queue.send({"op": "password", "name": record.name, "id": record.id, "operation": tag})
    except Exception as exc:
        # The reset itself is in Azure's hands; only the event with its result will be missing.
        log.warning("could not enqueue the watch of %s's password reset: %s", record.name, type(exc).__name__)
    return record, password if request.generate else None


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
        by_vm=[VmCost(id=r.record_id, name=r.name, owner=r.owner, usd=round(r.usd, 4)) for r in rows],
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


def record_activity(svc: Services, record: VmRecord, report: ActivityReport) -> None:
    """Keep the VM's latest activity report (its own table; the record is not written)."""
    now = svc.clock()
    late = future_times(report, now)
    if late:
        raise Problem(
            422,
            "Unprocessable Content",
            "A reported time is later than now.",
            errors=[FieldProblem(field=name, message="is in the future") for name in late],
        )
    svc.store.put_activity(record.name, Activity(record_id=record.id, received_at=now, report=report))
