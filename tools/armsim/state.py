"""In-memory resource store: resources by lower-cased ARM id, sorted per-type indexes for paging,
async operations, and a heap of due events that moves state forward lazily."""

from __future__ import annotations

import bisect
import heapq
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import ArmError

Event = Callable[[datetime], None]


@dataclass
class Resource:
    id: str
    type: str
    name: str
    subscription: str
    resource_group: str
    location: str
    body: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.id.lower()

    @property
    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = self.body.setdefault("properties", {})
        return props


@dataclass
class Operation:
    id: str
    provider: str
    location: str
    subscription: str
    start: datetime
    resource_id: str
    is_delete: bool = False
    retry_after: int = 0
    status: str = "InProgress"
    end: datetime | None = None
    error: ArmError | None = None

    def finish(self, when: datetime, error: ArmError | None = None) -> None:
        if self.status != "InProgress":
            return
        self.end = when
        self.error = error
        self.status = "Failed" if error else "Succeeded"


class Store:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.resources: dict[str, Resource] = {}
        self._index: dict[str, list[str]] = {}
        self.operations: dict[str, Operation] = {}
        self._events: list[tuple[datetime, int, Event]] = []
        self._seq = itertools.count()

    # Resources

    def get(self, resource_id: str) -> Resource | None:
        return self.resources.get(resource_id.lower())

    def put(self, resource: Resource) -> bool:
        """Insert or replace; True when it is new."""
        key = resource.key
        is_new = key not in self.resources
        self.resources[key] = resource
        if is_new:
            bisect.insort(self._index.setdefault(resource.type.lower(), []), key)
        return is_new

    def remove(self, resource_id: str) -> Resource | None:
        key = resource_id.lower()
        resource = self.resources.pop(key, None)
        if resource is not None:
            keys = self._index.get(resource.type.lower(), [])
            pos = bisect.bisect_left(keys, key)
            if pos < len(keys) and keys[pos] == key:
                del keys[pos]
        return resource

    def of_type(self, resource_type: str, prefix: str = "") -> Iterator[Resource]:
        keys = self._index.get(resource_type.lower(), [])
        prefix = prefix.lower()
        for key in keys[bisect.bisect_left(keys, prefix) :]:
            if not key.startswith(prefix):
                break
            yield self.resources[key]

    def page(self, resource_type: str, prefix: str, after: str | None, size: int) -> tuple[list[Resource], bool]:
        """One page of ids starting with `prefix`, strictly after key `after`; O(log N + size)."""
        keys = self._index.get(resource_type.lower(), [])
        prefix = prefix.lower()
        start = bisect.bisect_right(keys, after.lower()) if after else bisect.bisect_left(keys, prefix)
        items: list[Resource] = []
        pos = start
        while pos < len(keys) and keys[pos].startswith(prefix):
            if len(items) == size:
                return items, True
            items.append(self.resources[keys[pos]])
            pos += 1
        return items, False

    # Operations

    def new_operation(
        self,
        provider: str,
        location: str,
        subscription: str,
        resource_id: str,
        now: datetime,
        *,
        is_delete: bool = False,
        retry_after: int = 0,
    ) -> Operation:
        op = Operation(str(uuid.uuid4()), provider, location, subscription, now, resource_id, is_delete, retry_after)
        self.operations[op.id] = op
        return op

    # Lazy time

    def schedule(self, due: datetime, event: Event) -> None:
        heapq.heappush(self._events, (due, next(self._seq), event))

    def tick(self, now: datetime) -> None:
        """Apply every event that is due, in order, each at its own due time."""
        while self._events and self._events[0][0] <= now:
            due, _, event = heapq.heappop(self._events)
            event(due)
