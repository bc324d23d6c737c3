"""The pieces of the local stack: processes on given ports, the settings that point the API at them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from . import ports

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SUBSCRIPTION_ID = "00000000-0000-0000-0000-00000000d5a1"
RESOURCE_GROUP = "rg-dsvm-workload"
LOCATION = "eastus"
# Azurite's published development account key (the same in every Azurite install; not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_ACCOUNT = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY}"
# Seconds a service has between its stop signal and SIGKILL.
STOP_GRACE = 10.0

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now, all different (each socket is held until every port is picked)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port() -> int:
    return free_ports(1)[0]


class ServiceFailed(RuntimeError):
    """A service exited, or never listened on its port itself."""


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0, name: str = "") -> None:
    """Until the process itself listens on the port: someone else's listener there is not our service."""
    name = name or str(process.args)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceFailed(f"{name} exited with {process.returncode} before listening on port {port}")
        if ports.listens(process.pid, port):
            return
        time.sleep(0.05)
    taken = ports.why_taken(port)
    reason = f"; port {port} {taken}" if taken else ""
    raise ServiceFailed(f"{name} (pid {process.pid}) did not listen on port {port} within {timeout:g} s{reason}")


def _dies_with(parent: int, stop_signal: signal.Signals) -> Callable[[], None]:
    """Run in the child before exec: the kernel sends it stop_signal when the parent dies, even by SIGKILL.

    PR_SET_PDEATHSIG survives exec and fires when the thread that forked exits (prctl(2),
    https://man7.org/linux/man-pages/man2/prctl.2.html); services are only spawned from the main thread.
    """

    def in_child() -> None:
        assert _libc is not None
        _libc.prctl(_PR_SET_PDEATHSIG, stop_signal)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return in_child


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes] | None = None
    stop_signal: signal.Signals = signal.SIGTERM

    def terminate(self) -> None:
        """The stop signal to the whole process group: a server's children must not outlive it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, self.stop_signal)

    def finish(self, deadline: float) -> None:
        """Wait for the exit until the deadline (monotonic), then SIGKILL the group."""
        try:
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.log is not None:
            self.log.close()

    def stop(self) -> None:
        self.terminate()
        self.finish(time.monotonic() + STOP_GRACE)


def spawn(
    name: str,
    args: list[str],
    log_path: Path | None,
    env: dict[str, str] | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Service:
    log = log_path.open("ab") if log_path else None
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_dies_with(os.getpid(), stop_signal) if _libc is not None else None,
    )
    return Service(name, process, log, stop_signal)


@dataclass
class Stack:
    """Addresses and settings of a running stack."""

    state_dir: Path
    tables_port: int
    arm_port: int
    api_port: int
    queue_port: int
    services: list[Service] = field(default_factory=list)
    subnet_id: str = ""

    @classmethod
    def on_free_ports(cls, state_dir: Path) -> Stack:
        tables, arm, api, queue = free_ports(4)
        return cls(state_dir, tables_port=tables, arm_port=arm, api_port=api, queue_port=queue)

    @property
    def arm_url(self) -> str:
        return f"https://127.0.0.1:{self.arm_port}"

    @property
    def arm_ca(self) -> Path:
        return self.state_dir / "armsim" / "ca.pem"

    @property
    def arm_state_file(self) -> Path:
        return self.state_dir / "armsim" / "state.json"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api"

    @property
    def tables_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.tables_port}/devstoreaccount1"

    @property
    def queue_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.queue_port}/devstoreaccount1"

    @property
    def tables_connection(self) -> str:
        return f"{AZURITE_ACCOUNT};TableEndpoint={self.tables_endpoint}"

    @property
    def queue_connection(self) -> str:
        return f"{AZURITE_ACCOUNT};QueueEndpoint={self.queue_endpoint}"

    def app_env(self) -> dict[str, str]:
        """The API's settings (see shared/settings.py) for this stack."""
        return {
            "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION_ID,
            "DSVM_RESOURCE_GROUP": RESOURCE_GROUP,
            "DSVM_LOCATION": LOCATION,
            "DSVM_SUBNET_ID": self.subnet_id,
            "DSVM_TABLES_CONNECTION": self.tables_connection,
            "DSVM_QUEUE": self.queue_connection,
            "ARM_ENDPOINT": self.arm_url,
            "ARM_CA_BUNDLE": str(self.arm_ca),
            "ARM_POLLING_INTERVAL": "1",
            "METRICS_ENDPOINT": self.arm_url,
            # No network here: prices come from the shipped catalogue.
            "PRICES_URL": "",
            # Where a VM's activity agent would report (the simulated VMs run nothing; tests run the agent).
            "DSVM_PUBLIC_API_URL": self.api_url,
        }

    def dev_env(self, token: str) -> dict[str, str]:
        """What `.devstack/env` holds: where the API is, a token for it, and the app's settings."""
        return {
            "DSVM_API": self.api_url,
            "DSVM_TOKEN": token,
            "ARMSIM_URL": self.arm_url,
            "ARMSIM_CA": str(self.arm_ca),
            **self.app_env(),
        }

    def start_tables(self, in_memory: bool = False) -> None:
        self._start_azurite("tables", "table", self.tables_port, in_memory)

    def start_queue(self, in_memory: bool = False) -> None:
        self._start_azurite("queue", "queue", self.queue_port, in_memory)

    def _start_azurite(self, name: str, kind: str, port: int, in_memory: bool) -> None:
        """One Azurite service from the pinned package; tables and queue share a data folder as `azurite` does."""
        data = self.state_dir / "azurite"
        data.mkdir(parents=True, exist_ok=True)
        args = [str(ROOT / "node_modules" / ".bin" / f"azurite-{kind}"), f"--{kind}Host", "127.0.0.1"]
        args += [f"--{kind}Port", str(port), "--disableTelemetry", "--skipApiVersionCheck"]
        args += ["--inMemoryPersistence"] if in_memory else ["--location", str(data)]
        # azurite-table saves its data and exits on SIGINT only; SIGTERM kills it with the last writes unsaved
        # (src/table/main.ts in https://github.com/Azure/Azurite). The queue service takes either.
        self._serve(name, args, port, stop_signal=signal.SIGINT)

    def start_arm(self, *extra: str, persist: bool = False) -> None:
        """With persist, the simulated world is loaded from and saved to the state folder (as Azurite's data)."""
        cert_dir = self.arm_ca.parent
        cert_dir.mkdir(parents=True, exist_ok=True)
        args = [PYTHON, "-m", "tools.armsim", "--host", "127.0.0.1", "--port", str(self.arm_port)]
        if persist:
            args += ["--state-file", str(self.arm_state_file)]
        self._serve("armsim", [*args, "--cert-dir", str(cert_dir), *extra], self.arm_port)
        self.seed()

    def seed(self) -> None:
        """The workload resource group, VNet and subnet the control plane expects to find."""
        response = httpx.post(
            f"{self.arm_url}/_sim/seed",
            json={
                "subscription": SUBSCRIPTION_ID,
                "resource_group": RESOURCE_GROUP,
                "location": LOCATION,
                "vnet": "vnet-dsvm",
                "address_prefix": "10.20.0.0/16",
                "subnet": "snet-dsvm",
                "subnet_prefix": "10.20.0.0/20",
            },
            verify=str(self.arm_ca),
        )
        response.raise_for_status()
        self.subnet_id = response.json()["subnet_id"]

    def start_api(self, extra_env: dict[str, str] | None = None) -> None:
        args = [PYTHON, "-m", "uvicorn", "--factory", "shared.api.app:app_from_env"]
        args += ["--host", "127.0.0.1", "--port", str(self.api_port), "--log-level", "warning", "--no-access-log"]
        self._serve("api", args, self.api_port, {**self.app_env(), **(extra_env or {})})

    def _serve(
        self,
        name: str,
        args: list[str],
        port: int,
        env: dict[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        log = self.state_dir / f"{name}.log"
        service = spawn(name, args, log, env, stop_signal)
        self.services.append(service)
        wait_for_port(port, service.process, name=f"{name} (log {log})")

    def start_sweeper(self, every: float) -> None:
        """The same sweep the timer trigger runs in Azure, on a short loop."""
        args = [PYTHON, "-m", "shared.sweeper", "--every", str(every)]
        self.services.append(spawn("sweeper", args, self.state_dir / "sweeper.log", self.app_env()))

    def start_worker(self, *extra: str, env: dict[str, str] | None = None) -> None:
        """The queue trigger's body on a local loop that does what the Functions host does (shared.worker)."""
        args = [PYTHON, "-m", "shared.worker", *extra]
        self.services.append(spawn("worker", args, self.state_dir / "worker.log", {**self.app_env(), **(env or {})}))

    def issue_token(self, user: str, admin: bool) -> str:
        args = [PYTHON, "-m", "shared.admin", "issue-token", "--user", user, "--note", "local stack"]
        result = subprocess.run(
            [*args, "--admin"] if admin else args,
            cwd=ROOT,
            env={**os.environ, **self.app_env()},
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def stop(self) -> None:
        """All services at once, each with the same grace: a slow one does not hold up the others' signal."""
        deadline = time.monotonic() + STOP_GRACE
        for service in self.services:
            service.terminate()
        for service in self.services:
            service.finish(deadline)
        self.services.clear()
