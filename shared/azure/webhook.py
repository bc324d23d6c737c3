"""Warnings to the owner through an incoming webhook (Teams and Slack both take JSON with a `text` field).

A failing webhook is logged and never blocks a sweep.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class Webhook:
    def __init__(self, url: str | None, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._client: Any = None

    def send(self, text: str) -> bool:
        """Post one message; True if the webhook took it."""
        if not self.url:
            return False
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import RetryPolicy
        from azure.core.rest import HttpRequest

        if self._client is None:
            # Two quick retries at most: a sweep must not wait long on a chat service.
            self._client = PipelineClient(self.url, policies=[RetryPolicy(retry_total=2, retry_backoff_factor=0.2)])
        request = HttpRequest("POST", self.url, json={"text": text})
        try:
            response = self._client.send_request(request, connection_timeout=self.timeout, read_timeout=self.timeout)
        except Exception as exc:
            log.warning("webhook failed: %s", type(exc).__name__)
            return False
        if response.status_code >= 300:
            log.warning("webhook answered %s", response.status_code)
            return False
        return True
