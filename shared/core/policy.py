"""The team's rules: what a create may ask for and how much one person may run (pure: data in, errors out).

The defaults come from settings; admins keep an editable copy in Table storage, with per-user overrides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.core.models import (
    IMAGE_OS_DISK_GB,
    MAX_HOURS,
    MAX_USD,
    SETTINGS_FIELDS,
    CreateVm,
    DiskType,
    VmRecord,
    VmSettings,
    VmState,
)
from shared.core.problems import FieldProblem, Problem

if TYPE_CHECKING:
    from shared.settings import Settings

# Upper bound of every count limit (the hour and money bounds are the models').
MAX_COUNT = 10_000

# The bounds of each limit, shared by the policy, its overrides and the settings that give its defaults
# (so a setting the policy would refuse stops the app at start, naming the setting).
Sizes = Annotated[list[str], Field(min_length=1, max_length=200)]
Regions = Annotated[list[str], Field(max_length=50)]
OsDiskGb = Annotated[int, Field(ge=30, le=4095)]
Hours = Annotated[int, Field(ge=1, le=MAX_HOURS)]
Usd = Annotated[float, Field(gt=0, le=MAX_USD)]
VmCount = Annotated[int, Field(ge=0, le=MAX_COUNT)]
VcpuCount = Annotated[int, Field(ge=0, le=MAX_COUNT * 100)]
SnoozeHours = Annotated[int, Field(ge=1, le=7 * 24)]
GraceMinutes = Annotated[int, Field(ge=1, le=24 * 60)]
BumpHours = Annotated[int, Field(ge=1, le=24)]
# Widest source range a VM may open its ports to unless policy allows open CIDRs.
WIDEST_PREFIX = 16
# States whose VM holds (or is about to hold) compute: they count against a user's quota.
ALLOCATED_STATES = frozenset({VmState.CREATING, VmState.RUNNING, VmState.STARTING, VmState.RESTARTING})


class Policy(BaseModel):
    """The team's limits. `GET/PUT /api/policy`; per-user overrides under `/api/policy/users/{user}`."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "allowed_sizes": ["Standard_D4s_v5", "Standard_E8s_v5"],
                    "allowed_regions": ["eastus"],
                    "allowed_disk_types": ["Premium_LRS", "StandardSSD_LRS"],
                    "max_os_disk_gb": 1024,
                    "default_ttl_hours": 12,
                    "max_ttl_hours": 336,
                    "max_budget_usd": 1000,
                    "monthly_budget_usd": 500,
                    "max_vms_per_user": 5,
                    "max_vcpus_per_user": 64,
                    "allow_open_cidr": False,
                    "max_snooze_hours": 12,
                    "activity_grace_minutes": 20,
                    "activity_bump_hours": 1,
                }
            ]
        },
    )

    allowed_sizes: Sizes
    allowed_regions: Regions = Field(default_factory=list, description="Empty: any region")
    allowed_disk_types: list[DiskType] = Field(default_factory=lambda: list(DiskType), min_length=1)
    max_os_disk_gb: OsDiskGb
    default_ttl_hours: Hours
    max_ttl_hours: Hours
    max_budget_usd: Usd = Field(description="Largest budget_usd one VM may carry")
    monthly_budget_usd: Usd = Field(description="What one person's VMs may cost per calendar month")
    max_vms_per_user: VmCount
    max_vcpus_per_user: VcpuCount
    allow_open_cidr: bool = Field(description="Allow source ranges wider than /16, including 0.0.0.0/0")
    max_snooze_hours: SnoozeHours
    activity_grace_minutes: GraceMinutes = Field(
        default=20,
        description="A person who gave input this recently (agent reports) is not stopped by the time limit",
    )
    activity_bump_hours: BumpHours = Field(
        default=1, description="How far the time limit moves while its owner is active (within max_ttl_hours)"
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            allowed_sizes=settings.allowed_sizes,
            allowed_regions=settings.allowed_regions,
            max_os_disk_gb=settings.max_os_disk_gb,
            default_ttl_hours=settings.default_ttl_hours,
            max_ttl_hours=settings.max_ttl_hours,
            max_budget_usd=settings.max_budget_usd,
            monthly_budget_usd=settings.monthly_budget_usd,
            max_vms_per_user=settings.max_vms_per_user,
            max_vcpus_per_user=settings.max_vcpus_per_user,
            allow_open_cidr=settings.allow_open_cidr,
            max_snooze_hours=settings.max_snooze_hours,
            activity_grace_minutes=settings.activity_grace_minutes,
            activity_bump_hours=settings.activity_bump_hours,
        )


class PolicyOverride(BaseModel):
    """Per-user exceptions to the team policy; unset fields follow the team policy."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [{"max_vms_per_user": 10, "monthly_budget_usd": 2000}]},
    )

    allowed_sizes: Sizes | None = None
    max_os_disk_gb: OsDiskGb | None = None
    max_ttl_hours: Hours | None = None
    max_budget_usd: Usd | None = None
    monthly_budget_usd: Usd | None = None
    max_vms_per_user: VmCount | None = None
    max_vcpus_per_user: VcpuCount | None = None
    allow_open_cidr: bool | None = None
    max_snooze_hours: SnoozeHours | None = None


def effective(policy: Policy, override: PolicyOverride | None) -> Policy:
    if override is None:
        return policy
    return policy.model_copy(update=override.model_dump(exclude_none=True))


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def check_settings(settings: VmSettings, policy: Policy, now: datetime) -> list[FieldError]:
    """The policy's bounds on what an owner may set, at create and in a later change alike."""
    errors = []
    if settings.ttl_hours is not None and settings.ttl_hours > policy.max_ttl_hours:
        errors.append(FieldError("ttl_hours", f"at most {policy.max_ttl_hours} hours is allowed"))
    if settings.expires_at is not None:
        if settings.expires_at <= now:
            errors.append(FieldError("expires_at", "must be in the future"))
        elif settings.expires_at > now + timedelta(hours=MAX_HOURS):
            errors.append(FieldError("expires_at", f"at most {MAX_HOURS} hours from now"))
    if settings.budget_usd is not None and settings.budget_usd > policy.max_budget_usd:
        errors.append(FieldError("budget_usd", f"at most {policy.max_budget_usd:g} USD is allowed"))
    for index, cidr in enumerate(settings.allowed_cidrs or []):
        if not policy.allow_open_cidr and ipaddress.IPv4Network(cidr).prefixlen < WIDEST_PREFIX:
            errors.append(
                FieldError(
                    f"allowed_cidrs.{index}",
                    f"{cidr} is wider than /{WIDEST_PREFIX}; open the VM to your own address range only",
                )
            )
    return errors


def against_policy(errors: list[FieldError]) -> Problem:
    return Problem(
        422,
        "Unprocessable Content",
        "The request breaks the team's policy.",
        errors=[FieldProblem(field=e.field, message=e.message) for e in errors],
    )


def check_create(request: CreateVm, policy: Policy, location: str, now: datetime) -> list[FieldError]:
    errors = []
    if request.size not in policy.allowed_sizes:
        allowed = ", ".join(policy.allowed_sizes)
        errors.append(FieldError("size", f"{request.size!r} is not allowed; choose one of {allowed}"))
    if policy.allowed_regions and location not in policy.allowed_regions:
        errors.append(FieldError("location", f"VMs may not be created in {location} by policy"))
    floor = IMAGE_OS_DISK_GB[request.image]
    if request.os_disk_gb < floor:
        errors.append(
            FieldError("os_disk_gb", f"at least {floor} GB: the {request.image.value} image's own disk is {floor} GB")
        )
    if request.os_disk_gb > policy.max_os_disk_gb:
        errors.append(FieldError("os_disk_gb", f"at most {policy.max_os_disk_gb} GB is allowed"))
    if request.os_disk_type not in policy.allowed_disk_types:
        allowed = ", ".join(t.value for t in policy.allowed_disk_types)
        errors.append(FieldError("os_disk_type", f"{request.os_disk_type.value} is not allowed; use {allowed}"))
    return errors + check_settings(request, policy, now)


def with_defaults(settings: VmSettings, policy: Policy, caller_ip: str | None) -> dict[str, Any]:
    """A VM's settings with their defaults filled in (the caller's /32, the policy's time limit), by name."""
    cidrs = settings.allowed_cidrs or default_cidrs(caller_ip)
    if cidrs is None:
        raise Problem(
            422,
            "Unprocessable Content",
            "Your address could not be determined; give allowed_cidrs explicitly.",
            errors=[FieldProblem(field="allowed_cidrs", message="required: the caller's address is unknown")],
        )
    values = {name: getattr(settings, name) for name in SETTINGS_FIELDS}
    return {**values, "allowed_cidrs": cidrs, "ttl_hours": settings.ttl_hours or policy.default_ttl_hours}


@dataclass(frozen=True)
class Usage:
    vms: int
    vcpus: int
    month_usd: float = 0.0


def usage(records: Iterable[VmRecord], vcpus_of: dict[str, int], month: str | None = None) -> Usage:
    """What a user's VMs hold now (allocated VMs and their vCPUs) and have cost in `month` so far."""
    records = list(records)
    held = [r for r in records if r.state in ALLOCATED_STATES or (r.state == VmState.STOPPED and r.still_billing)]
    spent = sum(r.month_cost_usd for r in records if month is not None and r.month == month)
    return Usage(vms=len(held), vcpus=sum(vcpus_of.get(r.size, 0) for r in held), month_usd=spent)


def check_quota(current: Usage, adding_vcpus: int, policy: Policy) -> str | None:
    """Why one more VM of `adding_vcpus` would break the user's quota, or None if it fits."""
    if current.month_usd >= policy.monthly_budget_usd:
        return (
            f"your VMs have cost {current.month_usd:.2f} USD this month, your monthly budget is "
            f"{policy.monthly_budget_usd:g} USD; ask an admin to raise it"
        )
    if current.vms + 1 > policy.max_vms_per_user:
        return f"you already run {current.vms} of your {policy.max_vms_per_user} VMs; stop or delete one first"
    if current.vcpus + adding_vcpus > policy.max_vcpus_per_user:
        return (
            f"this VM needs {adding_vcpus} vCPUs and you hold {current.vcpus} of your {policy.max_vcpus_per_user}; "
            "choose a smaller size or stop another VM"
        )
    return None


def default_cidrs(caller_ip: str | None) -> list[str] | None:
    """The caller's own address as a /32, or None if it is not an IPv4 address."""
    if caller_ip is None:
        return None
    try:
        address = ipaddress.IPv4Address(caller_ip)
    except ValueError:
        return None
    return [f"{address}/32"]
