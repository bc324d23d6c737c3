"""Per-identity rate limit on mutating routes: a token bucket per caller, per instance.

Each Functions instance keeps its own buckets: with N instances a caller gets at most N times the
limit. That bounds runaway scripts without a storage write on every request.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class Bucket:
    tokens: float
    at: float


def take(bucket: Bucket, now: float, per_minute: int) -> float:
    """Take one token; 0.0 if allowed, else the seconds until one is available. Mutates the bucket."""
    rate = per_minute / 60.0
    bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.at) * rate)
    bucket.at = now
    if bucket.tokens >= 1.0:
        bucket.tokens -= 1.0
        return 0.0
    return (1.0 - bucket.tokens) / rate


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def check(self, identity: str) -> int:
        """0 when the call may go ahead, else whole seconds to wait (for Retry-After)."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(identity, Bucket(float(self.per_minute), now))
            wait = take(bucket, now, self.per_minute)
        return math.ceil(wait) if wait > 0 else 0
