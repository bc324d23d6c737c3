"""Bad input gets a problem+json naming the field, and leaves no record and no ARM resource behind."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.keys import dsa_key, ecdsa_key, ed25519_key, rsa_key
from tests.support.polling import resources_named

ED25519 = ed25519_key()
RSA_1024 = rsa_key(1024)

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("upper-case name", {"name": "Bad-Name"}, "name"),
    ("short name", {"name": "ab"}, "name"),
    ("name ending in hyphen", {"name": "abc-"}, "name"),
    ("long name", {"name": "a" * 41}, "name"),
    ("size outside the catalogue", {"size": "Standard_NC24s_v3"}, "size"),
    ("unknown size", {"size": "Huge_VM"}, "size"),
    ("disk too small", {"os_disk_gb": 10}, "os_disk_gb"),
    ("disk smaller than the DSVM image's", {"os_disk_gb": 149}, "os_disk_gb"),
    ("non-finite idle threshold", {"idle": {"network_in_mb": float("inf")}}, "idle.network_in_mb"),
    ("NaN budget", {"budget_usd": float("nan")}, "budget_usd"),
    ("budget beyond any sane bound", {"budget_usd": 1e300}, "budget_usd"),
    ("idle threshold beyond any sane bound", {"idle": {"network_in_mb": 1e12}}, "idle.network_in_mb"),
    ("TTL beyond any sane bound", {"ttl_hours": 10**9}, "ttl_hours"),
    ("disk too large for Azure", {"os_disk_gb": 5000}, "os_disk_gb"),
    ("disk over policy", {"os_disk_gb": 2048}, "os_disk_gb"),
    ("unknown disk type", {"os_disk_type": "UltraSSD_LRS"}, "os_disk_type"),
    ("garbage key", {"ssh_public_key": "ssh-rsa not-base64!"}, "ssh_public_key"),
    ("short RSA key", {"ssh_public_key": RSA_1024}, "ssh_public_key"),
    ("unknown key type", {"ssh_public_key": "ssh-foo AAAAB3NzaC1yc2E="}, "ssh_public_key"),
    ("non-ASCII key", {"ssh_public_key": "ssh-ed25519 ÄÖÜ徊"}, "ssh_public_key"),
    ("DSA key", {"ssh_public_key": dsa_key()}, "ssh_public_key"),
    ("password too short", {"ssh_public_key": None, "admin_password": "Sh0rt!"}, "admin_password"),
    ("password with two classes", {"admin_password": "onlylowercase123"}, "admin_password"),
    ("reserved user name", {"admin_username": "admin"}, "admin_username"),
    ("user name with capitals", {"admin_username": "Ana"}, "admin_username"),
    ("no credential", {"ssh_public_key": None}, "body"),
    ("not a CIDR", {"allowed_cidrs": ["10.0.0.300/32"]}, "allowed_cidrs.0"),
    ("IPv6 CIDR", {"allowed_cidrs": ["2001:db8::/64"]}, "allowed_cidrs.0"),
    ("open to the world", {"allowed_cidrs": ["0.0.0.0/0"]}, "allowed_cidrs.0"),
    ("wider than /16", {"allowed_cidrs": ["203.0.113.7/32", "10.0.0.0/8"]}, "allowed_cidrs.1"),
    ("empty CIDR list", {"allowed_cidrs": []}, "allowed_cidrs"),
    ("unknown field", {"colour": "blue"}, "colour"),
    ("reserved tag", {"tags": {"owner": "someone-else"}}, "tags"),
    ("TTL over policy", {"ttl_hours": 10_000}, "ttl_hours"),
    ("negative budget", {"budget_usd": -5}, "budget_usd"),
    ("unknown time zone", {"schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone"),
    ("idle window too short", {"idle": {"window_minutes": 1}}, "idle.window_minutes"),
]


def good(name: str) -> dict[str, Any]:
    return {"name": name, "size": "Standard_E4s_v5", "ssh_public_key": ED25519, "allowed_cidrs": ["203.0.113.7/32"]}


def assert_nothing_left(api: httpx.Client, sim: httpx.Client, name: str) -> None:
    assert api.get(f"/vms/{name}").status_code == 404
    assert resources_named(sim, name) == []


@pytest.mark.parametrize(("case", "change", "field"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_create_names_the_field_and_leaves_nothing(
    api: httpx.Client, sim: httpx.Client, vm_name: str, case: str, change: dict[str, Any], field: str
) -> None:
    request = {**good(vm_name), **change}
    request = {k: v for k, v in request.items() if v is not None}
    # Sent as Python's json writes it: NaN and Infinity included, as a hostile client would.
    response = api.post("/vms", content=json.dumps(request), headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]], problem
    name = request["name"] if isinstance(request.get("name"), str) else vm_name
    assert_nothing_left(api, sim, name if len(name) < 60 else vm_name)


def test_good_keys_of_each_type_are_accepted(api: httpx.Client, vm_name: str) -> None:
    for index, key in enumerate([ED25519, ecdsa_key(), rsa_key(2048)]):
        response = api.post("/vms", json={**good(f"{vm_name}-{index}"), "ssh_public_key": key})
        assert response.status_code == 202, response.text


def test_oversize_body_is_refused(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    request = {**good(vm_name), "tags": {"notes": "x" * 100_000}}
    response = api.post("/vms", json=request)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert_nothing_left(api, sim, vm_name)


def test_non_json_body_is_refused(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    response = api.post(
        "/vms", content=f"name={vm_name}", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["field"] == "content-type"
    assert_nothing_left(api, sim, vm_name)


def test_malformed_json_is_refused(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    response = api.post("/vms", content=b'{"name": "' + vm_name.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert_nothing_left(api, sim, vm_name)


def test_the_disk_floor_names_the_images_size(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    response = api.post("/vms", json={**good(vm_name), "os_disk_gb": 100})
    assert response.status_code == 422
    error = next(e for e in response.json()["errors"] if e["field"] == "os_disk_gb")
    assert "150 GB" in error["message"]
    plain = {**good(vm_name), "image": "ubuntu-2204", "os_disk_gb": 64}
    assert api.post("/vms", json=plain).status_code == 202, "a plain Ubuntu image needs only 30 GB"
