"""/_sim/history: every VM's life and every write request for it, enough to recount cost and audit deletes
independently of the product."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from .conftest import ArmEnv
from .test_armsim import create_vm

ALLOCATED = {"starting", "running", "stopping", "stopped", "deallocating"}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def compute_seconds(vm: dict[str, Any]) -> float:
    """Seconds billed for compute: while allocated, until the VM is deleted."""
    total = 0.0
    transitions = vm["transitions"]
    for entry, following in zip(transitions, [*transitions[1:], None], strict=True):
        end = _at(following["at"]) if following else _at(vm["deleted"])
        if entry["power"] in ALLOCATED:
            total += (end - _at(entry["at"])).total_seconds()
    return total


def test_history_recounts_allocated_time_and_lists_every_write(arm: ArmEnv) -> None:
    arm.sim.config(transition_seconds=60)
    vms = arm.compute.virtual_machines
    create_vm(arm, "hist")
    arm.sim.advance(3600)
    deallocate = vms.begin_deallocate(arm.resource_group, "hist")
    arm.sim.advance(60)
    deallocate.result()
    arm.sim.advance(7200)
    arm.sim.fault(method="POST", path=r"/virtualMachines/hist/start$", count=1, status=429, code="TooManyRequests",
                  retry_after=0)  # fmt: skip
    start = vms.begin_start(arm.resource_group, "hist")
    arm.sim.advance(60)
    start.result()
    arm.sim.advance(1800)
    delete = vms.begin_delete(arm.resource_group, "hist")
    arm.sim.advance(60)
    delete.result()
    url = f"{arm.url}/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}"
    url += "/providers/Microsoft.Compute/virtualMachines/hist?api-version=2026-04-01"
    assert httpx.delete(url, headers={"Authorization": "Bearer t"}, verify=arm.ca).status_code == 204

    history = arm.sim.history("hist")
    [vm] = history["vms"]
    assert vm["size"] == "Standard_D2s_v5"
    assert vm["os_disk"] == {"type": "Premium_LRS", "size_gb": 256}
    assert vm["tags"] == {"owner": "alice"}
    assert vm["deleted"] is not None
    states = [(t["provisioning"], t["power"]) for t in vm["transitions"]]
    assert states == [
        ("Creating", None),
        ("Succeeded", "running"),
        ("Updating", "deallocating"),
        ("Succeeded", "deallocated"),
        ("Updating", "starting"),
        ("Succeeded", "running"),
        ("Deleting", "running"),
    ]
    # 3600 s running + 60 s deallocating, then 60 s starting + 1800 s running + 60 s deleting, give or take
    # the real time the calls took at clock speed 1.
    assert abs(compute_seconds(vm) - 5580) < 30
    disk_seconds = (_at(vm["deleted"]) - _at(vm["created"])).total_seconds()
    assert abs(disk_seconds - 12780) < 30

    writes = [(r["method"], r["operation"], r["status"]) for r in history["requests"]]
    assert writes == [
        ("PUT", "VirtualMachines_CreateOrUpdate", 201),
        ("POST", "VirtualMachines_Deallocate", 202),
        ("POST", "VirtualMachines_Start", 429),
        ("POST", "VirtualMachines_Start", 202),
        ("DELETE", "VirtualMachines_Delete", 202),
        ("DELETE", "VirtualMachines_Delete", 204),
    ]
    assert history["requests"][2]["code"] == "TooManyRequests"


def test_history_keeps_each_life_of_a_name_until_reset(arm: ArmEnv) -> None:
    create_vm(arm, "again")
    arm.compute.virtual_machines.begin_delete(arm.resource_group, "again").result()
    create_vm(arm, "again", size="Standard_D4s_v5")
    create_vm(arm, "other")
    lives = arm.sim.history("again")["vms"]
    assert [(v["size"], v["deleted"] is None) for v in lives] == [("Standard_D2s_v5", False), ("Standard_D4s_v5", True)]
    assert {v["name"] for v in arm.sim.history()["vms"]} == {"again", "other"}
    arm.sim.reset()
    assert arm.sim.history() == {"vms": [], "requests": []}
