"""The simulator's shared state and the helpers every provider module needs."""

from __future__ import annotations

from collections import Counter
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
from .state import Handler, Operation, Resource, Store
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
