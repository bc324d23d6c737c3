"""ARM faults end in a consistent record with nothing leaked, and every retry the API advises works."""

from __future__ import annotations

import httpx

from tests.api.test_lifecycle import body
from tests.support.polling import eventually, resources_named, wait_for_state


def vm_path(name: str) -> str:
    return f"/virtualMachines/{name}$"


def test_a_vm_put_that_always_fails_ends_failed_then_the_same_request_succeeds(
    api: httpx.Client, sim: httpx.Client, vm_name: str
) -> None:
    fault = {"method": "PUT", "path": vm_path(vm_name), "count": 1000, "status": 500, "code": "InternalServerError"}
    sim.post("/faults", json=fault).raise_for_status()
    response = api.post("/vms", json=body(vm_name))
    assert response.status_code == 202, response.text
    record = wait_for_state(api, vm_name, "Failed", timeout=90)
    assert record["error_code"] == "InternalServerError"
    assert "Create it again" in record["error_message"]
    eventually(lambda: resources_named(sim, vm_name) == [], what="cleanup")

    # Nothing was left in Azure, so the name is free again: the same request now goes through.
    sim.delete("/faults").raise_for_status()
    again = api.post("/vms", json=body(vm_name))
    assert again.status_code == 202, again.text
    assert again.json()["id"] != response.json()["id"]
    wait_for_state(api, vm_name, "Running")


def test_allocation_failure_ends_failed_and_cleans_up(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    sim.patch("/config", json={"unavailable_sizes": {"Standard_E8s_v5": "AllocationFailed"}}).raise_for_status()
    response = api.post("/vms", json=body(vm_name, size="Standard_E8s_v5"))
    assert response.status_code == 202, response.text
    record = wait_for_state(api, vm_name, "Failed")
    assert record["error_code"] == "AllocationFailed"
    # The failed VM (it never ran) and its NSG are removed by the worker.
    eventually(lambda: resources_named(sim, vm_name) == [], what="failed VM and NSG removal")
    assert api.get(f"/vms/{vm_name}").json()["state"] == "Failed"


def test_quota_exceeded_fails_the_create_with_what_to_change(
    api: httpx.Client, sim: httpx.Client, vm_name: str
) -> None:
    sim.patch("/config", json={"vcpu_quota": {"eastus": 2}}).raise_for_status()
    response = api.post("/vms", json=body(vm_name))
    assert response.status_code == 202, response.text
    record = wait_for_state(api, vm_name, "Failed")
    assert record["error_code"] == "QuotaExceeded"
    assert "quota" in record["error_message"].lower()
    eventually(lambda: resources_named(sim, vm_name) == [], what="NSG removal")

    sim.patch("/config", json={"vcpu_quota": {"eastus": 100}}).raise_for_status()
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    wait_for_state(api, vm_name, "Running")


def test_sku_not_available_fails_the_create(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    sim.patch("/config", json={"unavailable_sizes": {"Standard_E4s_v5": "SkuNotAvailable"}}).raise_for_status()
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    assert wait_for_state(api, vm_name, "Failed")["error_code"] == "SkuNotAvailable"
    eventually(lambda: resources_named(sim, vm_name) == [], what="NSG removal")


def test_a_429_storm_is_retried_and_the_create_goes_through(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    storm = {"method": "*", "path": vm_name, "count": 2, "status": 429, "code": "TooManyRequests", "retry_after": 1}
    sim.post("/faults", json=storm).raise_for_status()
    response = api.post("/vms", json=body(vm_name))
    assert response.status_code == 202, response.text
    wait_for_state(api, vm_name, "Running")


def test_latency_does_not_break_the_flow(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    slow = {"method": "*", "path": vm_name, "count": 20, "status": 0, "latency_ms": 300}
    sim.post("/faults", json=slow).raise_for_status()
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    wait_for_state(api, vm_name, "Running")
    assert api.delete(f"/vms/{vm_name}").status_code == 202
    wait_for_state(api, vm_name, "Deleted")
    assert resources_named(sim, vm_name) == []
