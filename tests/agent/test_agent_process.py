"""The agent end to end, as the real process systemd runs, against a local API that records its posts.

Its sources are recorded outputs laid out in a folder (tests/agent/fakes.py): `who`, terminals, /proc,
nvidia-smi, /proc/loadavg, an RStudio session, and a fake JupyterHub over HTTP. The agent runs under
Python 3.10 (the DSVM's system python3) when this machine has it, else under the test's Python.
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from agent import dsvm_agent
from tests.agent.fakes import FakeApi, FakeHub, VmSources, running, script
from tests.support.polling import eventually

AGENT = Path(__file__).resolve().parents[2] / "agent" / "dsvm_agent.py"
TOKEN = "dsvm_agent_5f1c0e2a9b"


@cache
def agent_python() -> str:
    """python3.10 if it runs here (pyenv puts a shim on PATH that may not), else this interpreter."""
    for candidate in ("python3.10", *sorted(Path("/root/.pyenv/versions").glob("3.10.*/bin/python3.10"))):
        try:
            subprocess.run([str(candidate), "-c", "pass"], check=True, capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        return str(candidate)
    return sys.executable


Start = Callable[[dict[str, Any]], subprocess.Popen[str]]


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Start]:
    processes: list[subprocess.Popen[str]] = []

    def start(config: dict[str, Any]) -> subprocess.Popen[str]:
        path = tmp_path / f"config-{len(processes)}.json"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        log = (tmp_path / f"agent-{len(processes)}.log").open("w")
        process = subprocess.Popen(
            [agent_python(), str(AGENT), "run", "--config", str(path)], stdout=log, stderr=log, text=True
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def config(api_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "api_url": api_url,
        "vm_name": "ana-churn",
        "token": TOKEN,
        "interval_seconds": 1,
        "sample_seconds": 1,
        **extra,
    }


def test_it_posts_what_it_reads_on_its_interval(tmp_path: Path, start_agent: Start) -> None:
    hub, api = FakeHub(), FakeApi()
    with running(hub, api):
        sources = VmSources(tmp_path / "vm", hub_url=hub.url).create()
        process = start_agent(
            config(
                api.url,
                jupyterhub_api_url=f"{hub.url}/hub/api",
                jupyterhub_token_file=str(tmp_path / "vm" / "hub-token"),
                sources=sources,
            )
        )
        eventually(lambda: len(api.reports()) >= 3, timeout=15, what="three reports")
        assert process.poll() is None

    reports = api.reports()[:3]
    for report in reports:
        assert report.path == "/api/vms/ana-churn/activity"
        assert report.headers["authorization"] == f"Bearer {TOKEN}"
        assert report.headers["content-type"] == "application/json"
        assert json.loads(report.body) == {
            "last_input": {
                "ssh": "2026-05-04T09:20:00+00:00",  # alice's tmux terminal, the newest access time
                "jupyter": "2026-05-04T09:41:02+00:00",  # alice's server, as the hub records it
                "rstudio": "2026-05-04T09:30:00+00:00",  # the session's last console command
            },
            "busy": {"kernels": 2, "gpu_percent": 87.0, "load1": 0.42},  # a busy kernel and R executing
        }
        # Times and counters only: no user name, path, or the user's own Jupyter token.
        for secret in (b"alice", b"bob", b"carol", b"/home", b"user-secret"):
            assert secret not in report.body
    gaps = [b.at - a.at for a, b in itertools.pairwise(reports)]
    assert all(0.7 < gap < 2.5 for gap in gaps), gaps
    kernel_requests = [r for r in hub.recorder.snapshot() if r.path.endswith("/api/kernels")]
    assert kernel_requests and all(r.query.get("no_track_activity") == ["1"] for r in kernel_requests)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_it_outlives_an_api_that_is_down_and_reports_once_it_is_back(tmp_path: Path, start_agent: Start) -> None:
    port = free_port()
    process = start_agent(config(f"http://127.0.0.1:{port}/api", sources={"homes": []}))
    log = tmp_path / "agent-0.log"
    eventually(lambda: log.read_text().count("not delivered") >= 2, timeout=15, what="two failed tries")
    assert process.poll() is None

    api = FakeApi(port=port, status=503)  # up, but failing
    with running(api):
        eventually(lambda: len(api.reports()) >= 1, timeout=15, what="a try against the failing API")
        api.status = 204
        tried = len(api.reports())
        eventually(lambda: len(api.reports()) >= tried + 2, timeout=15, what="reports once the API is back")
        assert process.poll() is None


def test_missing_sources_report_null_and_it_stops_cleanly(tmp_path: Path, start_agent: Start) -> None:
    absent = tmp_path / "absent"
    api = FakeApi()
    with running(api):
        process = start_agent(
            config(
                api.url,
                jupyterhub_token_file=str(absent / "hub-token"),
                sources={
                    "who": str(absent / "who"),
                    "dev": str(absent),
                    "proc": str(absent),
                    "loadavg": str(absent / "loadavg"),
                    "nvidia_smi": str(absent / "nvidia-smi"),
                    "homes": [str(absent)],
                },
            )
        )
        eventually(lambda: len(api.reports()) >= 2, timeout=15, what="two reports")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    for report in api.reports():
        assert json.loads(report.body) == {
            "last_input": {"ssh": None, "jupyter": None, "rstudio": None},
            "busy": {"kernels": 0, "gpu_percent": None, "load1": None},
        }


def test_a_bad_config_stops_it_naming_the_field(tmp_path: Path, start_agent: Start) -> None:
    process = start_agent(config("https://func.example.net/api", interval_seconds=0))
    assert process.wait(timeout=30) == 2
    assert "'interval_seconds'" in (tmp_path / "agent-0.log").read_text()


def test_busy_seen_while_the_api_was_down_is_reported_once_it_is_back(tmp_path: Path) -> None:
    nvidia_smi = script(tmp_path / "nvidia-smi", "95\n")
    port = free_port()
    settings = config(
        f"http://127.0.0.1:{port}/api",
        jupyterhub_token_file=str(tmp_path / "no-hub-token"),
        sources={"homes": [], "nvidia_smi": str(nvidia_smi)},
    )
    running_agent = dsvm_agent.Agent(dsvm_agent.parse_config(settings))
    assert not running_agent.post(running_agent.report())  # the GPU was busy while the API was down

    script(nvidia_smi, "0\n")  # the job has finished since
    api = FakeApi(port=port)
    with running(api):
        assert running_agent.post(running_agent.report())
        assert running_agent.post(running_agent.report())
    first, second = (json.loads(r.body)["busy"]["gpu_percent"] for r in api.reports())
    assert (first, second) == (95.0, 0.0)  # carried to the first accepted report, then no further
