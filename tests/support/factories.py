"""Plain-data builders for the pure-function tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.core.models import DiskType, ImagePreset, Schedule, VmRecord, VmState


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def sched(zone: str, resume: str = "07:00", stop: str = "19:00", days_off: list[str] | None = None) -> Schedule:
    return Schedule.model_validate(
        {
            "timezone": zone,
            "resume_at": resume,
            "stop_at": stop,
            "days_off": ["sat", "sun"] if days_off is None else days_off,
        }
    )


def vm_record(created: datetime, keep_until: datetime, **extra: Any) -> VmRecord:
    """A Running E4s_v5 record created (and last acted on) at `created`; `extra` overrides any field."""
    fields: dict[str, Any] = {
        "id": "r1",
        "name": "vm1",
        "owner": "ana@example.com",
        "state": VmState.RUNNING,
        "size": "Standard_E4s_v5",
        "location": "eastus",
        "image": ImagePreset.DSVM_UBUNTU_2204,
        "os_disk_gb": 256,
        "os_disk_type": DiskType.PREMIUM_LRS,
        "admin_username": "ana",
        "allowed_cidrs": ["203.0.113.7/32"],
        "ttl_hours": 48,
        "created_at": created,
        "updated_at": created,
        "action_at": created,
        "keep_until": keep_until,
        **extra,
    }
    return VmRecord.model_validate(fields)
