"""The simulator's shared state and the helpers every provider module needs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from .clock import SimClock
from .config import SimConfig
from .errors import group_not_found
from .faults import FaultBook
from .history import HistoryBook
from .http import Request
from .ids import group_id, operation_urls
from .ipam import PublicIpAllocator
from .loads import LoadBook
from .state import Handler, Operation, Pending, Resource, Store
from .throttle import Throttle
from .timing import Timing, timing

GROUP_TYPE = "Microsoft.Resources/resourceGroups"


class SimContext:
    def __init__(self, config: SimConfig) -> None:
        self.startup_config = config.copy()
        self.clock = SimClock()
        # Providers register what applies each kind of pending change (see state.Pending).
        self.handlers: dict[str, Handler] = {}
        self.writes = 0  # requests that may have changed the world (anything but GET/HEAD)
        self.reset()

    def reset(self) -> None:
        self.config = self.startup_config.copy()
        self.clock.reset()
        self.store = Store(self.handlers)
        self.public_ips = PublicIpAllocator()
        self.counters: Counter[str] = Counter()
        self.api_versions: Counter[str] = Counter()
        self.loads = LoadBook()
        self.faults = FaultBook()
        self.throttle = Throttle()
        self.history = HistoryBook()

    def now(self) -> datetime:
        return self.clock.now()

    def after(self, seconds: float) -> datetime:
        return self.now() + timedelta(seconds=seconds)

    def timing(self, kind: str) -> Timing:
        return timing(self.config, kind)

    def begin_operation(
        self, resource: Resource, provider: str, kind: str, state: str, handler: str, *, is_delete: bool = False
    ) -> Operation:
        """`resource` reports `state` until the profile's time for `kind` is up; then the handler registered as
        `handler` settles it (see `settle_operation`)."""
        timing = self.timing(kind)
        now = self.now()
        op = self.store.new_operation(
            provider,
            resource.location,
            resource.subscription,
            resource.id,
            now,
            is_delete=is_delete,
            retry_after=timing.retry_after,
        )
        resource.properties["provisioningState"] = state
        resource.meta["operation"] = op.id
        due = now + timedelta(seconds=timing.seconds)
        self.store.schedule(due, Pending(handler, resource.key, op.id, args={"delete": is_delete}))
        return op

    def settle_operation(
        self, pending: Pending, when: datetime, removed: Callable[[Resource], None] | None = None
    ) -> None:
        """Succeeded, or removed for a delete, unless a later operation took the resource over meanwhile."""
        current = self.store.resources.get(pending.key)
        if current is not None and current.meta.get("operation") == pending.operation:
            current.meta["operation"] = None
            if pending.args["delete"]:
                self.store.remove(current.id)
                if removed is not None:
                    removed(current)
            else:
                current.properties["provisioningState"] = "Succeeded"
        self.store.operations[pending.operation].finish(when)

    def group(self, subscription: str, resource_group: str) -> Resource | None:
        return self.store.get(group_id(subscription, resource_group))

    def require_group(self, subscription: str, resource_group: str) -> Resource:
        group = self.group(subscription, resource_group)
        if group is None:
            raise group_not_found(resource_group)
        return group

    def op_headers(
        self, req: Request, op: Operation, *, async_op: bool = True, location: bool = True
    ) -> dict[str, str]:
        async_url, location_url = operation_urls(req.base_url, op, req.api_version or "2024-07-01")
        headers: dict[str, str] = {}
        if async_op:
            headers["Azure-AsyncOperation"] = async_url
        if location:
            headers["Location"] = location_url
        retry_after = op.retry_after or self.config.retry_after_seconds
        if retry_after > 0 and op.status == "InProgress":
            headers["Retry-After"] = str(retry_after)
        return headers
