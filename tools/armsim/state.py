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


@dataclass
class Pending:
    """A change due at a simulator time, as data (so the world can be saved): `kind` names the handler that
    applies it, `key` the resource, `operation` the async operation it completes."""

    kind: str
    key: str
    operation: str
    epoch: int = 0
    args: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Pending, datetime], None]


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
    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.resources: dict[str, Resource] = {}
        self._index: dict[str, list[str]] = {}
        self.operations: dict[str, Operation] = {}
        self.events: list[tuple[datetime, int, Pending]] = []
        self._seq = itertools.count()
        self.applied = 0  # changes applied so far; the state file saves when this moves

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

    def schedule(self, due: datetime, pending: Pending) -> None:
        heapq.heappush(self.events, (due, next(self._seq), pending))

    def tick(self, now: datetime) -> int:
        """Apply every change that is due, in order, each at its own due time; answers how many."""
        applied = 0
        while self.events and self.events[0][0] <= now:
            due, _, pending = heapq.heappop(self.events)
            self.handlers[pending.kind](pending, due)
            applied += 1
        self.applied += applied
        return applied

    def restore(
        self, resources: list[Resource], operations: list[Operation], events: list[tuple[datetime, Pending]]
    ) -> None:
        for resource in resources:
            self.put(resource)
        self.operations = {op.id: op for op in operations}
        for due, pending in events:
            self.schedule(due, pending)
