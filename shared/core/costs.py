"""Cost accrual as pure functions: from a record's last accrual to `now`, at the allocation state it had.

Accrual is idempotent: it always runs from `cost_at` (the last accrual) to `now` and moves `cost_at`
with the total in the same write, so a failed write or a re-run never counts an hour twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shared.core import prices as pricing
from shared.core.models import VmRecord, VmState
from shared.core.observations import ObservedVm
from shared.core.prices import Prices, accrue, disk_monthly_price, hourly_price

# ARM power states in which a VM holds its hardware and bills for compute.
ALLOCATED_POWER = frozenset({"starting", "running", "stopping", "stopped", "deallocating"})
# Record states with no VM or disk left to bill.
NOTHING_TO_BILL = frozenset({VmState.DELETED, VmState.FAILED, VmState.LOST})


def month_of(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m")


def next_month_start(when: datetime) -> datetime:
    when = when.astimezone(UTC)
    if when.month == 12:
        return datetime(when.year + 1, 1, 1, tzinfo=UTC)
    return datetime(when.year, when.month + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MonthCost:
    """What one VM cost in one finished calendar month (UTC)."""

    month: str
    record_id: str
    name: str
    owner: str
    usd: float


@dataclass(frozen=True)
class Accrual:
    record: VmRecord
    closed: list[MonthCost]


def hourly_rate(record: VmRecord, prices: Prices) -> tuple[float | None, float]:
    """(compute USD per hour or None if unknown, disk USD per month) for the record's size and disk."""
    return hourly_price(prices, record.size, record.location), disk_monthly_price(
        record.os_disk_type.value, record.os_disk_gb
    )


def burn_rate(record: VmRecord, prices: Prices) -> float:
    """USD per hour now, from what was last observed."""
    if record.state in NOTHING_TO_BILL:
        return 0.0
    compute, disk = hourly_rate(record, prices)
    return pricing.burn_rate(record.power_state in ALLOCATED_POWER, compute, disk)


def accrue_record(record: VmRecord, prices: Prices, now: datetime) -> Accrual:
    """Add the cost of [cost_at, now) at the record's last observed power state; close finished months."""
    start = record.cost_at or record.created_at
    if now <= start:
        return Accrual(record, [])
    month = record.month or month_of(start)
    month_cost = record.month_cost_usd
    total = record.cost_usd
    closed: list[MonthCost] = []
    if record.state not in NOTHING_TO_BILL:
        compute, disk = hourly_rate(record, prices)
        allocated = record.power_state in ALLOCATED_POWER
        cursor = start
        while cursor < now:
            boundary = min(now, next_month_start(cursor))
            usd = accrue(cursor, boundary, allocated=allocated, compute_hourly=compute, disk_monthly=disk)
            total += usd
            month_cost += usd
            if month_of(boundary) != month:
                closed.append(MonthCost(month, record.id, record.name, record.owner, round(month_cost, 6)))
                month, month_cost = month_of(boundary), 0.0
            cursor = boundary
    elif month_of(now) != month:
        if month_cost:
            closed.append(MonthCost(month, record.id, record.name, record.owner, round(month_cost, 6)))
        month, month_cost = month_of(now), 0.0
    updated = record.model_copy(
        update={"cost_usd": total, "cost_at": now, "month": month, "month_cost_usd": month_cost}
    )
    return Accrual(updated, closed)


def accrue_observed(record: VmRecord, vm: ObservedVm | None, prices: Prices, now: datetime) -> Accrual:
    """`accrue_record`, but when ARM reports the VM in a new power state together with the moment it took hold
    (`vm.changed_at`, inside [cost_at, now)), the interval is split there: billed at the old state before it and
    at the new one after. The sweeper sees its own deallocation only at its next pass; without the split that
    pass billed the minutes in between as running. The record keeps its old power state: reconcile moves it."""
    start = record.cost_at or record.created_at
    moment = vm.changed_at if vm is not None else None
    if vm is None or vm.power_state in (None, record.power_state) or moment is None or not start < moment < now:
        return accrue_record(record, prices, now)
    before = accrue_record(record, prices, moment)
    after = accrue_record(before.record.model_copy(update={"power_state": vm.power_state}), prices, now)
    return Accrual(after.record.model_copy(update={"power_state": record.power_state}), before.closed + after.closed)


def owner_month_to_date(records: list[VmRecord], month: str) -> dict[str, float]:
    """Each owner's cost so far this month, over live records and tombstones."""
    totals: dict[str, float] = {}
    for record in records:
        if record.month == month:
            totals[record.owner] = totals.get(record.owner, 0.0) + record.month_cost_usd
    return totals


def month_costs(records: list[VmRecord], finished: list[MonthCost], month: str) -> list[MonthCost]:
    """Per-VM cost of `month`: the records still counting it plus the rows already closed for it."""
    rows = {(c.record_id): c for c in finished if c.month == month}
    for record in records:
        if record.month == month and record.id not in rows:
            rows[record.id] = MonthCost(month, record.id, record.name, record.owner, record.month_cost_usd)
    return sorted(rows.values(), key=lambda c: (c.owner, c.name))


COST_FIELDS = ("cost_usd", "cost_at", "month", "month_cost_usd")


def carry_cost(before: VmRecord, after: VmRecord, prices: Prices, now: datetime) -> Accrual:
    """`after` with its cost accrued up to `now` at the power state `before` had.

    Every write that may change `power_state` goes through this, so an interval is always billed at the
    state that held during it, whoever observed the change (a GET, an action or the sweeper).
    """
    accrual = accrue_record(before, prices, now)
    costs = {name: getattr(accrual.record, name) for name in COST_FIELDS}
    return Accrual(after.model_copy(update=costs), accrual.closed)
