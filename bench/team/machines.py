"""What one person's VM does under a policy, as the model sees it, and what that costs.

`Machine` follows one VM step by step: whether it runs, which of its person's jobs are alive on it, and every
stop with what it interrupted. bench/week.py drives it from what the control plane does on the local stack;
`replay` drives it from a naive policy computed here (a fixed daily shutdown, a CPU-only idle rule), and
`oracle_steps` is the VM run exactly while its person needs it.

A stop at step k interrupts a work session when the person works at the VM both before and after that moment,
and a job when a job of theirs was running on the VM and was meant to go on (it dies with the VM).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time, timedelta

from bench.team.people import JOB_CPU, JOB_NETWORK, STEP, STEP_HOURS, Job, Person
from shared.core.models import IdleRule
from shared.settings import Settings

# The product's defaults: the idle rule every VM of the team keeps, and the activity grace of the policy.
IDLE_CPU_PERCENT = IdleRule().cpu_percent
IDLE_WINDOW_STEPS = timedelta(minutes=IdleRule().window_minutes) // STEP
ACTIVITY_GRACE = timedelta(minutes=Settings.model_fields["activity_grace_minutes"].default)


@dataclass(frozen=True)
class Stop:
    step: int
    rule: str
    since: int  # the step the stopped run began in
    in_session: bool
    job: bool
    # Busy just before the stop: CPU at or over the idle threshold, a busy signal, or input within the grace.
    busy: bool

    @property
    def interrupted(self) -> bool:
        return self.in_session or self.job


@dataclass
class Machine:
    person: Person
    running: bool = False
    created: int | None = None
    run_started: int | None = None
    alive: set[Job] = field(default_factory=set)
    stops: list[Stop] = field(default_factory=list)
    starts: int = 0
    running_steps: int = 0
    # Consecutive running steps with CPU under the idle threshold (for the CPU-only policy).
    low_cpu_steps: int = 0
    last_cpu: float = 0.0
    last_kernels: int = 0

    def start(self, step: int) -> None:
        if self.created is None:
            self.created = step
        self.running, self.run_started, self.low_cpu_steps = True, step, 0
        self.starts += 1

    def stop(self, step: int, rule: str) -> Stop:
        """The VM is deallocated at the moment `step` begins; the jobs on it die."""
        person = self.person
        killed = {job for job in self.alive if job.end > step}
        last_input = person.last_input(person.at(step))
        recent = last_input is not None and person.at(step) - last_input <= ACTIVITY_GRACE
        busy = self.last_cpu >= IDLE_CPU_PERCENT or self.last_kernels > 0 or recent
        assert self.run_started is not None
        stop = Stop(step, rule, self.run_started, person.in_session(step), bool(killed), busy)
        self.stops.append(stop)
        self.running, self.alive = False, set()
        return stop

    def run(self, step: int) -> tuple[float, float, int]:
        """The VM goes through `step` as it now is: jobs due start on a running VM, finished ones leave.
        Returns the guest's (CPU percent, network-in bytes a minute, kernels executing) in the step."""
        person = self.person
        self.alive = {job for job in self.alive if job.end > step}
        if not self.running:
            self.last_cpu, self.last_kernels = 0.0, 0
            return 0.0, 0.0, 0
        self.alive |= {job for job in person.jobs if job.start == step}
        cpu, network = person.cpu[step], person.network[step]
        if self.alive:
            cpu, network = max(cpu, JOB_CPU), network + JOB_NETWORK
        computing = step in person.computing or bool(self.alive)
        kernels = 1 if person.channel == "jupyter" and computing else 0
        self.running_steps += 1
        self.low_cpu_steps = self.low_cpu_steps + 1 if cpu < IDLE_CPU_PERCENT else 0
        self.last_cpu, self.last_kernels = cpu, kernels
        return cpu, network, kernels

    def interruptions(self) -> list[Stop]:
        return [s for s in self.stops if s.interrupted]


Policy = Callable[[Machine, int], bool]


def daily_shutdown(at: time) -> Policy:
    """Stop a running VM when its person's local clock reaches `at`, every day (Azure's auto-shutdown)."""
    return lambda machine, step: machine.person.local(step).time() == at


def cpu_idle(steps: int) -> Policy:
    """Stop a VM whose CPU stayed under the idle threshold for `steps` steps since it started."""
    return lambda machine, step: machine.low_cpu_steps >= steps


def replay(person: Person, policy: Policy, rule: str) -> Machine:
    """The person's week under `policy`, checked before they act at each step, as the sweeper is: they start
    the VM whenever they are at it and it is stopped."""
    machine = Machine(person)
    for step in range(person.steps):
        if machine.running and policy(machine, step):
            machine.stop(step, rule)
        if step in person.present and not machine.running:
            machine.start(step)
        machine.run(step)
    return machine


def oracle_steps(person: Person) -> int:
    """Steps an oracle runs the VM: exactly those its person needs it in."""
    return len(person.needs())


@dataclass(frozen=True)
class Rates:
    """USD an hour: compute while allocated, the disk always."""

    compute: float
    disk: float

    def cost(self, allocated_steps: float, existing_steps: float) -> float:
        return (self.compute * allocated_steps + self.disk * existing_steps) * STEP_HOURS
