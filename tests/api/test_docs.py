"""The contract as people and tools read it: /api/docs and /api/redoc work with no Internet, and the OpenAPI
document is valid and tells the truth (problem+json errors, headers, operationIds, summaries, tags)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.api.test_lifecycle import body
from tests.support.polling import wait_for_state
from tools.devstack import Stack

OPERATION_IDS = {
    ("POST", "/api/vms"): "createVm",
    ("GET", "/api/vms"): "listVms",
    ("GET", "/api/vms/{name}"): "getVm",
    ("DELETE", "/api/vms/{name}"): "deleteVm",
    ("POST", "/api/vms/{name}/start"): "startVm",
    ("POST", "/api/vms/{name}/stop"): "stopVm",
    ("POST", "/api/vms/{name}/restart"): "restartVm",
    ("POST", "/api/vms/{name}/snooze"): "snoozeVm",
    ("PATCH", "/api/vms/{name}"): "changeVm",
    ("POST", "/api/vms/{name}/password"): "resetVmPassword",
    ("GET", "/api/vms/{name}/events"): "listVmEvents",
    ("POST", "/api/vms/{name}/activity"): "reportVmActivity",
    ("GET", "/api/sizes"): "listSizes",
    ("GET", "/api/costs"): "getCosts",
    ("POST", "/api/tokens"): "createToken",
    ("GET", "/api/tokens"): "listTokens",
    ("DELETE", "/api/tokens/{token_id}"): "revokeToken",
    ("GET", "/api/policy"): "getPolicy",
    ("PUT", "/api/policy"): "putPolicy",
    ("GET", "/api/policy/users/{user}"): "getPolicyOverride",
    ("PUT", "/api/policy/users/{user}"): "putPolicyOverride",
    ("GET", "/api/me"): "getMe",
    ("GET", "/api/health"): "getHealth",
}
BODY_ONLY = {"411", "413", "415"}


@pytest.fixture(scope="module")
def document(stack: Stack) -> dict[str, Any]:
    response = httpx.get(f"{stack.api_url}/openapi.json")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_every_operation_has_its_stable_id_a_summary_and_a_tag(document: dict[str, Any]) -> None:
    found = operations(document)
    assert {key: operation["operationId"] for key, operation in found.items()} == OPERATION_IDS
    described_tags = {tag["name"] for tag in document["tags"] if tag.get("description")}
    for (method, path), operation in found.items():
        # FastAPI's own summary is the function name in title case ("Create Vm"); ours are sentences.
        assert operation.get("summary") and operation["summary"] != operation["summary"].title(), (method, path)
        admin_only = path.startswith(("/api/tokens", "/api/policy"))
        assert operation["tags"] == ["admin"] if admin_only else operation["tags"][0] in described_tags


def test_errors_are_documented_as_problem_json(document: dict[str, Any]) -> None:
    for key, operation in operations(document).items():
        for status, answer in operation["responses"].items():
            if int(status) < 400:
                continue
            assert list(answer["content"]) == ["application/problem+json"], (key, status)
            schema = resolve(document, answer["content"]["application/problem+json"]["schema"])
            assert {"type", "title", "status", "detail", "errors"} <= set(schema["properties"]), (key, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_body_errors_only_on_routes_with_a_body(document: dict[str, Any]) -> None:
    for key, operation in operations(document).items():
        documented = BODY_ONLY & set(operation["responses"])
        assert documented == (BODY_ONLY if "requestBody" in operation else set()), key


def test_every_field_of_create_and_view_is_described(document: dict[str, Any]) -> None:
    for model in ("CreateVm", "VmView"):
        properties = document["components"]["schemas"][model]["properties"]
        undescribed = [name for name, schema in properties.items() if not schema.get("description")]
        assert undescribed == [], model


def documented_headers(document: dict[str, Any], key: tuple[str, str], status: int) -> set[str]:
    return set(operations(document)[key]["responses"][str(status)].get("headers", {}))


def test_documented_headers_are_sent(
    stack: Stack, document: dict[str, Any], api: httpx.Client, admin: httpx.Client, vm_name: str, user_name: str
) -> None:
    create = ("POST", "/api/vms")
    request = body(vm_name)
    first = api.post("/vms", json=request, headers={"Idempotency-Key": vm_name})
    replay = api.post("/vms", json=request, headers={"Idempotency-Key": vm_name})
    assert first.status_code == replay.status_code == 202
    assert documented_headers(document, create, 202) == {"Location", "Idempotent-Replayed"}
    assert first.headers["Location"] == replay.headers["Location"] == f"/api/vms/{vm_name}"
    assert replay.headers["Idempotent-Replayed"] == "true"

    wait_for_state(api, vm_name, "Running")
    for action in ("stop", "start", "restart"):
        answer = api.post(f"/vms/{vm_name}/{action}")
        assert answer.status_code == 202, answer.text
        assert documented_headers(document, ("POST", f"/api/vms/{{name}}/{action}"), 202) == {"Location"}
        assert answer.headers["Location"] == f"/api/vms/{vm_name}"
        wait_for_state(api, vm_name, "Stopped" if action == "stop" else "Running")
    deleted = api.delete(f"/vms/{vm_name}")
    assert documented_headers(document, ("DELETE", "/api/vms/{name}"), 202) == {"Location"}
    assert deleted.headers["Location"] == f"/api/vms/{vm_name}"

    override = admin.get(f"/policy/users/{user_name}")
    assert documented_headers(document, ("GET", "/api/policy/users/{user}"), 200) == {"ETag"}
    replaced = admin.put(
        f"/policy/users/{user_name}", json={"max_vms_per_user": 3}, headers={"If-Match": override.headers["ETag"]}
    )
    assert replaced.status_code == 200, replaced.text
    assert documented_headers(document, ("PUT", "/api/policy/users/{user}"), 200) == {"ETag"}
    assert replaced.headers["ETag"] != override.headers["ETag"]

    anonymous = httpx.get(f"{stack.api_url}/vms")
    assert anonymous.status_code == 401
    assert documented_headers(document, ("GET", "/api/vms"), 401) == {"WWW-Authenticate"}
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_route_without_a_body_ignores_one_and_a_route_with_one_guards_it(api: httpx.Client) -> None:
    text = {"Content-Type": "text/plain"}
    assert api.post("/vms/no-such-vm/start", content=b"please", headers=text).status_code == 404
    refused = api.post("/vms/no-such-vm/snooze", content=b"please", headers=text)
    assert refused.status_code == 415
    assert refused.headers["content-type"].startswith("application/problem+json")


PAGE_URL = re.compile(
    r"""(?:src|href)="([^"]+)"|url: *'([^']+)'|oauth2RedirectUrl: *window\.location\.origin \+ '([^']+)'"""
)


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_doc_pages_load_everything_from_the_api(stack: Stack, page: str) -> None:
    origin = stack.api_url.removesuffix("/api")
    html = httpx.get(f"{stack.api_url}/{page}")
    assert html.status_code == 200
    urls = {next(filter(None, groups)) for groups in PAGE_URL.findall(html.text)}
    assert urls, html.text
    for url in urls:
        assert url.startswith("/api/"), f"{page} loads {url} from elsewhere"
        assert httpx.get(origin + url).status_code == 200, url
    if page == "docs":
        assert "/api/docs/oauth2-redirect" in urls


# Debian's chromium, headless; as root it needs --no-sandbox, and without the background-networking flags it
# reaches for Google's hosts at every start. The resolver rule makes every host but the API's unreachable,
# so the page can only render from what the API serves.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--virtual-time-budget=15000",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on this machine: `apt-get install -y chromium` (.ci/run installs it when it can)")
    return path


def rendered(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, as a browser with no Internet renders it."""
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_swagger_ui_renders_every_operation_offline(stack: Stack, document: dict[str, Any], tmp_path: Path) -> None:
    dom = rendered(f"{stack.api_url}/docs", tmp_path)
    shown = re.findall(r'class="opblock-summary-operation-id"[^>]*>([^<]+)<', dom)
    assert sorted(shown) == sorted(op["operationId"] for op in operations(document).values()), dom[-3000:]


def test_redoc_renders_every_operation_offline(stack: Stack, document: dict[str, Any], tmp_path: Path) -> None:
    dom = rendered(f"{stack.api_url}/redoc", tmp_path)
    missing = [op["summary"] for op in operations(document).values() if op["summary"] not in dom]
    assert missing == [], dom[-3000:]
