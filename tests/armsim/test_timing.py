"""The `azure` timing profile: latency before ARM answers, long-running operations that take Azure's time on
the simulator clock, Retry-After that the SDK pollers honour."""

from __future__ import annotations

import time

import httpx
import pytest
from azure.mgmt.network import NetworkManagementClient

from tools.armsim.client import SimProcess

from .conftest import ArmEnv
from .test_armsim import nsg_body, power_state, vm_body


def _vm_url(env: ArmEnv, name: str) -> str:
    return (
        f"{env.url}/subscriptions/{env.subscription}/resourceGroups/{env.resource_group}"
        f"/providers/Microsoft.Compute/virtualMachines/{name}?api-version=2026-04-01"
    )


def test_azure_profile_vm_put_latency_and_create_duration(arm: ArmEnv) -> None:
    arm.sim.config(profile="azure")
    headers = {"Authorization": "Bearer t"}
    with httpx.Client(verify=arm.ca, headers=headers, timeout=30) as http:
        started = time.monotonic()
        created = http.put(_vm_url(arm, "slow"), json=vm_body(arm, "slow"))
        assert created.status_code == 201
        assert time.monotonic() - started >= 1.5  # a VM PUT answers after 1-2 s
        started = time.monotonic()
        assert http.get(_vm_url(arm, "slow")).status_code == 200
        assert 0.08 <= time.monotonic() - started < 1.0
    arm.sim.advance(110)
    assert power_state(arm, "slow") == "none"
    arm.sim.advance(15)
    assert power_state(arm, "slow") == "running"


def test_azure_profile_durations_follow_the_clock_speed(arm: ArmEnv) -> None:
    arm.sim.bulk_vms(subscription=arm.subscription, resource_group=arm.resource_group, location=arm.location,
                     count=1, prefix="fast", power_state="deallocated")  # fmt: skip
    arm.sim.config(profile="azure")
    arm.sim.clock(speed=100)
    started = time.monotonic()
    poller = arm.compute.virtual_machines.begin_start(arm.resource_group, "fast00000", polling_interval=0.1)
    assert power_state(arm, "fast00000") == "starting"
    poller.result()
    elapsed = time.monotonic() - started
    assert power_state(arm, "fast00000") == "running"
    # 45 simulated seconds at speed 100 (plus the answers' own latency, shortened the same way).
    assert 0.4 <= elapsed < 5


def test_network_poller_honours_retry_after_not_its_own_interval(arm: ArmEnv) -> None:
    arm.sim.config(profile="azure", timing={"network_put": {"retry_after": 1, "seconds": 0.5}})
    network = NetworkManagementClient(arm.credential, arm.subscription, **arm.client_kwargs(polling_interval=30))
    arm.sim.clear_counters()
    started = time.monotonic()
    nsg = network.network_security_groups.begin_create_or_update(
        arm.resource_group, "nsg-az", nsg_body(arm.location)
    ).result()
    elapsed = time.monotonic() - started
    assert nsg.provisioning_state == "Succeeded"
    assert arm.sim.counters()["requests"]["Operations_Get"] == 2  # in progress, then (after Retry-After) done
    assert 1.0 <= elapsed < 10  # Retry-After's 1 s, never the client's 30 s
    network.close()


def test_azure_profile_network_put_advises_ten_seconds(arm: ArmEnv) -> None:
    arm.sim.config(profile="azure")
    url = _vm_url(arm, "x").replace("Microsoft.Compute/virtualMachines/x", "Microsoft.Network/networkSecurityGroups/n")
    response = httpx.put(url, json=nsg_body(arm.location), headers={"Authorization": "Bearer t"}, verify=arm.ca)
    assert response.status_code == 201
    assert response.headers["retry-after"] == "10"
    assert response.json()["properties"]["provisioningState"] == "Updating"
    status = httpx.get(response.headers["azure-asyncoperation"], headers={"Authorization": "Bearer t"}, verify=arm.ca)
    assert status.json() == {"status": "InProgress"}
    assert status.headers["retry-after"] == "10"


@pytest.mark.parametrize(
    "change",
    [{"profile": "fast"}, {"timing": {"vm_teleport": {"seconds": 1}}}, {"timing": {"vm_start": {"seconds": -1}}}],
)
def test_bad_timing_config_is_refused(arm: ArmEnv, change: dict[str, object]) -> None:
    response = arm.sim.http.patch("/_sim/config", json=change)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidConfig"


def test_profile_flag(tmp_path_factory: pytest.TempPathFactory) -> None:
    with SimProcess(tmp_path_factory.mktemp("armsim-profile"), "--profile", "azure") as process:
        control = process.control()
        assert control.config()["profile"] == "azure"
        control.close()
