"""Local stand-ins the agent talks to over HTTP: a JupyterHub (hub API and a user's Jupyter server) and the
control plane's activity route, each recording what it was asked. Plus a VM's sources laid out in a folder."""

from __future__ import annotations

import json
import os
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

HUB_TOKEN = "c0ffee" * 8

# What `LC_ALL=C who` printed (coreutils) for a utmp holding: alice over SSH, alice's tmux window, bob over
# SSH, carol's X display and a serial console login.
WHO_OUTPUT = """\
alice    pts/0        May  4 09:12 (203.0.113.7)
alice    pts/1        May  4 09:13 (tmux(1290).%0)
bob      pts/2        May  4 09:14 (198.51.100.4)
carol    :0           May  4 09:02 (:0)
root     ttyS0        May  4 09:07
"""

# GET /hub/api/users as JupyterHub 4 answers a token with list:users, read:users:activity and read:servers
# (jupyterhub/apihandlers/base.py, user_model and server_model): alice has a running server, bob none.
HUB_USERS: list[dict[str, Any]] = [
    {
        "kind": "user",
        "name": "alice",
        "admin": False,
        "last_activity": "2026-05-04T09:40:12.118000Z",
        "servers": {
            "": {
                "name": "",
                "last_activity": "2026-05-04T09:41:02.512000Z",
                "started": "2026-05-04T08:55:40.001000Z",
                "pending": None,
                "ready": True,
                "stopped": False,
                "url": "/user/alice/",
                "user_options": {},
                "progress_url": "/hub/api/users/alice/server/progress",
                "full_url": None,
                "full_progress_url": None,
            }
        },
    },
    {"kind": "user", "name": "bob", "admin": False, "last_activity": "2026-05-03T17:02:00.000000Z", "servers": {}},
]
HUB_LAST_ACTIVITY = "2026-05-04T09:41:02+00:00"

# GET /user/alice/api/kernels as jupyter_server answers (kernelmanager.kernel_model): one busy, one idle.
KERNELS = [
    {
        "id": "6f0c8a8e-2b7e-4e0e-9a43-0b8f2f7e5a11",
        "name": "python3",
        "last_activity": "2026-05-04T09:41:30.100000Z",
        "execution_state": "busy",
        "connections": 1,
    },
    {
        "id": "0d9d1c1f-5b55-4d2c-8f0e-3c6a1a7d9b22",
        "name": "ir",
        "last_activity": "2026-05-04T08:10:00.000000Z",
        "execution_state": "idle",
        "connections": 0,
    },
]

# nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits on a two-GPU VM.
NVIDIA_SMI_OUTPUT = "3\n87\n"
LOADAVG = "0.42 0.30 0.25 2/731 48211\n"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


@dataclass
class Recorder:
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def snapshot(self) -> list[Request]:
        with self.lock:
            return list(self.requests)


class FakeHub:
    """JupyterHub's REST API (/hub/api/users, paginated) and alice's Jupyter server (/user/alice/api/kernels)."""

    def __init__(self, page_size: int = 200, paginates: bool = True, tls: bool = False) -> None:
        self.page_size = page_size
        self.paginates = paginates  # JupyterHub before 2.0 answered a plain list whatever the Accept header
        self.recorder = Recorder()
        self.scheme = "https" if tls else "http"
        self.server = serve(self.handle, tls=tls)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, request: Request) -> tuple[int, Any]:
        self.recorder.add(request)
        if request.headers.get("authorization") != f"token {HUB_TOKEN}":
            return 403, {"status": 403, "message": "Forbidden"}
        if request.path == "/hub/api/users":
            offset = int(request.query.get("offset", ["0"])[0])
            limit = min(int(request.query.get("limit", ["200"])[0]), self.page_size)
            items = HUB_USERS[offset : offset + limit]
            if not self.paginates or request.headers.get("accept") != "application/jupyterhub-pagination+json":
                return 200, HUB_USERS if not self.paginates else items
            following = offset + limit
            more = {"offset": following, "limit": limit, "url": "…"} if following < len(HUB_USERS) else None
            return 200, {
                "items": items,
                "_pagination": {"offset": offset, "limit": limit, "total": len(HUB_USERS), "next": more},
            }
        if request.path == "/user/alice/api/kernels":
            return 200, KERNELS
        return 404, {"status": 404, "message": "Not Found"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeApi:
    """The control plane's POST /api/vms/{name}/activity: records each report and answers `status` (204)."""

    def __init__(self, port: int = 0, status: int = 204) -> None:
        self.status = status
        self.recorder = Recorder()
        self.server = serve(self.handle, port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def handle(self, request: Request) -> tuple[int, Any]:
        self.recorder.add(request)
        return self.status, None

    def reports(self) -> list[Request]:
        return [r for r in self.recorder.snapshot() if r.method == "POST"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(handle: Any, port: int = 0, tls: bool = False) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            status, body = handle(request)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if tls:  # a self-signed certificate, as the DSVM's JupyterHub serves
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@contextmanager
def running(*servers: FakeHub | FakeApi) -> Iterator[None]:
    try:
        yield
    finally:
        for server in servers:
            server.close()


@dataclass
class VmSources:
    """A VM's sources in a folder: terminals, /proc, /proc/loadavg, nvidia-smi, homes with RStudio sessions."""

    root: Path
    hub_url: str
    ssh_atime: float = 1777886400.0  # 2026-05-04T09:20:00Z: the last keystroke, on alice's tmux terminal
    rstudio_last_used_ms: int = 1777885200000  # 2026-05-04T09:00:00Z
    rstudio_executing_mtime: float = 1777887000.0  # 2026-05-04T09:30:00Z: the last console command

    def create(self) -> dict[str, Any]:
        """Lay the sources out and return the config's `sources` for them."""
        dev = self.root / "dev" / "pts"
        dev.mkdir(parents=True)
        for line, atime in (("0", self.ssh_atime - 900), ("1", self.ssh_atime), ("2", self.ssh_atime - 3600)):
            (dev / line).write_text("")
            os.utime(dev / line, (atime, atime - 5000))
        who = script(self.root / "who", WHO_OUTPUT)
        nvidia_smi = script(self.root / "nvidia-smi", NVIDIA_SMI_OUTPUT)
        (self.root / "loadavg").write_text(LOADAVG)

        # A Jupyter server and one of its kernels (which inherits its environment), and an unrelated process.
        service_url = f"{self.hub_url}/user/alice/"
        for pid, cmdline, environ in (
            ("4101", b"/anaconda/bin/python\0/anaconda/bin/jupyterhub-singleuser\0", service_url),
            ("4188", b"/anaconda/bin/python\0-m\0ipykernel_launcher\0-f\0/tmp/jupyter-kernel.json\0", service_url),
            ("733", b"/usr/sbin/sshd\0-D\0", None),
        ):
            proc = self.root / "proc" / pid
            proc.mkdir(parents=True)
            (proc / "cmdline").write_bytes(cmdline)
            env = b"HOME=/home/alice\0JUPYTERHUB_API_TOKEN=user-secret\0"
            if environ:
                env += f"JUPYTERHUB_SERVICE_URL={environ}\0".encode()
            (proc / "environ").write_bytes(env + b"PATH=/usr/bin\0")

        home = self.root / "home" / "alice"
        session = home / ".local/share/rstudio/sessions/active/session-8c1f2e4a/properites"
        session.mkdir(parents=True)
        (session / "last-used").write_text(f"{self.rstudio_last_used_ms}.000000")
        (session / "running").write_text("1")
        (session / "executing").write_text("1")
        os.utime(session / "executing", (self.rstudio_executing_mtime, self.rstudio_executing_mtime))
        (self.root / "hub-token").write_text(HUB_TOKEN + "\n")
        return {
            "who": str(who),
            "dev": str(self.root / "dev"),
            "proc": str(self.root / "proc"),
            "loadavg": str(self.root / "loadavg"),
            "nvidia_smi": str(nvidia_smi),
            "homes": [str(home)],
        }


def script(path: Path, output: str) -> Path:
    """A stand-in command that prints a recorded output."""
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}EOF\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path
