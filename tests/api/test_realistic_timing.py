"""Issue 16: with Azure's timing (the simulator's `azure` profile: network operations that stay Updating
with a 10 s Retry-After, VM creates and power actions that take a minute or more), a create is answered
before any of that work starts, and the queue worker carries the VM to Running through the SDK's pollers."""

from __future__ import annotations

import time

import httpx

from tests.api.test_lifecycle import body
from tests.support.polling import resources_named, wait_for_state

# Simulated durations run this many times faster than real time (a 120 s create takes 3 s here); ARM's
# Retry-After is still honoured in real seconds by the pollers.
SPEED = 40


def test_with_azures_timing_the_create_is_answered_before_any_arm_work_and_reaches_running(
    api: httpx.Client, sim: httpx.Client, vm_name: str
) -> None:
    sim.patch("/config", json={"profile": "azure"}).raise_for_status()
    sim.post("/clock", json={"speed": SPEED}).raise_for_status()

    created = api.post("/vms", json=body(vm_name))
    assert created.status_code == 202, created.text
    # The NSG takes a 10 s Retry-After before the VM PUT can go: a handler that waited would show a VM now.
    kinds = {r["type"].lower() for r in resources_named(sim, vm_name)}
    assert "microsoft.compute/virtualmachines" not in kinds
    assert created.json()["state"] == "Creating"

    started = time.monotonic()
    running = wait_for_state(api, vm_name, "Running", timeout=120)
    assert running["public_ip"]
    steps = [e["reason"] for e in reversed(api.get(f"/vms/{vm_name}/events").json()["value"])]
    assert steps.index("the network security group is ready") < steps.index("the VM create is sent to Azure")
    assert time.monotonic() - started > 5, "the worker waited for the NSG as Azure asks (Retry-After)"

    assert api.post(f"/vms/{vm_name}/stop").status_code == 202
    wait_for_state(api, vm_name, "Stopped", timeout=120)
    assert api.delete(f"/vms/{vm_name}").status_code == 202
    wait_for_state(api, vm_name, "Deleted", timeout=180)
    assert resources_named(sim, vm_name) == []
