"""The sweeper's decisions as a pure function of (records, what ARM reports, metrics, prices, policy, now).

No I/O and no clock here: the sweeper gathers the inputs, calls `decide`, sends the warnings, records them
in `record.warned` under their `key`, and deallocates (never powers off) the VMs in `actions`.

Which VMs: a record in Running or Stopped whose VM ARM reports as `running` or `stopped` (stopped = still
allocated and billing). Transitional records (Creating, Starting, Stopping, Restarting, Deleting) and
Deleted, Failed and Lost ones are never acted on.

The rules, in precedence order (one action per VM; the reason names the winning rule, the evidence lists
the others that also applied):

1. budget (hard; snooze does not lift it): the VM's accrued cost >= its budget_usd, or its owner's
   month-to-date cost >= their monthly budget. Announced when it happens.
2. expiry (hard; snooze does not lift it): the record's expires_at has passed. Warned.
3. time-limit: keep_until (the run's start + ttl_hours) has passed (snooze moves keep_until; an active snooze
   also holds it off).
4. schedule: off-hours in the owner's time zone (see shared.core.schedule); an active snooze holds it off.
5. idle: idle rule on, the VM has been running for at least the window, samples cover the whole window
   without gaps, every CPU max < cpu_percent and total network in < network_in_mb (1 MB = 10^6 bytes).
   Unknown is not idle: no samples or a gap means no action. An active snooze holds it off. Warned
   IDLE_LEAD ahead (at most `lead`; with lead 0 the warning and stop coincide) and acted on at the first pass
   that long after the warning if the VM is still idle (the window then covers the warning: idle ever
   since); a VM used meanwhile is not stopped, and its next idle spell is warned afresh, as is one after a
   start or a snooze. Announced when it happens. With a fresh activity report (shared.core.activity; at most REPORT_FRESH old) the VM
   must also show no user input on any channel within the window and no busy signal; a VM whose agent
   does not report (or stopped reporting) is judged on CPU and network alone.
6. stopped-allocated: the VM is stopped but still allocated (compute still bills). Not snoozable.

Warned stops (expiry, time-limit, schedule, stopped-allocated) are announced `lead` before they happen:
- each has a trigger, the moment it becomes due, and a stable warning key f"{rule}:{trigger UTC isoformat}";
- a warning is produced once the trigger is within `lead` of now and its key is not in `record.warned`;
- if the warning was sent before the trigger, the stop happens at the first sweep at or after the trigger
  (however late: 3 minutes or 3 hours); if it was sent only at or after the trigger (the VM was started in
  off-hours or after its time limit, the sweeper was down, or a stopped VM was just found), the stop
  happens at the first sweep at least `lead` after the warning. So every warned stop gives the owner a
  warning and, when it was late, `lead` minutes to snooze. With lead 0 the warning and stop coincide.
- the trigger moves with the VM's life, so each run is warned afresh: a schedule trigger is the latest of
  when off-hours began, when the VM last started, and when its snooze ends; a time-limit trigger is the
  latest of keep_until, the last start and the snooze end; an expiry trigger is the later of expires_at and
  the last start; a stopped-allocated trigger is when the VM was last seen changing power state.
So a VM its owner starts during off-hours is warned at the next sweep and stopped `lead` later unless
snoozed; the warning says how to snooze.

Activity moves the time limit: when a time-limit stop is due or would be warned of, and a fresh report shows
user input within `policy.activity_grace_minutes` or a busy signal (a job left running: kernels executing, a
busy GPU, load), the deadline is moved instead (a Bump: keep_until = now + `policy.activity_bump_hours`, never
past expires_at nor the run's start + max_ttl_hours); when it can move no further, the time limit applies as
usual. A runaway job therefore keeps its VM at most until expires_at, start + max_ttl_hours or its budget. Budget, expiry and schedule stops are never moved by activity (a
schedule stop is warned; snoozing is how to work late). Every action's evidence names the activity seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared.core.activity import Activity
from shared.core.lifecycle import Refusal
from shared.core.models import Schedule, VmRecord, VmState
from shared.core.observations import ObservedVm, Sample
from shared.core.policy import Policy
from shared.core.prices import Prices, vm_burn_rate
from shared.core.schedule import describe, is_off_hours, last_stop_time, next_stop_time

Rule = Literal["budget", "expiry", "time-limit", "schedule", "idle", "stopped-allocated"]
PRECEDENCE: tuple[Rule, ...] = ("budget", "expiry", "time-limit", "schedule", "idle", "stopped-allocated")
ACTIONABLE_STATES = frozenset({VmState.RUNNING, VmState.STOPPED})
ACTIONABLE_POWER = frozenset({"running", "stopped"})
DEFAULT_LEAD = timedelta(minutes=30)
# Snooze the warnings suggest (bounded by policy.max_snooze_hours).
SUGGESTED_SNOOZE_HOURS = 2
# Largest gap between metric samples (and at either end of the idle window) that still counts as covered;
# smaller for short windows (a quarter of the window).
MAX_SAMPLE_GAP = timedelta(minutes=10)
BYTES_PER_MB = 1_000_000
# At most this many samples are copied into an action's evidence (the most recent).
EVIDENCE_SAMPLES = 120
# An idle stop is warned this long ahead (never longer than NOTIFY_LEAD_MINUTES): it happens at the first pass
# at least this long after the warning, the next one at the default 5-minute cadence. A person still at the VM
# whom the agent cannot see (reading, thinking) gets a message to snooze or touch a key; the VM stays idle for
# one more pass at most.
IDLE_LEAD = timedelta(minutes=4)
# An activity report older than this is no evidence (agents report every 5 minutes: three missed reports).
REPORT_FRESH = timedelta(minutes=15)


@dataclass(frozen=True)
class Action:
    vm: str
    owner: str
    rule: Rule
    reason: str
    evidence: dict[str, Any]
    kind: Literal["deallocate"] = "deallocate"


@dataclass(frozen=True)
class StopWarning:
    """A stop to announce once; record `key` in `record.warned` when sent. `due_at` is when it will happen."""

    vm: str
    owner: str
    rule: Rule
    due_at: datetime
    key: str
    text: str


@dataclass(frozen=True)
class Bump:
    """A time limit moved because its owner is active: write `keep_until` and explain it."""

    vm: str
    owner: str
    keep_until: datetime
    reason: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Decisions:
    actions: list[Action] = field(default_factory=list)
    warnings: list[StopWarning] = field(default_factory=list)
    bumps: list[Bump] = field(default_factory=list)


@dataclass(frozen=True)
class _Context:
    now: datetime
    lead: timedelta
    policy: Policy
    prices: Prices
    owner_month_costs: Mapping[str, float]
    owner_budgets: Mapping[str, float]
    activity: Mapping[str, Activity]
    vcpus: Mapping[str, int]


@dataclass(frozen=True)
class _Finding:
    """One rule's verdict on one VM: act now, warn now, or neither (pending or not applicable)."""

    rule: Rule
    act: bool
    reason: str
    evidence: dict[str, Any]
    warning: StopWarning | None = None


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return _utc(moment).isoformat() if moment is not None else None


def warning_key(rule: Rule, trigger: datetime) -> str:
    return f"{rule}:{_utc(trigger).isoformat()}"


def last_started(record: VmRecord) -> datetime:
    """When the VM's current power state began (seen by reconcile), else the later of created_at and the
    last action sent to ARM (a start, for a running VM)."""
    if record.power_since is not None:
        return _utc(record.power_since)
    return _utc(max(record.created_at, record.action_at))


def _snoozed_until(record: VmRecord) -> datetime | None:
    return _utc(record.snoozed_until) if record.snoozed_until is not None else None


def snoozed(record: VmRecord, now: datetime) -> bool:
    until = _snoozed_until(record)
    return until is not None and until > now


# --- when ---


def schedule_trigger(
    schedule: Schedule, now: datetime, since: datetime, snoozed_until: datetime | None
) -> datetime | None:
    """When the schedule stop for the VM's current run is (or will be) due; None if it never is.

    Past: off-hours now, due since the latest of when they began, the VM started, and the snooze ended.
    Future: the next stop after now (or after an active snooze).
    """
    at = snoozed_until if snoozed_until is not None and snoozed_until > now else now
    if is_off_hours(schedule, at):
        began = last_stop_time(schedule, at)
        candidates = [since, *(t for t in (began, snoozed_until) if t is not None)]
        return max(t for t in candidates if t <= at)
    return next_stop_time(schedule, at)


def time_limit_trigger(keep_until: datetime, since: datetime, snoozed_until: datetime | None) -> datetime:
    return max(t for t in (_utc(keep_until), since, snoozed_until) if t is not None)


def expiry_trigger(expires_at: datetime, since: datetime) -> datetime:
    return max(_utc(expires_at), since)


def stop_due(trigger: datetime, warned_at: datetime | None, now: datetime, lead: timedelta) -> datetime:
    """When a warned stop due at `trigger` happens: at the trigger if its warning went out before it, else
    `lead` after the warning (one not sent yet goes out now)."""
    sent = _utc(warned_at) if warned_at is not None else now
    return trigger if sent < trigger else sent + lead


# --- text ---


def _when(moment: datetime, record: VmRecord) -> str:
    text = f"{_utc(moment):%Y-%m-%d %H:%M} UTC"
    if record.schedule is not None:
        zone = ZoneInfo(record.schedule.timezone)
        text = f"{moment.astimezone(zone):%a %Y-%m-%d %H:%M} {record.schedule.timezone} ({text})"
    return text


def snooze_hint(name: str, policy: Policy) -> str:
    hours = min(SUGGESTED_SNOOZE_HOURS, policy.max_snooze_hours)
    return (
        f'To keep it running, snooze it: POST /api/vms/{name}/snooze {{"hours": {hours}}} '
        f"or `dsvm snooze {name} --hours {hours}` (at most {policy.max_snooze_hours} h)."
    )


def expiry_hint(name: str) -> str:
    return f"An expiry cannot be snoozed; to keep it running, move its expires_at: PATCH /api/vms/{name}."


def _named(record: VmRecord) -> str:
    """How a warning names the VM (chat readers and the week bench match its start)."""
    return f"VM '{record.name}' ({record.size}, owner {record.owner})"


def _warning_text(record: VmRecord, rule: Rule, due_at: datetime, why: str, policy: Policy) -> str:
    head = f"{_named(record)} will be deallocated at {_when(due_at, record)}"
    if rule == "stopped-allocated":
        tail = f"Its disk is kept; `dsvm start {record.name}` brings it back."
    elif rule == "expiry":
        tail = expiry_hint(record.name)
    else:
        tail = snooze_hint(record.name, policy)
    return f"{head}: {why}. {tail}"


# --- rules ---


def _warned_stop(
    record: VmRecord, rule: Rule, trigger: datetime, why: str, ctx: _Context, extra: Mapping[str, Any] | None = None
) -> _Finding | None:
    """Act, warn, or wait on a warned stop due at `trigger` (see the module docstring)."""
    now, lead = ctx.now, ctx.lead
    if trigger - now > lead:
        return None
    key = warning_key(rule, trigger)
    sent = record.warned.get(key)
    act_at = stop_due(trigger, sent, now, lead)
    evidence = {**(extra or {}), "due_at": _iso(trigger), "warned_at": _iso(sent), "warning_key": key}
    if now >= act_at:
        return _Finding(rule, True, why, evidence)
    if sent is not None:
        return None
    text = _warning_text(record, rule, act_at, why, ctx.policy)
    return _Finding(rule, False, why, evidence, StopWarning(record.name, record.owner, rule, act_at, key, text))


def _budget(record: VmRecord, ctx: _Context) -> _Finding | None:
    spent = ctx.owner_month_costs.get(record.owner, 0.0)
    allowed = ctx.owner_budgets.get(record.owner, ctx.policy.monthly_budget_usd)
    evidence: dict[str, Any] = {
        "cost_usd": round(record.cost_usd, 4),
        "budget_usd": record.budget_usd,
        "owner_month_usd": round(spent, 4),
        "owner_budget_usd": allowed,
    }
    if record.budget_usd is not None and record.cost_usd >= record.budget_usd:
        why = f"it has cost ${record.cost_usd:.2f}, reaching its budget of ${record.budget_usd:.2f}"
        return _Finding("budget", True, why, {**evidence, "scope": "vm"})
    if spent >= allowed:
        why = f"{record.owner}'s VMs have cost ${spent:.2f} this month, reaching the monthly budget of ${allowed:.2f}"
        return _Finding("budget", True, why, {**evidence, "scope": "owner"})
    return None


def _expiry(record: VmRecord, since: datetime, ctx: _Context) -> _Finding | None:
    if record.expires_at is None:
        return None
    trigger = expiry_trigger(record.expires_at, since)
    if trigger > _utc(record.expires_at):
        why = f"it is running past its expiry ({_when(record.expires_at, record)})"
    else:
        why = f"it expires ({_when(record.expires_at, record)})"
    return _warned_stop(record, "expiry", trigger, why, ctx)


def _time_limit(record: VmRecord, since: datetime, ctx: _Context) -> _Finding | None:
    trigger = time_limit_trigger(record.keep_until, since, _snoozed_until(record))
    if trigger > _utc(record.keep_until):
        why = f"it is running past its time limit ({_when(record.keep_until, record)})"
    else:
        why = f"its time limit ends ({_when(record.keep_until, record)})"
    return _warned_stop(record, "time-limit", trigger, why, ctx)


def _schedule(record: VmRecord, since: datetime, ctx: _Context) -> _Finding | None:
    schedule = record.schedule
    if schedule is None:
        return None
    trigger = schedule_trigger(schedule, ctx.now, since, _snoozed_until(record))
    if trigger is None:
        return None
    snoozed_until = _snoozed_until(record)
    began = last_stop_time(schedule, trigger)
    if trigger == began:
        why = f"its working hours end ({describe(schedule)})"
    elif trigger == snoozed_until:
        why = f"its snooze ends outside its working hours ({describe(schedule)})"
    else:
        why = f"it is running outside its working hours ({describe(schedule)})"
    return _warned_stop(record, "schedule", trigger, why, ctx, {"off_hours_since": _iso(began)})


def idle_samples(samples: Sequence[Sample], start: datetime, end: datetime, max_gap: timedelta) -> list[Sample] | None:
    """The complete samples in [start, end], or None if they do not cover it (a gap longer than max_gap)."""
    inside = sorted(
        (
            s
            for s in samples
            if start <= _utc(s.timestamp) <= end and s.cpu_max_percent is not None and s.network_in_bytes is not None
        ),
        key=lambda s: s.timestamp,
    )
    if not inside:
        return None
    points = [start, *(_utc(s.timestamp) for s in inside), end]
    if any(b - a > max_gap for a, b in pairwise(points)):
        return None
    return inside


def fresh_activity(record: VmRecord, activity: Mapping[str, Activity], now: datetime) -> Activity | None:
    """The VM's latest activity report if it is this record's and recent enough to be evidence."""
    seen = activity.get(record.name)
    if seen is None or seen.record_id != record.id or now - _utc(seen.received_at) > REPORT_FRESH:
        return None
    return seen


def activity_evidence(seen: Activity | None, vcpus: int | None) -> dict[str, Any]:
    """What the agent reported, for an event's evidence (times and counters only)."""
    if seen is None:
        return {"reported": False}
    return {
        "reported": True,
        "reported_at": _iso(seen.received_at),
        "last_input": seen.report.last_input.model_dump(mode="json"),
        "busy": seen.busy(vcpus),
    }


def _idle(record: VmRecord, power: str, since: datetime, samples: Sequence[Sample], ctx: _Context) -> _Finding | None:
    rule, now = record.idle, ctx.now
    window = timedelta(minutes=rule.window_minutes)
    if not rule.enabled or power != "running" or snoozed(record, now) or now - since < window:
        return None
    seen = fresh_activity(record, ctx.activity, now)
    if seen is not None:
        last_input = seen.last_input()
        if (last_input is not None and _utc(last_input) >= now - window) or seen.busy(ctx.vcpus.get(record.size)):
            return None
    inside = idle_samples(samples, now - window, now, min(MAX_SAMPLE_GAP, window / 4))
    if inside is None:
        return None
    cpu = max(s.cpu_max_percent or 0.0 for s in inside)
    network_mb = sum(s.network_in_bytes or 0.0 for s in inside) / BYTES_PER_MB
    if cpu >= rule.cpu_percent or network_mb >= rule.network_in_mb:
        return None
    why = (
        f"it has been idle for {rule.window_minutes} min: CPU at most {cpu:.1f}% (threshold {rule.cpu_percent:g}%) "
        f"and {network_mb:.1f} MB in (threshold {rule.network_in_mb:g} MB)"
    )
    if seen is not None:
        why += ", with no user input on any channel and nothing busy"
    evidence = {
        "window_minutes": rule.window_minutes,
        "cpu_threshold_percent": rule.cpu_percent,
        "network_in_threshold_mb": rule.network_in_mb,
        "cpu_max_percent": cpu,
        "network_in_mb": round(network_mb, 3),
        "sample_count": len(inside),
        "samples": [[_iso(s.timestamp), s.cpu_max_percent, s.network_in_bytes] for s in inside[-EVIDENCE_SAMPLES:]],
    }
    lead = min(ctx.lead, IDLE_LEAD)
    warned_at = idle_warned_at(record, since, now, window)
    if warned_at is None and lead > timedelta(0):
        key = warning_key("idle", now)
        text = (
            f"{_named(record)} will be deallocated at the first check after "
            f"{_when(now + lead, record)} unless it is used: {why}. {snooze_hint(record.name, ctx.policy)}"
        )
        warning = StopWarning(record.name, record.owner, "idle", now + lead, key, text)
        return _Finding("idle", False, why, {**evidence, "warning_key": key}, warning)
    if warned_at is not None and now < warned_at + lead:
        return None
    return _Finding("idle", True, why, {**evidence, "warned_at": _iso(warned_at)})


def idle_warned_at(record: VmRecord, since: datetime, now: datetime, window: timedelta) -> datetime | None:
    """When this idle spell was warned of: the latest idle warning sent within the idle window (so the VM has
    been idle ever since), after the VM's last start and after its last snooze ended (a snooze answers a
    warning; idleness after it is warned afresh)."""
    after = max(now - window, since, _snoozed_until(record) or since)
    sent = [_utc(at) for key, at in record.warned.items() if key.startswith("idle:") and _utc(at) >= after]
    return max(sent, default=None)


def _stopped_allocated(record: VmRecord, power: str, since: datetime, ctx: _Context) -> _Finding | None:
    if power != "stopped":
        return None
    why = "it is stopped but still allocated, so its compute is still billed"
    return _warned_stop(record, "stopped-allocated", since, why, ctx)


# --- one VM, all VMs ---


def eligible(record: VmRecord, vm: ObservedVm | None) -> bool:
    """Only settled VMs ARM reports as running or stopped (allocated) are ever acted on."""
    return (
        record.state in ACTIONABLE_STATES
        and vm is not None
        and vm.power_state in ACTIONABLE_POWER
        and vm.provisioning_state.lower() not in ("creating", "deleting", "failed")
    )


def _base_evidence(record: VmRecord, power: str, since: datetime, ctx: _Context) -> dict[str, Any]:
    rate, known = vm_burn_rate(
        ctx.prices, record.size, record.location, record.os_disk_type.value, record.os_disk_gb, allocated=True
    )
    return {
        "state": record.state.value,
        "power_state": power,
        "size": record.size,
        "location": record.location,
        "since": _iso(since),
        "cost_usd": round(record.cost_usd, 4),
        "burn_usd_per_hour": round(rate, 4),
        "compute_price_known": known,
        "keep_until": _iso(record.keep_until),
        "expires_at": _iso(record.expires_at),
        "snoozed_until": _iso(record.snoozed_until),
        "schedule": record.schedule.model_dump(mode="json") if record.schedule else None,
        "activity": activity_evidence(fresh_activity(record, ctx.activity, ctx.now), ctx.vcpus.get(record.size)),
    }


def _bump(record: VmRecord, since: datetime, time_limit: _Finding | None, ctx: _Context) -> Bump | None:
    """Move a time limit that is due or about to be warned of while the owner is active (see the docstring)."""
    if time_limit is None:
        return None
    seen = fresh_activity(record, ctx.activity, ctx.now)
    if seen is None:
        return None
    last_input = seen.last_input()
    recent = last_input is not None and ctx.now - _utc(last_input) <= timedelta(
        minutes=ctx.policy.activity_grace_minutes
    )
    busy = seen.busy(ctx.vcpus.get(record.size))
    if not recent and not busy:
        return None
    caps = [since + timedelta(hours=ctx.policy.max_ttl_hours)]
    if record.expires_at is not None:
        caps.append(_utc(record.expires_at))
    moved = min(ctx.now + timedelta(hours=ctx.policy.activity_bump_hours), *caps)
    if moved <= time_limit_trigger(record.keep_until, since, _snoozed_until(record)):
        return None
    if recent:
        assert last_input is not None
        why = f"its owner gave input {int((ctx.now - _utc(last_input)).total_seconds() // 60)} min ago"
    else:
        why = f"it is still working ({', '.join(busy)})"
    reason = f"time limit moved to {_when(moved, record)}: {why}"
    evidence = {
        "rule": "time-limit",
        "keep_until_before": _iso(record.keep_until),
        "keep_until": _iso(moved),
        "activity": activity_evidence(seen, ctx.vcpus.get(record.size)),
    }
    return Bump(record.name, record.owner, moved, reason, evidence)


def _decide_vm(
    record: VmRecord, vm: ObservedVm | None, samples: Sequence[Sample], ctx: _Context
) -> tuple[Action | None, list[StopWarning], Bump | None]:
    if not eligible(record, vm):
        return None, [], None
    assert vm is not None and vm.power_state is not None
    power, since = vm.power_state, last_started(record)
    time_limit = _time_limit(record, since, ctx)
    bump = _bump(record, since, time_limit, ctx)
    findings = [
        f
        for f in (
            _budget(record, ctx),
            _expiry(record, since, ctx),
            None if bump is not None else time_limit,
            _schedule(record, since, ctx),
            _idle(record, power, since, samples, ctx),
            _stopped_allocated(record, power, since, ctx),
        )
        if f is not None
    ]
    acting = sorted((f for f in findings if f.act), key=lambda f: PRECEDENCE.index(f.rule))
    if not acting:
        return None, [f.warning for f in findings if f.warning is not None], bump
    chosen = acting[0]
    evidence = {
        "rule": chosen.rule,
        **_base_evidence(record, power, since, ctx),
        **chosen.evidence,
        "also": [{"rule": f.rule, "reason": f.reason} for f in acting[1:]],
    }
    reason = f"Deallocated '{record.name}' ({chosen.rule}): {chosen.reason}."
    return Action(record.name, record.owner, chosen.rule, reason, evidence), [], None


def decide(
    records: Sequence[VmRecord],
    observed: Mapping[str, ObservedVm],
    metrics: Mapping[str, Sequence[Sample]],
    prices: Prices,
    owner_month_costs: Mapping[str, float],
    policy: Policy,
    now: datetime,
    *,
    owner_budgets: Mapping[str, float] | None = None,
    lead: timedelta = DEFAULT_LEAD,
    activity: Mapping[str, Activity] | None = None,
    vcpus: Mapping[str, int] | None = None,
) -> Decisions:
    """Which VMs to deallocate now, which stops to announce and which time limits to move. Pure: see the module
    docstring for the rules.

    `owner_budgets` holds per-owner monthly budgets (policy overrides); owners not in it get
    `policy.monthly_budget_usd`. `lead` is NOTIFY_LEAD_MINUTES. `activity` is each VM's latest agent report by
    name, `vcpus` each size's vCPU count (a load is busy relative to it).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    ctx = _Context(_utc(now), lead, policy, prices, owner_month_costs, owner_budgets or {}, activity or {}, vcpus or {})
    decisions = Decisions()
    for record in records:
        action, warnings, bump = _decide_vm(record, observed.get(record.name), metrics.get(record.name, ()), ctx)
        if action is not None:
            decisions.actions.append(action)
        if bump is not None:
            decisions.bumps.append(bump)
        decisions.warnings.extend(warnings)
    return decisions


def snooze_until(record: VmRecord, hours: float, policy: Policy, now: datetime) -> datetime | Refusal:
    """Until when a snooze of `hours` from now holds automatic stops off, or why it is refused.

    Schedule, time-limit and idle stops wait until then (the caller also moves keep_until to at least
    that moment); budget stops do not.
    """
    if not hours > 0:
        return Refusal(422, "hours must be more than 0")
    if hours > policy.max_snooze_hours:
        return Refusal(422, f"at most {policy.max_snooze_hours} hours of snooze are allowed")
    if record.state in (VmState.DELETING, VmState.DELETED, VmState.FAILED, VmState.LOST):
        return Refusal(409, f"VM '{record.name}' is {record.state.value}; there is nothing to snooze")
    return _utc(now) + timedelta(hours=hours)


def prune_warned(
    warned: Mapping[str, datetime], now: datetime, keep: timedelta = timedelta(days=7)
) -> dict[str, datetime]:
    """`record.warned` without entries older than `keep`, so it does not grow forever."""
    return {key: sent for key, sent in warned.items() if _utc(now) - _utc(sent) <= keep}
