"""Injected faults: a status and/or latency for the next N requests matching method and path."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from .errors import ArmError


@dataclass
class Fault:
    id: int
    method: str
    path: str
    count: int
    status: int
    code: str
    message: str
    latency_ms: int
    retry_after: int | None

    def __post_init__(self) -> None:
        self._regex = re.compile(self.path, re.IGNORECASE)

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.method in ("*", method) and self._regex.search(path) is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "count": self.count,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "latency_ms": self.latency_ms,
            "retry_after": self.retry_after,
        }

    def error(self) -> ArmError | None:
        if not self.status:
            return None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        return ArmError(self.status, self.code, self.message, headers=headers)


class FaultBook:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, body: dict[str, Any]) -> Fault:
        try:
            fault = Fault(
                id=next(self._ids),
                method=str(body.get("method", "*")).upper(),
                path=str(body.get("path", "")),
                count=int(body.get("count", 1)),
                status=int(body.get("status") or 0),
                code=str(body.get("code") or "InternalServerError"),
                message=str(body.get("message") or "Injected fault."),
                latency_ms=int(body.get("latency_ms") or 0),
                retry_after=None if body.get("retry_after") is None else int(body["retry_after"]),
            )
        except (re.error, TypeError, ValueError) as exc:
            raise ArmError(400, "InvalidFault", str(exc)) from exc
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.count -= 1
                return fault
        return None

    def clear(self) -> None:
        self.faults.clear()
