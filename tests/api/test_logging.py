"""The Azure SDKs' HTTP logging (every request's headers, at INFO) stays out of the logs of the sweeper, the
Functions app and the local API, even where those log at INFO; in Azure it would be billed App Insights
ingestion."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import httpx
import pytest

from shared.azure.tables import Store
from tests.conftest import issue
from tests.support.functions import host_functions
from tools.devstack import ROOT, Stack, free_port, wait_for_port

SDK_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


@pytest.fixture
def sdk_logging_unset() -> Iterator[None]:
    """The azure loggers as a fresh process has them, whatever an earlier test in this one did."""
    logger = logging.getLogger("azure")
    level = logger.level
    logger.setLevel(logging.NOTSET)
    yield
    logger.setLevel(level)


def test_a_sweeper_pass_prints_no_sdk_http_lines(stack: Stack, sim: httpx.Client) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shared.sweeper", "--dry-run"],
        cwd=ROOT,
        env={**os.environ, **stack.app_env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert SDK_HTTP_LOGGER not in result.stderr
    assert "Request headers" not in result.stderr
    assert len(result.stderr.splitlines()) < 10, result.stderr[:3000]


def test_the_functions_app_logs_no_sdk_http_lines(
    stack: Stack,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sdk_logging_unset: None,
) -> None:
    with host_functions(stack.app_env(), monkeypatch) as functions:
        caplog.set_level(logging.INFO)  # the Functions host forwards what the worker logs at INFO
        token = issue(store, "logging-user@example.com")
        request = func.HttpRequest(
            method="GET", url="http://localhost/api/vms", headers={"Authorization": f"Bearer {token}"}, body=b""
        )
        response = asyncio.run(functions["http_app_func"].get_user_function()(request, None))
    assert response.status_code == 200
    assert [r.name for r in caplog.records if r.name.startswith("azure.") and r.levelno < logging.WARNING] == []


def test_the_local_api_logs_no_sdk_http_lines_even_at_info(stack: Stack, store: Store, tmp_path: Path) -> None:
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
        "root": {"level": "INFO", "handlers": ["stderr"]},
    }
    (tmp_path / "logging.json").write_text(json.dumps(config))
    port = free_port()
    args = ["-m", "uvicorn", "--factory", "shared.api.app:app_from_env", "--port", str(port)]
    log = (tmp_path / "api.log").open("w")
    server = subprocess.Popen(
        [sys.executable, *args, "--log-config", str(tmp_path / "logging.json")],
        cwd=ROOT,
        env={**os.environ, **stack.app_env()},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, server)
        token = issue(store, "logging-user@example.com")
        answer = httpx.get(f"http://127.0.0.1:{port}/api/vms", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    output = (tmp_path / "api.log").read_text()
    assert "Application startup complete" in output  # the server did log at INFO
    assert "Request headers" not in output, output[:3000]
