"""Cost accrual: compute while allocated, disk always, split at month ends, never counted twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.core.costs import accrue_observed, accrue_record, month_costs, owner_month_to_date
from shared.core.models import VmState
from shared.core.observations import ObservedVm
from shared.core.prices import HOURS_PER_MONTH, disk_monthly_price
from tests.unit.test_lifecycle import record

PRICES = {("Standard_E4s_v5", "eastus"): 0.25}
DISK_HOURLY = disk_monthly_price("Premium_LRS", 256) / HOURS_PER_MONTH


def test_running_hours_bill_compute_and_disk() -> None:
    start = datetime(2026, 11, 10, tzinfo=UTC)
    vm = record(VmState.RUNNING, power_state="running", cost_at=start)
    accrued = accrue_record(vm, PRICES, start + timedelta(hours=2)).record
    assert accrued.cost_usd == pytest.approx(2 * (0.25 + DISK_HOURLY))
    assert accrued.cost_at == start + timedelta(hours=2)


def test_deallocated_hours_bill_the_disk_only() -> None:
    start = datetime(2026, 11, 10, tzinfo=UTC)
    vm = record(VmState.STOPPED, power_state="deallocated", cost_at=start)
    assert accrue_record(vm, PRICES, start + timedelta(hours=10)).record.cost_usd == pytest.approx(10 * DISK_HOURLY)


def test_accrual_is_idempotent_for_the_same_now() -> None:
    start = datetime(2026, 11, 10, tzinfo=UTC)
    now = start + timedelta(hours=3)
    once = accrue_record(record(VmState.RUNNING, power_state="running", cost_at=start), PRICES, now).record
    twice = accrue_record(once, PRICES, now).record
    assert twice.cost_usd == once.cost_usd


def test_a_power_change_arm_dates_is_billed_from_that_moment() -> None:
    """Deallocated 1 h into a 5 h interval: 1 h at the running rate, 4 h of disk, whenever the change is seen;
    the record keeps its old power state for reconcile to move."""
    start = datetime(2026, 11, 10, tzinfo=UTC)
    vm = record(VmState.RUNNING, power_state="running", cost_at=start)
    seen = ObservedVm("vm1", "Succeeded", "deallocated", changed_at=start + timedelta(hours=1))
    accrued = accrue_observed(vm, seen, PRICES, start + timedelta(hours=5)).record
    assert accrued.cost_usd == pytest.approx(1 * 0.25 + 5 * DISK_HOURLY)
    assert (accrued.cost_at, accrued.power_state) == (start + timedelta(hours=5), "running")


@pytest.mark.parametrize(
    ("power", "changed_after"),
    [
        ("running", timedelta(hours=1)),  # no change of power: a later operation (a restart, an update)
        ("deallocated", None),  # no time in the instance view
        ("deallocated", timedelta(hours=-1)),  # before cost_at: already billed
        ("deallocated", timedelta(hours=6)),  # after now (clocks differ)
    ],
)
def test_without_a_dated_change_inside_the_interval_the_old_state_bills_it_all(
    power: str, changed_after: timedelta | None
) -> None:
    start = datetime(2026, 11, 10, tzinfo=UTC)
    vm = record(VmState.RUNNING, power_state="running", cost_at=start)
    seen = ObservedVm("vm1", "Succeeded", power, changed_at=start + changed_after if changed_after else None)
    now = start + timedelta(hours=5)
    assert accrue_observed(vm, seen, PRICES, now) == accrue_record(vm, PRICES, now)
    assert accrue_observed(vm, None, PRICES, now) == accrue_record(vm, PRICES, now)


def test_a_month_end_closes_the_month_and_starts_the_next() -> None:
    start = datetime(2026, 11, 30, 22, tzinfo=UTC)
    vm = record(VmState.RUNNING, power_state="running", cost_at=start, month="2026-11")
    accrual = accrue_record(vm, PRICES, datetime(2026, 12, 1, 3, tzinfo=UTC))
    hourly = 0.25 + DISK_HOURLY
    assert [(c.month, c.usd) for c in accrual.closed] == [("2026-11", pytest.approx(2 * hourly))]
    assert accrual.record.month == "2026-12"
    assert accrual.record.month_cost_usd == pytest.approx(3 * hourly)
    assert accrual.record.cost_usd == pytest.approx(5 * hourly)
    this_month = month_costs([accrual.record], accrual.closed, "2026-12")
    assert [c.usd for c in this_month] == [pytest.approx(3 * hourly)]
    assert month_costs([accrual.record], accrual.closed, "2026-11")[0].usd == pytest.approx(2 * hourly)


def test_deleted_vms_stop_billing_but_their_month_still_counts_for_the_owner() -> None:
    start = datetime(2026, 11, 10, tzinfo=UTC)
    gone = record(VmState.DELETED, cost_at=start, month="2026-11", month_cost_usd=7.5, cost_usd=7.5)
    assert accrue_record(gone, PRICES, start + timedelta(hours=5)).record.cost_usd == 7.5
    assert owner_month_to_date([gone], "2026-11") == {"ana@example.com": 7.5}


def test_a_spent_monthly_budget_refuses_new_vms() -> None:
    from shared.core.policy import check_quota, usage
    from tests.unit.test_decide import POLICY

    spent = record(VmState.DELETED, month="2026-11", month_cost_usd=600.0)
    current = usage([spent], {"Standard_E4s_v5": 4}, "2026-11")
    assert current.vms == 0 and current.month_usd == 600.0
    refusal = check_quota(current, 4, POLICY)
    assert refusal is not None and "monthly budget" in refusal
    assert check_quota(usage([spent], {}, "2026-12"), 4, POLICY) is None
