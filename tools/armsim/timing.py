"""How long each kind of ARM operation takes: the latency before the first answer, how long its
long-running operation stays in progress (on the simulator clock), and the Retry-After it advises.

Profiles: `instant` (the default: no latency; VM operations take `provision_seconds` /
`transition_seconds`; network operations finish at once) and per-kind overrides in config `timing`."""

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
PROFILES = ("instant",)
_FIELDS = {"latency_ms", "seconds", "retry_after"}


@dataclass(frozen=True)
class Timing:
    latency: float = 0.0  # seconds before the first answer
    seconds: float = 0.0  # how long the operation stays in progress, in simulator seconds
    retry_after: int = 0  # Retry-After sent with the answer and with status polls in progress; 0 sends none


def _instant(config: SimConfig, kind: str) -> Timing:
    if kind == "vm_create":
        seconds = config.provision_seconds
    elif kind.startswith("vm_") or kind.startswith("extension_"):
        seconds = config.transition_seconds
    else:
        seconds = 0.0
    return Timing(0.0, seconds, config.retry_after_seconds)


def timing(config: SimConfig, kind: str) -> Timing:
    found = _instant(config, kind)
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
