"""The sweeper: one pass = reconcile → accrue cost → decide → warn → act. The I/O shell around decide.py.

Reads per pass: one Table query for every record, one paged ARM list of the workload group, batch metrics
for the running VMs (50 a call), and the price cache. Every record is written at most once per pass
(in transactions of up to 100), before any ARM call it implies, so a crash mid-sweep leaves records the
next pass finishes: a VM marked Stopping whose deallocate never reached ARM is sent again by reconcile.

`python -m shared.sweeper` runs one pass with the app's settings (`make sweep`); `--every N` loops.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.azure.arm import METRICS_BATCH
from shared.azure.retail_prices import fetch_prices
from shared.azure.tables import Stale
from shared.azure.webhook import Webhook
from shared.core.costs import MonthCost, accrue_observed, month_of
from shared.core.decide import Action, Decisions, StopWarning, decide, prune_warned
from shared.core.lifecycle import Command, reconcile
from shared.core.models import Event, LastStop, VmRecord, VmState
from shared.core.observations import ArmError, Sample, child_names, ours
from shared.core.prices import Prices
from shared.operations import enqueue, forget_prices, known_prices, owner_month_costs
from shared.services import ServiceHolder, Services

log = logging.getLogger(__name__)

ACTOR = "system:sweeper"
# Metric intervals: 5 min keeps a sweep of thousands light; short idle windows need 1 min to be "covered"
# (decide allows gaps of at most a quarter of the window).
METRICS_INTERVAL = timedelta(minutes=5)
FINE_METRICS_INTERVAL = timedelta(minutes=1)
PRICES_MAX_AGE = timedelta(days=1)
# A record whose only change is its running cost is written at most this often.
COST_WRITE_EVERY = timedelta(hours=1)
# Below ARM's write refill (10/s per principal) and Compute's deallocate limit (500/min per subscription).
ARM_WRITES_PER_SECOND = 7.0
ARM_WRITE_BURST = 50
ACT_CONCURRENCY = 8
# How long a pass keeps retrying throttled deallocations before leaving them to the next pass.
ACT_BUDGET = timedelta(minutes=10)


@dataclass
class SweepReport:
    started_at: datetime
    dry_run: bool
    records: int = 0
    # Live records by state after this pass's reconcile.
    states: dict[str, int] = field(default_factory=dict)
    observed: int = 0
    state_changes: int = 0
    cost_accrued_usd: float = 0.0
    metrics_calls: int = 0
    warnings: int = 0
    webhooks_failed: int = 0
    # Time limits moved because their owners were active.
    bumps: int = 0
    actions: list[dict[str, Any]] = field(default_factory=list)
    actions_failed: int = 0
    stale_records: int = 0
    # Seconds spent in each phase: read, reconcile, metrics, decide, persist, act.
    seconds: dict[str, float] = field(default_factory=dict)
    finished_at: datetime | None = None

    def lap(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[phase] = round(now - since, 3)
        return now

    def as_dict(self) -> dict[str, Any]:
        report = asdict(self)
        report["started_at"] = self.started_at.isoformat()
        report["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        report["cost_accrued_usd"] = round(self.cost_accrued_usd, 4)
        return report

    def summary(self) -> str:
        """The pass in a few lines for a person (`make sweep`)."""
        states = ", ".join(f"{state} {count}" for state, count in sorted(self.states.items())) or "none"
        lines = [
            f"Sweep at {self.started_at:%Y-%m-%d %H:%M:%S} UTC{' (dry run: nothing acted on)' if self.dry_run else ''}",
            f"  VMs: {self.records} ({states}); ARM reported {self.observed}",
        ]
        by_rule: dict[str, list[str]] = {}
        for action in self.actions:
            by_rule.setdefault(str(action["rule"]), []).append(
                str(action["vm"]) + ("" if action["ok"] else " (failed)")
            )
        stops = "; ".join(f"{rule}: {', '.join(names)}" for rule, names in sorted(by_rule.items()))
        lines.append(f"  Stopped: {len(self.actions)}" + (f" ({stops})" if stops else ""))
        failed = f" ({self.webhooks_failed} not delivered)" if self.webhooks_failed else ""
        lines.append(f"  Warnings sent: {self.warnings}{failed}; time limits moved for active owners: {self.bumps}")
        lines.append(f"  Cost accrued: ${self.cost_accrued_usd:.2f}")
        phases = ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in self.seconds.items())
        lines.append(f"  Took {sum(self.seconds.values()):.1f} s ({phases})")
        return "\n".join(lines)


class Pacer:
    """A token bucket shared by the acting threads, so the pass stays under ARM's write limits."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second, self.burst = per_second, burst
        self._tokens, self._at = float(burst), time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                delay = (1 - self._tokens) / self.per_second
            time.sleep(delay)


def current_prices(svc: Services, now: datetime, sizes: Iterable[str]) -> Prices:
    """The known prices, refreshed from the Retail Prices API once a day (cached in Table storage).

    When the API fails, the cache (even a stale one) or the shipped catalogue stands, with a warning.
    """
    region = svc.settings.location
    cached = svc.store.get_prices(region)
    if svc.settings.prices_url and (cached is None or now - cached[1] >= PRICES_MAX_AGE):
        try:
            fetched = fetch_prices(svc.settings.prices_url, sorted(set(sizes)), region)
        except Exception as exc:
            source = "the cached prices" if cached else "the shipped catalogue"
            log.warning("price refresh failed (%s); using %s", type(exc).__name__, source)
        else:
            hourly = {size: usd for (size, where), usd in fetched.items() if where == region}
            if hourly:
                svc.store.put_prices(region, hourly, now)
                forget_prices()
    return known_prices(svc)


def gather_metrics(
    svc: Services, names: list[str], window: timedelta, interval: timedelta, now: datetime, report: SweepReport
) -> dict[str, list[Sample]]:
    chunks = [names[i : i + METRICS_BATCH] for i in range(0, len(names), METRICS_BATCH)]
    metrics: dict[str, list[Sample]] = {}

    def one(chunk: list[str]) -> dict[str, list[Sample]]:
        try:
            return svc.arm.vm_metrics(chunk, now - window, now, interval)
        except ArmError as exc:
            # No samples means "not idle": a metrics outage never stops a VM.
            log.warning("metrics unavailable for %d VMs: %s", len(chunk), exc)
            return {}

    with ThreadPoolExecutor(max_workers=4) as pool:
        for part in pool.map(one, chunks):
            metrics.update(part)
    report.metrics_calls += len(chunks)
    return metrics


def owner_budgets(svc: Services) -> dict[str, float]:
    return {user: o.monthly_budget_usd for user, o in svc.overrides().items() if o.monthly_budget_usd is not None}


def worth_writing(before: VmRecord, after: VmRecord, now: datetime) -> bool:
    """Write a record when anything but its running cost changed, a month closed, or hourly.

    Accrual always runs from the stored cost_at, so skipping a cost-only write loses nothing: the next
    write covers the whole interval, at the power state that held throughout it (any change is written).
    Readers add the cost since cost_at themselves (costs.accrue_record).
    """
    if after == before:
        return False
    cost_only = {"cost_usd", "cost_at", "month_cost_usd", "warned", "pending_events"}
    if after.model_dump(exclude=cost_only) != before.model_dump(exclude=cost_only):
        return True
    if after.warned != prune_warned(before.warned, now) or after.pending_events != before.pending_events:
        return True
    return before.cost_at is None or now - before.cost_at >= COST_WRITE_EVERY


def warning_event(warning: StopWarning, now: datetime, sent: bool) -> Event:
    return Event(
        time=now,
        actor=ACTOR,
        action="warn",
        reason=warning.text,
        evidence={"rule": warning.rule, "due_at": warning.due_at.isoformat(), "webhook": sent},
    )


def sweep(svc: Services, notifier: Webhook, now: datetime | None = None, *, dry_run: bool | None = None) -> SweepReport:
    now = now or svc.clock()
    dry_run = svc.settings.dry_run if dry_run is None else dry_run
    report = SweepReport(started_at=now, dry_run=dry_run)
    lap = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        listing = pool.submit(svc.arm.list_vms)
        every = svc.store.list_vms(include_deleted=True)
        observed = listing.result()
    live = [r for r in every if r.state != VmState.DELETED]
    report.records, report.observed = len(live), len(observed)
    # Only this record's own NSG counts (its tag names the record); the list is read only when a VM is missing.
    nsgs = svc.arm.nsg_owners() if any(ours(r.id, observed.get(r.name)) is None for r in live) else {}
    prices = current_prices(svc, now, {r.size for r in live} | set(svc.team_policy()[0].allowed_sizes))
    lap = report.lap("read", lap)

    # Reconcile and accrue: what each record becomes, what it owes ARM, which months it closed.
    updated: dict[str, VmRecord] = {}
    events: dict[str, list[Event]] = {}
    owed: dict[str, list[Command]] = {}
    closed: list[MonthCost] = []
    for record in every:
        accrual = accrue_observed(record, ours(record.id, observed.get(record.name)), prices, now)
        closed += accrual.closed
        report.cost_accrued_usd += accrual.record.cost_usd - record.cost_usd
        if record.state == VmState.DELETED:
            if accrual.closed:
                updated[record.name] = accrual.record
            continue
        nsg_present = nsgs.get(child_names(record.name).nsg) == record.id
        step = reconcile(accrual.record, observed.get(record.name), nsg_present, now)
        updated[record.name] = step.record.model_copy(update={"warned": prune_warned(step.record.warned, now)})
        events[record.name] = list(step.events)
        owed[record.name] = list(step.commands)
        report.state_changes += sum(1 for e in step.events if e.action == "reconcile")

    lap = report.lap("reconcile", lap)

    # Decide on what ARM reports now.
    policy = svc.team_policy()[0]
    candidates = [r for r in updated.values() if r.state in (VmState.RUNNING, VmState.STOPPED)]
    # What ARM reports of VMs that are ours: a VM whose tag names another record is never acted on.
    mine = {r.name: vm for r in candidates if (vm := ours(r.id, observed.get(r.name))) is not None}
    idle_names = [
        r.name for r in candidates if r.idle.enabled and r.name in mine and mine[r.name].power_state == "running"
    ]
    windows = [timedelta(minutes=updated[n].idle.window_minutes) for n in idle_names]
    metrics: dict[str, list[Sample]] = {}
    if windows:
        interval = METRICS_INTERVAL if min(windows) >= 4 * METRICS_INTERVAL else FINE_METRICS_INTERVAL
        metrics = gather_metrics(svc, idle_names, max(windows), interval, now, report)
    lap = report.lap("metrics", lap)
    month = month_of(now)
    owner_costs = owner_month_costs(svc, list(updated.values()) + [r for r in every if r.name not in updated], month)
    activity = svc.store.list_activity()
    decisions: Decisions = decide(
        candidates,
        mine,
        metrics,
        prices,
        owner_costs,
        policy,
        now,
        owner_budgets=owner_budgets(svc),
        lead=timedelta(minutes=svc.settings.notify_lead_minutes),
        activity=activity,
        # Only a reported load needs the sizes' vCPUs (one ARM call per process, so not when nothing reports).
        vcpus=svc.arm.size_vcpus() if activity else {},
    )
    lap = report.lap("decide", lap)

    # A time limit moved because its owner is active: the new deadline and why (not in a dry run).
    for bump in decisions.bumps:
        report.bumps += 1
        if dry_run:
            continue
        updated[bump.vm] = updated[bump.vm].model_copy(update={"keep_until": bump.keep_until})
        events[bump.vm].append(Event(time=now, actor=ACTOR, action="bump", reason=bump.reason, evidence=bump.evidence))

    # Warn: record every warning (whether or not the webhook took it) so it is neither repeated nor waited on.
    # A dry run's warnings are kept under their own keys: the first live pass still warns before it acts.
    for warning in decisions.warnings:
        sent = False if dry_run else notifier.send(warning.text)
        report.warnings += 1
        report.webhooks_failed += int(bool(notifier.url) and not dry_run and not sent)
        record = updated[warning.vm]
        key = f"dry-run:{warning.key}" if dry_run else warning.key
        if key in record.warned:
            continue
        updated[warning.vm] = record.model_copy(update={"warned": {**record.warned, key: now}})
        events[warning.vm].append(warning_event(warning, now, sent))

    acting: list[Action] = []
    for action in decisions.actions:
        record = updated[action.vm]
        if dry_run:
            key = f"dry-run:{action.rule}:{now.date().isoformat()}"
            if key not in record.warned:
                updated[action.vm] = record.model_copy(update={"warned": {**record.warned, key: now}})
                events[action.vm].append(
                    Event(
                        time=now,
                        actor=ACTOR,
                        action="dry-run",
                        reason=f"would deallocate: {action.reason}",
                        evidence=action.evidence,
                    )
                )
            continue
        stop = LastStop(at=now, by="sweeper", rule=action.rule, reason=action.reason)
        updated[action.vm] = record.model_copy(update={"state": VmState.STOPPING, "action_at": now, "last_stop": stop})
        events[action.vm].append(
            Event(
                time=now,
                actor=ACTOR,
                action="deallocate",
                state=VmState.STOPPING,
                reason=action.reason,
                evidence={"rule": action.rule, **action.evidence},
            )
        )
        owed[action.vm] = [c for c in owed[action.vm] if c != "deallocate"]
        acting.append(action)

    # Persist, then act only on what was saved: a record someone changed meanwhile waits for the next pass.
    # Events travel inside the records they explain (the outbox, see operations.save): an earlier writer's
    # unflushed events are written first, this pass's are written into the record and then flushed.
    for month_cost in closed:
        svc.store.put_month_cost(
            month_cost.month, month_cost.record_id, month_cost.name, month_cost.owner, month_cost.usd
        )
    report.states = dict(Counter(r.state.value for r in updated.values() if r.state != VmState.DELETED))
    before = {r.name: r for r in every}
    for name, record in updated.items():
        if before[name].pending_events:
            svc.store.add_events(record.id, before[name].pending_events)
        updated[name] = record.model_copy(update={"pending_events": events.get(name, [])})
    changed = [r for name, r in updated.items() if worth_writing(before[name], r, now)]
    saved, stale = svc.store.update_many(changed)
    report.stale_records = len(stale)
    for record in saved.values():
        if record.pending_events:
            svc.store.add_events(record.id, record.pending_events)
    lap = report.lap("persist", lap)
    # The ARM calls reconcile owes go to the queue worker (it checks each VM is ours before acting).
    for name, commands in owed.items():
        if name in saved:
            for command in commands:
                enqueue(svc, saved[name], command)
    deallocations = [a for a in acting if a.vm in saved]
    act(svc, notifier, deallocations, report)
    report.lap("act", lap)
    report.finished_at = svc.clock()
    return report


def act(svc: Services, notifier: Webhook, deallocations: list[Action], report: SweepReport) -> None:
    """Deallocate: paced below the write limits, a few at a time, waiting out 429s. Every stop is announced
    to its owner when it happens (warned stops were also warned ahead)."""
    pacer = Pacer(ARM_WRITES_PER_SECOND, ARM_WRITE_BURST)
    deadline = time.monotonic() + ACT_BUDGET.total_seconds()

    def deallocate(action: Action) -> bool:
        while True:
            pacer.wait()
            try:
                svc.arm.begin_action(action.vm, "deallocate")
                return True
            except ArmError as exc:
                if exc.status == 429 and time.monotonic() < deadline:
                    time.sleep(exc.retry_after or 5)
                    continue
                # The record stays Stopping; reconcile sends the deallocate again after its grace.
                log.warning("deallocate %s failed: %s", action.vm, exc)
                return False

    with ThreadPoolExecutor(max_workers=ACT_CONCURRENCY) as pool:
        results = list(pool.map(deallocate, deallocations))
    for action, ok in zip(deallocations, results, strict=True):
        report.actions.append({"vm": action.vm, "owner": action.owner, "rule": action.rule, "ok": ok})
        report.actions_failed += int(not ok)
        if ok:
            notifier.send(f"{action.vm} ({action.owner}) was deallocated: {action.reason}")


def main(argv: list[str] | None = None, clock: Callable[[], datetime] | None = None) -> int:
    import json

    from shared.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m shared.sweeper", description=__doc__)
    parser.add_argument("--every", type=float, default=0, help="loop, one pass every N seconds (0: once)")
    parser.add_argument("--dry-run", action="store_true", help="record decisions without acting")
    parser.add_argument("--json", action="store_true", help="print each pass's report as one JSON line")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The Azure SDKs log every request's headers at INFO (~500 lines a pass); keep their warnings and errors.
    logging.getLogger("azure").setLevel(logging.WARNING)
    settings = get_settings()
    svc = ServiceHolder(settings, patient=True)()
    notifier = Webhook(settings.notify_webhook_url)
    while True:
        try:
            report = sweep(svc, notifier, dry_run=args.dry_run or None)
            print(json.dumps(report.as_dict()) if args.json else report.summary(), flush=True)
        except (ArmError, Stale) as exc:
            log.warning("sweep failed, the next pass picks up: %s", exc)
        if not args.every:
            return 0
        time.sleep(args.every)


if __name__ == "__main__":
    raise SystemExit(main())
