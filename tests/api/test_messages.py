"""Messages a person can act on: field rules in words, where malformed JSON breaks, where to find the routes,
and no message that repeats another."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from shared.core.models import NAME_RULE, USERNAME_RULE
from tests.api.test_lifecycle import body
from tools.devstack import Stack

# What pydantic says when it has no words: a regex, or its own prefixes.
MACHINE_TALK = re.compile(r"should match pattern|[\^$]|\\[dsw]|\{\d|Value error|Field required|Extra inputs")


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    return problem


def messages(problem: dict[str, Any]) -> dict[str, str]:
    return {error["field"]: error["message"] for error in problem.get("errors", [])}


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"name": "Ana-Churn"}, "name", NAME_RULE),
        ({"name": "churn-"}, "name", NAME_RULE),
        ({"admin_username": "Ana"}, "admin_username", USERNAME_RULE),
    ],
)
def test_create_field_rules_are_in_words(
    api: httpx.Client, vm_name: str, change: dict[str, str], field: str, rule: str
) -> None:
    problem = problem_of(api.post("/vms", json={**body(vm_name), **change}), 422)
    assert messages(problem)[field] == f"must be {rule}"


def test_other_patterns_are_in_words_too(api: httpx.Client, admin: httpx.Client) -> None:
    month = messages(problem_of(api.get("/costs", params={"month": "2026-13"}), 422))
    assert month == {"month": "must be a month as YYYY-MM, such as 2026-11"}
    user = messages(problem_of(admin.post("/tokens", json={"user": "ana churn"}), 422))
    assert list(user) == ["user"]
    assert not MACHINE_TALK.search(user["user"]), user


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Bad"},
        {"allowed_cidrs": ["10.0.0.300/32"]},
        {"colour": "blue"},
        {"ssh_public_key": None},
        {"size": None},
        {"schedule": {"timezone": "Mars/Olympus"}},
        {"tags": {"owner": "someone"}},
    ],
)
def test_no_field_message_talks_like_a_machine(api: httpx.Client, vm_name: str, change: dict[str, Any]) -> None:
    request = {k: v for k, v in {**body(vm_name), **change}.items() if v is not None}
    problem = problem_of(api.post("/vms", json=request), 422)
    assert problem["errors"], problem
    for message in messages(problem).values():
        assert not MACHINE_TALK.search(message), problem


def test_malformed_json_says_where(api: httpx.Client, vm_name: str) -> None:
    text = '{\n  "name": "' + vm_name + '",\n  "size": ,\n}'
    with pytest.raises(json.JSONDecodeError) as broken:
        json.loads(text)
    response = api.post("/vms", content=text.encode(), headers={"Content-Type": "application/json"})
    problem = problem_of(response, 422)
    where = f"line {broken.value.lineno}, column {broken.value.colno}"
    assert messages(problem) == {"body": f"Expecting value at {where}"}


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/nothing-here"), ("POST", "/api/vms/x/explode"), ("GET", "/")]
)
def test_an_unknown_route_points_at_the_docs(stack: Stack, method: str, path: str) -> None:
    origin = stack.api_url.removesuffix("/api")
    problem = problem_of(httpx.request(method, origin + path), 404)
    assert problem["title"] == "Not Found"
    assert path in problem["detail"] and "/api/docs" in problem["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PUT", "/vms", "GET, POST"), ("POST", "/vms/x", "DELETE, GET, PATCH")],
)
def test_a_wrong_method_names_all_the_right_ones(api: httpx.Client, method: str, path: str, allowed: str) -> None:
    response = api.request(method, path)
    problem = problem_of(response, 405)
    assert response.headers["Allow"] == allowed
    assert problem["detail"] == f"/api{path} does not accept {method}; it accepts {allowed}."


def test_no_message_repeats_itself(stack: Stack, api: httpx.Client, admin: httpx.Client, vm_name: str) -> None:
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    problems = [
        problem_of(api.post(f"/vms/{vm_name}/snooze", json={"hours": 100}), 422),
        problem_of(api.post("/vms", json=body(vm_name)), 409),
        problem_of(api.get("/vms/no-such-vm"), 404),
        problem_of(api.get("/nothing-here"), 404),
        problem_of(api.delete("/vms"), 405),
        problem_of(httpx.get(f"{stack.api_url}/vms"), 401),
        problem_of(api.get("/tokens"), 403),
        problem_of(api.post("/vms", content=b"name=x", headers={"Content-Type": "text/plain"}), 415),
        problem_of(api.post("/vms", json={**body(vm_name), "name": "Bad", "os_disk_gb": 1}), 422),
        problem_of(api.post("/vms", json={**body(vm_name), "os_disk_gb": 4000}), 422),
        problem_of(admin.put("/policy", json=admin.get("/policy").json()), 428),
    ]
    for problem in problems:
        title, detail = problem["title"].lower(), (problem.get("detail") or "").lower()
        assert title not in detail, problem
        texts = [text for text in (detail, *(m.lower() for m in messages(problem).values())) if text]
        for index, text in enumerate(texts):
            assert not any(text in other or other in text for other in texts[index + 1 :]), problem
