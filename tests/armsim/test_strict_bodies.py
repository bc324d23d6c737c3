"""Strict request bodies: an unknown member anywhere is refused as the resource provider refuses it;
read-only members are accepted and dropped; network PUTs report Updating until their operation ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute.models import VirtualMachine
from azure.mgmt.network.models import NetworkSecurityGroup

from shared.azure.arm import nsg_body as product_nsg_body
from shared.azure.arm import vm_body as product_vm_body
from shared.core import passwords
from shared.core.cloudinit import cloud_config, custom_data
from shared.core.models import ImagePreset
from shared.settings import Settings
from tests.support.factories import vm_record

from .conftest import ArmEnv
from .test_armsim import SSH_KEY, nsg_body, vm_body


def _nic_props(body: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = body["properties"]["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]
    return props


def test_misspelled_vm_member_is_invalid_request_content_naming_member_and_path(arm: ArmEnv) -> None:
    body = vm_body(arm, "typo")
    nic = _nic_props(body)
    nic["deleteOptions"] = nic.pop("deleteOption")  # the mistake that once left NICs behind in Azure
    with pytest.raises(HttpResponseError) as info:
        arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "typo", VirtualMachine(body)).result()
    assert info.value.status_code == 400
    assert info.value.error.code == "InvalidRequestContent"
    message = info.value.error.message
    assert message.startswith("The request content was invalid and could not be deserialized: 'Could not find member ")
    assert "'deleteOptions'" in message
    assert "Path 'properties.networkProfile.networkInterfaceConfigurations[0].properties.deleteOptions'" in message
    assert ", line 1, position " in message
    assert not [r for r in arm.sim.resources() if "typo" in r["name"]]


def test_unknown_member_position_points_at_its_value(arm: ArmEnv) -> None:
    url = f"{arm.url}/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}"
    url += "/providers/Microsoft.Compute/virtualMachines/pos?api-version=2026-04-01"
    text = '{\n  "location": "eastus",\n  "AccountType": "Standard_LRS"\n}'
    response = httpx.put(url, content=text, headers={"Authorization": "Bearer t"}, verify=arm.ca)
    assert response.status_code == 400
    # JSON.NET's wording for the same mistake (github.com/Azure/azure-sdk-for-net/issues/3487): line 3, and the
    # position after `  "AccountType": `.
    assert response.json()["error"]["message"] == (
        "The request content was invalid and could not be deserialized: 'Could not find member 'AccountType' on "
        "object of type 'ResourceDefinition'. Path 'AccountType', line 3, position 17.'."
    )


def test_members_match_case_insensitively_and_read_only_members_are_dropped(arm: ArmEnv) -> None:
    body = vm_body(arm, "ro")
    body["properties"]["StorageProfile"] = body["properties"].pop("storageProfile")
    body["properties"]["vmId"] = "00000000-0000-0000-0000-0000000000aa"
    body["properties"]["provisioningState"] = "Succeeded"
    body["resources"] = []
    body["etag"] = '"7"'
    vm = arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "ro", body).result()
    assert vm.vm_id != "00000000-0000-0000-0000-0000000000aa"
    assert vm.storage_profile.os_disk.disk_size_gb == 256


def test_patch_vm_with_unknown_member_is_refused(arm: ArmEnv) -> None:
    arm.compute.virtual_machines.begin_create_or_update(arm.resource_group, "pt", vm_body(arm, "pt")).result()
    with pytest.raises(HttpResponseError) as info:
        arm.compute.virtual_machines.begin_update(arm.resource_group, "pt", {"tag": {"a": "b"}}).result()
    assert info.value.error.code == "InvalidRequestContent"
    assert "Path 'tag'" in info.value.error.message


def test_network_unknown_member_is_invalid_request_format(arm: ArmEnv) -> None:
    body = nsg_body(arm.location)
    body["properties"]["securityRules"][0]["properties"]["destinationPort"] = "22"
    with pytest.raises(HttpResponseError) as info:
        arm.network.network_security_groups.begin_create_or_update(
            arm.resource_group, "nsg-typo", NetworkSecurityGroup(body)
        ).result()
    assert info.value.status_code == 400
    assert info.value.error.code == "InvalidRequestFormat"
    assert info.value.error.message == "Cannot parse the request."
    detail = info.value.error.details[0]
    assert detail.code == "InvalidJson"
    assert "Could not find member 'destinationPort'" in detail.message
    assert "Path 'properties.securityRules[0].properties.destinationPort'" in detail.message


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("publicIPAddresses", {"location": "eastus", "properties": {"publicIPAllocationMethd": "Static"}}),
        ("virtualNetworks", {"location": "eastus", "properties": {"addressSpace": {"prefixes": ["10.9.0.0/16"]}}}),
        ("networkInterfaces", {"location": "eastus", "properties": {"ipConfiguration": []}}),
    ],
)
def test_every_network_put_is_strict(arm: ArmEnv, kind: str, body: dict[str, Any]) -> None:
    url = f"{arm.url}/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}"
    url += f"/providers/Microsoft.Network/{kind}/x?api-version=2026-03-01"
    response = httpx.put(url, json=body, headers={"Authorization": "Bearer t"}, verify=arm.ca)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["code"] == "InvalidJson"


def test_subnet_and_resource_group_bodies_are_strict(arm: ArmEnv) -> None:
    with pytest.raises(HttpResponseError) as info:
        arm.network.subnets.begin_create_or_update(
            arm.resource_group, "vnet-dsvm", "s2", {"properties": {"addressPrefix": "10.20.16.0/24", "nsg": {}}}
        ).result()
    assert info.value.error.code == "InvalidRequestFormat"
    with pytest.raises(HttpResponseError) as info:
        arm.resources.resource_groups.create_or_update("rg-x", {"location": "eastus", "lables": {}})
    assert info.value.error.code == "InvalidRequestContent"
    with pytest.raises(HttpResponseError) as info:
        arm.network.public_ip_addresses.update_tags(arm.resource_group, "x", {"tags": {}, "sku": {}})
    assert info.value.error.code == "InvalidRequestFormat"


def test_product_bodies_are_accepted(arm: ArmEnv) -> None:
    now = datetime.now(UTC)
    settings = Settings.model_validate(
        {
            "AZURE_SUBSCRIPTION_ID": arm.subscription,
            "DSVM_RESOURCE_GROUP": arm.resource_group,
            "DSVM_LOCATION": arm.location,
            "DSVM_SUBNET_ID": arm.subnet_id,
            "DSVM_TABLES_CONNECTION": "UseDevelopmentStorage=true",
            "DSVM_QUEUE": "UseDevelopmentStorage=true",
        }
    )
    for image, password in ((ImagePreset.DSVM_UBUNTU_2204, None), (ImagePreset.UBUNTU_2204, "Str0ng!Passw0rd")):
        record = vm_record(now, now + timedelta(hours=8), name=f"prod-{image.name.lower()[:4]}", image=image,
                           ssh_public_key=SSH_KEY, password_auth=password is not None)  # fmt: skip
        config = cloud_config(record.admin_username, passwords.linux_hash(password) if password else None)
        throwaway = passwords.generate() if password else None
        arm.network.network_security_groups.begin_create_or_update(
            arm.resource_group, f"{record.name}-nsg", NetworkSecurityGroup(product_nsg_body(record))
        ).result()
        vm = arm.compute.virtual_machines.begin_create_or_update(
            arm.resource_group,
            record.name,
            VirtualMachine(product_vm_body(record, settings, custom_data(config), throwaway)),
        ).result()
        assert vm.provisioning_state == "Succeeded"
        arm.compute.virtual_machines.begin_delete(arm.resource_group, record.name).result()
        left = [r["name"] for r in arm.sim.resources() if r["name"].startswith(record.name)]
        assert left == [f"{record.name}-nsg"]  # NIC, public IP and disk went with the VM


def _nsg_url(env: ArmEnv, name: str) -> str:
    return (
        f"{env.url}/subscriptions/{env.subscription}/resourceGroups/{env.resource_group}"
        f"/providers/Microsoft.Network/networkSecurityGroups/{name}?api-version=2026-03-01"
    )


def test_nsg_put_reports_updating_until_its_operation_completes(arm: ArmEnv) -> None:
    arm.sim.config(timing={"network_put": {"seconds": 12, "retry_after": 10}})
    headers = {"Authorization": "Bearer t"}
    with httpx.Client(verify=arm.ca, headers=headers) as http:
        created = http.put(_nsg_url(arm, "nsg-slow"), json=nsg_body(arm.location))
        assert created.status_code == 201
        assert created.json()["properties"]["provisioningState"] == "Updating"
        assert created.headers["retry-after"] == "10"
        status_url = created.headers["azure-asyncoperation"]
        assert "/providers/Microsoft.Network/locations/eastus/operations/" in status_url
        assert http.get(_nsg_url(arm, "nsg-slow")).json()["properties"]["provisioningState"] == "Updating"
        polled = http.get(status_url)
        assert polled.json() == {"status": "InProgress"}
        assert polled.headers["retry-after"] == "10"
        arm.sim.advance(12)
        assert http.get(status_url).json() == {"status": "Succeeded"}
        assert "retry-after" not in http.get(status_url).headers
        assert http.get(_nsg_url(arm, "nsg-slow")).json()["properties"]["provisioningState"] == "Succeeded"


def test_instant_profile_nsg_poller_finishes_at_its_first_poll(arm: ArmEnv) -> None:
    arm.sim.clear_counters()
    nsg = arm.network.network_security_groups.begin_create_or_update(
        arm.resource_group, "nsg-fast", nsg_body(arm.location)
    ).result()
    assert nsg.provisioning_state == "Succeeded"
    requests = arm.sim.counters()["requests"]
    assert requests["Operations_Get"] == 1
    assert requests["NetworkSecurityGroups_Get"] == 1  # the poller's final GET


def test_network_delete_reports_deleting_and_refuses_a_put_meanwhile(arm: ArmEnv) -> None:
    arm.network.network_security_groups.begin_create_or_update(
        arm.resource_group, "nsg-del", nsg_body(arm.location)
    ).result()
    arm.sim.config(timing={"network_delete": {"seconds": 20}})
    poller = arm.network.network_security_groups.begin_delete(arm.resource_group, "nsg-del")
    assert arm.network.network_security_groups.get(arm.resource_group, "nsg-del").provisioning_state == "Deleting"
    response = httpx.put(_nsg_url(arm, "nsg-del"), json=nsg_body(arm.location), headers={"Authorization": "Bearer t"},
                         verify=arm.ca)  # fmt: skip
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "AnotherOperationInProgress"
    arm.sim.advance(21)
    poller.result()
    assert "Microsoft.Network/networkSecurityGroups" not in {r["type"] for r in arm.sim.resources()}


def test_vnet_put_without_subnets_keeps_them(arm: ArmEnv) -> None:
    vnets = arm.network.virtual_networks
    vnet = vnets.begin_create_or_update(
        arm.resource_group,
        "vnet-dsvm",
        {
            "location": arm.location,
            "tags": {"env": "dev"},
            "properties": {"addressSpace": {"addressPrefixes": ["10.20.0.0/16"]}},
        },
    ).result()
    assert vnet.tags == {"env": "dev"}
    assert [s.name for s in vnets.get(arm.resource_group, "vnet-dsvm").subnets] == ["snet-dsvm"]
