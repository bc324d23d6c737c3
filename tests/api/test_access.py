"""Issue 13 over HTTP: browser login with a generated password, password reset through VMAccessForLinux,
settings changed after create (policy-bounded, ETag-checked, the NSG following), and Retry-After on the
409s of a state in progress."""

from __future__ import annotations

import json
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.azure.arm import Arm
from shared.azure.queue import WorkQueue
from shared.azure.tables import Store
from shared.core.models import LOGIN_RULES
from shared.core.observations import child_names
from shared.services import Services
from shared.settings import Settings
from shared.worker import drain, host_queue_settings, password_result
from tests.api.test_lifecycle import body
from tests.api.test_sweeper import power
from tests.conftest import issue
from tests.support.polling import eventually, wait_for_state
from tests.support.services import Clock, api_process, clocked
from tools.devstack import Stack


def crypt_matches(password: str, hashed: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    return bool(crypt.crypt(password, hashed) == hashed)


def events(api: httpx.Client, name: str) -> list[dict[str, Any]]:
    answer = api.get(f"/vms/{name}/events")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["value"])


def running(api: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    created = api.post("/vms", json=body(name, **extra))
    assert created.status_code == 202, created.text
    return wait_for_state(api, name, "Running")


def nsg_sources(settings: Settings, vm: str) -> set[str]:
    nsg = Arm(settings).network.network_security_groups.get(settings.resource_group, child_names(vm).nsg)
    rules = nsg.properties.security_rules or []
    return {prefix for rule in rules for prefix in rule.properties.source_address_prefixes or []}


# --- browser login: a generated password, shown once and found nowhere ---------------------------------


def test_a_generated_password_is_shown_once_and_found_nowhere(
    stack: Stack, sim: httpx.Client, settings: Settings, store: Store, user_name: str, vm_name: str
) -> None:
    # An API whose work queue no worker drains: the messages can be read before this test works them off.
    queue_name = f"access-{uuid.uuid4().hex[:12]}"
    private = settings.model_copy(update={"work_queue": queue_name})
    work = WorkQueue(private)
    work.ensure()
    worker = Services(settings=private, store=store, arm=Arm(private, patient=True), queue=work)
    headers = {"Authorization": f"Bearer {issue(store, user_name)}"}
    request = {**body(vm_name), "generate_password": True}
    del request["ssh_public_key"]

    def work_off() -> list[dict[str, Any]]:
        """Read what the API queued, then do what the worker does with it."""
        seen = [json.loads(m.content) for m in work.work.peek_messages(max_messages=32)]
        while drain(worker, work, host_queue_settings()):
            pass
        return seen

    with (
        api_process(stack, f"api-{queue_name}", DSVM_WORK_QUEUE=queue_name) as url,
        httpx.Client(base_url=url, headers=headers, timeout=60) as api,
    ):
        first = api.post("/vms", json=request, headers={"Idempotency-Key": vm_name})
        assert first.status_code == 202, first.text
        password = first.json()["admin_password"]
        assert isinstance(password, str) and len(password) >= 12
        replay = api.post("/vms", json=request, headers={"Idempotency-Key": vm_name})
        assert replay.status_code == 202 and replay.headers.get("idempotent-replayed") == "true"
        assert replay.json().get("admin_password") is None, "a replay never carries the password"

        messages = work_off()
        (create,) = [m for m in messages if m["op"] == "create"]
        assert crypt_matches(password, create["password_hash"]), "the VM gets this password, as a hash"
        wait_for_state(api, vm_name, "Running")
        custom = sim.get(f"/vms/{vm_name}/custom-data").raise_for_status().json()["decoded"]
        assert create["password_hash"] in custom and password not in custom

        reset = api.post(f"/vms/{vm_name}/password", json={"generate": True})
        assert reset.status_code == 202, reset.text
        answer = reset.json()
        assert set(answer) == {"name", "admin_username", "password"}
        second = answer["password"]
        assert isinstance(second, str) and second != password
        messages += work_off()
        received = sim.get(f"/vms/{vm_name}/extensions/enablevmaccess").raise_for_status().json()["received"]
        assert received["properties"]["protectedSettings"] == {"username": "azureuser", "password": second}
        trail = events(api, vm_name)
        assert any(e["actor"] == "system:worker" and "was reset" in e["reason"] for e in trail)
        # Everything but the first answer, which carries it once.
        texts = [replay.text, api.get(f"/vms/{vm_name}").text, api.get("/vms").text, json.dumps(trail)]

    assert [m["op"] for m in messages if m["op"] == "password"] == ["password"]
    texts.append(json.dumps(messages))
    texts += [json.dumps(m.content) for m in work.poison.peek_messages(max_messages=32)]
    for table in store.tables():
        texts += [repr(dict(entity)) for entity in table.list_entities()]
    texts += [log.read_text(errors="replace") for log in stack.state_dir.glob("*.log")]
    for secret in (password, second):
        assert not [t for t in texts if secret in t], "a password was kept, logged, evented or queued"
    work.work.delete_queue()
    work.poison.delete_queue()


def test_the_password_policy_is_in_the_contract(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()["components"]["schemas"]
    assert LOGIN_RULES in schema["CreateVm"]["properties"]["admin_password"]["description"]
    assert "once" in schema["CreateVm"]["properties"]["generate_password"]["description"]
    assert LOGIN_RULES in schema["PasswordReset"]["properties"]["password"]["description"]


def test_generate_password_and_admin_password_exclude_each_other(api: httpx.Client, vm_name: str) -> None:
    both = {**body(vm_name), "generate_password": True, "admin_password": "Zq9!long-enough-Kx#7"}
    answer = api.post("/vms", json=both)
    assert answer.status_code == 422
    assert "generate_password" in [e["field"] for e in answer.json()["errors"]]
    assert api.get(f"/vms/{vm_name}").status_code == 404


# --- password reset through the VM access extension ------------------------------------------------------


def test_a_password_reset_goes_through_the_extension_and_its_result_is_evented(
    api: httpx.Client, sim: httpx.Client, stack: Stack, vm_name: str, user_name: str
) -> None:
    running(api, vm_name)
    chosen = "Zq9!" + uuid.uuid4().hex[:10] + "Kx#7"
    reset = api.post(f"/vms/{vm_name}/password", json={"password": chosen})
    assert reset.status_code == 202, reset.text
    assert reset.json() == {"name": vm_name, "admin_username": "azureuser", "password": None}
    seen = sim.get(f"/vms/{vm_name}/extensions/enablevmaccess").raise_for_status().json()
    props = seen["received"]["properties"]
    assert (props["publisher"], props["type"], props["typeHandlerVersion"]) == (
        "Microsoft.OSTCExtensions",
        "VMAccessForLinux",
        "1.5",
    )
    assert props["protectedSettings"] == {"username": "azureuser", "password": chosen}
    assert props["settings"] == {}

    eventually(lambda: any("was reset" in e["reason"] for e in events(api, vm_name)), what="the reset's result evented")
    asked = next(e for e in events(api, vm_name) if e["actor"] == user_name and e["action"] == "password")
    assert asked["evidence"]["generated"] is False
    done = next(e for e in events(api, vm_name) if e["actor"] == "system:worker" and e["action"] == "password")
    assert done["evidence"]["operation"] == asked["evidence"]["operation"]
    assert chosen not in json.dumps(events(api, vm_name))
    assert chosen not in (stack.state_dir / "api.log").read_text(errors="replace")


def test_a_reset_watched_only_after_its_vm_was_deleted_is_moot_not_failed(
    api: httpx.Client, settings: Settings, store: Store, vm_name: str, user_name: str
) -> None:
    running(api, vm_name)
    assert api.post(f"/vms/{vm_name}/password", json={"generate": True}).status_code == 202
    eventually(lambda: any("was reset" in e["reason"] for e in events(api, vm_name)), what="the reset's result")
    asked = next(e for e in events(api, vm_name) if e["actor"] == user_name and e["action"] == "password")
    assert api.delete(f"/vms/{vm_name}").status_code == 202
    record = wait_for_state(api, vm_name, "Deleted")

    # The watch message delivered again (or late) once the VM and its extension are gone, as the walkthrough
    # saw when a delete followed a reset at once.
    worker = Services(settings=settings, store=store, arm=Arm(settings, patient=True), queue=WorkQueue(settings))
    message = {"op": "password", "name": vm_name, "id": record["id"], "operation": asked["evidence"]["operation"]}
    password_result(worker, message)

    latest = events(api, vm_name)[0]
    assert (latest["actor"], latest["action"], latest["state"]) == ("system:worker", "password", "Deleted")
    assert latest["reason"] == "the password reset of azureuser is moot: the VM was deleted"


@pytest.mark.parametrize(
    ("reset", "field"),
    [
        ({"password": "short1A!"}, "password"),
        ({"password": "alllowercaseletters"}, "password"),
        ({"password": "Zq9!azureuser-Kx#7"}, "password"),
        ({"generate": True, "password": "Zq9!long-enough-Kx#7"}, "body"),
        ({}, "body"),
        ({"generate": False}, "body"),
        ({"generate": True, "username": "root"}, "username"),
    ],
)
def test_a_bad_reset_names_the_field_and_sends_nothing(
    api: httpx.Client, sim: httpx.Client, vm_name: str, reset: dict[str, Any], field: str
) -> None:
    running(api, vm_name)
    answer = api.post(f"/vms/{vm_name}/password", json=reset)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]
    assert sim.get(f"/vms/{vm_name}/extensions/enablevmaccess").status_code == 404


def test_a_reset_needs_a_running_vm_and_says_when_to_retry(api: httpx.Client, sim: httpx.Client, vm_name: str) -> None:
    running(api, vm_name)
    sim.patch("/config", json={"transition_seconds": 30}).raise_for_status()
    assert api.post(f"/vms/{vm_name}/stop").status_code == 202
    eventually(lambda: power(sim, vm_name) == "deallocating", what="the deallocate reaching Azure")
    stopping = api.post(f"/vms/{vm_name}/password", json={"generate": True})
    assert stopping.status_code == 409 and stopping.headers["retry-after"] == "15", stopping.text
    sim.post("/clock", json={"advance_seconds": 60}).raise_for_status()
    wait_for_state(api, vm_name, "Stopped")
    stopped = api.post(f"/vms/{vm_name}/password", json={"generate": True})
    assert stopped.status_code == 409 and "start it first" in stopped.json()["detail"]
    assert "retry-after" not in stopped.headers
    assert sim.get(f"/vms/{vm_name}/extensions/enablevmaccess").status_code == 404


def test_someone_elses_vm_cannot_be_reset(api: httpx.Client, store: Store, stack: Stack, vm_name: str) -> None:
    running(api, vm_name)
    other = {"Authorization": f"Bearer {issue(store, 'mallory@example.com')}"}
    answer = httpx.post(f"{stack.api_url}/vms/{vm_name}/password", json={"generate": True}, headers=other)
    assert answer.status_code == 404


# --- change settings after create -------------------------------------------------------------------------


MERGE = {"Content-Type": "application/merge-patch+json"}


def test_a_change_within_policy_is_applied_evented_and_reaches_the_nsg(
    api: httpx.Client, settings: Settings, vm_name: str, user_name: str
) -> None:
    running(api, vm_name, ttl_hours=4)
    read = api.get(f"/vms/{vm_name}")
    etag = read.headers["etag"]
    patch = {
        "ttl_hours": 6,
        "budget_usd": 50,
        "schedule": {"timezone": "Europe/Berlin", "stop_at": "20:00"},
        "idle": {"cpu_percent": 3},
        "allowed_cidrs": ["198.51.100.0/24", "203.0.113.9/32"],
    }
    changed = api.patch(f"/vms/{vm_name}", content=json.dumps(patch), headers={**MERGE, "If-Match": etag})
    assert changed.status_code == 200, changed.text
    view = changed.json()
    assert (view["ttl_hours"], view["budget_usd"], view["schedule"]["stop_at"]) == (6, 50, "20:00")
    assert (view["idle"]["cpu_percent"], view["idle"]["window_minutes"]) == (3, 60)
    assert view["allowed_cidrs"] == ["198.51.100.0/24", "203.0.113.9/32"]
    assert changed.headers["etag"] != etag
    assert api.get(f"/vms/{vm_name}").json()["budget_usd"] == 50

    eventually(lambda: nsg_sources(settings, vm_name) == {"198.51.100.0/24", "203.0.113.9/32"}, what="the NSG follows")
    eventually(lambda: any(e["action"] == "network" for e in events(api, vm_name)), what="the NSG update evented")
    change = next(e for e in events(api, vm_name) if e["action"] == "change")
    assert change["actor"] == user_name
    assert change["evidence"]["ttl_hours"] == {"old": 4, "new": 6}
    assert change["evidence"]["budget_usd"] == {"old": None, "new": 50.0}
    assert change["evidence"]["allowed_cidrs"]["old"] == ["203.0.113.7/32"]

    # application/json is taken too, and null takes the create's default.
    cleared = api.patch(f"/vms/{vm_name}", json={"budget_usd": None, "schedule": None})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["budget_usd"], cleared.json()["schedule"]) == (None, None)


def test_new_rules_never_reach_an_nsg_that_is_not_the_records(
    api: httpx.Client, settings: Settings, store: Store, vm_name: str
) -> None:
    running(api, vm_name)
    network = Arm(settings, patient=True).network.network_security_groups
    nsg = network.get(settings.resource_group, child_names(vm_name).nsg)
    nsg.tags = {**(nsg.tags or {}), "dsvm-record": "someone-else"}
    network.begin_create_or_update(settings.resource_group, child_names(vm_name).nsg, nsg).result()
    assert api.patch(f"/vms/{vm_name}", json={"allowed_cidrs": ["198.51.100.0/24"]}).status_code == 200
    eventually(lambda: store.get_vm(vm_name).error_code == "NotOurs", what="the refusal")  # type: ignore[union-attr]
    assert nsg_sources(settings, vm_name) == {"203.0.113.7/32"}
    refused = next(e for e in events(api, vm_name) if e["action"] == "update_nsg")
    assert "network security group" in refused["reason"] and "not this record's" in refused["reason"]
    assert store.get_vm(vm_name).nsg_pending_since is None  # type: ignore[union-attr]


def test_rules_azure_refuses_are_said_on_the_record(
    api: httpx.Client, sim: httpx.Client, store: Store, vm_name: str
) -> None:
    running(api, vm_name)
    fault = {
        "method": "PUT",
        "path": f"{child_names(vm_name).nsg}$",
        "count": 1,
        "status": 400,
        "code": "InvalidRequestFormat",
    }
    sim.post("/faults", json=fault).raise_for_status()
    assert api.patch(f"/vms/{vm_name}", json={"allowed_cidrs": ["198.51.100.0/24"]}).status_code == 200
    eventually(
        lambda: store.get_vm(vm_name).error_code == "InvalidRequestFormat",  # type: ignore[union-attr]
        what="Azure's refusal on the record",
    )
    network = next(e for e in events(api, vm_name) if e["action"] == "network")
    assert "Azure refused the network rules" in network["reason"]


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"ttl_hours": 400}, "ttl_hours", "at most 336 hours"),
        ({"ttl_hours": 10**6}, "ttl_hours", "less than or equal"),
        ({"budget_usd": 5000}, "budget_usd", "at most 1000 USD"),
        ({"allowed_cidrs": ["0.0.0.0/0"]}, "allowed_cidrs.0", "wider than /16"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at", "in the future"),
        ({"schedule": {"stop_at": "20:00"}}, "schedule.timezone", "required"),
        ({"owner": "eve@example.com"}, "owner", "cannot be changed"),
    ],
)
def test_a_change_beyond_policy_names_the_bound_and_changes_nothing(
    api: httpx.Client, vm_name: str, patch: dict[str, Any], field: str, words: str
) -> None:
    before = running(api, vm_name)
    answer = api.patch(f"/vms/{vm_name}", content=json.dumps(patch), headers=MERGE)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    errors = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert field in errors and words in errors[field], errors
    after = api.get(f"/vms/{vm_name}").json()
    assert {k: after[k] for k in patch if k in after} == {k: before[k] for k in patch if k in before}
    assert not any(e["action"] == "change" for e in events(api, vm_name))


def test_concurrent_changes_with_one_etag_let_exactly_one_through(api: httpx.Client, vm_name: str) -> None:
    running(api, vm_name)
    etag = api.get(f"/vms/{vm_name}").headers["etag"]

    def change(hours: int) -> httpx.Response:
        return api.patch(
            f"/vms/{vm_name}", content=json.dumps({"ttl_hours": hours}), headers={**MERGE, "If-Match": etag}
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(change, [2, 3, 4, 5]))
    assert sorted(a.status_code for a in answers) == [200, 412, 412, 412], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()["ttl_hours"]
    assert api.get(f"/vms/{vm_name}").json()["ttl_hours"] == winner
    assert len([e for e in events(api, vm_name) if e["action"] == "change"]) == 1
    stale = api.patch(f"/vms/{vm_name}", content=json.dumps({"ttl_hours": 7}), headers={**MERGE, "If-Match": etag})
    assert stale.status_code == 412


def test_admins_change_anyones_vm_and_others_see_nothing(
    api: httpx.Client, admin: httpx.Client, admin_name: str, store: Store, stack: Stack, vm_name: str
) -> None:
    running(api, vm_name)
    other = {"Authorization": f"Bearer {issue(store, 'mallory@example.com')}", **MERGE}
    assert httpx.patch(f"{stack.api_url}/vms/{vm_name}", content='{"ttl_hours": 2}', headers=other).status_code == 404
    answer = admin.patch(f"/vms/{vm_name}", content='{"ttl_hours": 2}', headers=MERGE)
    assert answer.status_code == 200 and answer.json()["ttl_hours"] == 2
    assert next(e for e in events(api, vm_name) if e["action"] == "change")["actor"] == admin_name


def test_a_change_that_is_not_json_is_refused(api: httpx.Client, vm_name: str) -> None:
    running(api, vm_name)
    text = api.patch(f"/vms/{vm_name}", content="ttl_hours=2", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    array = api.patch(f"/vms/{vm_name}", content="[1]", headers=MERGE)
    assert array.status_code == 422


def test_raising_the_budget_lets_a_vm_its_budget_stopped_start_again(
    api: httpx.Client, sim: httpx.Client, settings: Settings, vm_name: str
) -> None:
    from shared.azure.webhook import Webhook
    from shared.sweeper import sweep
    from tests.api.test_sweeper import advance

    running(api, vm_name, budget_usd=0.05, idle={"enabled": False})
    report = sweep(clocked(settings, Clock(advance(sim, 2))), Webhook(None))
    assert [a["rule"] for a in report.actions if a["vm"] == vm_name] == ["budget"]
    stopped = wait_for_state(api, vm_name, "Stopped")
    last = stopped["last_stop"]
    assert (last["by"], last["rule"]) == ("sweeper", "budget") and "budget" in last["reason"]
    refused = api.post(f"/vms/{vm_name}/start")
    assert refused.status_code == 409 and "budget_usd" in refused.json()["detail"]

    raised = api.patch(f"/vms/{vm_name}", json={"budget_usd": 100})
    assert raised.status_code == 200, raised.text
    assert api.post(f"/vms/{vm_name}/start").status_code == 202
    assert wait_for_state(api, vm_name, "Running")["last_stop"]["rule"] == "budget"


def test_an_owners_stop_is_explained(api: httpx.Client, admin: httpx.Client, vm_name: str, user_name: str) -> None:
    running(api, vm_name)
    assert api.get(f"/vms/{vm_name}").json()["last_stop"] is None
    assert api.post(f"/vms/{vm_name}/stop").status_code == 202
    last = wait_for_state(api, vm_name, "Stopped")["last_stop"]
    assert (last["by"], last["rule"]) == ("owner", None) and user_name in last["reason"]
    assert api.get(f"/vms/{vm_name}").json()["next_stop"] is None
    assert api.post(f"/vms/{vm_name}/start").status_code == 202
    wait_for_state(api, vm_name, "Running")
    assert admin.post(f"/vms/{vm_name}/stop").status_code == 202
    assert wait_for_state(api, vm_name, "Stopped")["last_stop"]["by"] == "admin"
    listed = next(v for v in api.get("/vms").json()["value"] if v["name"] == vm_name)
    assert listed["last_stop"]["by"] == "admin"


# --- Retry-After on the 409s of a state in progress ------------------------------------------------------


def test_a_409_caused_by_a_state_in_progress_says_when_to_retry(
    api: httpx.Client, sim: httpx.Client, vm_name: str
) -> None:
    sim.patch("/config", json={"provision_seconds": 30, "transition_seconds": 30}).raise_for_status()
    assert api.post("/vms", json=body(vm_name)).status_code == 202
    # Once the worker has sent the VM PUT it leaves the record alone until the VM is provisioned.
    eventually(lambda: any(r["name"] == vm_name for r in sim.get("/resources").json()["value"]), what="the VM PUT")
    network = api.patch(f"/vms/{vm_name}", json={"allowed_cidrs": ["203.0.113.8/32"]})
    assert network.status_code == 409 and network.headers["retry-after"] == "30", network.text
    for action in ("start", "stop", "restart"):
        answer = api.post(f"/vms/{vm_name}/{action}")
        assert answer.status_code == 409 and answer.headers["retry-after"] == "30", (action, answer.text)
    assert api.delete(f"/vms/{vm_name}").status_code == 202
    again = api.post("/vms", json=body(vm_name))
    assert again.status_code == 409 and again.headers["retry-after"] == "15", again.text
    assert "Deleting" in again.json()["detail"]
