"""The imperative shell around the VM state machine: read records and ARM, decide (lifecycle.py), write.

Handlers call these; so does the sweeper. Nothing here waits for ARM to finish an operation.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from shared.azure.tables import Conflict, Stale
from shared.core.costs import MonthCost, accrue_record, burn_rate, month_costs, month_of
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
from shared.core.observations import ArmError, ObservedVm
from shared.core.policy import Policy, check_create, check_quota, default_cidrs, usage
from shared.core.prices import PriceKey, Prices, load_catalogue
from shared.core.problems import FieldProblem, Problem, from_arm, not_found
from shared.services import Services, utcnow
from shared.settings import Settings

log = logging.getLogger(__name__)

# --- prices ---------------------------------------------------------------------------------------

_PRICES_FOR = timedelta(minutes=10)
_prices_cache: dict[str, tuple[datetime, Prices]] = {}


def known_prices(svc: Services) -> Prices:
    """The shipped catalogue overlaid with the sweeper's cached Retail Prices figures (no network here)."""
    region = svc.settings.location
    now = utcnow()
    hit = _prices_cache.get(region)
    if hit is not None and now - hit[0] < _PRICES_FOR:
        return hit[1]
    prices: dict[PriceKey, float] = dict(load_catalogue().prices)
    cached = svc.store.get_prices(region)
    if cached is not None:
        prices.update({(size, region): usd for size, usd in cached[0].items()})
    _prices_cache[region] = (now, prices)
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
    """The API's view of a record; with prices, the cost includes what accrued since the last sweep wrote it."""
    ip = record.public_ip if record.state not in (VmState.DELETED, VmState.FAILED, VmState.LOST) else None
    burn = None
    if prices is not None:
        record = accrue_record(record, prices, now or utcnow()).record
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


def refresh(svc: Services, record: VmRecord) -> VmRecord:
    """Reconcile one record with ARM, persist the result and send the ARM calls still owed."""
    if record.state == VmState.DELETED:
        return record
    arm = svc.arm
    vm = arm.get_vm(record.name)
    nsg_present = arm.nsg_exists(record.name) if vm is None else None
    step = reconcile(record, vm, nsg_present, svc.clock())
    updated = step.record
    if updated.public_ip is None and vm is not None and vm.provisioning_state.lower() == "succeeded":
        updated = updated.model_copy(update={"public_ip": arm.public_ip(record.name)})
    return persist(svc, record, updated, step.events, step.commands)


def persist(svc: Services, before: VmRecord, after: VmRecord, events: list[Event], commands: list[Command]) -> VmRecord:
    """Write a reconciled record (ETag-checked), its events, then the ARM calls it owes."""
    unchanged = {"updated_at", "etag"}
    if after.model_dump(exclude=unchanged) == before.model_dump(exclude=unchanged):
        # Only idempotent clean-up (NSG deletion) is owed without a change to the record.
        for command in commands:
            send(svc, before.name, command)
        return before
    try:
        saved = svc.store.update_vm(after)
    except Stale:
        # Someone else moved it first; their write wins and they owe the ARM calls.
        return svc.store.get_vm(before.name) or before
    for event in events:
        svc.store.add_event(saved.id, event)
    for command in commands:
        send(svc, saved.name, command)
    return saved


def send(svc: Services, name: str, command: Command) -> None:
    """Send an ARM call owed by reconcile; a failure is logged and retried by a later pass."""
    try:
        if command == "delete_nsg":
            svc.arm.delete_nsg(name)
        else:
            svc.arm.begin_action(name, command)
    except ArmError as exc:
        if exc.status != 404:
            log.warning("reconcile could not %s %s: %s", command, name, exc)


# --- create -----------------------------------------------------------------------------------------


def new_record(request: CreateVm, user: User, policy: Policy, settings: Settings, caller_ip: str | None) -> VmRecord:
    cidrs = request.allowed_cidrs or default_cidrs(caller_ip)
    if cidrs is None:
        raise Problem(
            422,
            "Unprocessable Content",
            "Your address could not be determined; give allowed_cidrs explicitly.",
            errors=[FieldProblem(field="allowed_cidrs", message="required: the caller's address is unknown")],
        )
    now = utcnow()
    ttl = request.ttl_hours or policy.default_ttl_hours
    return VmRecord(
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
    )


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


def create(svc: Services, user: User, request: CreateVm, caller_ip: str | None) -> VmRecord:
    """Record → NSG → VM create started. ARM refusing leaves a Failed record and no resources."""
    policy = svc.policy_for(user.name)
    validate_create(request, policy, svc.settings.location)
    record = new_record(request, user, policy, svc.settings, caller_ip)
    with quota_held(svc, user.name, policy, record.size):
        try:
            record = svc.store.create_vm(record)
        except Conflict:
            raise Problem(409, "Conflict", f"a VM named '{request.name}' already exists") from None
    svc.store.add_event(
        record.id,
        Event(
            time=record.created_at,
            actor=user.name,
            action="create",
            state=VmState.CREATING,
            reason=f"{user.name} asked for a {record.size} VM",
            evidence={"size": record.size, "image": record.image.value, "allowed_cidrs": record.allowed_cidrs},
        ),
    )
    password = request.admin_password.get_secret_value() if request.admin_password else None
    try:
        svc.arm.create_nsg(record)
        svc.arm.begin_create_vm(record, password)
    except ArmError as exc:
        fail_create(svc, record, exc)
        raise from_arm(exc, "create the VM") from None
    return record


def fail_create(svc: Services, record: VmRecord, error: ArmError) -> None:
    failed = record.model_copy(
        update={"state": VmState.FAILED, "error_code": error.code, "error_message": error.message}
    )
    try:
        svc.arm.delete_nsg(record.name)
    except ArmError as exc:
        # Reconcile finds the NSG later (Failed records are cleaned up) and tries again.
        log.warning("could not remove the NSG of failed VM %s: %s", record.name, exc)
    svc.store.update_vm(failed)
    svc.store.add_event(
        record.id,
        Event(
            time=utcnow(),
            actor="system",
            action="create",
            state=VmState.FAILED,
            reason=f"Azure refused the create: {error.code}",
            evidence={"code": error.code, "message": error.message, "status": error.status},
        ),
    )


# --- actions ----------------------------------------------------------------------------------------


def act(svc: Services, user: User, name: str, action: Action) -> VmRecord:
    """start | stop (deallocate) | restart | delete: decided on the record as ARM shows it now."""
    record = refresh(svc, owned(svc, user, name))
    plan = plan_action(record, action)
    if isinstance(plan, Refusal):
        raise Problem(plan.status, "Conflict", plan.detail)
    if plan is None:
        return record
    state, command = plan
    if action == "start" and not record.still_billing:
        with quota_held(svc, record.owner, svc.policy_for(record.owner), record.size):
            moved = take(svc, record, state, action)
    else:
        moved = take(svc, record, state, action)
    svc.store.add_event(
        moved.id, Event(time=utcnow(), actor=user.name, action=action, state=state, reason=f"{user.name} asked")
    )
    try:
        svc.arm.begin_action(name, command)
    except ArmError as exc:
        if action == "delete" and exc.status == 404:
            return moved
        restore(svc, moved, record.state, exc, action)
        raise from_arm(exc, f"{action} the VM") from None
    return moved


def take(svc: Services, record: VmRecord, state: VmState, action: str) -> VmRecord:
    """Move the record into the action's state, unless someone else moved it first."""
    try:
        return svc.store.update_vm(
            record.model_copy(update={"state": state, "action_at": svc.clock(), "error_code": None})
        )
    except Stale:
        raise Problem(
            409, "Conflict", f"VM '{record.name}' changed while you asked to {action} it; look again"
        ) from None


def restore(svc: Services, moved: VmRecord, state: VmState, error: ArmError, action: str) -> None:
    try:
        svc.store.update_vm(moved.model_copy(update={"state": state}))
    except Stale:
        return
    svc.store.add_event(
        moved.id,
        Event(
            time=utcnow(),
            actor="system",
            action=action,
            state=state,
            reason=f"Azure refused to {action} the VM: {error.code}",
            evidence={"code": error.code, "message": error.message, "status": error.status},
        ),
    )


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
    try:
        saved = svc.store.update_vm(snoozed)
    except Stale:
        raise Problem(409, "Conflict", f"VM '{name}' changed while you snoozed it; try again") from None
    svc.store.add_event(
        saved.id,
        Event(
            time=now,
            actor=user.name,
            action="snooze",
            state=saved.state,
            reason=f"{user.name} snoozed automatic stops for {hours:g} h",
            evidence={"snoozed_until": until.isoformat(), "keep_until": saved.keep_until.isoformat()},
        ),
    )
    return saved


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
