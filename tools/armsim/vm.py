"""A VM's runtime state (power, provisioning, history) and how it is shown: the VM body and its
instance view (VirtualMachine_Get.json, VirtualMachine_Get_InstanceView.json)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import iso
from .history import VmLedger
from .sizes import VmSize
from .state import Resource

VM_TYPE = "Microsoft.Compute/virtualMachines"
DISK_TYPE = "Microsoft.Compute/disks"

TRANSITIONAL = {"starting", "stopping", "deallocating"}
_PROVISIONING_DISPLAY = {
    "succeeded": "Provisioning succeeded",
    "failed": "Provisioning failed",
    "creating": "Creating",
    "updating": "Updating",
    "deleting": "Deleting",
}


@dataclass
class Child:
    key: str
    delete_option: str
    primary: bool = True


@dataclass
class VmRuntime:
    size: VmSize
    created: datetime
    power: str | None = None
    provisioning_time: datetime | None = None
    busy: str | None = None
    busy_reason: str = ""
    delete_op: str | None = None
    epoch: int = 0
    error: dict[str, str] | None = None
    nics: list[Child] = field(default_factory=list)
    pips: list[Child] = field(default_factory=list)
    os_disk: Child | None = None
    user_data: str | None = None
    # osProfile.customData as sent; Azure never returns it (GET /_sim/vms/{name}/custom-data shows it).
    custom_data: str | None = None
    # (time, running) at each change; metrics only report minutes when the guest was running.
    history: list[tuple[datetime, bool]] = field(default_factory=list)
    ledger: VmLedger | None = None

    def set_power(self, state: str, when: datetime) -> None:
        self.power = state
        running = state in ("running",)
        if not self.history or self.history[-1][1] != running:
            self.history.append((when, running))
        if self.ledger is not None:
            self.ledger.record(when, power=state)

    def running_at(self, when: datetime) -> bool:
        pos = bisect.bisect_right(self.history, (when, True)) - 1
        return pos >= 0 and self.history[pos][1]

    @property
    def allocated(self) -> bool:
        """Counts against the regional vCPU quota (deallocated and failed-to-allocate VMs do not)."""
        return self.power != "deallocated" and not (self.power is None and self.error is not None)


def runtime(vm: Resource) -> VmRuntime:
    rt: VmRuntime = vm.meta["vm"]
    return rt


def set_provisioning(vm: Resource, state: str, when: datetime) -> None:
    vm.properties["provisioningState"] = state
    rt = runtime(vm)
    rt.provisioning_time = when
    if rt.ledger is not None:
        rt.ledger.record(when, provisioning=state)


def provisioning_status(vm: Resource) -> dict[str, Any]:
    rt = runtime(vm)
    state = str(vm.properties.get("provisioningState", "Succeeded")).lower()
    code = f"ProvisioningState/{state}"
    status: dict[str, Any] = {"code": code, "level": "Info", "displayStatus": _PROVISIONING_DISPLAY.get(state, state)}
    if state == "failed" and rt.error:
        status["code"] = f"{code}/{rt.error['code']}"
        status["level"] = "Error"
        status["message"] = rt.error["message"]
    if rt.provisioning_time is not None:
        status["time"] = rt.provisioning_time.isoformat()
    return status


def power_status(rt: VmRuntime) -> dict[str, Any] | None:
    if rt.power is None:
        return None
    return {"code": f"PowerState/{rt.power}", "level": "Info", "displayStatus": f"VM {rt.power}"}


def statuses(vm: Resource) -> list[dict[str, Any]]:
    power = power_status(runtime(vm))
    return [provisioning_status(vm)] + ([power] if power else [])


def instance_view(vm: Resource, disk_name: str | None, extensions: list[dict[str, Any]]) -> dict[str, Any]:
    rt = runtime(vm)
    view: dict[str, Any] = {"computerName": vm.properties.get("osProfile", {}).get("computerName", vm.name)}
    if rt.power == "running":
        view["osName"] = "ubuntu"
        view["osVersion"] = "22.04"
        view["vmAgent"] = {
            "vmAgentVersion": "2.11.1.12",
            "statuses": [
                {
                    "code": "ProvisioningState/succeeded",
                    "level": "Info",
                    "displayStatus": "Ready",
                    "message": "Guest Agent is running",
                    "time": iso(rt.history[-1][0]) if rt.history else None,
                }
            ],
            "extensionHandlers": [
                {
                    "type": ext["type"],
                    "typeHandlerVersion": ext["typeHandlerVersion"],
                    "status": {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready"},
                }
                for ext in extensions
            ],
        }
    if disk_name:
        when = rt.created.isoformat()
        view["disks"] = [
            {
                "name": disk_name,
                "statuses": [
                    {
                        "code": "ProvisioningState/succeeded",
                        "level": "Info",
                        "displayStatus": "Provisioning succeeded",
                        "time": when,
                    }
                ],
            }
        ]
    if extensions:
        view["extensions"] = extensions
    view["hyperVGeneration"] = "V2"
    view["statuses"] = statuses(vm)
    return view
