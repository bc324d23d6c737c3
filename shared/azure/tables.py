"""Table storage: VM records, events, idempotency keys and API tokens (azure-data-tables).

Every record update is conditional on the ETag it was read with; callers get `Conflict`/`Stale` and decide.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode
from pydantic import ValidationError

from shared.clock import utcnow
from shared.core.activity import Activity
from shared.core.models import Event, VmRecord, VmState
from shared.settings import Settings

log = logging.getLogger(__name__)

LIVE = "vm"
ACTIVITY = "activity"
# Table storage takes at most 100 operations in one transaction.
TRANSACTION_SIZE = 100
ARCHIVE = "archive"
_MAX_TICKS = 10**19 - 1


class Conflict(Exception):
    """The row already exists."""


class Stale(Exception):
    """The row changed since it was read (ETag mismatch) or vanished."""


class Unreadable(Exception):
    """A stored record does not load (a bad row): bulk reads skip it with a log line; a single read raises."""

    def __init__(self, name: str, error: str) -> None:
        super().__init__(f"the record of VM '{name}' cannot be read: {error}")
        self.name = name


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _event_key(event: Event) -> str:
    """Newest first, and the same for the same event: writing an event twice keeps one row."""
    ticks = int(event.time.timestamp() * 1_000_000)
    digest = hashlib.sha256(event.model_dump_json().encode()).hexdigest()[:12]
    return f"{_MAX_TICKS - ticks:019d}-{digest}"


def _record_entity(record: VmRecord, partition: str = LIVE, row: str | None = None) -> dict[str, Any]:
    return {
        "PartitionKey": partition,
        "RowKey": row or record.name,
        "owner": record.owner,
        "state": record.state.value,
        "doc": record.model_dump_json(),
    }


def _record(entity: Any) -> VmRecord:
    try:
        record = VmRecord.model_validate_json(entity["doc"])
    except (ValidationError, KeyError, TypeError) as exc:
        raise Unreadable(str(entity.get("RowKey")), type(exc).__name__) from exc
    record.etag = entity.metadata["etag"]
    return record


@dataclass(frozen=True)
class IdempotentAnswer:
    fingerprint: str
    salt: str
    status: int | None
    body: str | None
    created_at: datetime


class Store:
    """One object per process; the TableClients it holds are thread-safe for our use."""

    def __init__(self, service: TableServiceClient, prefix: str, clock: Callable[[], datetime] = utcnow) -> None:
        self._service = service
        self.clock = clock
        self.vms = service.get_table_client(f"{prefix}vms")
        self.events = service.get_table_client(f"{prefix}events")
        self.idempotency = service.get_table_client(f"{prefix}idempotency")
        self.tokens = service.get_table_client(f"{prefix}tokens")
        self.policy = service.get_table_client(f"{prefix}policy")
        self.prices = service.get_table_client(f"{prefix}prices")
        self.costs = service.get_table_client(f"{prefix}costs")
        self.activity = service.get_table_client(f"{prefix}activity")

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], datetime] = utcnow) -> Store:
        """Azurite (or any account) by connection string; in Azure, the endpoint and the managed identity."""
        if settings.tables_connection:
            service = TableServiceClient.from_connection_string(settings.tables_connection)
        else:
            from shared.azure.arm import identity_credential

            assert settings.tables_endpoint is not None
            service = TableServiceClient(endpoint=settings.tables_endpoint, credential=identity_credential(settings))
        return cls(service, settings.table_prefix, clock)

    def tables(self) -> Iterable[TableClient]:
        return (
            self.vms,
            self.events,
            self.idempotency,
            self.tokens,
            self.policy,
            self.prices,
            self.costs,
            self.activity,
        )

    def ensure_tables(self) -> None:
        for table in self.tables():
            with contextlib.suppress(ResourceExistsError):
                table.create_table()

    def ping(self) -> None:
        """Raises if Table storage cannot be reached."""
        next(iter(self.vms.query_entities("PartitionKey eq 'ping'", results_per_page=1)), None)

    # --- VM records -------------------------------------------------------------------------------

    def create_vm(self, record: VmRecord) -> VmRecord:
        """Create-if-absent by name. A Deleted tombstone of the same name, or a Failed record with nothing left
        in Azure, is archived and replaced."""
        try:
            meta = self.vms.create_entity(_record_entity(record))
        except ResourceExistsError:
            existing = self.get_vm(record.name)
            replaceable = existing is not None and (
                existing.state == VmState.DELETED or (existing.state == VmState.FAILED and existing.released)
            )
            if existing is None or not replaceable:
                raise Conflict(record.name) from None
            self.archive(existing)
            try:
                return self._replace(record, existing.etag)
            except Stale:
                raise Conflict(record.name) from None
        return record.model_copy(update={"etag": meta["etag"]})

    def archive(self, record: VmRecord) -> None:
        self.vms.upsert_entity(_record_entity(record, ARCHIVE, f"{record.name}~{record.id}"))
        if record.month and record.month_cost_usd:
            # The archive is not summed for the current month: keep its share where month totals live.
            self.put_month_cost(record.month, record.id, record.name, record.owner, record.month_cost_usd)

    def get_vm(self, name: str) -> VmRecord | None:
        try:
            return _record(self.vms.get_entity(LIVE, name))
        except ResourceNotFoundError:
            return None

    def update_vm(self, record: VmRecord) -> VmRecord:
        """Replace the record if nobody changed it since it was read; raises Stale otherwise."""
        return self._replace(record.model_copy(update={"updated_at": self.clock()}), record.etag)

    def _replace(self, record: VmRecord, etag: str | None) -> VmRecord:
        """Write the live row if it is still at `etag`; raises Stale otherwise."""
        try:
            meta = self.vms.update_entity(
                _record_entity(record),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise Stale(record.name) from None
        return record.model_copy(update={"etag": meta["etag"]})

    def update_many(self, records: list[VmRecord]) -> tuple[dict[str, VmRecord], set[str]]:
        """ETag-checked replace of many records, 100 to a transaction (one partition, so one round trip each).

        Returns the saved records by name and the names that had changed meanwhile (left untouched).
        """
        saved: dict[str, VmRecord] = {}
        stale: set[str] = set()
        now = self.clock()
        for start in range(0, len(records), TRANSACTION_SIZE):
            chunk = [r.model_copy(update={"updated_at": now}) for r in records[start : start + TRANSACTION_SIZE]]
            operations = [
                (
                    "update",
                    _record_entity(r),
                    {"mode": UpdateMode.REPLACE, "etag": r.etag, "match_condition": MatchConditions.IfNotModified},
                )
                for r in chunk
            ]
            try:
                results = self.vms.submit_transaction(operations)  # type: ignore[arg-type]
            except TableTransactionError:
                # One stale row fails the whole batch: fall back to one write each, keeping what still fits.
                for record in chunk:
                    try:
                        saved[record.name] = self.update_vm(record)
                    except Stale:
                        stale.add(record.name)
                continue
            for record, meta in zip(chunk, results, strict=True):
                saved[record.name] = record.model_copy(update={"etag": meta["etag"]})
        return saved, stale

    def delete_vm_row(self, record: VmRecord) -> None:
        """Remove a live row (used to roll back a create that never reached ARM)."""
        try:
            self.vms.delete_entity(LIVE, record.name, etag=record.etag, match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            raise Stale(record.name) from None

    def list_vms(self, owner: str | None = None, include_deleted: bool = False) -> list[VmRecord]:
        query = f"PartitionKey eq '{LIVE}'"
        if owner is not None:
            query += f" and owner eq '{_quote(owner)}'"
        if not include_deleted:
            query += f" and state ne '{VmState.DELETED.value}'"
        records = []
        for entity in self.vms.query_entities(query, select=["RowKey", "doc"], results_per_page=1000):
            try:
                records.append(_record(entity))
            except Unreadable as exc:
                # One bad row must never stop a sweep, a list or a cost report: skip it, loudly.
                log.error("skipping VM record %s/%s: %s", LIVE, exc.name, exc)
        return records

    # --- events -------------------------------------------------------------------------------------

    def add_events(self, record_id: str, events: Iterable[Event]) -> None:
        """Write events (idempotent: the same event written again stays one row), one transaction per record."""
        operations = [
            ("upsert", {"PartitionKey": record_id, "RowKey": _event_key(e), "doc": e.model_dump_json()}) for e in events
        ]
        for start in range(0, len(operations), TRANSACTION_SIZE):
            self.events.submit_transaction(operations[start : start + TRANSACTION_SIZE])  # type: ignore[arg-type]

    def list_events(self, record_id: str, limit: int = 200) -> list[Event]:
        entities = self.events.query_entities(
            f"PartitionKey eq '{_quote(record_id)}'", select=["doc"], results_per_page=limit
        )
        events = []
        for entity in entities:
            events.append(Event.model_validate_json(entity["doc"]))
            if len(events) >= limit:
                break
        return events

    # --- idempotency keys ---------------------------------------------------------------------------

    def claim_idempotency(
        self, owner: str, key_hash: str, fingerprint: str, salt: str, now: datetime
    ) -> IdempotentAnswer | None:
        """Claim the key for this request; if someone already holds it, return what they stored."""
        entity = {
            "PartitionKey": owner,
            "RowKey": key_hash,
            "fingerprint": fingerprint,
            "salt": salt,
            "created_at": now,
        }
        try:
            self.idempotency.create_entity(entity)
            return None
        except ResourceExistsError:
            stored = self.idempotency.get_entity(owner, key_hash)
        return IdempotentAnswer(
            fingerprint=stored["fingerprint"],
            salt=stored["salt"],
            status=stored.get("status"),
            body=stored.get("body"),
            created_at=stored["created_at"],
        )

    def replace_idempotency(
        self, owner: str, key_hash: str, fingerprint: str, salt: str, now: datetime, expected: datetime
    ) -> bool:
        """Take over an expired key; False if another request took it first."""
        try:
            stored = self.idempotency.get_entity(owner, key_hash)
        except ResourceNotFoundError:
            return False
        if stored["created_at"] != expected:
            return False
        try:
            self.idempotency.update_entity(
                {
                    "PartitionKey": owner,
                    "RowKey": key_hash,
                    "fingerprint": fingerprint,
                    "salt": salt,
                    "created_at": now,
                },
                mode=UpdateMode.REPLACE,
                etag=stored.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            return False
        return True

    def finish_idempotency(self, owner: str, key_hash: str, status: int, body: dict[str, Any]) -> None:
        self.idempotency.update_entity(
            {"PartitionKey": owner, "RowKey": key_hash, "status": status, "body": json.dumps(body)},
            mode=UpdateMode.MERGE,
        )

    def release_idempotency(self, owner: str, key_hash: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.idempotency.delete_entity(owner, key_hash)

    # --- policy documents and per-user leases ---------------------------------------------------------

    def get_doc(self, partition: str, row: str) -> tuple[str | None, str | None]:
        """(JSON document, ETag) or (None, None)."""
        try:
            entity = self.policy.get_entity(partition, row)
        except ResourceNotFoundError:
            return None, None
        return entity["doc"], entity.metadata["etag"]

    def put_doc(self, partition: str, row: str, doc: str, etag: str | None) -> str:
        """Write a document if it is still at `etag` (None: only if it does not exist yet); raises Stale."""
        entity = {"PartitionKey": partition, "RowKey": row, "doc": doc}
        try:
            if etag is None:
                meta = self.policy.create_entity(entity)
            else:
                meta = self.policy.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            raise Stale(f"{partition}/{row}") from None
        except HttpResponseError as exc:
            # An If-Match that is not an ETag at all (a client's typo) is stale too, not a server fault.
            if exc.status_code in (400, 412):
                raise Stale(f"{partition}/{row}") from None
            raise
        return str(meta["etag"])

    def delete_doc(self, partition: str, row: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.policy.delete_entity(partition, row)

    @contextlib.contextmanager
    def lease(self, key: str, hold: timedelta = timedelta(seconds=15), wait: float = 20.0) -> Iterator[None]:
        """A short mutual-exclusion lease on `key` (ETag-guarded), so check-then-create is race-free.

        A holder that crashes loses the lease when `hold` runs out.
        """
        deadline = time.monotonic() + wait
        delay = 0.01
        while True:
            now = self.clock()
            token = uuid.uuid4().hex
            entity = {"PartitionKey": "lease", "RowKey": key, "holder": token, "until": now + hold}
            try:
                try:
                    current = self.policy.get_entity("lease", key)
                except ResourceNotFoundError:
                    self.policy.create_entity(entity)
                else:
                    if current["until"] > now:
                        raise ResourceModifiedError("held")
                    self.policy.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=current.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                break
            except (ResourceExistsError, ResourceModifiedError):
                if time.monotonic() > deadline:
                    raise Stale(f"lease {key} is busy") from None
                time.sleep(delay + random.uniform(0, delay))
                delay = min(delay * 2, 0.2)
        try:
            yield
        finally:
            with contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
                held = self.policy.get_entity("lease", key)
                if held["holder"] == token:
                    self.policy.delete_entity(
                        "lease", key, etag=held.metadata["etag"], match_condition=MatchConditions.IfNotModified
                    )

    # --- the price cache ------------------------------------------------------------------------------

    def get_prices(self, region: str) -> tuple[dict[str, float], datetime] | None:
        """Hourly prices by size last fetched for the region, and when."""
        try:
            entity = self.prices.get_entity("prices", region)
        except ResourceNotFoundError:
            return None
        hourly = json.loads(entity["hourly_usd"])
        return {str(k): float(v) for k, v in hourly.items()}, entity["fetched_at"]

    def put_prices(self, region: str, hourly: dict[str, float], fetched_at: datetime) -> None:
        self.prices.upsert_entity(
            {"PartitionKey": "prices", "RowKey": region, "hourly_usd": json.dumps(hourly), "fetched_at": fetched_at}
        )

    # --- finished months of cost ----------------------------------------------------------------------

    def put_month_cost(self, month: str, record_id: str, name: str, owner: str, usd: float) -> None:
        """Idempotent: the same (month, record) written twice stays one row."""
        self.costs.upsert_entity(
            {"PartitionKey": month, "RowKey": record_id, "name": name, "owner": owner, "usd": usd},
            mode=UpdateMode.REPLACE,
        )

    def month_costs(self, month: str) -> list[dict[str, Any]]:
        return [dict(e) for e in self.costs.query_entities(f"PartitionKey eq '{_quote(month)}'")]

    # --- activity reports (one row per VM, the latest wins) -----------------------------------------------

    def put_activity(self, name: str, activity: Activity) -> None:
        """Keep a VM's latest report. Its own table: heartbeats never contend with the records' ETag writes."""
        self.activity.upsert_entity(
            {"PartitionKey": ACTIVITY, "RowKey": name, "doc": activity.model_dump_json()}, mode=UpdateMode.REPLACE
        )

    def list_activity(self) -> dict[str, Activity]:
        """Every VM's latest report (one query); a row that does not load is skipped and logged."""
        found = {}
        for entity in self.activity.query_entities(f"PartitionKey eq '{ACTIVITY}'", select=["RowKey", "doc"]):
            try:
                found[str(entity["RowKey"])] = Activity.model_validate_json(entity["doc"])
            except (ValidationError, KeyError, TypeError) as exc:
                log.error("skipping activity row %s: %s", entity.get("RowKey"), type(exc).__name__)
        return found
