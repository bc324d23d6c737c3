"""Team access: tokens, Easy Auth behind a setting, ownership across users, policy edits and quotas."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.azure.tables import Store
from tests.api.test_lifecycle import body
from tests.conftest import issue
from tests.support.polling import wait_for_state
from tools.devstack import PYTHON, Service, Stack, free_port, spawn, wait_for_port


def principal(name: str, *roles: str) -> str:
    claims = [{"typ": "preferred_username", "val": name}] + [{"typ": "roles", "val": r} for r in roles]
    document = {"auth_typ": "aad", "name_typ": "preferred_username", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()


@pytest.fixture(scope="module")
def easy_auth_api(stack: Stack) -> Iterator[str]:
    """A second API process with DSVM_EASY_AUTH=true, as behind App Service Authentication."""
    port = free_port()
    args = [PYTHON, "-m", "uvicorn", "--factory", "shared.api.app:app_from_env", "--port", str(port)]
    service: Service = spawn(
        "api-easyauth", args, stack.state_dir / "api-easyauth.log", {**stack.app_env(), "DSVM_EASY_AUTH": "true"}
    )
    try:
        wait_for_port(port, service.process)
        yield f"http://127.0.0.1:{port}/api"
    finally:
        service.stop()


def test_forged_easy_auth_header_is_ignored_when_the_setting_is_off(stack: Stack) -> None:
    forged = {"X-MS-CLIENT-PRINCIPAL": principal("boss@example.com", "DSVM.Admin")}
    response = httpx.get(f"{stack.api_url}/me", headers=forged)
    assert response.status_code == 401


def test_easy_auth_header_is_honoured_when_the_setting_is_on(easy_auth_api: str) -> None:
    me = httpx.get(f"{easy_auth_api}/me", headers={"X-MS-CLIENT-PRINCIPAL": principal("Ana@Example.com")})
    assert me.status_code == 200, me.text
    assert (me.json()["user"], me.json()["role"]) == ("ana@example.com", "user")
    boss = httpx.get(
        f"{easy_auth_api}/me", headers={"X-MS-CLIENT-PRINCIPAL": principal("boss@example.com", "DSVM.Admin")}
    )
    assert boss.json()["role"] == "admin"
    assert httpx.get(f"{easy_auth_api}/me").status_code == 401


def test_tokens_issued_by_an_admin_work_until_revoked(admin: httpx.Client, stack: Stack, store: Store) -> None:
    issued = admin.post("/tokens", json={"user": "Bea@Example.com", "note": "laptop"})
    assert issued.status_code == 201, issued.text
    token, token_id = issued.json()["token"], issued.json()["id"]
    assert token.startswith("dsvm_")
    me = httpx.get(f"{stack.api_url}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["user"] == "bea@example.com"

    listed = admin.get("/tokens", params={"user": "bea@example.com"}).json()["value"]
    assert [t["id"] for t in listed] == [token_id]
    assert "token" not in listed[0]
    assert listed[0]["last_used"] is not None

    assert admin.delete(f"/tokens/{token_id}").status_code == 204
    assert httpx.get(f"{stack.api_url}/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    for table in store.tables():
        for entity in table.list_entities():
            assert token not in repr(dict(entity))


def test_an_expired_token_is_refused(stack: Stack, store: Store) -> None:
    from datetime import timedelta

    from shared.auth import issue_token

    _, token = issue_token(store, "short@example.com", False, timedelta(seconds=-1))
    assert httpx.get(f"{stack.api_url}/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_non_admins_cannot_issue_tokens_or_edit_policy(api: httpx.Client) -> None:
    assert api.post("/tokens", json={"user": "x@example.com"}).status_code == 403
    assert api.get("/tokens").status_code == 403
    policy = api.get("/policy")
    assert policy.status_code == 200
    refused = api.put("/policy", json=policy.json(), headers={"If-Match": policy.headers["etag"]})
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/start"),
        ("POST", "/stop"),
        ("POST", "/restart"),
        ("POST", "/snooze"),
        ("GET", "/events"),
    ],
)
def test_cross_user_matrix(
    method: str,
    path: str,
    api: httpx.Client,
    admin: httpx.Client,
    admin_name: str,
    stack: Stack,
    store: Store,
    vm_name: str,
) -> None:
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    wait_for_state(api, vm_name, "Running")
    payload: dict[str, Any] | None = {"hours": 1} if path == "/snooze" else None
    headers = {"Authorization": f"Bearer {issue(store, 'mallory@example.com')}"}
    with httpx.Client(base_url=stack.api_url, headers=headers) as other:
        denied = other.request(method, f"/vms/{vm_name}{path}", json=payload)
        assert denied.status_code == 404, denied.text

    def ready() -> None:
        # Put the VM where the action changes something, so each actor's call is a real action. Actions run on
        # the queue worker: let the last one settle first.
        state = wait_for_state(api, vm_name, "Running", "Stopped")["state"]
        if path == "/start" and state != "Stopped":
            assert api.post(f"/vms/{vm_name}/stop").status_code == 202
            wait_for_state(api, vm_name, "Stopped")
        if path in ("/stop", "/restart") and state != "Running":
            wait_for_state(api, vm_name, "Running", "Stopped")
            if api.get(f"/vms/{vm_name}").json()["state"] == "Stopped":
                assert api.post(f"/vms/{vm_name}/start").status_code == 202
                wait_for_state(api, vm_name, "Running")

    ready()
    owner = api.request(method, f"/vms/{vm_name}{path}", json=payload)
    assert owner.status_code in (200, 202), owner.text
    if method == "DELETE":
        return
    ready()
    by_admin = admin.request(method, f"/vms/{vm_name}{path}", json=payload)
    assert by_admin.status_code in (200, 202), by_admin.text
    if method == "POST":
        events = api.get(f"/vms/{vm_name}/events").json()["value"]
        assert any(e["actor"] == admin_name for e in events)


def test_policy_edit_with_a_stale_etag_is_refused(admin: httpx.Client) -> None:
    current = admin.get("/policy")
    etag = current.headers["etag"]
    first = admin.put("/policy", json=current.json(), headers={"If-Match": etag})
    assert first.status_code == 200, first.text
    stale = admin.put("/policy", json=current.json(), headers={"If-Match": etag})
    assert stale.status_code == 412
    assert admin.put("/policy", json=current.json()).status_code == 428


def test_twenty_parallel_creates_cannot_pass_a_quota_of_three(
    admin: httpx.Client, api: httpx.Client, user_name: str, vm_name: str
) -> None:
    override = admin.get(f"/policy/users/{user_name}")
    put = admin.put(
        f"/policy/users/{user_name}", json={"max_vms_per_user": 3}, headers={"If-Match": override.headers["etag"]}
    )
    assert put.status_code == 200, put.text
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda i: api.post("/vms", json=body(f"{vm_name}-{i}")), range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [202] * 3 + [409] * 17, [a.text for a in answers if a.status_code not in (202, 409)]
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.json()["title"] == "Quota exceeded"
    me = api.get("/me")
    assert me.json()["usage"]["vms"] == {"used": 3, "limit": 3}
    assert '"vms":{"used":3,"limit":3}' in me.text, "a count of VMs is an integer, not 3.0"


def test_mutating_calls_are_rate_limited_per_identity(api: httpx.Client, vm_name: str) -> None:
    answers = [api.post(f"/vms/{vm_name}/stop") for _ in range(40)]
    # The VM does not exist: the first 30 get through to a 404; then the bucket is empty.
    assert [a.status_code for a in answers[:30]] == [404] * 30
    limited = [a for a in answers[30:] if a.status_code == 429]
    assert limited, [a.status_code for a in answers[30:]]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].headers["content-type"].startswith("application/problem+json")
