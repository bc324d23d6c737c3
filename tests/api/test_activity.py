"""Issue 12: activity reports through the API, from the real agent installed by the create, into decisions."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from shared.azure.tables import Store
from shared.azure.webhook import Webhook
from shared.settings import Settings
from shared.sweeper import sweep
from tests.api.test_lifecycle import body
from tests.api.test_sweeper import advance, events
from tests.conftest import issue
from tests.support.polling import eventually, wait_for_state
from tests.support.services import Clock, clocked
from tools.devstack import Stack

AGENT = Path(__file__).resolve().parents[2] / "agent" / "dsvm_agent.py"
QUIET = {"last_input": {"ssh": None, "jupyter": None, "rstudio": None}, "busy": {"kernels": 0}}


def installed_agent_config(sim: httpx.Client, name: str) -> dict[str, Any]:
    """The agent's config as the create put it into the VM's customData (cloud-init write_files)."""
    decoded = sim.get(f"/vms/{name}/custom-data").raise_for_status().json()["decoded"]
    assert decoded.startswith("#cloud-config\n")
    cloud_config = json.loads(decoded.split("\n", 1)[1])
    written = next(f for f in cloud_config["write_files"] if f["path"] == "/etc/dsvm-agent/config.json")
    assert written["permissions"] == "0600"
    config: dict[str, Any] = json.loads(written["content"])
    return config


def test_the_agent_the_create_installs_reports_with_its_own_token(
    api: httpx.Client, sim: httpx.Client, store: Store, stack: Stack, tmp_path: Path, vm_name: str
) -> None:
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    wait_for_state(api, vm_name, "Running")
    config = installed_agent_config(sim, vm_name)
    assert config["vm_name"] == vm_name and config["api_url"] == stack.api_url
    token = config["token"]
    record = store.get_vm(vm_name)
    assert record is not None and record.agent_token_hash and token not in record.model_dump_json()

    # The real agent, as a process, with the config the VM got (posting every second here).
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**config, "interval_seconds": 1}))
    agent = subprocess.Popen([sys.executable, str(AGENT), "run", "--config", str(path)], stderr=subprocess.PIPE)
    try:
        eventually(lambda: vm_name in store.list_activity(), what="the agent's first report")
    finally:
        agent.terminate()
        agent.wait(timeout=10)
    seen = store.list_activity()[vm_name]
    assert seen.record_id == record.id

    # The token is good for this VM's activity only.
    agent_auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.api_url, headers=agent_auth) as as_agent:
        assert as_agent.post(f"/vms/{vm_name}/activity", json=QUIET).status_code == 204
        assert as_agent.get(f"/vms/{vm_name}").status_code == 401
        other = f"{vm_name}-2"
        assert api.post("/vms", json=body(other)).status_code == 202
        assert as_agent.post(f"/vms/{other}/activity", json=QUIET).status_code == 401


def test_owners_may_report_and_reports_are_not_rate_limited(
    api: httpx.Client, stack: Stack, store: Store, vm_name: str
) -> None:
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    for _ in range(40):  # more than the 30 changes a minute a person may make
        assert api.post(f"/vms/{vm_name}/activity", json=QUIET).status_code == 204
    mallory = {"Authorization": f"Bearer {issue(store, 'mallory@example.com')}"}
    assert httpx.post(f"{stack.api_url}/vms/{vm_name}/activity", json=QUIET, headers=mallory).status_code == 404


def test_bad_reports_are_refused_naming_the_field(api: httpx.Client, vm_name: str) -> None:
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for report, field in (
        ({"last_input": {"ssh": later}}, "last_input.ssh"),
        ({"last_input": {"jupyter": "2026-11-28T10:00:00"}}, "last_input.jupyter"),
        ({"busy": {"gpu_percent": 250}}, "busy.gpu_percent"),
        ({"busy": {"kernels": -1}}, "busy.kernels"),
        ({"busy": {"command": "vim"}}, "busy.command"),
    ):
        answer = api.post(f"/vms/{vm_name}/activity", json=report)
        assert answer.status_code == 422, (report, answer.text)
        assert field in [e["field"] for e in answer.json()["errors"]], answer.json()
    nan = api.post(
        f"/vms/{vm_name}/activity", content=b'{"busy": {"load1": NaN}}', headers={"Content-Type": "application/json"}
    )
    assert nan.status_code == 422


def test_the_sweeper_keeps_a_quiet_vm_someone_is_using_and_stops_it_once_they_leave(
    api: httpx.Client, sim: httpx.Client, settings: Settings, vm_name: str
) -> None:
    idle = {"window_minutes": 15, "cpu_percent": 5, "network_in_mb": 50}
    assert api.post("/vms", json=body(vm_name, idle=idle)).status_code == 202
    wait_for_state(api, vm_name, "Running")
    now = advance(sim, 1)
    reading = {"last_input": {"jupyter": (now - timedelta(minutes=3)).isoformat()}, "busy": {"kernels": 0}}
    svc = clocked(settings, Clock(now))
    from shared import operations
    from shared.core.activity import ActivityReport

    operations.record_activity(svc, svc.store.get_vm(vm_name), ActivityReport.model_validate(reading))  # type: ignore[arg-type]
    kept = sweep(svc, Webhook(None), now)
    assert vm_name not in {a["vm"] for a in kept.actions}, "quiet CPU, but its owner reads a notebook"
    assert kept.warnings == 0, "nor is its owner told it looks idle"

    later = now + timedelta(minutes=20)
    svc.clock.now = later  # type: ignore[attr-defined]
    operations.record_activity(svc, svc.store.get_vm(vm_name), ActivityReport.model_validate(reading))  # type: ignore[arg-type]
    advance(sim, 20 / 60)
    warned = sweep(svc, Webhook(None), later)
    assert (warned.warnings, warned.actions) == (1, []), "no input for the window: warned a pass ahead"
    last = later + timedelta(minutes=5)
    svc.clock.now = last  # type: ignore[attr-defined]
    advance(sim, 5 / 60)
    gone = sweep(svc, Webhook(None), last)
    assert {a["vm"]: a["rule"] for a in gone.actions}.get(vm_name) == "idle"
    stop = next(e for e in events(api, vm_name) if e["action"] == "deallocate")
    assert stop["evidence"]["activity"]["reported"] is True
