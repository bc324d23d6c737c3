"""The same API through the Azure Functions entry point (func.AsgiFunctionApp), as the host would call it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.functions as func
import httpx
import pytest

from tests.api.test_lifecycle import body
from tests.conftest import issue
from tests.support.functions import host_functions
from tests.support.polling import resources_named


@pytest.fixture
def http_function(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    with host_functions(stack.app_env(), monkeypatch) as functions:
        yield functions["http_app_func"].get_user_function()


def call(function: Any, method: str, path: str, token: str, payload: dict[str, Any] | None = None) -> Any:
    request = func.HttpRequest(
        method=method,
        url=f"http://localhost{path}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=json.dumps(payload).encode() if payload is not None else b"",
    )
    return asyncio.run(function(request, None))


def test_create_and_delete_through_the_functions_host_path(
    http_function: Any, store: Any, sim: httpx.Client, vm_name: str
) -> None:
    token = issue(store, "func-user@example.com")
    created = call(http_function, "POST", "/api/vms", token, body(vm_name))
    assert created.status_code == 202, created.get_body()
    assert created.headers["Location"] == f"/api/vms/{vm_name}"
    assert json.loads(created.get_body())["state"] == "Creating"

    for _ in range(100):
        state = json.loads(call(http_function, "GET", f"/api/vms/{vm_name}", token).get_body())["state"]
        if state == "Running":
            break
    assert state == "Running"

    assert call(http_function, "DELETE", f"/api/vms/{vm_name}", token).status_code == 202
    for _ in range(100):
        state = json.loads(call(http_function, "GET", f"/api/vms/{vm_name}", token).get_body())["state"]
        if state == "Deleted":
            break
    assert state == "Deleted"
    assert resources_named(sim, vm_name) == []

    anonymous = func.HttpRequest(method="GET", url="http://localhost/api/vms", headers={}, body=b"")
    assert asyncio.run(http_function(anonymous, None)).status_code == 401
