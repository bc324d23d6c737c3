"""`python -m tools.devstack` (what `make dev` runs): the whole stack in the foreground.

Checks its ports first and names whoever holds a taken one; writes `.devstack/env`; stops every process it
started however it is stopped (Ctrl-C, SIGTERM once or repeatedly, SIGHUP, `timeout`). Its services also
stop if it is killed outright: the kernel sends each its stop signal when the runner dies (see stack.spawn).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from . import envfile, ports
from .stack import ROOT, ServiceFailed, Stack

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Port:
    service: str
    variable: str  # the make variable
    default: int

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")

    @property
    def dest(self) -> str:
        return self.variable.lower()


PORTS = (
    Port("API", "API_PORT", 7071),
    Port("ARM simulator", "ARM_PORT", 8443),
    Port("Tables", "TABLES_PORT", 10002),
    Port("Queue", "QUEUE_PORT", 10001),
)


class Stopped(BaseException):
    """A stop signal arrived (a BaseException, so no `except Exception` on the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    # Later stop signals stay pending until exit: a second SIGTERM (make forwards one) must not cut the cleanup.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    raise Stopped(signum)


def _say(text: str, error: bool = False) -> None:
    """Print, and carry on if the terminal is gone (after a hangup a write fails with EIO)."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr if error else sys.stdout, flush=True)


def _within(convert: Callable[[str], float], low: float, high: float, what: str) -> Callable[[str], float]:
    """An argparse type: the number in [low, high], else an error naming what was expected."""

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


_port_number = _within(int, 1, 65535, "a port number (1-65535)")
_seconds = _within(float, 1, 86400, "a number of seconds from 1 to 86400")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.devstack", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".devstack", help="data, logs and env file")
    for port in PORTS:
        parser.add_argument(port.flag, type=_port_number, default=port.default, help=f"default {port.default}")
    parser.add_argument("--user", default="dev@example.com", help="the bootstrap admin the token is issued to")
    parser.add_argument("--sweep-every", type=_seconds, default=30.0, help="seconds between sweeper passes")
    args = parser.parse_args(argv)
    seen: dict[int, Port] = {}
    for port in PORTS:
        number = getattr(args, port.dest)
        if number in seen:
            parser.error(f"{seen[number].flag} and {port.flag} are both {number}: each service needs its own port")
        seen[number] = port
    return args


def _next_free(number: int, avoid: set[int]) -> int:
    candidate = number + 1
    while candidate <= 65535 and (candidate in avoid or ports.bind_error(candidate) is not None):
        candidate += 1
    return candidate if candidate <= 65535 else number


def port_conflicts(chosen: dict[Port, int]) -> str | None:
    """None when every port can be bound; else what holds which, and the command line with free ones."""
    taken = {port: why for port, number in chosen.items() if (why := ports.why_taken(number))}
    if not taken:
        return None
    lines = ["devstack: cannot start, " + ("a port is" if len(taken) == 1 else "ports are") + " not free:"]
    lines += [f"  {port.service} port {chosen[port]} ({port.variable}) {why}" for port, why in taken.items()]
    pids = sorted({holder.pid for port in taken for holder in ports.holders(chosen[port])})
    suggested = dict(chosen)
    for port in taken:
        suggested[port] = _next_free(chosen[port], set(suggested.values()))
    stop = f"Stop {'it' if len(pids) < 2 else 'them'}" + (f" (kill {' '.join(map(str, pids))})" if pids else "")
    lines.append(f"{stop}, or choose other ports:")
    lines.append("  make dev " + " ".join(f"{port.variable}={number}" for port, number in suggested.items()))
    lines.append(
        "  .venv/bin/python -m tools.devstack "
        + " ".join(f"{port.flag} {number}" for port, number in suggested.items())
    )
    return "\n".join(lines)


def _serve(stack: Stack, args: argparse.Namespace) -> int:
    stack.start_tables()
    stack.start_queue()
    stack.start_arm(persist=True)
    stack.start_api()
    stack.start_worker()
    stack.start_sweeper(args.sweep_every)
    env_path = stack.state_dir / "env"
    envfile.write(env_path, stack.dev_env(stack.issue_token(args.user, admin=True)))
    health = httpx.get(f"{stack.api_url}/health", timeout=30)
    logs = ", ".join(str(stack.state_dir / f"{service.name}.log") for service in stack.services)
    _say(
        f"API        {stack.api_url}  (health: {health.status_code})\n"
        f"ARM sim    {stack.arm_url}  (CA {stack.arm_ca})\n"
        f"Tables     {stack.tables_endpoint}\n"
        f"Queue      {stack.queue_endpoint}  (worked by the queue worker: shared.worker)\n"
        f"Sweeper    every {args.sweep_every:g} s (make sweep runs one pass now)\n"
        f"Settings   {env_path}  (source it: set -a; . {env_path}; set +a)\n"
        f"Logs       {logs}\n"
        "Ctrl-C stops everything."
    )
    while True:
        for service in stack.services:
            if service.process.poll() is not None:
                log = stack.state_dir / f"{service.name}.log"
                raise ServiceFailed(f"{service.name} exited with {service.process.returncode}; see {log}")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    chosen = {port: getattr(args, port.dest) for port in PORTS}
    problem = port_conflicts(chosen)
    if problem:
        _say(problem, error=True)
        return 2
    state_dir = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(
        state_dir,
        tables_port=args.tables_port,
        arm_port=args.arm_port,
        api_port=args.api_port,
        queue_port=args.queue_port,
    )
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_stop_signal)
    try:
        return _serve(stack, args)
    except Stopped as stopped:
        _say(f"stopping ({stopped})", error=True)
        return 0
    except ServiceFailed as exc:
        _say(f"devstack: {exc}; stopping the rest", error=True)
        return 1
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        stack.stop()
        _say("stopped", error=True)


if __name__ == "__main__":
    raise SystemExit(main())
