"""A team's week, person by person, on a grid of 5-minute steps: step k covers [start + 5k min, start + 5(k+1) min).

Seeded and pure: the same seed gives the same week, and each person's week depends only on the seed and their
place in the team. Each person works in their own time zone: workdays with an arrival, meetings and a lunch away
from the VM, a departure, sometimes a long job left running after it, sometimes a late evening; now and then a
session at the weekend. While present they either compute (CPU busy) or read and type (CPU near zero).

What the activity agent would see (docs/activity-agent.md): an SSH user's terminal input only while they type,
and nothing once they have logged out; a JupyterHub user's open browser tab as activity all the time they are
present, as JupyterHub records it, trailing by the hub's update lag, and kept by the hub after they leave.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

STEP = timedelta(minutes=5)
STEP_HOURS = STEP / timedelta(hours=1)
STEPS_PER_DAY = 288

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata")
NAMES = (
    "ana", "bea", "chen", "dev", "eli", "fatima", "gus", "hana", "ivan", "jo", "kiran", "lea",
    "mo", "nina", "omar", "priya", "quinn", "raj", "sara", "tom", "uma", "vik", "wen", "yara",
)  # fmt: skip
SIZES = ("Standard_E4s_v5", "Standard_E8s_v5", "Standard_D8s_v5", "Standard_D4s_v5", "Standard_E16s_v5")
MAX_PEOPLE = len(NAMES)

# How the team behaves (chances are per day, lengths in minutes).
SCHEDULED_SHARE = 0.25  # VMs created with a schedule (working hours); the others run on the policy's defaults
DAY_OFF = 0.05  # a workday not worked (never the first Monday: everyone creates their VM then)
MEETINGS = (0, 1, 1, 2)  # meetings a workday, away from the VM
MEETING_MINUTES = (30, 30, 45, 60)
LUNCH_MINUTES = (30, 45, 45, 60, 60, 75, 90)
LONG_JOB = 0.3  # a workday ends with a job left running
LONG_JOB_MINUTES = (60, 300)  # how long it runs, from its start shortly before the person leaves
LATE_EVENING = 0.15  # an evening session on a workday
WEEKEND_SESSION = 0.2  # a session on a weekend day
WEEKEND_MINUTES = (45, 60, 90, 120)
COMPUTE_SHARE = 0.3  # of the stretches of a session, those spent computing
READ_MINUTES = 25  # longest stretch of reading or thinking without a keystroke (SSH)
HUB_LAG_MINUTES = 10  # JupyterHub's last_activity trails by up to one proxy poll and one server report
SSH_LOGOUT = timedelta(hours=2)  # an SSH user away longer than this has logged out (no session in `who`)

# Guest load (CPU percent, network-in bytes a minute).
COMPUTE_CPU = (60.0, 95.0)
QUIET_CPU = (1.0, 3.0)  # reading, typing, a notebook waiting for its user
AWAY_CPU = (0.3, 1.5)  # the image's own services
JOB_CPU = 90.0
COMPUTE_NETWORK = 5e6
QUIET_NETWORK = {"ssh": 5e4, "jupyter": 2e5}
AWAY_NETWORK = 1e4
JOB_NETWORK = 1e6

Channel = Literal["ssh", "jupyter"]


@dataclass(frozen=True)
class Job:
    """A long job the person leaves running: steps [start, end)."""

    start: int
    end: int


@dataclass(frozen=True)
class Person:
    index: int
    name: str
    email: str
    zone: str
    channel: Channel
    size: str
    scheduled: bool
    start: datetime
    steps: int
    hub_lag: timedelta
    present: frozenset[int]
    computing: frozenset[int]
    inputs: tuple[datetime, ...]
    jobs: tuple[Job, ...]
    cpu: tuple[float, ...]
    network: tuple[float, ...]

    @property
    def vm(self) -> str:
        return f"{self.name}-dsvm"

    @property
    def first_step(self) -> int:
        return min(self.present)

    def at(self, step: int) -> datetime:
        return self.start + step * STEP

    def local(self, step: int) -> datetime:
        return self.at(step).astimezone(ZoneInfo(self.zone))

    def in_session(self, step: int) -> bool:
        """Working at the VM both before and after the moment `step` begins (a stop then interrupts them)."""
        return step - 1 in self.present and step in self.present

    def job_steps(self) -> set[int]:
        return {k for job in self.jobs for k in range(job.start, min(job.end, self.steps))}

    def needs(self) -> set[int]:
        """The steps the VM is needed in: the person's sessions and their jobs (what an oracle would run)."""
        return set(self.present) | self.job_steps()

    def last_input(self, at: datetime) -> datetime | None:
        found = bisect.bisect_right(self.inputs, at)
        return self.inputs[found - 1] if found else None

    def reported_input(self, at: datetime) -> dict[str, str | None]:
        """`last_input` as the agent would report it at `at`: on this person's channel only."""
        seen: datetime | None
        if self.channel == "ssh":
            seen = self.last_input(at)
            if seen is not None and at - seen > SSH_LOGOUT:
                seen = None
        else:
            seen = self.last_input(at - self.hub_lag)
        report: dict[str, str | None] = {"ssh": None, "jupyter": None, "rstudio": None}
        report[self.channel] = seen.isoformat() if seen is not None else None
        return report


def _five(minutes: float) -> int:
    return int(round(minutes / 5) * 5)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _minus(span: tuple[int, int], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    parts, cursor = [], span[0]
    for begin, end in sorted(holes):
        if begin > cursor:
            parts.append((cursor, begin))
        cursor = max(cursor, end)
    if cursor < span[1]:
        parts.append((cursor, span[1]))
    return parts


def _workday(rng: random.Random) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(sessions, jobs) of one workday, in minutes of the local day."""
    arrive = _five(_clamp(rng.gauss(9 * 60, 35), 7 * 60 + 30, 10 * 60 + 30))
    lunch = _five(rng.uniform(12 * 60, 13 * 60))
    lunch_end = lunch + rng.choice(LUNCH_MINUTES)
    leave = _five(_clamp(rng.gauss(17 * 60 + 30, 40), lunch_end + 120, 19 * 60 + 30))
    away = [(lunch, lunch_end)]
    for _ in range(rng.choice(MEETINGS)):
        length = rng.choice(MEETING_MINUTES)
        begin = _five(rng.uniform(arrive + 30, leave - 30 - length))
        if all(begin + length + 15 <= b or begin >= e + 15 for b, e in away):
            away.append((begin, begin + length))
    sessions = _minus((arrive, leave), away)
    jobs = []
    if rng.random() < LONG_JOB:
        begin = leave - rng.choice((5, 10, 15, 20, 30))
        jobs.append((begin, begin + _five(rng.uniform(*LONG_JOB_MINUTES))))
    if rng.random() < LATE_EVENING:
        begin = _five(rng.uniform(20 * 60 + 30, 21 * 60 + 30))
        sessions.append((begin, begin + rng.choice((30, 45, 60, 90))))
    return sessions, jobs


def _weekend_day(rng: random.Random) -> list[tuple[int, int]]:
    if rng.random() >= WEEKEND_SESSION:
        return []
    begin = _five(rng.uniform(10 * 60, 16 * 60))
    return [(begin, begin + rng.choice(WEEKEND_MINUTES))]


class _Week:
    """One person's week being drawn: steps, and what happens in each."""

    def __init__(self, start: datetime, steps: int, zone: str, channel: Channel, rng: random.Random) -> None:
        self.start, self.steps, self.zone, self.channel, self.rng = start, steps, ZoneInfo(zone), channel, rng
        self.present: set[int] = set()
        self.computing: set[int] = set()
        self.inputs: list[datetime] = []
        self.jobs: list[Job] = []
        self.cpu = [rng.uniform(*AWAY_CPU) for _ in range(steps)]
        self.network = [AWAY_NETWORK] * steps

    def step(self, day: date, minute: int) -> int:
        moment = datetime.combine(day, time(0), tzinfo=self.zone) + timedelta(minutes=minute)
        return (moment - self.start) // STEP

    def days(self) -> list[date]:
        first = self.start.astimezone(self.zone).date()
        last = (self.start + self.steps * STEP).astimezone(self.zone).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def session(self, first: int, end: int) -> None:
        """Stretches of computing, typing and (SSH) reading; never two reading stretches in a row."""
        rng, k, reading = self.rng, first, False
        while k < end:
            if rng.random() < COMPUTE_SHARE:
                kind, length = "compute", rng.randint(1, 6)
            elif self.channel == "ssh" and not reading and rng.random() < 0.4:
                kind, length = "read", rng.randint(1, READ_MINUTES // 5)
            else:
                kind, length = "type", rng.randint(1, 4)
            reading = kind == "read"
            for j in range(k, min(end, k + length)):
                self.act(j, kind)
            k += length

    def act(self, k: int, kind: str) -> None:
        if not 0 <= k < self.steps:
            return
        rng = self.rng
        self.present.add(k)
        if kind == "compute":
            self.computing.add(k)
            self.cpu[k], self.network[k] = rng.uniform(*COMPUTE_CPU), COMPUTE_NETWORK
        else:
            self.cpu[k], self.network[k] = rng.uniform(*QUIET_CPU), QUIET_NETWORK[self.channel]
        step_end = self.start + (k + 1) * STEP
        if self.channel == "jupyter":
            # The tab's websocket traffic reaches the proxy every few seconds while it is open.
            self.inputs.append(step_end - timedelta(seconds=rng.randint(1, 30)))
        elif kind == "type" or (kind == "compute" and rng.random() < 0.5):
            self.inputs.append(step_end - timedelta(seconds=rng.randint(1, 120)))


def make_person(index: int, start: datetime, steps: int, seed: int, scheduled: bool) -> Person:
    rng = random.Random(f"{seed}:{index}")
    name = NAMES[index]
    zone = ZONES[index % len(ZONES)]
    channel: Channel = rng.choice(("ssh", "jupyter"))
    size = rng.choice(SIZES)
    lag = timedelta(minutes=rng.randint(0, HUB_LAG_MINUTES))
    week = _Week(start, steps, zone, channel, rng)
    days = week.days()
    monday = next(day for day in days if day.weekday() == 0)
    for day in days:
        if day < monday:
            continue  # the VM is created on the first Monday
        if day.weekday() < 5:
            sessions, jobs = _workday(rng)
            if day != monday and rng.random() < DAY_OFF:
                continue
        else:
            sessions, jobs = _weekend_day(rng), []
        for begin, end in sessions:
            week.session(week.step(day, begin), week.step(day, end))
        week.jobs += [Job(week.step(day, begin), week.step(day, end)) for begin, end in jobs]
    return Person(
        index=index,
        name=name,
        email=f"{name}@example.com",
        zone=zone,
        channel=channel,
        size=size,
        scheduled=scheduled,
        start=start,
        steps=steps,
        hub_lag=lag,
        present=frozenset(week.present),
        computing=frozenset(week.computing),
        inputs=tuple(sorted(week.inputs)),
        jobs=tuple(j for j in week.jobs if 0 <= j.start < steps),
        cpu=tuple(week.cpu),
        network=tuple(week.network),
    )


def make_team(size: int, start: datetime, steps: int, seed: int) -> list[Person]:
    """`size` people (at most MAX_PEOPLE), a quarter of them (at least one) with a schedule on their VM."""
    if not 1 <= size <= MAX_PEOPLE:
        raise ValueError(f"a team has 1 to {MAX_PEOPLE} people")
    scheduled = set(random.Random(seed).sample(range(size), max(1, round(size * SCHEDULED_SHARE))))
    return [make_person(i, start, steps, seed, i in scheduled) for i in range(size)]
