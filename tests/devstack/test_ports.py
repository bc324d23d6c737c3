"""Taken ports are named before anything starts, and someone else's listener is never taken for our service."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.devstack.makedev import READY_LINE, DevRun, marked_processes
from tools.devstack import PYTHON, ports
from tools.devstack.__main__ import main
from tools.devstack.stack import ServiceFailed, free_ports, wait_for_port

# Listens on each HOST:PORT given, says so, then waits: someone else's server (an orphan, another project).
HOLDER = """
import socket, sys, time
held = []
for address in sys.argv[1:]:
    host, port = address.rsplit(":", 1)
    sock = socket.socket()
    sock.bind((host, int(port)))
    sock.listen()
    held.append(sock)
print("listening", flush=True)
time.sleep(600)
"""


Hold = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def hold() -> Iterator[Hold]:
    holders: list[subprocess.Popen[str]] = []

    def start(*addresses: str) -> subprocess.Popen[str]:
        holder = subprocess.Popen([PYTHON, "-c", HOLDER, *addresses], stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "listening"
        holders.append(holder)
        return holder

    yield start
    for holder in holders:
        holder.kill()
        holder.wait()


def test_make_dev_names_taken_ports_and_their_holder_and_starts_nothing(hold: Hold, tmp_path: Path) -> None:
    api, arm, tables, queue = free_ports(4)
    holder = hold(f"127.0.0.1:{arm}", f"0.0.0.0:{queue}")

    run = DevRun(tmp_path).start([api, arm, tables, queue])
    code = run.wait_exit(timeout=60)
    output = run.output()

    assert code != 0
    assert READY_LINE not in output
    assert f"ARM simulator port {arm} (ARM_PORT) is in use by pid {holder.pid} ({PYTHON} -c" in output
    assert f"Queue port {queue} (QUEUE_PORT) is in use by pid {holder.pid}" in output
    assert f"API port {api}" not in output and f"Tables port {tables}" not in output
    assert f"Stop it (kill {holder.pid}), or choose other ports:" in output
    assert f"  make dev API_PORT={api} ARM_PORT=" in output
    assert "  .venv/bin/python -m tools.devstack --api-port" in output
    assert marked_processes(run.marker) == []
    assert holder.poll() is None  # left alone, still listening
    assert [found.pid for found in ports.holders(arm)] == [holder.pid]


def test_the_suggested_ports_are_free_and_distinct(
    hold: Hold, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    api, arm, tables, queue = free_ports(4)
    hold(f"127.0.0.1:{api}", f"127.0.0.1:{tables}")

    flags = ["--api-port", "--arm-port", "--tables-port", "--queue-port"]
    code = main(
        [
            "--state-dir",
            str(tmp_path),
            *(f"{flag}={n}" for flag, n in zip(flags, (api, arm, tables, queue), strict=True)),
        ]
    )

    assert code == 2
    suggested = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("  make dev "))
    numbers = [int(setting.partition("=")[2]) for setting in suggested.split()[2:]]
    assert numbers[1] == arm and numbers[3] == queue
    assert len(set(numbers)) == 4
    assert all(ports.bind_error(number) is None for number in numbers)
    assert not (tmp_path / "env").exists()


def test_a_service_is_not_ready_while_someone_else_listens_on_its_port(hold: Hold) -> None:
    (port,) = free_ports(1)
    holder = hold(f"127.0.0.1:{port}")
    not_listening = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(ServiceFailed) as failure:
            wait_for_port(port, not_listening, timeout=1, name="api")
    finally:
        not_listening.kill()
        not_listening.wait()
    assert str(failure.value).startswith(f"api (pid {not_listening.pid}) did not listen on port {port} within 1 s")
    assert f"port {port} is in use by pid {holder.pid}" in str(failure.value)


def test_a_service_that_exits_is_not_ready() -> None:
    (port,) = free_ports(1)
    exited = subprocess.Popen([PYTHON, "-c", "raise SystemExit(3)"])
    with pytest.raises(ServiceFailed, match=f"tables exited with 3 before listening on port {port}"):
        wait_for_port(port, exited, timeout=30, name="tables")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--api-port", "70000"], "argument --api-port: '70000' is not a port number (1-65535)"),
        (["--queue-port", "0"], "argument --queue-port: '0' is not a port number (1-65535)"),
        (["--arm-port", "http"], "argument --arm-port: 'http' is not a port number (1-65535)"),
        (["--api-port", "9000", "--arm-port", "9000"], "--api-port and --arm-port are both 9000"),
        (["--sweep-every", "0"], "argument --sweep-every: '0' is not a number of seconds from 1 to 86400"),
    ],
)
def test_bad_options_are_named(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
