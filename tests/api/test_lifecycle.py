"""The VM lifecycle over HTTP: API (uvicorn) → Azurite and the ARM simulator."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.support.keys import ed25519_key
from tests.support.polling import resources_named, wait_for_state


def body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "size": "Standard_E4s_v5",
        "ssh_public_key": ed25519_key(),
        "allowed_cidrs": ["203.0.113.7/32"],
        **extra,
    }


def test_create_reaches_running_with_urls_then_stop_start_delete(
    api: httpx.Client, sim: httpx.Client, vm_name: str, user_name: str
) -> None:
    created = api.post("/vms", json=body(vm_name, ttl_hours=4, tags={"project": "churn"}))
    assert created.status_code == 202, created.text
    assert created.headers["location"] == f"/api/vms/{vm_name}"
    assert created.json()["state"] == "Creating"
    assert created.json()["owner"] == user_name

    running = wait_for_state(api, vm_name, "Running")
    ip = running["public_ip"]
    assert ip
    assert running["power_state"] == "running"
    assert running["jupyterhub_url"] == f"https://{ip}:8000"
    assert running["rstudio_url"] == f"http://{ip}:8787"
    assert running["ssh"] == f"ssh azureuser@{ip}"

    kinds = {r["type"].lower() for r in resources_named(sim, vm_name)}
    assert kinds >= {
        "microsoft.compute/virtualmachines",
        "microsoft.network/networksecuritygroups",
        "microsoft.network/networkinterfaces",
        "microsoft.network/publicipaddresses",
        "microsoft.compute/disks",
    }

    stopping = api.post(f"/vms/{vm_name}/stop")
    assert stopping.status_code == 202, stopping.text
    stopped = wait_for_state(api, vm_name, "Stopped")
    assert stopped["power_state"] == "deallocated"
    assert stopped["still_billing"] is False

    assert api.post(f"/vms/{vm_name}/start").status_code == 202
    assert wait_for_state(api, vm_name, "Running")["power_state"] == "running"

    deleting = api.delete(f"/vms/{vm_name}")
    assert deleting.status_code == 202, deleting.text
    wait_for_state(api, vm_name, "Deleted")
    assert resources_named(sim, vm_name) == []

    listed = api.get("/vms").json()["value"]
    assert vm_name not in [v["name"] for v in listed]
    with_deleted = api.get("/vms", params={"include_deleted": "true"}).json()["value"]
    assert vm_name in [v["name"] for v in with_deleted]

    events = api.get(f"/vms/{vm_name}/events").json()["value"]
    times = [e["time"] for e in events]
    assert times == sorted(times, reverse=True)
    actions = [e["action"] for e in reversed(events)]
    assert actions[0] == "create"
    assert [e["action"] for e in reversed(events) if e["actor"] == user_name] == ["create", "stop", "start", "delete"]
    worker_steps = [e["reason"] for e in reversed(events) if e["actor"] == "system:worker"]
    assert worker_steps[:2] == ["the network security group is ready", "the VM create is sent to Azure"]
    assert events[0]["state"] == "Deleted"


def test_nsg_opens_only_the_three_ports_to_the_given_cidrs(api: httpx.Client, settings: Any, vm_name: str) -> None:
    from shared.azure.arm import Arm

    assert api.post("/vms", json=body(vm_name, allowed_cidrs=["198.51.100.0/24", "203.0.113.9"])).status_code == 202
    wait_for_state(api, vm_name, "Running")
    nsg = Arm(settings).network.network_security_groups.get(settings.resource_group, f"{vm_name}-nsg")
    rules = nsg.properties.security_rules
    assert sorted(int(r.properties.destination_port_range) for r in rules) == [22, 8000, 8787]
    for rule in rules:
        assert rule.properties.access == "Allow"
        assert rule.properties.source_address_prefixes == ["198.51.100.0/24", "203.0.113.9/32"]
        assert rule.properties.source_address_prefix in (None, "")


def test_default_cidr_is_the_callers_address(api: httpx.Client, vm_name: str) -> None:
    request = body(vm_name)
    del request["allowed_cidrs"]
    created = api.post("/vms", json=request, headers={"X-Forwarded-For": "198.51.100.23:50123"})
    assert created.status_code == 202, created.text
    assert created.json()["allowed_cidrs"] == ["198.51.100.23/32"]


def test_second_create_of_a_name_conflicts(api: httpx.Client, vm_name: str) -> None:
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    again = api.post("/vms", json=body(vm_name))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


def test_twenty_parallel_creates_of_one_name_accept_exactly_one(
    api: httpx.Client, sim: httpx.Client, vm_name: str
) -> None:
    request = body(vm_name)
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda _: api.post("/vms", json=request).status_code, range(20)))
    assert sorted(statuses) == [202] + [409] * 19
    vms = [r for r in resources_named(sim, vm_name) if r["type"].lower().endswith("virtualmachines")]
    assert len(vms) == 1


def test_idempotency_key_replays_the_first_answer(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    request = body(vm_name)
    first = api.post("/vms", json=request, headers={"Idempotency-Key": "k-" + vm_name})
    assert first.status_code == 202, first.text
    again = api.post("/vms", json=request, headers={"Idempotency-Key": "k-" + vm_name})
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == f"/api/vms/{vm_name}"

    other = api.post("/vms", json={**request, "os_disk_gb": 512}, headers={"Idempotency-Key": "k-" + vm_name})
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    wait_for_state(api, vm_name, "Running")
    vms = [r for r in resources_named(sim, vm_name) if r["type"].lower().endswith("virtualmachines")]
    assert len(vms) == 1


def test_another_users_vm_is_not_revealed(
    api: httpx.Client, admin: httpx.Client, stack: Any, store: Any, vm_name: str
) -> None:
    from tests.conftest import issue

    assert api.post("/vms", json=body(vm_name)).status_code == 202
    headers = {"Authorization": f"Bearer {issue(store, 'mallory@example.com')}"}
    with httpx.Client(base_url=stack.api_url, headers=headers) as other:
        for response in (
            other.get(f"/vms/{vm_name}"),
            other.delete(f"/vms/{vm_name}"),
            other.post(f"/vms/{vm_name}/stop"),
            other.get(f"/vms/{vm_name}/events"),
        ):
            assert response.status_code == 404, response.text
        assert vm_name not in [v["name"] for v in other.get("/vms").json()["value"]]
    assert admin.get(f"/vms/{vm_name}").status_code == 200
    assert vm_name in [v["name"] for v in admin.get("/vms").json()["value"]]


def test_action_during_a_transition_is_refused(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    sim.patch("/config", json={"transition_seconds": 3600}).raise_for_status()
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    wait_for_state(api, vm_name, "Running")
    assert api.post(f"/vms/{vm_name}/stop").status_code == 202
    refused = api.post(f"/vms/{vm_name}/start")
    assert refused.status_code == 409
    assert "Stopping" in refused.json()["detail"]


def test_concurrent_start_and_delete_end_deleted(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    wait_for_state(api, vm_name, "Running")
    assert api.post(f"/vms/{vm_name}/stop").status_code == 202
    wait_for_state(api, vm_name, "Stopped")
    with ThreadPoolExecutor(max_workers=2) as pool:
        start = pool.submit(api.post, f"/vms/{vm_name}/start")
        delete = pool.submit(api.delete, f"/vms/{vm_name}")
        answers = [start.result(), delete.result()]
    # One write wins the record's ETag; the loser is told to look again (409 with Retry-After), never half-done.
    for answer in answers:
        assert answer.status_code in (202, 409), answer.text
        if answer.status_code == 409:
            assert answer.headers["retry-after"]
    if answers[1].status_code == 409:
        assert api.delete(f"/vms/{vm_name}").status_code == 202  # delete is accepted in every state
    wait_for_state(api, vm_name, "Deleted")
    assert resources_named(sim, vm_name) == []


def test_unauthenticated_calls_get_401_with_challenge(stack: Any) -> None:
    with httpx.Client(base_url=stack.api_url) as anonymous:
        for response in (anonymous.get("/vms"), anonymous.get("/vms", headers={"Authorization": "Bearer dsvm_nope"})):
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.headers["content-type"].startswith("application/problem+json")
        assert anonymous.get("/health").status_code == 200
