"""When the sweeper will next stop a VM, and why: `next_stop`, from the same triggers the sweeper decides on
(shared.core.decide), so the forecast and the sweeper never disagree.

The forecast covers the rules a clock can foresee: budget (the VM's own and its owner's month, at the burn
rate of now), expiry, time limit, schedule, and a stopped VM still allocated. Idle stops depend on use and
are foreseen only once warned of: then at the warning's due time, if the VM stays idle until then. Warned stops happen at their trigger if the warning went out before it, else `lead` after
the warning (see decide); the sweeper acts at its first pass at or after `due_at`. When two stops fall
due between two passes, that pass names the one of higher precedence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.core.costs import burn_rate, next_month_start
from shared.core.decide import (
    ACTIONABLE_POWER,
    ACTIONABLE_STATES,
    IDLE_LEAD,
    PRECEDENCE,
    Rule,
    expiry_hint,
    expiry_trigger,
    idle_warned_at,
    last_started,
    schedule_trigger,
    snooze_hint,
    snoozed,
    stop_due,
    time_limit_trigger,
    warning_key,
)
from shared.core.models import NextStop, VmRecord
from shared.core.policy import Policy
from shared.core.prices import Prices

# A budget further away than this at today's burn rate is no forecast (and keeps date arithmetic in range).
HORIZON = timedelta(days=366)


@dataclass(frozen=True)
class OwnerSpend:
    """What the VM's owner has spent this month (UTC) and spends per hour now, over all their VMs."""

    month_usd: float
    burn_usd_per_hour: float


def _when_spent(left_usd: float, burn: float, now: datetime) -> datetime | None:
    """When `left_usd` more is spent at `burn` USD an hour (now if it already is); None beyond the horizon."""
    if left_usd <= 0:
        return now
    if burn <= 0 or left_usd / burn > HORIZON.total_seconds() / 3600:
        return None
    return now + timedelta(hours=left_usd / burn)


def _owner_budget_due(owner: OwnerSpend, allowed: float, now: datetime) -> datetime | None:
    due = _when_spent(allowed - owner.month_usd, owner.burn_usd_per_hour, now)
    month_end = next_month_start(now)
    if due is None or due < month_end:
        return due
    # The month closes first and the owner's spend starts again from nothing.
    again = _when_spent(allowed, owner.burn_usd_per_hour, month_end)
    return again if again is not None and again < next_month_start(month_end) else None


def next_stop(
    record: VmRecord, now: datetime, prices: Prices, policy: Policy, owner: OwnerSpend, lead: timedelta
) -> NextStop | None:
    """The next stop the sweeper will make of this VM if nothing changes, or None.

    `record` is accrued up to `now`; `policy` is its owner's effective policy (monthly budget, snooze bound);
    `lead` is NOTIFY_LEAD_MINUTES.
    """
    if record.state not in ACTIONABLE_STATES or record.power_state not in ACTIONABLE_POWER:
        return None
    now = now.astimezone(UTC)
    since = last_started(record)
    snoozed_until = record.snoozed_until.astimezone(UTC) if record.snoozed_until else None
    due: dict[Rule, datetime] = {}

    def warned(rule: Rule, trigger: datetime | None) -> None:
        if trigger is not None:
            due[rule] = stop_due(trigger, record.warned.get(warning_key(rule, trigger)), now, lead)

    own_budget = None
    if record.budget_usd is not None:
        own_budget = _when_spent(record.budget_usd - record.cost_usd, burn_rate(record, prices), now)
    owner_budget = _owner_budget_due(owner, policy.monthly_budget_usd, now)
    budgets = [b for b in (own_budget, owner_budget) if b is not None]
    if budgets:
        due["budget"] = min(budgets)
    if record.expires_at is not None:
        warned("expiry", expiry_trigger(record.expires_at, since))
    warned("time-limit", time_limit_trigger(record.keep_until, since, snoozed_until))
    if record.schedule is not None:
        warned("schedule", schedule_trigger(record.schedule, now, since, snoozed_until))
    if record.power_state == "stopped":
        warned("stopped-allocated", since)
    elif record.idle.enabled and not snoozed(record, now):
        window = timedelta(minutes=record.idle.window_minutes)
        if (idle_warned := idle_warned_at(record, since, now, window)) is not None:
            due["idle"] = idle_warned + min(lead, IDLE_LEAD)
    if not due:
        return None
    rule = min(due, key=lambda r: (due[r], PRECEDENCE.index(r)))
    if rule == "budget":
        how = (
            f"A budget stop cannot be snoozed; raise its budget_usd (PATCH /api/vms/{record.name})."
            if due[rule] == own_budget
            else f"{record.owner}'s VMs reach the monthly budget of ${policy.monthly_budget_usd:g}; "
            "an admin may raise it (PUT /api/policy/users/{user}). It cannot be snoozed."
        )
    elif rule == "expiry":
        how = expiry_hint(record.name)
    elif rule == "idle":
        how = f"It looks idle: any use keeps it (input, a running job). {snooze_hint(record.name, policy)}"
    elif rule == "stopped-allocated":
        how = f"Its compute still bills: stop it (POST /api/vms/{record.name}/stop) or start it again."
    else:
        how = snooze_hint(record.name, policy)
    return NextStop(rule=rule, due_at=due[rule], snoozable=rule in ("time-limit", "schedule", "idle"), how=how)
