"""`make dev` stops cleanly however it is stopped: no process it started survives, and its ports are free.

All cases start their stacks at once (each on its own free ports) so the module costs about one start-up.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.devstack.makedev import READY_LINE, DevRun, alive, command, marked_processes
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


def ctrl_c_during_start_up(run: DevRun) -> None:
    deadline = time.monotonic() + 120
    while not any(b"--tablePort" in command(pid) for pid in marked_processes(run.marker)):
        assert time.monotonic() < deadline and run.process is not None and run.process.poll() is None, run.output()
        time.sleep(0.05)
    ctrl_c(run)


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


# name: (how it is stopped, what runs make, whether it waits until the stack is up, whether the runner cleans up)
CASES: dict[str, tuple[Callable[[DevRun], None], list[str], bool, bool]] = {
    "ctrl-c": (ctrl_c, [], True, True),
    "ctrl-c-during-start-up": (ctrl_c_during_start_up, [], False, True),
    "sigterm-to-make": (sigterm_to_make, [], True, True),
    "sigterm-to-the-group": (sigterm_to_the_group, [], True, True),
    "terminal-closed": (terminal_closed, [], True, True),
    "timeout": (timeout_expires, ["timeout", "600"], True, True),
    "repeated-signals": (signals_during_the_cleanup, [], True, True),
    "runner-sigkilled": (runner_killed, [], True, False),
}


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DevRun]]:
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and CASES[item.callspec.params["case"]][2]
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
def test_make_dev_stops_cleanly(
    case: str, runs: dict[str, DevRun], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    stop, prefix, when_up, cleans_up = CASES[case]
    if when_up:
        run = runs[case]
        assert run.wait_for_line(READY_LINE, timeout=120), run.output()
    else:
        run = DevRun(tmp_path, prefix=prefix).start()
        request.addfinalizer(run.kill_all)

    stop(run)
    run.wait_exit(timeout=60)

    alive_pids, taken_ports = run.survivors(timeout=20)
    assert alive_pids == [], run.output()
    assert taken_ports == {}, run.output()
    if cleans_up:
        assert "stopped" in run.lines, run.output()
    assert (READY_LINE in run.lines) == when_up, run.output()
