"""The team model behind bench/week.py: who works when, and what a VM's stop interrupts under a policy.

The week bench's figures (oracle, interruptions, the naive policies) rest on these definitions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from bench.team.machines import Machine, Rates, cpu_idle, daily_shutdown, oracle_steps, replay
from bench.team.people import STEP, STEPS_PER_DAY, Job, Person, make_team

MONDAY = datetime(2027, 6, 7, tzinfo=UTC)
WEEK = 7 * STEPS_PER_DAY


def person(present: range, jobs: tuple[Job, ...] = (), cpu: float = 2.0, steps: int = STEPS_PER_DAY) -> Person:
    """Someone in Berlin (UTC+2 in June) at their VM for the steps in `present`, typing at the end of each."""
    return Person(
        index=0,
        name="ana",
        email="ana@example.com",
        zone="Europe/Berlin",
        channel="ssh",
        size="Standard_E4s_v5",
        scheduled=False,
        start=MONDAY,
        steps=steps,
        hub_lag=timedelta(0),
        present=frozenset(present),
        computing=frozenset(),
        inputs=tuple(MONDAY + (k + 1) * STEP - timedelta(seconds=10) for k in present),
        jobs=jobs,
        cpu=(cpu,) * steps,
        network=(0.0,) * steps,
    )


def test_the_team_is_seeded_and_each_week_is_the_persons_own() -> None:
    team = make_team(12, MONDAY, WEEK, seed=7)
    again = make_team(12, MONDAY, WEEK, seed=7)
    smaller = make_team(3, MONDAY, WEEK, seed=7)
    assert [p.present for p in team] == [p.present for p in again]
    assert [p.present for p in smaller] == [p.present for p in team[:3]]
    assert {p.zone for p in team} == {"Europe/Berlin", "America/New_York", "Asia/Kolkata"}
    assert 1 <= sum(p.scheduled for p in team) < len(team)
    assert make_team(12, MONDAY, WEEK, seed=8)[0].present != team[0].present


def test_everyone_starts_on_monday_morning_and_works_daytime_with_breaks() -> None:
    for p in make_team(12, MONDAY, WEEK, seed=7):
        first = p.local(p.first_step)
        assert first.weekday() == 0 and time(7, 30) <= first.time() <= time(10, 30), (p.name, first)
        assert all(time(7, 30) <= p.local(k).time() <= time(23, 30) for k in p.present), p.name
        monday = [k for k in p.present if p.local(k).date() == first.date() and p.local(k).hour < 20]
        assert max(monday) - min(monday) + 1 > len(monday), "a lunch break at least"
        assert 20 <= len(p.present) / 12 <= 50, "hours at the VM in a week"


def test_the_agent_sees_ssh_input_only_while_logged_in_and_jupyter_with_the_hubs_lag() -> None:
    ana = person(range(100, 110))
    left = ana.at(110)
    assert ana.reported_input(left)["ssh"] == (left - timedelta(seconds=10)).isoformat()
    assert ana.reported_input(left + timedelta(hours=3)) == {"ssh": None, "jupyter": None, "rstudio": None}
    bea = replace(ana, channel="jupyter", hub_lag=timedelta(minutes=10))
    assert bea.reported_input(left)["jupyter"] == (left - timedelta(minutes=10, seconds=10)).isoformat()
    assert bea.reported_input(left + timedelta(hours=3))["jupyter"] == (left - timedelta(seconds=10)).isoformat()


def test_a_stop_interrupts_a_session_or_a_job_and_kills_the_job() -> None:
    machine = Machine(person(range(100, 110), jobs=(Job(108, 140),)))
    machine.start(100)
    for k in range(100, 105):
        machine.run(k)
    during = machine.stop(105, "time-limit")
    assert (during.in_session, during.job, during.busy) == (True, False, True)

    machine.start(105)
    for k in range(105, 120):
        machine.run(k)
    after = machine.stop(120, "idle")
    assert (after.in_session, after.job, after.busy) == (False, True, True), "the job ran at 90 % CPU"
    machine.start(130)
    assert machine.run(130)[0] < 5, "a killed job does not come back"
    assert [s.step for s in machine.interruptions()] == [105, 120]


def test_leaving_and_arriving_are_not_interrupted() -> None:
    machine = Machine(person(range(100, 110)))
    machine.start(100)
    for k in range(100, 110):
        machine.run(k)
    assert not machine.stop(110, "idle").interrupted, "they left as it stopped"

    arriving = Machine(person(range(100, 110)))
    arriving.start(90)
    for k in range(90, 100):
        arriving.run(k)
    assert not arriving.stop(100, "idle").interrupted, "they arrive just after the pass"


def test_the_oracle_runs_sessions_and_jobs_and_always_on_runs_from_the_create() -> None:
    ana = person(range(100, 110), jobs=(Job(108, 130),))
    assert oracle_steps(ana) == 30
    always = replay(ana, lambda machine, step: False, "never")
    assert (always.created, always.running_steps) == (100, STEPS_PER_DAY - 100)
    assert Rates(compute=1.2, disk=0.06).cost(12, 24) == pytest.approx(1.2 + 0.12)


def test_a_daily_shutdown_stops_at_19_local_and_interrupts_whoever_works_late() -> None:
    # 16:00 to 18:00 UTC is 18:00 to 20:00 in Berlin.
    late = person(range(192, 216), steps=2 * STEPS_PER_DAY)
    machine = replay(late, daily_shutdown(time(19, 0)), "19:00")
    # Started again at once, it runs until 19:00 the next day, as Azure's auto-shutdown does.
    assert [(late.local(s.step).strftime("%a %H:%M"), s.in_session) for s in machine.stops] == [
        ("Mon 19:00", True),
        ("Tue 19:00", False),
    ]
    kolkata = replace(late, zone="Asia/Kolkata", present=frozenset(range(150, 170)))
    stops = replay(kolkata, daily_shutdown(time(19, 0)), "19:00").stops
    assert [kolkata.local(s.step).strftime("%a %H:%M") for s in stops] == ["Mon 19:00", "Tue 19:00"]


def test_a_cpu_only_idle_rule_stops_a_reader_after_an_hour_and_spares_a_busy_vm() -> None:
    reader = person(range(100, 130), cpu=2.0)
    machine = replay(reader, cpu_idle(12), "cpu-idle")
    assert [(s.step, s.in_session) for s in machine.stops][:1] == [(112, True)]
    computing = person(range(100, 130), cpu=80.0)
    assert replay(computing, cpu_idle(12), "cpu-idle").stops == []
