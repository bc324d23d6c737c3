"""`make dev` stops cleanly however it is stopped: no process it started survives, and its ports are free.

All cases start their stacks at once (each on its own free ports) so the module costs about one start-up.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from tests.devstack.makedev import READY_LINE, DevRun, alive
from tools.devstack.stack import free_ports


def ctrl_c(run: DevRun) -> None:
    os.killpg(run.pid, signal.SIGINT)  # what the terminal does: the whole foreground process group


def sigterm_to_make(run: DevRun) -> None:
    os.kill(run.pid, signal.SIGTERM)  # make forwards it to the runner


def sigterm_to_the_group(run: DevRun) -> None:
    os.killpg(run.pid, signal.SIGTERM)  # the runner gets this one and make's forwarded one


def terminal_closed(run: DevRun) -> None:
    os.killpg(run.pid, signal.SIGHUP)


def timeout_expires(run: DevRun) -> None:
    os.kill(run.pid, signal.SIGALRM)  # run.pid is `timeout`: SIGALRM is its timer running out


def runner_killed(run: DevRun) -> None:
    os.kill(run.runner_pid(), signal.SIGKILL)  # no cleanup code runs: the services must go by themselves


def signals_during_the_cleanup(run: DevRun) -> None:
    runner = run.runner_pid()
    os.kill(runner, signal.SIGTERM)
    assert run.wait_for_line("stopping", timeout=30), run.output()
    sent = 0
    while alive(runner):
        os.kill(runner, (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)[sent % 3])
        sent += 1
        time.sleep(0.01)
    assert sent >= 3, f"only {sent} signals landed before the runner was done: the case proves nothing"


# name: (how it is stopped, what runs make, whether the runner itself finishes its cleanup)
CASES: dict[str, tuple[Callable[[DevRun], None], list[str], bool]] = {
    "ctrl-c": (ctrl_c, [], True),
    "sigterm-to-make": (sigterm_to_make, [], True),
    "sigterm-to-the-group": (sigterm_to_the_group, [], True),
    "terminal-closed": (terminal_closed, [], True),
    "timeout": (timeout_expires, ["timeout", "600"], True),
    "repeated-signals": (signals_during_the_cleanup, [], True),
    "runner-sigkilled": (runner_killed, [], False),
}


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DevRun]]:
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec")
    ]
    numbers = free_ports(4 * len(selected))
    started = {
        case: DevRun(tmp_path_factory.mktemp(case), prefix=CASES[case][1]).start(numbers[4 * i : 4 * i + 4])
        for i, case in enumerate(selected)
    }
    yield started
    for run in started.values():
        run.kill_all()


@pytest.mark.parametrize("case", list(CASES))
def test_make_dev_stops_cleanly(case: str, runs: dict[str, DevRun]) -> None:
    run = runs[case]
    stop, _, cleans_up = CASES[case]
    assert run.wait_for_line(READY_LINE, timeout=120), run.output()

    stop(run)
    run.wait_exit(timeout=60)

    alive_pids, taken_ports = run.survivors(timeout=20)
    assert alive_pids == [], run.output()
    assert taken_ports == {}, run.output()
    if cleans_up:
        assert "stopped" in run.lines, run.output()
