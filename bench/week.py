"""A simulated team week on the local stack (issue 12, item 5). Prints JSON; exits 1 when a checked target is missed.

The stack runs on free ports (tables, queue, the ARM simulator with the instant profile and throttling off, the
API and the queue worker), all of it in the simulator's time: the API and the worker read the simulator's clock
(DSVM_CLOCK_URL), which stands still (speed 0) and only moves when this script moves it. The sweeper runs here,
on the same clock (shared.clock.SimulatorClock), at the product's cadence: one pass every 5 simulated minutes,
with its webhook pointed at a local receiver that records every warning and announcement.

The team (bench/team/people.py: seeded, people in three time zones) creates its VMs through the API on Monday
morning, most on the policy's defaults, some with a schedule. Each step (5 minutes): the clock moves, the
sweeper passes, then the people act, as the sweeper's pass left things:
- a warning that reaches a person at their VM makes them snooze as it says; a person away does not react;
- a person at their VM starts it if it is stopped (POST start, then GET until it runs, as `dsvm start` does);
- the activity agent of each running VM reports the last step (last input on its person's channel, kernels,
  load) with the VM's own agent token, read from the customData the create gave the VM;
- the guest's CPU and network load for the coming step goes to the simulator (`/_sim/load`).
Actions that need the new moment (a create, a start, a snooze) happen one simulated second after the pass.

Reported: spend (the records' cost_usd) against always-on and an oracle, efficacy; stops by rule; stops that
interrupted a work session or a running job, per person; unwarned stops of busy VMs; stops without an explaining
`deallocate` event; and the same week under two naive policies computed from the model.
Targets (checked when --days is 7 or more): efficacy >= 0.90 and at most one interruption per person per week.
Invariants (checked at any size): no stop without its event, no unwarned stop of a busy VM.

    .venv/bin/python bench/week.py [--people 12] [--days 7] [--seed 20270607] [--start 2027-06-07]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.team.machines import (  # noqa: E402
    IDLE_WINDOW_STEPS,
    Machine,
    Rates,
    Stop,
    cpu_idle,
    daily_shutdown,
    oracle_steps,
    replay,
)
from bench.team.people import MAX_PEOPLE, STEP, STEP_HOURS, STEPS_PER_DAY, Person, make_team  # noqa: E402
from shared.azure.arm import Arm  # noqa: E402
from shared.azure.queue import WorkQueue  # noqa: E402
from shared.azure.tables import Stale, Store  # noqa: E402
from shared.azure.webhook import Webhook  # noqa: E402
from shared.clock import RESYNC_SECONDS, SimulatorClock  # noqa: E402
from shared.core.observations import ArmError  # noqa: E402
from shared.core.prices import vm_burn_rate  # noqa: E402
from shared.operations import known_prices  # noqa: E402
from shared.services import Services  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.sweeper import ACTOR, sweep  # noqa: E402
from tests.api.test_activity import installed_agent_config  # noqa: E402
from tests.api.test_lifecycle import body  # noqa: E402
from tests.api.test_soak import act, recount  # noqa: E402
from tests.conftest import SIM_DEFAULTS, WORKER_ENV, issue  # noqa: E402
from tests.support.polling import wait_for_state  # noqa: E402
from tools.devstack import Stack  # noqa: E402

# A Monday in a month without a daylight-saving change in any of the team's zones; the week stays in one month.
DEFAULT_START = date(2027, 6, 7)
MAX_DAYS = 28
# Past the resync interval of every process's SimulatorClock, so all of them see a moved clock.
CLOCK_SETTLE = RESYNC_SECONDS + 0.03
# People act this long after the sweeper's pass (a stop and a restart are two moments in ARM's history).
REACTION = timedelta(seconds=1)
# Loads older than this are dropped from what is sent to the simulator (longer than any idle window).
LOAD_MEMORY = timedelta(hours=3)
SNOOZE = re.compile(r'/snooze \{"hours": (\d+)\}')
WARNING = re.compile(r"^VM '([^']+)'")
ANNOUNCEMENT = re.compile(r"^(\S+) \(.*\) was deallocated")
POOL = 8
TARGET_EFFICACY = 0.90
TARGET_INTERRUPTIONS_PER_WEEK = 1


class Receiver:
    """The team's chat: a webhook that keeps every message it is sent."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                text = str(json.loads(self.rfile.read(length) or b"{}").get("text", ""))
                with receiver._lock:
                    receiver.messages.append(text)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self._read = 0

    def new(self) -> list[str]:
        with self._lock:
            fresh, self._read = self.messages[self._read :], len(self.messages)
        return fresh

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Member:
    """A person, their VM as the model follows it, and how they reach the API."""

    person: Person
    machine: Machine
    api: httpx.Client
    agent: httpx.Client | None = None
    vcpus: int = 1
    loads: list[tuple[int, float, float]] = field(default_factory=list)
    snoozes: int = 0


@dataclass
class Delivered:
    step: int
    vm: str
    text: str


class Week:
    """The stack, the clock, the sweeper and the team, stepped together."""

    def __init__(self, stack: Stack, start: datetime, people: list[Person], receiver: Receiver) -> None:
        self.stack, self.start, self.receiver = stack, start, receiver
        self.sim = httpx.Client(base_url=f"{stack.arm_url}/_sim", verify=str(stack.arm_ca), timeout=60)
        env = {**stack.app_env(), "DSVM_CLOCK_URL": f"{stack.arm_url}/_sim/clock"}
        settings = Settings.model_validate(env)
        clock = SimulatorClock(env["DSVM_CLOCK_URL"], str(stack.arm_ca))
        store = Store.from_settings(settings, clock)
        store.ensure_tables()
        self.svc = Services(settings, store, Arm(settings, patient=True), WorkQueue(settings), clock)
        self.notifier = Webhook(receiver.url)
        self.members = [
            Member(
                p, Machine(p), httpx.Client(base_url=stack.api_url, headers=bearer(issue(store, p.email)), timeout=60)
            )
            for p in people
        ]
        self.by_vm = {m.person.vm: m for m in self.members}
        sizes = self.members[0].api.get("/sizes").raise_for_status().json()["value"]
        self.vcpus: dict[str, int] = {s["name"]: s["vcpus"] for s in sizes}
        self.pool = ThreadPoolExecutor(max_workers=POOL)
        self.moment = start
        self.sweeps: list[dict[str, Any]] = []
        self.sweeps_failed = 0
        self.delivered: list[Delivered] = []

    # --- time ---

    def move_to(self, moment: datetime) -> None:
        if moment > self.moment:
            self.sim.post("/clock", json={"advance_seconds": (moment - self.moment).total_seconds()}).raise_for_status()
            self.moment = moment
            time.sleep(CLOCK_SETTLE)

    def at(self, step: int) -> datetime:
        return self.start + step * STEP

    # --- one step ---

    def step(self, k: int) -> None:
        self.move_to(self.at(k))
        try:
            report = sweep(self.svc, self.notifier)
        except (ArmError, Stale) as exc:  # as the timer does: the next pass picks up
            self.sweeps_failed += 1
            print(f"sweep at step {k} failed: {exc}", file=sys.stderr)
        else:
            self.sweeps.append(
                {"step": k, "bumps": report.bumps, "warnings": report.warnings, "actions": report.actions}
            )
            for action in report.actions:
                member = self.by_vm.get(str(action["vm"]))
                if member is not None and action["ok"]:
                    member.machine.stop(k, str(action["rule"]))
        messages = [self.deliver(k, text) for text in self.receiver.new()]
        snoozing = [
            (m, int(found.group(1)))
            for d in messages
            if (m := self.by_vm.get(d.vm)) is not None
            and k in m.person.present
            and (found := SNOOZE.search(d.text)) is not None
        ]
        starting = [m for m in self.members if k in m.person.present and not m.machine.running]
        # The agents report the step that just ended, from the VMs that ran through it.
        reporting = [m for m in self.members if m.machine.running]
        if snoozing or starting:
            self.move_to(self.at(k) + REACTION)
        list(self.pool.map(lambda pair: self.snooze(*pair), snoozing))
        list(self.pool.map(lambda m: self.start_vm(m, k), starting))
        list(self.pool.map(lambda m: self.report_activity(m, k), reporting))
        for member in self.members:
            cpu, network, _ = member.machine.run(k)
            member.loads.append((k, cpu, network))
        list(self.pool.map(lambda m: self.send_load(m, k), self.members))

    def deliver(self, k: int, text: str) -> Delivered:
        found = WARNING.match(text) or ANNOUNCEMENT.match(text)
        delivered = Delivered(k, found.group(1) if found else "", text)
        self.delivered.append(delivered)
        return delivered

    def snooze(self, member: Member, hours: int) -> None:
        act(member.api, "POST", f"/vms/{member.person.vm}/snooze", json={"hours": hours}).raise_for_status()
        member.snoozes += 1

    def start_vm(self, member: Member, k: int) -> None:
        person, api = member.person, member.api
        if member.machine.created is None:
            request = body(person.vm, size=person.size)
            if person.scheduled:
                request["schedule"] = {"timezone": person.zone}
            answer = act(api, "POST", "/vms", json=request, headers={"Idempotency-Key": f"week-{person.vm}"})
            if answer.status_code != 202:
                raise RuntimeError(f"create of {person.vm}: {answer.status_code} {answer.text}")
            wait_for_state(api, person.vm, "Running", timeout=120)
            token = installed_agent_config(self.sim, person.vm)["token"]
            member.agent = httpx.Client(base_url=self.stack.api_url, headers=bearer(token), timeout=60)
            member.vcpus = self.vcpus[person.size]
        else:
            wait_running(api, person.vm)
        member.machine.start(k)

    def report_activity(self, member: Member, k: int) -> None:
        person, machine = member.person, member.machine
        assert member.agent is not None
        report = {
            "last_input": person.reported_input(self.at(k)),
            "busy": {
                "kernels": machine.last_kernels,
                "gpu_percent": None,
                "load1": round(member.vcpus * machine.last_cpu / 100, 2),
            },
        }
        answer = member.agent.post(f"/vms/{person.vm}/activity", json=report)
        if answer.status_code != 204:
            raise RuntimeError(f"activity of {person.vm}: {answer.status_code} {answer.text}")

    def send_load(self, member: Member, k: int) -> None:
        """The guest's load from this step on, with enough history for the longest idle window."""
        if member.machine.created is None:
            return
        loads = member.loads
        if len(loads) > 1 and loads[-1][1:] == loads[-2][1:]:
            return
        cutoff = k - LOAD_MEMORY // STEP
        kept = [entry for entry in loads if entry[0] >= cutoff]
        before = [entry for entry in loads if entry[0] < cutoff]
        base = before[-1] if before else (0, 0.0, 0.0)
        history = [
            {"from": self.at(step).isoformat(), "cpu_percent": cpu, "network_in_bytes_per_min": network}
            for step, cpu, network in kept
        ]
        load = {"cpu_percent": base[1], "network_in_bytes_per_min": base[2], "history": history}
        self.sim.put(f"/load/{member.person.vm}", json=load).raise_for_status()
        member.loads = kept if len(kept) == len(loads) else [base, *kept]

    def close(self) -> None:
        self.pool.shutdown()
        for member in self.members:
            member.api.close()
            if member.agent is not None:
                member.agent.close()
        self.sim.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_running(api: httpx.Client, name: str, timeout: float = 60.0) -> None:
    """`dsvm start`: start a stopped VM and GET it until it runs (a stop still settling is waited out first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.get(f"/vms/{name}").raise_for_status().json()["state"]
        if state == "Running":
            return
        if state == "Stopped":
            answer = act(api, "POST", f"/vms/{name}/start")
            if answer.status_code != 202:
                raise RuntimeError(f"start of {name}: {answer.status_code} {answer.text}")
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not start within {timeout:g} s")


# --- what the week shows ---


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rates_of(view: dict[str, Any], prices: Any) -> Rates:
    shape = (prices, view["size"], view["location"], view["os_disk_type"], view["os_disk_gb"])
    allocated, _ = vm_burn_rate(*shape, allocated=True)
    parked, _ = vm_burn_rate(*shape, allocated=False)
    return Rates(compute=allocated - parked, disk=parked)


def deallocations(life: dict[str, Any]) -> list[tuple[datetime, datetime]]:
    """(the run's start, the deallocation) for each time ARM's power history shows the VM deallocated."""
    stopped = ("deallocating", "deallocated")
    found = []
    run_at, power = parse_time(life["created"]), None
    for change in sorted(life["transitions"], key=lambda t: t["at"]):
        if change["power"] == "running":
            run_at = parse_time(change["at"])
        elif change["power"] in stopped and power is not None and power not in stopped:
            found.append((run_at, parse_time(change["at"])))
        power = change["power"]
    return found


def stops_without_event(lives: list[dict[str, Any]], trails: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every deallocation ARM saw without the sweeper's `deallocate` event, with rule and evidence, in the same
    run (between the VM's last start and the deallocation)."""
    missing = []
    for life in lives:
        explained = [
            parse_time(e["time"])
            for e in trails[life["name"]]
            if e["action"] == "deallocate"
            and e["actor"] == ACTOR
            and e["evidence"].get("rule")
            and len(e["evidence"]) > 1
        ]
        for run_at, at in deallocations(life):
            if not any(run_at <= when <= at for when in explained):
                missing.append({"vm": life["name"], "at": at.isoformat()})
    return missing


def describe_stop(week: Week, member: Member, stop: Stop, trail: list[dict[str, Any]]) -> dict[str, Any]:
    """A stop as the person lived it (the model) and as the sweeper saw it (its event's evidence)."""
    person = member.person
    zone = ZoneInfo(person.zone)
    last_input = person.last_input(person.at(stop.step))
    event = next(
        (e for e in trail if e["action"] == "deallocate" and parse_time(e["time"]) == person.at(stop.step)), None
    )
    return {
        "person": person.name,
        "vm": person.vm,
        "channel": person.channel,
        "at_local": f"{person.local(stop.step):%a %H:%M} {person.zone}",
        "rule": stop.rule,
        "in_session": stop.in_session,
        "job_running": stop.job,
        "busy": stop.busy,
        "run_started_local": f"{person.local(stop.since):%a %H:%M}",
        "last_input_local": f"{last_input.astimezone(zone):%a %H:%M:%S}" if last_input else None,
        "warnings_in_run_local": [
            f"{person.local(d.step):%a %H:%M}"
            for d in week.delivered
            if d.vm == person.vm and stop.since < d.step < stop.step and WARNING.match(d.text)
        ],
        "sweeper_saw": event["evidence"].get("activity") if event else None,
        "reason": event["reason"] if event else None,
    }


def spend(cost: float, always_on: float, oracle: float) -> dict[str, float]:
    avoidable = always_on - oracle
    return {
        "usd": round(cost, 2),
        "vs_always_on": round(cost / always_on, 3),
        "vs_oracle": round(cost / oracle, 3),
        "efficacy": round((always_on - cost) / avoidable, 3) if avoidable > 0 else 1.0,
    }


def naive(week: Week, rates: dict[str, Rates], always_on: float, oracle: float, days: float) -> dict[str, Any]:
    """The same team under two simple policies, replayed on the model (no warnings, no activity)."""
    policies = {
        "stop_at_19_local": (daily_shutdown(day_time(19, 0)), "19:00"),
        "stop_after_60_min_low_cpu": (cpu_idle(IDLE_WINDOW_STEPS), "cpu-idle"),
    }
    out = {}
    for name, (policy, rule) in policies.items():
        cost, interruptions = 0.0, Counter[str]()
        for member in week.members:
            person = member.person
            machine = replay(person, policy, rule)
            assert machine.created is not None
            cost += rates[person.vm].cost(machine.running_steps, person.steps - machine.created)
            interruptions[person.name] = len(machine.interruptions())
        out[name] = {
            **spend(cost, always_on, oracle),
            "interruptions": sum(interruptions.values()),
            "max_interruptions_per_person_per_week": round(max(interruptions.values()) * 7 / days, 2),
        }
    return out


def finish(week: Week, steps: int, days: float) -> dict[str, Any]:
    week.move_to(week.at(steps))
    views = {m.person.vm: m.api.get(f"/vms/{m.person.vm}").raise_for_status().json() for m in week.members}
    trails = {
        m.person.vm: m.api.get(f"/vms/{m.person.vm}/events", params={"limit": 1000}).raise_for_status().json()["value"]
        for m in week.members
    }
    if any(len(trail) >= 1000 for trail in trails.values()):
        raise RuntimeError("an audit trail is longer than the events API returns; the checks would miss events")
    lives = [life for life in week.sim.get("/history").raise_for_status().json()["vms"] if life["name"] in views]
    prices = known_prices(week.svc)
    rates = {vm: rates_of(view, prices) for vm, view in views.items()}

    actual = sum(view["cost_usd"] for view in views.values())
    always_on = oracle = 0.0
    hours: dict[str, float] = {"always_on": 0.0, "oracle": 0.0, "control_plane": 0.0}
    for member in week.members:
        person, machine = member.person, member.machine
        assert machine.created is not None
        existing = steps - machine.created
        always_on += rates[person.vm].cost(existing, existing)
        oracle += rates[person.vm].cost(oracle_steps(person), existing)
        hours["always_on"] += existing * STEP_HOURS
        hours["oracle"] += oracle_steps(person) * STEP_HOURS
        hours["control_plane"] += machine.running_steps * STEP_HOURS

    stops_by_rule = Counter(str(a["rule"]) for s in week.sweeps for a in s["actions"] if a["ok"])
    unwarned = []
    interruptions: dict[str, list[dict[str, Any]]] = {}
    for member in week.members:
        vm = member.person.vm
        rule_of = {e["reason"]: e["evidence"].get("rule") for e in trails[vm] if e["action"] == "warn"}
        for stop in member.machine.stops:
            warned = any(
                d.vm == vm and stop.since < d.step < stop.step and rule_of.get(d.text) == stop.rule
                for d in week.delivered
            )
            if stop.busy and not warned:
                unwarned.append(describe_stop(week, member, stop, trails[vm]))
        interruptions[member.person.name] = [
            describe_stop(week, member, s, trails[vm]) for s in member.machine.interruptions()
        ]
    missing = stops_without_event(lives, trails)
    worst = max(len(found) for found in interruptions.values()) * 7 / days
    efficacy = spend(actual, always_on, oracle)["efficacy"]

    checks = {
        "every stop has its deallocate event with rule and evidence": not missing,
        "no unwarned stop of a busy VM": not unwarned,
    }
    if days >= 7:
        checks[f"efficacy >= {TARGET_EFFICACY}"] = efficacy >= TARGET_EFFICACY
        checks[f"at most {TARGET_INTERRUPTIONS_PER_WEEK} interruption per person per week"] = (
            worst <= TARGET_INTERRUPTIONS_PER_WEEK
        )
    warnings = [d for d in week.delivered if WARNING.match(d.text)]
    return {
        "spend": {
            "control_plane": spend(actual, always_on, oracle),
            "always_on_usd": round(always_on, 2),
            "oracle_usd": round(oracle, 2),
            # The product's accounting against ARM's own power history, priced the same way (soak's recount).
            "recount_from_arm_history_usd": round(recount({"vms": lives}, dict(prices), week.moment), 2),
        },
        "compute_hours": {k: round(v, 1) for k, v in hours.items()},
        "stops_by_rule": dict(stops_by_rule),
        "stops_seen_by_arm": sum(len(deallocations(life)) for life in lives),
        "warnings_delivered": len(warnings),
        "announcements_delivered": len(week.delivered) - len(warnings),
        "snoozes": sum(m.snoozes for m in week.members),
        "time_limits_moved_for_active_owners": sum(s["bumps"] for s in week.sweeps),
        "sweeps": len(week.sweeps),
        "sweeps_failed": week.sweeps_failed,
        "interruptions": {
            "total": sum(len(found) for found in interruptions.values()),
            "max_per_person_per_week": round(worst, 2),
            "per_person": {name: len(found) for name, found in interruptions.items()},
            "by_rule": dict(Counter(s["rule"] for found in interruptions.values() for s in found)),
            "stops": [s for found in interruptions.values() for s in found],
        },
        "unwarned_stops_of_busy_vms": unwarned,
        "stops_without_event": missing,
        "naive_policies": naive(week, rates, always_on, oracle, days),
        "team": [
            {
                "person": m.person.name,
                "zone": m.person.zone,
                "channel": m.person.channel,
                "size": m.person.size,
                "schedule": m.person.scheduled,
                "session_hours": round(len(m.person.present) * STEP_HOURS, 1),
                "job_hours": round(len(m.person.job_steps()) * STEP_HOURS, 1),
                "starts": m.machine.starts,
                "snoozes": m.snoozes,
                "stops": len(m.machine.stops),
                "cost_usd": round(views[m.person.vm]["cost_usd"], 2),
            }
            for m in week.members
        ],
        "checks": checks,
    }


def monday(text: str) -> date:
    day = date.fromisoformat(text)
    if day.weekday() != 0:
        raise argparse.ArgumentTypeError(f"{text} is not a Monday")
    return day


def bounded(low: float, high: float, kind: type[int] | type[float] = int) -> Any:
    def parse(text: str) -> float:
        value = kind(text)
        if not low <= value <= high:  # NaN fails this too
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=bounded(1, MAX_PEOPLE), default=12, help=f"team size (1-{MAX_PEOPLE})")
    parser.add_argument(
        "--days", type=bounded(0.25, MAX_DAYS, float), default=7.0, help=f"days simulated (0.25-{MAX_DAYS})"
    )
    parser.add_argument("--seed", type=int, default=20270607)
    parser.add_argument("--start", type=monday, default=DEFAULT_START, help="the Monday the week starts (00:00 UTC)")
    args = parser.parse_args()
    start = datetime.combine(args.start, day_time(0), tzinfo=UTC)
    steps = round(args.days * STEPS_PER_DAY)
    people = make_team(args.people, start, steps, args.seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as state:
        stack = Stack.on_free_ports(Path(state))
        receiver = Receiver()
        week: Week | None = None
        try:
            stack.start_tables(in_memory=True)
            stack.start_queue(in_memory=True)
            stack.start_arm()
            sim = httpx.Client(base_url=f"{stack.arm_url}/_sim", verify=str(stack.arm_ca), timeout=60)
            sim.patch("/config", json=SIM_DEFAULTS).raise_for_status()
            # The clock stands still but for the moves this script makes: every process sees the same moments.
            sim.post("/clock", json={"set": start.isoformat(), "speed": 0}).raise_for_status()
            sim.close()
            on_sim_clock = {"DSVM_CLOCK_URL": f"{stack.arm_url}/_sim/clock"}
            stack.start_api(on_sim_clock)
            stack.start_worker("--every", "0.1", "--retry-seconds", "1", env={**WORKER_ENV, **on_sim_clock})
            week = Week(stack, start, people, receiver)
            for k in range(steps):
                week.step(k)
                if (k + 1) % STEPS_PER_DAY == 0:
                    print(
                        f"day {(k + 1) // STEPS_PER_DAY} of {args.days:g}: {time.monotonic() - began:.0f} s",
                        file=sys.stderr,
                    )
            result = finish(week, steps, args.days)
        finally:
            if week is not None:
                week.close()
            receiver.close()
            stack.stop()
    wall = time.monotonic() - began
    figures = {
        "command": " ".join([".venv/bin/python bench/week.py", *sys.argv[1:]]),
        "people": args.people,
        "days": args.days,
        "seed": args.seed,
        "start": start.isoformat(),
        "steps": steps,
        "wall_s": round(wall, 1),
        **result,
    }
    print(json.dumps(figures, indent=2))
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
