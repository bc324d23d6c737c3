"""`make dev` as a user runs it: it stops cleanly however it is stopped (no process it started survives, its
ports are free), and a restart keeps the local world (tables, queue, simulated ARM).

The module starts every stack it needs at once, each on its own free ports: start-up is the slow part.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from azure.storage.queue import QueueClient

from tests.devstack.makedev import READY_LINE, DevRun, alive, command, marked_processes
from tests.support.keys import ed25519_key
from tests.support.polling import wait_for_state
from tools.devstack import envfile
from tools.devstack.stack import free_ports

# The first test waits for every stack of the module to come up, on two shared cores.
pytestmark = pytest.mark.timeout(300)


def ctrl_c(run: DevRun) -> None:
    os.killpg(run.pid, signal.SIGINT)  # what the terminal does: the whole foreground process group


def sigterm_to_make(run: DevRun) -> None:
    os.kill(run.pid, signal.SIGTERM)  # make forwards it to the runner


def sigterm_to_the_group_then_more(run: DevRun) -> None:
    """The runner gets this SIGTERM and make's forwarded one, then every stop signal until it is gone."""
    runner = run.runner_pid()
    os.killpg(run.pid, signal.SIGTERM)
    assert run.wait_for_line("stopping", timeout=30), run.output()
    sent = 0
    while alive(runner):
        os.kill(runner, (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)[sent % 3])
        sent += 1
        time.sleep(0.01)
    assert sent >= 3, f"only {sent} signals landed before the runner was done: the case proves nothing"


def terminal_closed(run: DevRun) -> None:
    run.hang_up()  # from now on a write to the terminal fails
    os.killpg(run.pid, signal.SIGHUP)  # and the shell passes the hangup on to its foreground job


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


# name: (how it is stopped, what runs make, whether it waits until the stack is up,
#        whether the runner's last line "stopped" can be read: not once killed, nor from a closed terminal)
CASES: dict[str, tuple[Callable[[DevRun], None], list[str], bool, bool]] = {
    "ctrl-c": (ctrl_c, [], True, True),
    "ctrl-c-during-start-up": (ctrl_c_during_start_up, [], False, True),
    "sigterm-to-make": (sigterm_to_make, [], True, True),
    "sigterm-to-the-group-then-more": (sigterm_to_the_group_then_more, [], True, True),
    "terminal-closed": (terminal_closed, [], True, False),
    "timeout": (timeout_expires, ["timeout", "600"], True, True),
    "runner-sigkilled": (runner_killed, [], True, False),
}


def needs(item: pytest.Item) -> str | None:
    """The stack a selected test of this module needs started up front, if any."""
    if "restart" in getattr(item, "fixturenames", ()):
        return "restart"
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec is not None else None
    return case if case in CASES and CASES[case][2] else None


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DevRun]]:
    selected = sorted(
        {name for item in request.session.items if item.module is request.module if (name := needs(item))}
    )
    numbers = free_ports(4 * len(selected))
    started = {
        name: DevRun(tmp_path_factory.mktemp(name), prefix=CASES[name][1] if name in CASES else []).start(
            numbers[4 * i : 4 * i + 4]
        )
        for i, name in enumerate(selected)
    }
    yield started
    for run in started.values():
        run.kill_all()


@pytest.mark.parametrize("case", list(CASES))
def test_make_dev_stops_cleanly(
    case: str, runs: dict[str, DevRun], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    stop, prefix, when_up, says_stopped = CASES[case]
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
    if says_stopped:
        assert "stopped" in run.lines, run.output()
    assert (READY_LINE in run.lines) == when_up, run.output()


@dataclass
class Restart:
    before: dict[str, str]  # .devstack/env of the first run
    after: dict[str, str]  # and of the second
    vm: str
    queue: str


@pytest.fixture(scope="module")
def restart(runs: dict[str, DevRun]) -> Iterator[Restart]:
    """Data in every store of a running stack, then Ctrl-C, then make dev again on the same state folder."""
    first = runs["restart"]
    state = first.state_dir
    second = DevRun(state)
    try:
        assert first.wait_for_line(READY_LINE, timeout=120), first.output()
        before = envfile.read(state / "env")
        vm, queue_name = f"vm-{uuid.uuid4().hex[:10]}", f"q{uuid.uuid4().hex}"
        headers = {"Authorization": f"Bearer {before['DSVM_TOKEN']}"}
        with httpx.Client(base_url=before["DSVM_API"], headers=headers, timeout=60) as api:
            body = {"name": vm, "size": "Standard_E4s_v5", "ssh_public_key": ed25519_key()}
            created = api.post("/vms", json={**body, "allowed_cidrs": ["203.0.113.7/32"]})
            assert created.status_code == 202, created.text
            wait_for_state(api, vm, "Running")
        queue = QueueClient.from_connection_string(before["DSVM_QUEUE"], queue_name)
        queue.create_queue()
        queue.send_message("create ana-churn")
        os.killpg(first.pid, signal.SIGINT)
        first.wait_exit(timeout=60)

        second.start(list(first.ports.values()))
        assert second.wait_for_line(READY_LINE, timeout=120), second.output()
        yield Restart(before, envfile.read(state / "env"), vm, queue_name)
    finally:
        second.kill_all()


def test_tokens_and_vm_records_survive_a_restart(restart: Restart) -> None:
    headers = {"Authorization": f"Bearer {restart.before['DSVM_TOKEN']}"}
    me = httpx.get(f"{restart.after['DSVM_API']}/me", headers=headers, timeout=30)
    assert me.status_code == 200, me.text
    listed = httpx.get(f"{restart.after['DSVM_API']}/vms", headers=headers, timeout=30)
    assert [vm["name"] for vm in listed.json()["value"]] == [restart.vm]


def test_queued_messages_survive_a_restart(restart: Restart) -> None:
    queue = QueueClient.from_connection_string(restart.after["DSVM_QUEUE"], restart.queue)
    assert [message.content for message in queue.peek_messages(max_messages=5)] == ["create ana-churn"]


def test_the_simulated_vm_survives_a_restart(restart: Restart) -> None:
    headers = {"Authorization": f"Bearer {restart.after['DSVM_TOKEN']}"}
    with httpx.Client(base_url=restart.after["DSVM_API"], headers=headers, timeout=60) as api:
        shown = api.get(f"/vms/{restart.vm}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["state"] == "Running"  # not Lost: ARM still has it
    assert shown.json()["power_state"] == "running"
