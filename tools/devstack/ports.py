"""Whether a port is free, which process holds a taken one, and whether a listener belongs to a given process.

On Linux the answers come from /proc: /proc/net/tcp and tcp6 list listening sockets by inode, and
/proc/PID/fd links name the inodes a process holds (see proc(5)). Elsewhere only "free or not" is known.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

_TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_LISTEN = "0A"
_COMMAND_WIDTH = 160


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"


def bind_error(port: int) -> OSError | None:
    """What binding 127.0.0.1:port would fail with, as our servers bind it (SO_REUSEADDR), or None."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc
    return None


def _listening_inodes(port: int) -> set[int]:
    inodes: set[int] = set()
    for table in _TCP_TABLES:
        try:
            rows = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rpartition(":")[2], 16) == port:
                inodes.add(int(inode))
    return inodes


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # gone, or another user's
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    command = " ".join(raw.decode(errors="replace").replace("\0", " ").split())  # one line, whatever the arguments
    return command if len(command) <= _COMMAND_WIDTH else command[: _COMMAND_WIDTH - 1] + "…"


def holders(port: int) -> list[Holder]:
    """The processes listening on the port (any address), as far as this user may see them."""
    wanted = _listening_inodes(port)
    if not wanted:
        return []
    pids = sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit())
    return [Holder(pid, _command(pid)) for pid in pids if _socket_inodes(pid) & wanted]


def listens(pid: int, port: int) -> bool:
    """Whether this process itself listens on the port: a connect would also succeed against someone else's."""
    if not _TCP_TABLES[0].exists():
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    return bool(_listening_inodes(port) & _socket_inodes(pid))


def why_taken(port: int) -> str | None:
    """None when the port is free; else why not, naming the holder when it can be told."""
    error = bind_error(port)
    if error is None:
        return None
    if error.errno != errno.EADDRINUSE:
        return f"cannot be bound: {error.strerror}"
    found = holders(port)
    if not found:
        return "is in use (by a process this user cannot see)"
    return "is in use by " + ", ".join(str(holder) for holder in found)
