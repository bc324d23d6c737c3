"""The admin password is passed to ARM and nowhere else: not stored, not logged, not returned."""

from __future__ import annotations

from typing import Any

import httpx

from shared.azure.tables import Store
from tests.support.polling import wait_for_state


def test_admin_password_appears_nowhere(api: httpx.Client, stack: Any, store: Store, vm_name: str) -> None:
    password = "Zq9!" + vm_name[-8:] + "Kx#7pL"
    request = {
        "name": vm_name,
        "size": "Standard_D4s_v5",
        "admin_username": "ana",
        "admin_password": password,
        "allowed_cidrs": ["203.0.113.7/32"],
    }
    seen = []
    first = api.post("/vms", json=request, headers={"Idempotency-Key": vm_name})
    assert first.status_code == 202, first.text
    seen.append(first.text)
    seen.append(api.post("/vms", json=request, headers={"Idempotency-Key": vm_name}).text)
    seen.append(api.post("/vms", json=request).text)  # a 409 problem must not echo it either
    wait_for_state(api, vm_name, "Running")
    seen += [api.get(f"/vms/{vm_name}").text, api.get("/vms").text, api.get(f"/vms/{vm_name}/events").text]
    bad = {**request, "name": vm_name + "-x", "admin_password": password[:6]}
    seen.append(api.post("/vms", json=bad).text)

    for text in seen:
        assert password not in text
        assert password[:6] not in text

    for table in store.tables():
        for entity in table.list_entities():
            assert password not in repr(dict(entity)), table.table_name

    log = (stack.state_dir / "api.log").read_text(errors="replace")
    assert password not in log
    assert password[:6] not in log
