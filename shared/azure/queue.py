"""The work queue (Azure Storage queues, azure-storage-queue): what the API and the sweeper hand to the
queue-triggered worker, and, for the local stack, what the Functions host does around that worker.

Messages are JSON text, base64-encoded as the Functions queue trigger expects by default. In Azure the
queue is reached with the managed identity (`DSVM_QUEUE__queueServiceUri`); locally with a connection
string to Azurite (`DSVM_QUEUE`).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.settings import Settings

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient


@dataclass(frozen=True)
class Received:
    """A message taken from the queue (invisible to others until it is deleted or its timeout ends)."""

    body: dict[str, Any]
    dequeue_count: int
    id: str
    pop_receipt: str


def _body(content: Any) -> dict[str, Any]:
    """A message's JSON object; anything else becomes a body no handler takes (it ends in the poison queue)."""
    try:
        body = json.loads(content)
    except (TypeError, ValueError):
        return {"op": None}
    return body if isinstance(body, dict) else {"op": None}


def _client(settings: Settings, name: str) -> QueueClient:
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

    encode, decode = TextBase64EncodePolicy(), TextBase64DecodePolicy()
    if settings.queue_connection:
        return QueueClient.from_connection_string(
            settings.queue_connection, name, message_encode_policy=encode, message_decode_policy=decode
        )
    from shared.azure.arm import identity_credential

    assert settings.queue_endpoint is not None
    return QueueClient(
        settings.queue_endpoint,
        name,
        credential=identity_credential(settings),
        message_encode_policy=encode,
        message_decode_policy=decode,
    )


class WorkQueue:
    """The work queue and its poison queue (`<name>-poison`, where the Functions host moves a message that
    failed `maxDequeueCount` times)."""

    def __init__(self, settings: Settings) -> None:
        self.name = settings.work_queue
        self.work = _client(settings, self.name)
        self.poison = _client(settings, f"{self.name}-poison")

    def ensure(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        for queue in (self.work, self.poison):
            with contextlib.suppress(ResourceExistsError):
                queue.create_queue()

    def send(self, message: dict[str, Any]) -> None:
        self.work.send_message(json.dumps(message, separators=(",", ":")))

    # --- what the Functions host does; used by the local worker loop -----------------------------------

    def receive(self, queue: QueueClient, count: int, visibility_seconds: int) -> list[Received]:
        taken = queue.receive_messages(max_messages=count, visibility_timeout=visibility_seconds)
        return [Received(_body(m.content), int(m.dequeue_count or 1), str(m.id), str(m.pop_receipt)) for m in taken]

    def done(self, queue: QueueClient, message: Received) -> None:
        queue.delete_message(message.id, message.pop_receipt)

    def retry_later(self, message: Received, seconds: int) -> None:
        self.work.update_message(message.id, message.pop_receipt, visibility_timeout=seconds)

    def to_poison(self, message: Received) -> None:
        self.poison.send_message(json.dumps(message.body, separators=(",", ":")))
        self.work.delete_message(message.id, message.pop_receipt)
