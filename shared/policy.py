"""The team's rules for what a create may ask for (pure: plain data in, field errors out)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pydantic import BaseModel, Field

from shared.models import CreateVm, DiskType
from shared.settings import Settings

# Widest source range a VM may open its ports to unless policy allows open CIDRs.
WIDEST_PREFIX = 16


class Policy(BaseModel):
    allowed_sizes: list[str]
    allowed_disk_types: list[DiskType] = Field(default_factory=lambda: list(DiskType))
    max_os_disk_gb: int
    default_ttl_hours: int
    max_ttl_hours: int
    max_budget_usd: float
    allow_open_cidr: bool
    max_snooze_hours: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            allowed_sizes=settings.allowed_sizes,
            max_os_disk_gb=settings.max_os_disk_gb,
            default_ttl_hours=settings.default_ttl_hours,
            max_ttl_hours=settings.max_ttl_hours,
            max_budget_usd=settings.max_budget_usd,
            allow_open_cidr=settings.allow_open_cidr,
            max_snooze_hours=settings.max_snooze_hours,
        )


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def check_create(request: CreateVm, policy: Policy) -> list[FieldError]:
    errors = []
    if request.size not in policy.allowed_sizes:
        errors.append(
            FieldError("size", f"{request.size!r} is not allowed; choose one of {', '.join(policy.allowed_sizes)}")
        )
    if request.os_disk_gb > policy.max_os_disk_gb:
        errors.append(FieldError("os_disk_gb", f"at most {policy.max_os_disk_gb} GB is allowed"))
    if request.os_disk_type not in policy.allowed_disk_types:
        allowed = ", ".join(t.value for t in policy.allowed_disk_types)
        errors.append(FieldError("os_disk_type", f"{request.os_disk_type.value} is not allowed; use {allowed}"))
    if request.ttl_hours is not None and request.ttl_hours > policy.max_ttl_hours:
        errors.append(FieldError("ttl_hours", f"at most {policy.max_ttl_hours} hours is allowed"))
    if request.budget_usd is not None and request.budget_usd > policy.max_budget_usd:
        errors.append(FieldError("budget_usd", f"at most {policy.max_budget_usd:g} USD is allowed"))
    for index, cidr in enumerate(request.allowed_cidrs or []):
        if not policy.allow_open_cidr and ipaddress.IPv4Network(cidr).prefixlen < WIDEST_PREFIX:
            errors.append(
                FieldError(
                    f"allowed_cidrs.{index}",
                    f"{cidr} is wider than /{WIDEST_PREFIX}; open the VM to your own address range only",
                )
            )
    return errors


def default_cidrs(caller_ip: str | None) -> list[str] | None:
    """The caller's own address as a /32, or None if it is not a usable public IPv4 address."""
    if caller_ip is None:
        return None
    try:
        address = ipaddress.IPv4Address(caller_ip)
    except ValueError:
        return None
    return [f"{address}/32"]
