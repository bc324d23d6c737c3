"""`make dev` as a user runs it, on free ports, watched from outside.

Every process a run starts inherits a marker in its environment, so the test finds them all in /proc
afterwards, orphans included, and nobody else's.
"""

from __future__ import annotations

import contextlib
import os
import pty
import queue
import select
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
    """One `make dev` writing to a terminal (a pseudo-terminal), in its own process group as a foreground job."""

    state_dir: Path
    prefix: list[str] = field(default_factory=list)  # e.g. ["timeout", "600"]
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    ports: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _terminal: int = -1  # the pty's master side
    _hung_up: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None

    def start(self, numbers: list[int] | None = None, **variables: int) -> DevRun:
        """On the given four port numbers (free ones if none), then any make variables given by name."""
        names = ["API_PORT", "ARM_PORT", "TABLES_PORT", "QUEUE_PORT"]
        self.ports = dict(zip(names, numbers or free_ports(len(names)), strict=True)) | variables
        settings = [f"{name}={number}" for name, number in self.ports.items()]
        self._terminal, screen = pty.openpty()
        try:
            self.process = subprocess.Popen(
                [*self.prefix, *MAKE, "dev", f"STATE_DIR={self.state_dir}", *settings],
                cwd=ROOT,
                env={**os.environ, MARKER: self.marker},
                stdin=subprocess.DEVNULL,
                stdout=screen,
                stderr=screen,
                start_new_session=True,
            )
        finally:
            os.close(screen)  # only the children hold it now: reading gives EIO once they are all gone
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        pending = b""
        while not self._hung_up.is_set():
            if not select.select([self._terminal], [], [], 0.1)[0]:
                continue
            try:
                chunk = os.read(self._terminal, 4096)
            except OSError:  # EIO: nobody has the terminal open any more
                chunk = b""
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._queue.put(line.decode(errors="replace").rstrip("\r"))
        self._queue.put(None)

    def hang_up(self) -> None:
        """Close the terminal, as a closed terminal window does: writes to it fail from now on (EIO)."""
        self._hung_up.set()
        if self._reader is not None:
            self._reader.join()
        os.close(self._terminal)
        self._terminal = -1

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
        """Teardown: SIGKILL whatever this run left (nothing, when its test passed)."""
        for pid in marked_processes(self.marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        if self._terminal != -1:
            self.hang_up()
