"""How long each kind of ARM operation takes: the latency before the first answer, how long its
long-running operation stays in progress (on the simulator clock), and the Retry-After it advises.

Profiles: `instant` (the default: no latency; a VM create takes `provision_seconds`, power actions, deletes
and extensions `transition_seconds`; everything else finishes at once) and `azure` (the figures in
docs/azure-timing.md, with their sources). Config `timing` overrides any kind in either profile."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import ArmError

if TYPE_CHECKING:
    from .config import SimConfig

KINDS = (
    "read",
    "write",
    "vm_create",
    "vm_update",
    "vm_start",
    "vm_deallocate",
    "vm_power_off",
    "vm_restart",
    "vm_delete",
    "network_put",
    "network_delete",
    "extension_put",
    "extension_delete",
)
PROFILES = ("instant", "azure")
_FIELDS = {"latency_ms", "seconds", "retry_after"}


@dataclass(frozen=True)
class Timing:
    latency: float = 0.0  # seconds before the first answer
    seconds: float = 0.0  # how long the operation stays in progress, in simulator seconds
    retry_after: int = 0  # Retry-After sent with the answer and with status polls in progress; 0 sends none


# docs/azure-timing.md gives the source of each figure and the range it was chosen from.
AZURE = {
    "read": Timing(latency=0.08),
    "write": Timing(latency=0.3),
    "vm_create": Timing(latency=1.5, seconds=120.0),
    "vm_update": Timing(latency=1.0, seconds=10.0),
    "vm_start": Timing(latency=0.5, seconds=45.0),
    "vm_deallocate": Timing(latency=0.5, seconds=60.0),
    "vm_power_off": Timing(latency=0.5, seconds=30.0),
    "vm_restart": Timing(latency=0.5, seconds=40.0),
    "vm_delete": Timing(latency=0.5, seconds=60.0),
    "network_put": Timing(latency=0.5, seconds=3.0, retry_after=10),
    "network_delete": Timing(latency=0.5, seconds=5.0, retry_after=10),
    "extension_put": Timing(latency=1.0, seconds=30.0),
    "extension_delete": Timing(latency=0.5, seconds=20.0),
}


def _instant(config: SimConfig, kind: str) -> Timing:
    if kind == "vm_create":
        seconds = config.provision_seconds
    elif kind != "vm_update" and (kind.startswith("vm_") or kind.startswith("extension_")):
        seconds = config.transition_seconds
    else:
        seconds = 0.0
    return Timing(0.0, seconds, config.retry_after_seconds)


def kind_of(operation: str, method: str, exists: bool) -> str:
    """The timing kind of one ARM request, from its route's operation name."""
    if method in ("GET", "HEAD"):
        return "read"
    if operation == "VirtualMachines_CreateOrUpdate":
        return "vm_update" if exists else "vm_create"
    if operation.startswith("VirtualMachines_"):
        action = operation.split("_", 1)[1]
        found = {"Update": "vm_update", "Start": "vm_start", "Deallocate": "vm_deallocate",
                 "PowerOff": "vm_power_off", "Restart": "vm_restart", "Delete": "vm_delete"}.get(action)  # fmt: skip
        return found or "write"
    if operation.startswith("VirtualMachineExtensions_"):
        return "extension_delete" if method == "DELETE" else "extension_put"
    if operation.split("_", 1)[0] in _NETWORK_OPERATIONS:
        if operation.endswith("_CreateOrUpdate"):
            return "network_put"
        if method == "DELETE":
            return "network_delete"
    return "write"


_NETWORK_OPERATIONS = {"NetworkSecurityGroups", "PublicIPAddresses", "NetworkInterfaces", "VirtualNetworks", "Subnets"}


def timing(config: SimConfig, kind: str) -> Timing:
    found = AZURE[kind] if config.profile == "azure" else _instant(config, kind)
    override = config.timing.get(kind)
    if override:
        found = replace(
            found,
            latency=float(override.get("latency_ms", found.latency * 1000)) / 1000,
            seconds=float(override.get("seconds", found.seconds)),
            retry_after=int(override.get("retry_after", found.retry_after)),
        )
    return found


def check_overrides(value: Any) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict):
        raise ArmError(400, "InvalidConfig", "timing must be an object of {kind: {latency_ms, seconds, retry_after}}")
    out: dict[str, dict[str, float]] = {}
    for kind, fields in value.items():
        if kind not in KINDS:
            raise ArmError(400, "InvalidConfig", f"timing: unknown kind '{kind}'; kinds are {list(KINDS)}")
        if not isinstance(fields, dict) or not set(fields) <= _FIELDS:
            raise ArmError(400, "InvalidConfig", f"timing.{kind} takes {sorted(_FIELDS)}")
        for name, number in fields.items():
            if isinstance(number, bool) or not isinstance(number, int | float) or not 0 <= number <= 86400:
                raise ArmError(400, "InvalidConfig", f"timing.{kind}.{name} must be a number from 0 to 86400")
        out[kind] = {name: float(number) for name, number in fields.items()}
    return out
