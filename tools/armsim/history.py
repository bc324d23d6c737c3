"""What happened to every VM, for recounts and audits: each life of each VM (created, deleted, size,
location, OS disk, tags and every power/provisioning transition with its simulator time) and every write
request received for a VM (time, operation, resulting status). Kept until /_sim/reset."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import iso


@dataclass
class VmLedger:
    id: str
    name: str
    resource_group: str
    location: str
    os_disk_type: str
    os_disk_gb: int
    created: datetime
    tags: dict[str, str] = field(default_factory=dict)
    deleted: datetime | None = None
    # Each entry is the state after a change: {"at", "power", "provisioning", "size"}.
    transitions: list[dict[str, Any]] = field(default_factory=list)

    def record(self, when: datetime, **changes: Any) -> None:
        last = self.transitions[-1] if self.transitions else {"power": None, "provisioning": None, "size": None}
        entry = {**last, **changes, "at": when}
        if self.transitions and last["at"] == when:
            last.update(entry)  # changes at one instant are one transition
        elif any(entry[k] != last[k] for k in ("power", "provisioning", "size")):
            self.transitions.append(entry)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "resource_group": self.resource_group,
            "location": self.location,
            "size": self.transitions[-1]["size"] if self.transitions else None,
            "os_disk": {"type": self.os_disk_type, "size_gb": self.os_disk_gb},
            "tags": dict(self.tags),
            "created": iso(self.created),
            "deleted": iso(self.deleted) if self.deleted else None,
            "transitions": [{**t, "at": iso(t["at"])} for t in self.transitions],
        }


@dataclass
class WriteRequest:
    at: datetime
    vm_id: str
    name: str
    method: str
    operation: str
    status: int
    code: str | None = None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at": iso(self.at),
            "id": self.vm_id,
            "name": self.name,
            "method": self.method,
            "operation": self.operation,
            "status": self.status,
        }
        if self.code:
            out["code"] = self.code
        return out


class HistoryBook:
    def __init__(self) -> None:
        self.ledgers: list[VmLedger] = []
        self.requests: list[WriteRequest] = []

    def open(self, ledger: VmLedger) -> VmLedger:
        self.ledgers.append(ledger)
        return ledger

    def request(self, request: WriteRequest) -> None:
        self.requests.append(request)

    def view(self, name: str | None = None) -> dict[str, Any]:
        wanted = name.lower() if name else None
        return {
            "vms": [ledger.view() for ledger in self.ledgers if wanted in (None, ledger.name.lower())],
            "requests": [r.view() for r in self.requests if wanted in (None, r.name.lower())],
        }
