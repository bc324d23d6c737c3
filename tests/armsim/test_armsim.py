"""Conformance of the ARM simulator, exercised through the real azure-mgmt-* and azure-monitor clients."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.monitor.querymetrics import MetricsClient

from .conftest import ArmEnv

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp0ZXN0a2V5Zm9ydGhlc2ltdWxhdG9y test@example"


def nsg_body(location: str) -> dict[str, Any]:
    rule = {
        "name": "ssh",
        "properties": {
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "22",
            "sourceAddressPrefix": "203.0.113.7/32",
            "destinationAddressPrefix": "*",
            "access": "Allow",
            "priority": 100,
            "direction": "Inbound",
        },
    }
    return {"location": location, "properties": {"securityRules": [rule]}}


def vm_body(
    env: ArmEnv,
    name: str,
    *,
    size: str = "Standard_D2s_v5",
    nsg_id: str | None = None,
    nic_id: str | None = None,
    delete_option: str = "Delete",
) -> dict[str, Any]:
    if nic_id is not None:
        network: dict[str, Any] = {"networkInterfaces": [{"id": nic_id, "properties": {"primary": True}}]}
    else:
        nic_props: dict[str, Any] = {
            "primary": True,
            "deleteOption": delete_option,
            "ipConfigurations": [
                {
                    "name": "ipconfig1",
                    "properties": {
                        "subnet": {"id": env.subnet_id},
                        "publicIPAddressConfiguration": {
                            "name": f"{name}-ip",
                            "sku": {"name": "Standard"},
                            "properties": {"deleteOption": delete_option, "publicIPAllocationMethod": "Static"},
                        },
                    },
                }
            ],
        }
        if nsg_id:
            nic_props["networkSecurityGroup"] = {"id": nsg_id}
        network = {
            "networkApiVersion": "2022-11-01",
            "networkInterfaceConfigurations": [{"name": f"{name}-nic", "properties": nic_props}],
        }
    return {
        "location": env.location,
        "tags": {"owner": "alice"},
        "properties": {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "imageReference": {
                    "publisher": "microsoft-dsvm",
                    "offer": "ubuntu-2204",
                    "sku": "2204-gen2",
                    "version": "latest",
                },
                "osDisk": {
                    "createOption": "FromImage",
                    "diskSizeGB": 256,
                    "deleteOption": delete_option,
                    "managedDisk": {"storageAccountType": "Premium_LRS"},
                },
            },
            "osProfile": {
                "computerName": name,
                "adminUsername": "azureuser",
                "linuxConfiguration": {
                    "disablePasswordAuthentication": True,
                    "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": SSH_KEY}]},
                },
            },
            "networkProfile": network,
        },
    }


def create_vm(env: ArmEnv, name: str, **kwargs: Any) -> Any:
    return env.compute.virtual_machines.begin_create_or_update(
        env.resource_group, name, vm_body(env, name, **kwargs)
    ).result()


def power_state(env: ArmEnv, name: str) -> str:
    view = env.compute.virtual_machines.instance_view(env.resource_group, name)
    codes = [s.code for s in view.statuses]
    return next((c.split("/", 1)[1] for c in codes if c.startswith("PowerState/")), "none")


def types_left(env: ArmEnv) -> dict[str, int]:
    counts: dict[str, int] = {}
    for resource in env.sim.resources():
        counts[resource["type"]] = counts.get(resource["type"], 0) + 1
    return counts


# Create


def test_create_with_nic_configuration_provisions_nic_ip_and_disk(arm: ArmEnv) -> None:
    nsg = arm.network.network_security_groups.begin_create_or_update(
        arm.resource_group, "nsg-vm1", nsg_body(arm.location)
    ).result()
    assert [r.name for r in nsg.default_security_rules] == [
        "AllowVnetInBound",
        "AllowAzureLoadBalancerInBound",
        "DenyAllInBound",
        "AllowVnetOutBound",
        "AllowInternetOutBound",
        "DenyAllOutBound",
    ]
    assert nsg.security_rules[0].id.endswith("/networkSecurityGroups/nsg-vm1/securityRules/ssh")

    vm = create_vm(arm, "vm1", nsg_id=nsg.id)
    assert vm.provisioning_state == "Succeeded"
    assert vm.storage_profile.os_disk.os_type == "Linux"
    assert vm.os_profile.secrets == []
    assert vm.security_profile.security_type == "Standard"
    assert len(vm.vm_id) == 36

    nic_id = vm.network_profile.network_interfaces[0].id
    nic = arm.network.network_interfaces.get(arm.resource_group, "vm1-nic")
    assert nic.id == nic_id
    assert nic.virtual_machine.id == vm.id
    assert nic.network_security_group.id == nsg.id
    assert nic.ip_configurations[0].private_ip_address == "10.20.0.4"
    pip = arm.network.public_ip_addresses.get(arm.resource_group, "vm1-ip")
    assert pip.ip_address == "203.0.113.1"
    assert pip.sku.name == "Standard"
    assert pip.ip_configuration.id == nic.ip_configurations[0].id
    disk = arm.compute.disks.get(arm.resource_group, vm.storage_profile.os_disk.name)
    assert disk.disk_size_gb == 256
    assert disk.managed_by == vm.id


def test_create_response_is_201_creating_with_async_operation(arm: ArmEnv) -> None:
    arm.sim.config(provision_seconds=60)
    url = f"{arm.url}/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}"
    url += "/providers/Microsoft.Compute/virtualMachines/vmraw?api-version=2024-07-01"
    headers = {"Authorization": "Bearer t"}
    with httpx.Client(verify=arm.ca) as http:
        response = http.put(url, json=vm_body(arm, "vmraw"), headers=headers)
        assert response.status_code == 201
        assert response.json()["properties"]["provisioningState"] == "Creating"
        assert "x-ms-request-id" in response.headers
        assert "retry-after" not in response.headers
        op_url = response.headers["azure-asyncoperation"]
        assert "/providers/Microsoft.Compute/locations/eastus/operations/" in op_url
        assert http.get(op_url, headers=headers).json()["status"] == "InProgress"
        arm.sim.advance(61)
        status = http.get(op_url, headers=headers).json()
        assert status["status"] == "Succeeded"
        assert status["endTime"]
        again = http.put(url, json=vm_body(arm, "vmraw"), headers=headers)
        assert again.status_code == 200
        assert again.json()["properties"]["provisioningState"] == "Updating"


def test_create_with_existing_nic(arm: ArmEnv) -> None:
    nic = arm.network.network_interfaces.begin_create_or_update(
        arm.resource_group,
        "nic-own",
        {
            "location": arm.location,
            "properties": {
                "ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": arm.subnet_id}}}]
            },
        },
    ).result()
    vm = create_vm(arm, "vm2", nic_id=nic.id)
    assert vm.network_profile.network_interfaces[0].id == nic.id
    assert arm.network.network_interfaces.get(arm.resource_group, "nic-own").virtual_machine.id == vm.id
    with pytest.raises(HttpResponseError) as info:
        arm.network.network_interfaces.begin_delete(arm.resource_group, "nic-own").result()
    assert info.value.error.code == "NicInUse"


def test_missing_existing_nic_is_not_found(arm: ArmEnv) -> None:
    missing = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}"
    missing += "/providers/Microsoft.Network/networkInterfaces/nope"
    with pytest.raises(HttpResponseError) as info:
        create_vm(arm, "vm3", nic_id=missing)
    assert info.value.error.code == "NotFound"


def test_validation_errors(arm: ArmEnv) -> None:
    with pytest.raises(HttpResponseError) as info:
        create_vm(arm, "vmbad", size="Standard_Bogus")
    assert info.value.status_code == 400
    assert info.value.error.code == "InvalidParameter"
    assert info.value.error.target == "vmSize"

    body = vm_body(arm, "vmbad")
    body["properties"]["osProfile"].pop("linuxConfiguration")
    with pytest.raises(HttpResponseError) as info:
        arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "vmbad", body).result()
    assert info.value.error.code == "InvalidParameter"
    assert info.value.error.target == "adminPassword"

    body = vm_body(arm, "vmbad")
    subnet = body["properties"]["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]
    subnet["ipConfigurations"][0]["properties"]["subnet"]["id"] = arm.subnet_id + "-missing"
    with pytest.raises(HttpResponseError) as info:
        arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "vmbad", body).result()
    assert info.value.error.code == "InvalidResourceReference"

    with pytest.raises(ResourceNotFoundError) as missing_group:
        arm.compute.virtual_machines.begin_create_or_update("rg-nope", "vmbad", vm_body(arm, "vmbad")).result()
    assert missing_group.value.error.code == "ResourceGroupNotFound"
    assert not [r for r in arm.sim.resources() if "vmbad" in r["name"]]


def test_allocation_failed_is_an_async_failure(arm: ArmEnv) -> None:
    arm.sim.config(unavailable_sizes={"Standard_NC6s_v3": "AllocationFailed"})
    with pytest.raises(HttpResponseError) as info:
        create_vm(arm, "gpu1", size="Standard_NC6s_v3")
    assert info.value.error.code == "AllocationFailed"
    vm = arm.compute.virtual_machines.get(arm.resource_group, "gpu1", expand="instanceView")
    assert vm.provisioning_state == "Failed"
    assert vm.instance_view.statuses[0].code == "ProvisioningState/failed/AllocationFailed"


def test_sku_not_available_and_quota_are_synchronous(arm: ArmEnv) -> None:
    arm.sim.config(unavailable_sizes={"Standard_NC6s_v3": "SkuNotAvailable"}, vcpu_quota={"eastus": 4})
    with pytest.raises(HttpResponseError) as info:
        create_vm(arm, "gpu2", size="Standard_NC6s_v3")
    assert info.value.status_code == 409
    assert info.value.error.code == "SkuNotAvailable"

    create_vm(arm, "small", size="Standard_D2s_v5")
    with pytest.raises(HttpResponseError) as info:
        create_vm(arm, "big", size="Standard_D4s_v5")
    assert info.value.status_code == 409
    assert info.value.error.code == "OperationNotAllowed"
    assert [d.code for d in info.value.error.details] == ["QuotaExceeded"]
    assert "Total Regional Cores quota" in info.value.error.message

    arm.compute.virtual_machines.begin_deallocate(arm.resource_group, "small").result()
    create_vm(arm, "big", size="Standard_D4s_v5")  # deallocated cores no longer count


# Read and list


def test_get_missing_vm_is_resource_not_found(arm: ArmEnv) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        arm.compute.virtual_machines.get(arm.resource_group, "ghost")
    assert info.value.error.code == "ResourceNotFound"
    assert "Microsoft.Compute/virtualMachines/ghost" in info.value.error.message


def test_paging_and_status_only(arm: ArmEnv) -> None:
    arm.sim.config(page_size=2)
    arm.sim.bulk_vms(
        subscription=arm.subscription, resource_group=arm.resource_group, location=arm.location, count=5, prefix="p"
    )
    arm.compute.virtual_machines.begin_deallocate(arm.resource_group, "p00003").result()
    arm.sim.clear_counters()
    names = [vm.name for vm in arm.compute.virtual_machines.list(arm.resource_group)]
    assert names == ["p00000", "p00001", "p00002", "p00003", "p00004"]
    assert arm.sim.counters()["requests"]["VirtualMachines_List"] == 3

    listed = list(arm.compute.virtual_machines.list_all(status_only="true"))
    assert len(listed) == 5
    states = {vm.name: [s.code for s in vm.instance_view.statuses] for vm in listed}
    assert states["p00000"] == ["ProvisioningState/succeeded", "PowerState/running"]
    assert states["p00003"][1] == "PowerState/deallocated"
    assert arm.sim.counters()["requests"]["VirtualMachines_ListAll"] == 3


def test_case_insensitive_paths(arm: ArmEnv) -> None:
    create_vm(arm, "CaseVm")
    assert arm.compute.virtual_machines.get(arm.resource_group.upper(), "casevm").name == "CaseVm"
    assert arm.resources.resource_groups.check_existence(arm.resource_group.upper())


def test_vm_sizes(arm: ArmEnv) -> None:
    sizes = {s.name: s for s in arm.compute.virtual_machine_sizes.list(arm.location)}
    assert sizes["Standard_E64s_v5"].number_of_cores == 64
    assert sizes["Standard_NC4as_T4_v3"].memory_in_mb == 28 * 1024


# Power


def test_power_transitions_via_instance_view(arm: ArmEnv) -> None:
    create_vm(arm, "pw")
    arm.sim.config(transition_seconds=30)
    vms = arm.compute.virtual_machines
    poller = vms.begin_deallocate(arm.resource_group, "pw")
    assert power_state(arm, "pw") == "deallocating"
    assert vms.get(arm.resource_group, "pw").provisioning_state == "Updating"
    with pytest.raises(HttpResponseError) as info:
        vms.begin_start(arm.resource_group, "pw").result()
    assert info.value.status_code == 409
    assert info.value.error.code == "OperationNotAllowed"
    arm.sim.advance(31)
    poller.result()
    assert power_state(arm, "pw") == "deallocated"

    arm.sim.config(transition_seconds=0)
    vms.begin_start(arm.resource_group, "pw").result()
    assert power_state(arm, "pw") == "running"
    vms.begin_power_off(arm.resource_group, "pw").result()
    assert power_state(arm, "pw") == "stopped"
    vms.begin_start(arm.resource_group, "pw").result()
    vms.begin_restart(arm.resource_group, "pw").result()
    assert power_state(arm, "pw") == "running"
    vms.begin_start(arm.resource_group, "pw").result()  # a no-op on a running VM


def test_clock_advance_completes_provisioning(arm: ArmEnv) -> None:
    arm.sim.config(provision_seconds=120)
    poller = arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "slow", vm_body(arm, "slow"))
    view = arm.compute.virtual_machines.instance_view(arm.resource_group, "slow")
    assert [s.code for s in view.statuses] == ["ProvisioningState/creating"]
    arm.sim.advance(121)
    assert poller.result().provisioning_state == "Succeeded"
    assert power_state(arm, "slow") == "running"


def test_patch_tags(arm: ArmEnv) -> None:
    create_vm(arm, "tagged")
    vm = arm.compute.virtual_machines.begin_update(arm.resource_group, "tagged", {"tags": {"owner": "bob"}}).result()
    assert vm.tags == {"owner": "bob"}
    assert vm.provisioning_state == "Succeeded"


# Delete


def test_delete_cascade_leaves_nothing(arm: ArmEnv) -> None:
    create_vm(arm, "gone", delete_option="Delete")
    arm.compute.virtual_machines.begin_delete(arm.resource_group, "gone").result()
    left = types_left(arm)
    for kind in (
        "Microsoft.Compute/virtualMachines",
        "Microsoft.Network/networkInterfaces",
        "Microsoft.Network/publicIPAddresses",
        "Microsoft.Compute/disks",
    ):
        assert kind not in left
    url = f"{arm.url}/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}"
    url += "/providers/Microsoft.Compute/virtualMachines/gone?api-version=2024-07-01"
    assert httpx.delete(url, headers={"Authorization": "Bearer t"}, verify=arm.ca).status_code == 204


def test_delete_with_detach_keeps_children(arm: ArmEnv) -> None:
    arm.sim.config(transition_seconds=10)
    create_vm(arm, "kept", delete_option="Detach")
    poller = arm.compute.virtual_machines.begin_delete(arm.resource_group, "kept")
    assert arm.compute.virtual_machines.get(arm.resource_group, "kept").provisioning_state == "Deleting"
    arm.sim.advance(11)
    poller.result()
    nic = arm.network.network_interfaces.get(arm.resource_group, "kept-nic")
    assert nic.virtual_machine is None
    assert arm.network.public_ip_addresses.get(arm.resource_group, "kept-ip").ip_address
    disks = list(arm.compute.disks.list_by_resource_group(arm.resource_group))
    assert [d.disk_state for d in disks] == ["Unattached"]
    arm.network.network_interfaces.begin_delete(arm.resource_group, "kept-nic").result()
    arm.network.public_ip_addresses.begin_delete(arm.resource_group, "kept-ip").result()


def test_in_use_network_resources_cannot_be_deleted(arm: ArmEnv) -> None:
    nsg = arm.network.network_security_groups.begin_create_or_update(
        arm.resource_group, "nsg-used", nsg_body(arm.location)
    ).result()
    create_vm(arm, "user", nsg_id=nsg.id)
    with pytest.raises(HttpResponseError) as info:
        arm.network.network_security_groups.begin_delete(arm.resource_group, "nsg-used").result()
    assert info.value.status_code == 400
    assert info.value.error.code == "InUseNetworkSecurityGroupCannotBeDeleted"
    with pytest.raises(HttpResponseError) as info:
        arm.network.public_ip_addresses.begin_delete(arm.resource_group, "user-ip").result()
    assert info.value.error.code == "PublicIPAddressInUse"
    arm.compute.virtual_machines.begin_delete(arm.resource_group, "user").result()
    arm.network.network_security_groups.begin_delete(arm.resource_group, "nsg-used").result()
    assert "Microsoft.Network/networkSecurityGroups" not in types_left(arm)


# Auth, throttling, faults


def test_requests_without_a_token_are_rejected(arm: ArmEnv) -> None:
    url = f"{arm.url}/subscriptions/{arm.subscription}/resourcegroups/{arm.resource_group}?api-version=2024-11-01"
    response = httpx.get(url, verify=arm.ca)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"
    assert response.headers["content-type"].startswith("application/json")


def test_injected_429_is_retried_after_retry_after(arm: ArmEnv) -> None:
    create_vm(arm, "retry")
    arm.sim.fault(method="GET", path=r"/virtualMachines/retry$", count=1, status=429, code="TooManyRequests",
                  retry_after=1)  # fmt: skip
    arm.sim.clear_counters()
    started = time.monotonic()
    assert arm.compute.virtual_machines.get(arm.resource_group, "retry").name == "retry"
    assert time.monotonic() - started >= 0.9
    assert arm.sim.counters()["requests"]["VirtualMachines_Get"] == 2


def test_token_bucket_throttles(arm: ArmEnv) -> None:
    arm.sim.config(throttle=True, throttle_scale=0.01)  # a bucket of 2 reads, 0.25 per second
    create_vm(arm, "busy")
    client = ComputeManagementClient(arm.credential, arm.subscription, **arm.client_kwargs(retry_total=0))
    statuses = []
    for _ in range(5):
        try:
            client.virtual_machines.get(arm.resource_group, "busy")
            statuses.append(200)
        except HttpResponseError as exc:
            statuses.append(exc.status_code)
            assert int(exc.response.headers["Retry-After"]) >= 1
    assert 429 in statuses
    assert arm.sim.counters()["requests"]["Throttled"] >= 1


def test_fault_latency(arm: ArmEnv) -> None:
    arm.sim.fault(method="*", path=r"/resourcegroups/rg-dsvm-workload$", count=1, status=0, latency_ms=400)
    started = time.monotonic()
    assert arm.resources.resource_groups.get(arm.resource_group).name == arm.resource_group
    assert time.monotonic() - started >= 0.4


# Metrics


def _minutes_ago(env: ArmEnv, minutes: int) -> datetime:
    now = datetime.fromisoformat(env.sim.clock()["now"].replace("Z", "+00:00"))
    return now - timedelta(minutes=minutes)


def test_metrics_per_resource(arm: ArmEnv) -> None:
    vm = create_vm(arm, "m1")
    arm.sim.load("m1", cpu_percent=37.5, network_in_bytes_per_min=12345)
    arm.sim.advance(600)
    start, end = _minutes_ago(arm, 5), _minutes_ago(arm, 0)
    url = f"{arm.url}{vm.id}/providers/Microsoft.Insights/metrics"
    params = {
        "timespan": f"{start.isoformat()}/{end.isoformat()}",
        "interval": "PT1M",
        "metricnames": "Percentage CPU,Network In Total",
        "aggregation": "Average,Maximum,Total",
        "api-version": "2023-10-01",
    }
    response = httpx.get(url, params=params, headers={"Authorization": "Bearer t"}, verify=arm.ca)
    assert response.status_code == 200
    body = response.json()
    cpu, net = body["value"]
    assert cpu["unit"] == "Percent" and net["unit"] == "Bytes"
    cpu_points = [p for p in cpu["timeseries"][0]["data"] if "average" in p]
    assert cpu_points and all(p["average"] == 37.5 for p in cpu_points)
    assert all(p["total"] == 12345 for p in net["timeseries"][0]["data"] if "total" in p)

    arm.compute.virtual_machines.begin_deallocate(arm.resource_group, "m1").result()
    arm.sim.advance(600)
    start, end = _minutes_ago(arm, 5), _minutes_ago(arm, 0)
    params["timespan"] = f"{start.isoformat()}/{end.isoformat()}"
    body = httpx.get(url, params=params, headers={"Authorization": "Bearer t"}, verify=arm.ca).json()
    assert all(set(p) == {"timeStamp"} for p in body["value"][0]["timeseries"][0]["data"])


def test_metrics_batch_with_querymetrics_client(arm: ArmEnv) -> None:
    arm.sim.bulk_vms(subscription=arm.subscription, resource_group=arm.resource_group, location=arm.location,
                     count=3, prefix="b", since=_minutes_ago(arm, 60).isoformat())  # fmt: skip
    arm.sim.load("b00001", cpu_percent=80, history=[{"from": _minutes_ago(arm, 30).isoformat(), "cpu_percent": 2}])
    ids = [vm.id for vm in arm.compute.virtual_machines.list(arm.resource_group)]
    client = MetricsClient(arm.url, arm.credential, connection_verify=arm.ca)
    end = _minutes_ago(arm, 0).astimezone(UTC)
    results = client.query_resources(
        resource_ids=ids,
        metric_namespace="Microsoft.Compute/virtualMachines",
        metric_names=["Percentage CPU"],
        timespan=(end - timedelta(minutes=50), end),
        granularity=timedelta(minutes=10),
        aggregations=["Average", "Maximum"],
    )
    assert len(results) == 3
    # MetricsQueryResult has no resource id; each metric id starts with it.
    busy = next(r for r in results if "/virtualMachines/b00001/" in r.metrics[0].id)
    points = busy.metrics[0].timeseries[0].data
    averages = [p.average for p in points if p.average is not None]
    assert averages[0] == 80
    assert averages[-1] == 2
    with pytest.raises(HttpResponseError):
        client.query_resources(
            resource_ids=ids * 17,
            metric_namespace="Microsoft.Compute/virtualMachines",
            metric_names=["Percentage CPU"],
        )
    assert arm.sim.counters()["requests"]["Metrics_Batch"] == 2
    client.close()


def test_action_location_polling_and_headers(arm: ArmEnv) -> None:
    create_vm(arm, "raw")
    arm.sim.config(transition_seconds=30, throttle=True)
    base = f"{arm.url}/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}"
    url = f"{base}/providers/Microsoft.Compute/virtualMachines/raw/powerOff?api-version=2024-07-01"
    headers = {"Authorization": "Bearer t"}
    with httpx.Client(verify=arm.ca, headers=headers) as http:
        response = http.post(url)
        assert response.status_code == 202
        assert response.content == b""
        assert "x-ms-ratelimit-remaining-subscription-writes" in response.headers
        location = response.headers["location"]
        assert "monitor=true" in location
        assert http.get(location).status_code == 202
        arm.sim.advance(31)
        done = http.get(location)
        assert done.status_code == 200
        assert done.content == b""
        assert "x-ms-ratelimit-remaining-subscription-reads" in done.headers


def test_vnet_subnet_and_resource_group_lifecycle(arm: ArmEnv) -> None:
    groups = arm.resources.resource_groups
    group = groups.create_or_update("rg-extra", {"location": "westeurope"})
    assert group.properties.provisioning_state == "Succeeded"
    vnets = arm.network.virtual_networks
    vnet = vnets.begin_create_or_update(
        "rg-extra",
        "vnet-x",
        {
            "location": "westeurope",
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "a", "properties": {"addressPrefix": "10.0.0.0/24"}}],
            },
        },
    ).result()
    assert vnet.subnets[0].id.endswith("/virtualNetworks/vnet-x/subnets/a")
    subnets = arm.network.subnets
    subnets.begin_create_or_update("rg-extra", "vnet-x", "b", {"properties": {"addressPrefix": "10.0.1.0/24"}}).result()
    assert sorted(s.name for s in vnets.get("rg-extra", "vnet-x").subnets) == ["a", "b"]
    with pytest.raises(HttpResponseError) as info:
        subnets.begin_create_or_update(
            "rg-extra", "vnet-x", "c", {"properties": {"addressPrefix": "192.168.0.0/24"}}
        ).result()
    assert info.value.error.code == "NetcfgSubnetRangeOutsideVnet"
    subnets.begin_delete("rg-extra", "vnet-x", "b").result()
    with pytest.raises(ResourceNotFoundError):
        subnets.get("rg-extra", "vnet-x", "b")
    groups.begin_delete("rg-extra").result()
    assert not groups.check_existence("rg-extra")
    assert not [r for r in arm.sim.resources() if "/rg-extra/" in r["id"].lower()]


# Conditional writes


def test_if_none_match_star_creates_once_then_412(arm: ArmEnv) -> None:
    from azure.core import MatchConditions

    vms = arm.compute.virtual_machines
    vm = vms.begin_create_or_update(
        arm.resource_group, "once", vm_body(arm, "once"), match_condition=MatchConditions.IfMissing
    ).result()
    assert vm.provisioning_state == "Succeeded"
    body = vm_body(arm, "once")
    body["tags"] = {"owner": "mallory"}
    with pytest.raises(HttpResponseError) as info:
        vms.begin_create_or_update(arm.resource_group, "once", body, match_condition=MatchConditions.IfMissing).result()
    assert info.value.status_code == 412
    assert info.value.error.code == "PreconditionFailed"
    assert vms.get(arm.resource_group, "once").tags == {"owner": "alice"}  # untouched


def test_if_none_match_and_if_match_on_other_puts(arm: ArmEnv) -> None:
    headers = {"Authorization": "Bearer t", "If-None-Match": "*"}
    base = f"{arm.url}/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}"
    nsg_url = f"{base}/providers/Microsoft.Network/networkSecurityGroups/nsg-c?api-version=2026-03-01"
    with httpx.Client(verify=arm.ca) as http:
        assert http.put(nsg_url, json=nsg_body(arm.location), headers=headers).status_code == 201
        again = http.put(nsg_url, json=nsg_body(arm.location), headers=headers)
        assert again.status_code == 412
        assert again.json()["error"]["code"] == "PreconditionFailed"
        group_url = f"{base}?api-version=2025-04-01"
        assert http.put(group_url, json={"location": arm.location}, headers=headers).status_code == 412
        etag = http.get(nsg_url, headers={"Authorization": "Bearer t"}).json()["etag"]
        stale = http.put(nsg_url, json=nsg_body(arm.location), headers={"Authorization": "Bearer t", "If-Match": '"x"'})
        assert stale.status_code == 412
        fresh = http.put(nsg_url, json=nsg_body(arm.location), headers={"Authorization": "Bearer t", "If-Match": etag})
        assert fresh.status_code == 200


# Custom data


def test_custom_data_is_kept_never_returned_and_readable_through_sim(arm: ArmEnv) -> None:
    import base64

    script = "#cloud-config\nruncmd:\n  - echo hello\n"
    body = vm_body(arm, "cinit")
    body["properties"]["osProfile"]["customData"] = base64.b64encode(script.encode()).decode()
    arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "cinit", body).result()
    for vm in (
        arm.compute.virtual_machines.get(arm.resource_group, "cinit", expand="instanceView"),
        arm.compute.virtual_machines.get(arm.resource_group, "cinit", expand="userData"),
        next(iter(arm.compute.virtual_machines.list(arm.resource_group))),
    ):
        assert "customData" not in vm.as_dict()["properties"]["osProfile"]
    seen = arm.sim.custom_data("cinit")
    assert seen["raw"] == body["properties"]["osProfile"]["customData"]
    assert seen["decoded"] == script


@pytest.mark.parametrize("custom_data", ["not base64!", "A" * 87384])
def test_custom_data_over_the_limit_or_not_base64_is_invalid_parameter(arm: ArmEnv, custom_data: str) -> None:
    body = vm_body(arm, "cbad")
    body["properties"]["osProfile"]["customData"] = custom_data
    with pytest.raises(HttpResponseError) as info:
        arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "cbad", body).result()
    assert info.value.status_code == 400
    assert info.value.error.code == "InvalidParameter"
    assert info.value.error.target == "customData"
    assert "maximum length of 87380 characters" in info.value.error.message


def test_custom_data_at_the_limit_is_accepted(arm: ArmEnv) -> None:
    import base64

    body = vm_body(arm, "cmax")
    body["properties"]["osProfile"]["customData"] = base64.b64encode(b"x" * 65535).decode()
    assert len(body["properties"]["osProfile"]["customData"]) == 87380
    arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "cmax", body).result()


# OS disk floor


@pytest.mark.parametrize(
    ("image", "floor"),
    [
        ({"publisher": "microsoft-dsvm", "offer": "ubuntu-2204", "sku": "2204-gen2", "version": "latest"}, 150),
        ({"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2",
          "version": "latest"}, 30),
    ],
)  # fmt: skip
def test_os_disk_smaller_than_the_image_is_refused_and_omitted_takes_the_image_size(
    arm: ArmEnv, image: dict[str, str], floor: int
) -> None:
    body = vm_body(arm, "small")
    body["properties"]["storageProfile"]["imageReference"] = image
    body["properties"]["storageProfile"]["osDisk"]["diskSizeGB"] = floor - 1
    with pytest.raises(HttpResponseError) as info:
        arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "small", body).result()
    assert info.value.status_code == 409
    assert info.value.error.code == "OperationNotAllowed"
    assert info.value.error.target == "osDisk.diskSizeGB"
    assert info.value.error.message == (
        f"The specified disk size {floor - 1} GB is smaller than the size of the corresponding disk in the VM image: "
        f"{floor} GB. This is not allowed. Please choose equal or greater size or do not specify an explicit size."
    )
    assert not [r for r in arm.sim.resources() if "small" in r["name"]]
    del body["properties"]["storageProfile"]["osDisk"]["diskSizeGB"]
    vm = arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "small", body).result()
    assert vm.storage_profile.os_disk.disk_size_gb == floor
    assert arm.compute.disks.get(arm.resource_group, vm.storage_profile.os_disk.name).disk_size_gb == floor
