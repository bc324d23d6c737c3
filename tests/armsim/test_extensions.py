"""VM extensions as Compute serves them: long-running PUT/DELETE, protectedSettings never returned, refused
while the VM is not running, shown in the instance view."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from .conftest import ArmEnv
from .test_armsim import create_vm

VMACCESS = {
    "location": "eastus",
    "properties": {
        "publisher": "Microsoft.OSTCExtensions",
        "type": "VMAccessForLinux",
        "typeHandlerVersion": "1.5",
        "autoUpgradeMinorVersion": True,
        "settings": {},
        "protectedSettings": {"username": "azureuser", "password": "N3w-Secret!pw"},
    },
}


def _ext_url(env: ArmEnv, vm: str, name: str = "") -> str:
    base = (
        f"{env.url}/subscriptions/{env.subscription}/resourceGroups/{env.resource_group}"
        f"/providers/Microsoft.Compute/virtualMachines/{vm}/extensions"
    )
    return f"{base}/{name}?api-version=2026-04-01" if name else f"{base}?api-version=2026-04-01"


def test_vmaccess_reset_through_the_sdk_never_returns_protected_settings(arm: ArmEnv) -> None:
    create_vm(arm, "acc")
    exts = arm.compute.virtual_machine_extensions
    ext = exts.begin_create_or_update(arm.resource_group, "acc", "enablevmaccess", VMACCESS).result()
    assert ext.provisioning_state == "Succeeded"
    assert ext.publisher == "Microsoft.OSTCExtensions"
    assert ext.properties.type == "VMAccessForLinux"
    for shown in (
        exts.get(arm.resource_group, "acc", "enablevmaccess").as_dict(),
        exts.list(arm.resource_group, "acc").as_dict(),
        arm.compute.virtual_machines.get(arm.resource_group, "acc").as_dict(),
    ):
        assert "N3w-Secret!pw" not in str(shown)
        assert "protected" not in str(shown).lower()
    vm = arm.compute.virtual_machines.get(arm.resource_group, "acc", expand="instanceView")
    [status] = vm.instance_view.extensions
    assert status.name == "enablevmaccess"
    assert status.type == "Microsoft.OSTCExtensions.VMAccessForLinux"
    assert status.statuses[0].code == "ProvisioningState/succeeded"
    assert vm.instance_view.vm_agent.extension_handlers[0].type == "Microsoft.OSTCExtensions.VMAccessForLinux"
    seen = arm.sim.extension("acc", "enablevmaccess")
    assert seen["received"]["properties"]["protectedSettings"] == {"username": "azureuser", "password": "N3w-Secret!pw"}


def test_extension_put_and_delete_are_long_running(arm: ArmEnv) -> None:
    create_vm(arm, "lro")
    arm.sim.config(timing={"extension_put": {"seconds": 30}, "extension_delete": {"seconds": 20}})
    headers = {"Authorization": "Bearer t"}
    with httpx.Client(verify=arm.ca, headers=headers) as http:
        created = http.put(_ext_url(arm, "lro", "acc"), json=VMACCESS)
        assert created.status_code == 201
        assert created.json()["properties"]["provisioningState"] == "Creating"
        assert "protectedSettings" not in created.json()["properties"]
        status_url = created.headers["azure-asyncoperation"]
        assert http.get(status_url).json()["status"] == "InProgress"
        assert http.get(_ext_url(arm, "lro", "acc")).json()["properties"]["provisioningState"] == "Creating"
        arm.sim.advance(31)
        assert http.get(status_url).json()["status"] == "Succeeded"
        again = http.put(_ext_url(arm, "lro", "acc"), json=VMACCESS)
        assert again.status_code == 200
        assert again.json()["properties"]["provisioningState"] == "Updating"
        arm.sim.advance(31)
        deleted = http.delete(_ext_url(arm, "lro", "acc"))
        assert deleted.status_code == 202
        assert http.get(_ext_url(arm, "lro", "acc")).json()["properties"]["provisioningState"] == "Deleting"
        arm.sim.advance(21)
        assert http.get(_ext_url(arm, "lro", "acc")).status_code == 404
        assert http.get(_ext_url(arm, "lro")).json() == {"value": []}
        assert http.delete(_ext_url(arm, "lro", "acc")).status_code == 204


def test_extensions_are_refused_while_the_vm_is_not_running(arm: ArmEnv) -> None:
    create_vm(arm, "off")
    exts = arm.compute.virtual_machine_extensions
    exts.begin_create_or_update(arm.resource_group, "off", "acc", VMACCESS).result()
    arm.compute.virtual_machines.begin_deallocate(arm.resource_group, "off").result()
    for attempt in (
        lambda: exts.begin_create_or_update(arm.resource_group, "off", "acc", VMACCESS).result(),
        lambda: exts.begin_delete(arm.resource_group, "off", "acc").result(),
    ):
        with pytest.raises(HttpResponseError) as info:
            attempt()
        assert info.value.status_code == 409
        assert info.value.error.code == "OperationNotAllowed"
        assert info.value.error.message == "Cannot modify extensions in the VM when the VM is not running."


def test_extension_bodies_are_strict_and_go_with_their_vm(arm: ArmEnv) -> None:
    create_vm(arm, "strict")
    body: dict[str, Any] = {"location": "eastus", "properties": {**VMACCESS["properties"], "protectedSetting": {}}}
    response = httpx.put(
        _ext_url(arm, "strict", "acc"), json=body, headers={"Authorization": "Bearer t"}, verify=arm.ca
    )
    assert response.status_code == 400
    assert "Path 'properties.protectedSetting'" in response.json()["error"]["message"]
    arm.compute.virtual_machine_extensions.begin_create_or_update(
        arm.resource_group, "strict", "acc", VMACCESS
    ).result()
    arm.compute.virtual_machines.begin_delete(arm.resource_group, "strict").result()
    assert not [r for r in arm.sim.resources() if r["type"].endswith("/extensions")]
    writes = [r["operation"] for r in arm.sim.history("strict")["requests"]]
    assert writes.count("VirtualMachineExtensions_CreateOrUpdate") == 2
