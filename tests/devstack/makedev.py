"""`make dev` as a user runs it, on free ports, watched from outside.

Every process a run starts inherits a marker in its environment, so the test finds them all in /proc
afterwards, orphans included, and nobody else's.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tools.devstack import ROOT, ports
from tools.devstack.stack import free_ports

MARKER = "DEVSTACK_TEST_RUN"
READY_LINE = "Ctrl-C stops everything."
# make would reinstall the shared venv and node_modules whenever a requirements file is newer than its stamp.
MAKE = ["make", "--no-print-directory", "-o", ".venv/.installed", "-o", "node_modules/.installed"]


def marked_processes(marker: str) -> list[int]:
    """Live processes (zombies hold nothing) whose environment carries the marker."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                found.append(int(entry))
    return found


def command(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@dataclass
class DevRun:
    """One `make dev` in its own process group, as a terminal's foreground job."""

    state_dir: Path
    prefix: list[str] = field(default_factory=list)  # e.g. ["timeout", "600"]
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    ports: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def start(self, numbers: list[int] | None = None, **variables: int) -> DevRun:
        """On the given four port numbers (free ones if none), then any make variables given by name."""
        names = ["API_PORT", "ARM_PORT", "TABLES_PORT", "QUEUE_PORT"]
        self.ports = dict(zip(names, numbers or free_ports(len(names)), strict=True)) | variables
        settings = [f"{name}={number}" for name, number in self.ports.items()]
        self.process = subprocess.Popen(
            [*self.prefix, *MAKE, "dev", f"STATE_DIR={self.state_dir}", *settings],
            cwd=ROOT,
            env={**os.environ, MARKER: self.marker},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _take(self, timeout: float) -> bool:
        """Move one printed line into self.lines; False when none came in time or the output ended."""
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            return False
        if line is None:
            self._queue.put(None)
            return False
        self.lines.append(line)
        return True

    def wait_for_line(self, text: str, timeout: float) -> bool:
        """Whether a line containing text was printed (before the output ended or the timeout)."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if not self._take(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def output(self) -> str:
        while self._take(0):
            pass
        return "\n".join(self.lines)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def runner_pid(self) -> int:
        """The stack runner (`python -m tools.devstack`) that make started."""
        runners = [pid for pid in marked_processes(self.marker) if b"tools.devstack" in command(pid)]
        assert len(runners) == 1, runners
        return runners[0]

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        while self._take(5):  # the rest of the output, until the pipe closes
            pass
        return code

    def survivors(self, timeout: float) -> tuple[list[int], dict[str, str]]:
        """Marked processes still alive and ports still taken once the deadline passes (polling, no sleep)."""
        deadline = time.monotonic() + timeout
        while True:
            alive = marked_processes(self.marker)
            taken = {name: why for name, number in self.ports.items() if (why := ports.why_taken(number))}
            if (not alive and not taken) or time.monotonic() > deadline:
                return alive, taken
            time.sleep(0.05)

    def kill_all(self) -> None:
        """Teardown for a failed test: SIGKILL whatever this run left."""
        for pid in marked_processes(self.marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
