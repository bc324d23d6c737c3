"""The composition root: builds the `Services` every entry point (HTTP API, timer, queue worker, command-line
tools) works with, from `Settings`. Nothing here decides anything; it only wires adapters together."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.azure.arm import Arm
from shared.azure.queue import WorkQueue
from shared.azure.tables import Store
from shared.clock import clock_for, utcnow
from shared.core.policy import Policy, PolicyOverride, effective
from shared.settings import Settings

POLICY_PARTITION = "policy"
TEAM_POLICY = "team"
OVERRIDE_PARTITION = "override"

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a request or a sweep needs from the outside world, created once per process."""

    settings: Settings
    store: Store
    arm: Arm
    queue: WorkQueue
    # The one clock: every timestamp the control plane writes comes from here (tests pass a simulated one).
    clock: Callable[[], datetime] = utcnow

    def team_policy(self) -> tuple[Policy, str | None]:
        """The admin-edited policy and its ETag, or the settings' defaults (ETag None) if never edited."""
        doc, etag = self.store.get_doc(POLICY_PARTITION, TEAM_POLICY)
        if doc is None:
            return Policy.from_settings(self.settings), None
        return Policy.model_validate_json(doc), etag

    def override(self, user: str) -> tuple[PolicyOverride | None, str | None]:
        doc, etag = self.store.get_doc(OVERRIDE_PARTITION, user)
        return (PolicyOverride.model_validate_json(doc) if doc else None), etag

    def overrides(self) -> dict[str, PolicyOverride]:
        """Every user's policy override (one query); a row that does not load is skipped with a log line."""
        found = {}
        for entity in self.store.policy.query_entities(f"PartitionKey eq '{OVERRIDE_PARTITION}'"):
            try:
                found[str(entity["RowKey"])] = PolicyOverride.model_validate_json(entity["doc"])
            except ValueError as exc:
                # One bad row never stops a sweep or a list: that user has the team's policy meanwhile.
                log.error("skipping policy override %s: %s", entity.get("RowKey"), type(exc).__name__)
        return found

    def policy_for(self, user: str) -> Policy:
        return effective(self.team_policy()[0], self.override(user)[0])


class ServiceHolder:
    """Builds the Services on first use: no I/O at import, tables and queues created once per process.

    `patient`: the sweeper's and the worker's ARM client (sleeps out throttling, waits on operations); the
    API's is brief (see shared.azure.arm).
    """

    def __init__(self, settings: Settings, *, patient: bool = False) -> None:
        self.settings = settings
        self.patient = patient
        self._services: Services | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Services:
        if self._services is None:
            with self._lock:
                if self._services is None:
                    settings = self.settings
                    clock = clock_for(settings.clock_url, settings.arm_ca_bundle)
                    store = Store.from_settings(settings, clock)
                    store.ensure_tables()
                    queue = WorkQueue(settings)
                    if settings.queue_connection:
                        # Azurite starts empty; in Azure the queues are infrastructure (infra/), and the app's
                        # identity may not create them.
                        queue.ensure()
                    arm = Arm(settings, patient=self.patient)
                    self._services = Services(settings=settings, store=store, arm=arm, queue=queue, clock=clock)
        return self._services
