"""Simulator settings: the startup values and the live, PATCHable copy."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ArmError
from .timing import PROFILES, check_overrides

ALLOCATION_FAILURES = ("SkuNotAvailable", "AllocationFailed")


@dataclass
class SimConfig:
    provision_seconds: float = 2.0
    transition_seconds: float = 1.0
    page_size: int = 100
    throttle: bool = True
    throttle_scale: float = 1.0
    retry_after_seconds: int = 0
    vcpu_quota: dict[str, int] = field(default_factory=dict)
    default_vcpu_quota: int = 10000
    unavailable_sizes: dict[str, str] = field(default_factory=dict)
    profile: str = "instant"
    timing: dict[str, dict[str, float]] = field(default_factory=dict)

    def copy(self) -> SimConfig:
        return copy.deepcopy(self)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def quota_for(self, location: str) -> int:
        return self.vcpu_quota.get(normalise_location(location), self.default_vcpu_quota)

    def unavailable_mode(self, size: str) -> str | None:
        for name, mode in self.unavailable_sizes.items():
            if name.lower() == size.lower():
                return mode
        return None

    def patch(self, body: dict[str, Any]) -> None:
        known = set(self.as_dict())
        unknown = set(body) - known
        if unknown:
            raise ArmError(400, "InvalidConfig", f"Unknown config keys: {sorted(unknown)}")
        for key, value in body.items():
            if key == "vcpu_quota":
                self.vcpu_quota = {normalise_location(k): int(v) for k, v in dict(value).items()}
            elif key == "unavailable_sizes":
                sizes = {str(k): str(v) for k, v in dict(value).items()}
                bad = [v for v in sizes.values() if v not in ALLOCATION_FAILURES]
                if bad:
                    raise ArmError(400, "InvalidConfig", f"unavailable_sizes values must be {ALLOCATION_FAILURES}")
                self.unavailable_sizes = sizes
            elif key == "profile":
                if value not in PROFILES:
                    raise ArmError(400, "InvalidConfig", f"profile must be one of {list(PROFILES)}")
                self.profile = str(value)
            elif key == "timing":
                self.timing = check_overrides(value)
            elif key == "throttle":
                self.throttle = bool(value)
            elif key in ("page_size", "retry_after_seconds", "default_vcpu_quota"):
                setattr(self, key, int(value))
            else:
                setattr(self, key, float(value))
        if self.page_size < 1:
            raise ArmError(400, "InvalidConfig", "page_size must be at least 1")


def normalise_location(location: str) -> str:
    """ARM accepts display names ('East US') and short names ('eastus') alike."""
    return location.replace(" ", "").lower()
