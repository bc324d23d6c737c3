"""ARM's token-bucket throttling, per caller (principal) and per kind of request, on real time.

Limits from learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
(the 2024 regional token-bucket model): reads 250 / 25 per s, writes 200 / 10 per s, deletes 200 / 10 per s.
Compute RP per-VM limits (power actions and delete: 12 bucket, 4 per minute) from
learn.microsoft.com/troubleshoot/azure/virtual-machines/windows/troubleshooting-throttling-errors."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

ARM_LIMITS: dict[str, tuple[float, float]] = {
    "reads": (250.0, 25.0),
    "writes": (200.0, 10.0),
    "deletes": (200.0, 10.0),
}
VM_ACTION_LIMIT = (12.0, 4.0 / 60.0)


def category(method: str) -> str:
    if method in ("GET", "HEAD"):
        return "reads"
    if method == "DELETE":
        return "deletes"
    return "writes"


@dataclass
class Bucket:
    capacity: float
    rate: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Take one token; return 0 on success or the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else 3600.0

    @property
    def remaining(self) -> int:
        return int(self.tokens)


class Throttle:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def _bucket(self, key: tuple[str, str], limits: tuple[float, float], scale: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            capacity = max(1.0, limits[0] * scale)
            bucket = Bucket(capacity, limits[1] * scale, capacity, time.monotonic())
            self._buckets[key] = bucket
        return bucket

    def take(self, caller: str, kind: str, scale: float) -> tuple[int, int]:
        """(remaining tokens, retry-after seconds or 0) for an ARM request of `kind`."""
        bucket = self._bucket((caller, kind), ARM_LIMITS[kind], scale)
        wait = bucket.take(time.monotonic())
        return bucket.remaining, retry_seconds(wait)

    def take_vm_action(self, vm_key: str, scale: float) -> tuple[int, int]:
        bucket = self._bucket((vm_key, "vm-action"), VM_ACTION_LIMIT, scale)
        wait = bucket.take(time.monotonic())
        return bucket.remaining, retry_seconds(wait)

    def peek(self, caller: str, kind: str, scale: float) -> int:
        bucket = self._bucket((caller, kind), ARM_LIMITS[kind], scale)
        now = time.monotonic()
        return int(min(bucket.capacity, bucket.tokens + (now - bucket.stamp) * bucket.rate))


def retry_seconds(wait: float) -> int:
    return 0 if wait <= 0 else max(1, math.ceil(wait))
