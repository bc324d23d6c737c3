"""What Azure reports, as plain data: a VM as observed, metric samples, ARM's refusals, and the names of a
VM's child resources. The pure core decides on these; `shared.azure.arm` produces them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ChildNames:
    nsg: str
    nic: str
    ip_config: str
    public_ip: str
    os_disk: str


def child_names(vm_name: str) -> ChildNames:
    return ChildNames(
        nsg=f"{vm_name}-nsg",
        nic=f"{vm_name}-nic",
        ip_config=f"{vm_name}-ipconfig",
        public_ip=f"{vm_name}-ip",
        os_disk=f"{vm_name}-osdisk",
    )


@dataclass(frozen=True)
class ObservedVm:
    """What ARM reports about one VM, as plain data for the reconcile and sweep decisions."""

    name: str
    provisioning_state: str
    power_state: str | None
    error_code: str | None = None
    error_message: str | None = None
    size: str | None = None
    time_created: datetime | None = None
    # When ARM's last operation on the VM finished (the instance view's provisioning status `time`): the moment
    # its current power state took hold, if an action brought it.
    changed_at: datetime | None = None
    # The `dsvm-record` tag: the id of the record this VM was created for (None: not the control plane's).
    record_id: str | None = None


@dataclass(frozen=True)
class Sample:
    """One metrics interval of one VM: the highest CPU percentage and the bytes received."""

    timestamp: datetime
    cpu_max_percent: float | None
    network_in_bytes: float | None


def ours(record_id: str, vm: ObservedVm | None) -> ObservedVm | None:
    """The VM if its tag says it belongs to this record; a VM of the same name that does not is not ours,
    and the control plane never acts on it: for the record, it is as if the VM were absent."""
    return vm if vm is not None and vm.record_id == record_id else None


class ArmError(Exception):
    """ARM refused or failed a call; `status` is the HTTP status (0 when ARM was unreachable)."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(status, code, message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
