"""The stack's queue service: reachable with the connection string the API gets as DSVM_QUEUE."""

from __future__ import annotations

import uuid

from azure.storage.queue import QueueClient

from tools.devstack import Stack


def test_a_message_sent_on_dsvm_queue_is_received(stack: Stack) -> None:
    connection = stack.app_env()["DSVM_QUEUE"]
    assert f"QueueEndpoint=http://127.0.0.1:{stack.queue_port}/devstoreaccount1" in connection
    queue = QueueClient.from_connection_string(connection, f"q{uuid.uuid4().hex}")
    queue.create_queue()
    queue.send_message('{"vm": "ana-churn"}')

    received = list(queue.receive_messages(max_messages=5, visibility_timeout=5))

    assert [message.content for message in received] == ['{"vm": "ana-churn"}']
    queue.delete_queue()
