"""Issue 9: the control plane never destroys, never stalls, never mis-bills, under faults and hostile input.

One regression test per defect, through the HTTP API, the queue worker and the simulator's fault, clock and
load controls. Shell tests that need simulated time run the shells in-process (tests/support/services.py)
against the same Azurite and simulator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from azure.storage.queue import QueueClient

from shared import operations
from shared.api import idempotency
from shared.azure.tables import Store
from shared.azure.webhook import Webhook
from shared.core.costs import accrue_record
from shared.core.lifecycle import ACTION_TIMEOUT, LOST_AFTER
from shared.core.models import CreateVm, Event, User, VmState
from shared.settings import Settings
from shared.sweeper import sweep
from tests.api.test_lifecycle import body
from tests.api.test_sweeper import Receiver, advance, events, power
from tests.conftest import issue
from tests.support.polling import eventually, resources_named, wait_for_state
from tests.support.services import Clock, api_process, clocked
from tools.devstack import Stack


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def running(api: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    assert api.post("/vms", json=body(name, **extra)).status_code == 202
    return wait_for_state(api, name, "Running")


def get_fault(name: str, status: int, code: str, count: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "method": "GET",
        "path": f"/virtualMachines/{name}$",
        "count": count,
        "status": status,
        "code": code,
        **extra,
    }


# --- 1. non-finite numbers, and one bad row never stops a bulk read ------------------------------------


def test_a_bad_row_is_skipped_by_every_bulk_read_and_named_by_a_single_read(
    api: httpx.Client, admin: httpx.Client, sim: httpx.Client, store: Store, settings: Settings, vm_name: str
) -> None:
    bad, good = f"{vm_name}-bad", f"{vm_name}-cap"
    running(api, bad)
    running(api, good, budget_usd=0.05, idle={"enabled": False})
    # A row as the old defect left it: Infinity stored as null.
    entity = store.vms.get_entity("vm", bad)
    doc = json.loads(entity["doc"])
    doc["idle"]["network_in_mb"] = None
    store.vms.upsert_entity({**entity, "doc": json.dumps(doc)})
    try:
        listed = admin.get("/vms")
        assert listed.status_code == 200, listed.text
        names = [v["name"] for v in listed.json()["value"]]
        assert bad not in names and good in names
        assert admin.get("/costs").status_code == 200
        single = api.get(f"/vms/{bad}")
        assert single.status_code == 500
        assert bad in single.json()["detail"]

        report = sweep(clocked(settings, Clock(advance(sim, 2))), Webhook(None))
        assert {a["vm"] for a in report.actions} == {good}, "the sweep went on past the bad row"
    finally:
        store.vms.delete_entity("vm", bad)


# --- 2. Lost only after several observations; a VM that comes back is found again -----------------------


def test_one_404_is_no_evidence_and_a_lost_vm_that_comes_back_is_not_deleted(
    api: httpx.Client, sim: httpx.Client, settings: Settings, vm_name: str
) -> None:
    running(api, vm_name)
    sim.post("/faults", json=get_fault(vm_name, 404, "ResourceNotFound")).raise_for_status()
    assert api.get(f"/vms/{vm_name}").json()["state"] == "Running"

    clock = Clock(datetime.now(UTC))
    svc = clocked(settings, clock)
    for _ in range(3):
        sim.post("/faults", json=get_fault(vm_name, 404, "ResourceNotFound")).raise_for_status()
        record = operations.refresh(svc, svc.store.get_vm(vm_name))  # type: ignore[arg-type]
        clock.advance(seconds=LOST_AFTER.total_seconds() / 2)
    assert record.state == VmState.LOST

    back = operations.refresh(svc, svc.store.get_vm(vm_name))  # type: ignore[arg-type]
    assert back.state == VmState.RUNNING
    assert "found again" in events(api, vm_name)[0]["reason"]
    time.sleep(1)  # give a wrongly queued delete the time to run
    assert power(sim, vm_name) == "running"
    assert len(resources_named(sim, vm_name)) == 5, "VM, NIC, public IP, disk and NSG are all still there"


# --- 3. a start Azure fails settles, delete is always accepted, a stuck transition settles -------------


def test_a_start_azure_fails_settles_with_its_error_and_delete_still_works(
    api: httpx.Client, sim: httpx.Client, vm_name: str
) -> None:
    running(api, vm_name, size="Standard_E8s_v5")
    assert api.post(f"/vms/{vm_name}/stop").status_code == 202
    wait_for_state(api, vm_name, "Stopped")
    sim.patch("/config", json={"unavailable_sizes": {"Standard_E8s_v5": "AllocationFailed"}}).raise_for_status()
    assert api.post(f"/vms/{vm_name}/start").status_code == 202
    settled = wait_for_state(api, vm_name, "Stopped")
    assert settled["error_code"] == "AllocationFailed"
    assert any("failed the start" in e["reason"] for e in events(api, vm_name))
    assert api.post(f"/vms/{vm_name}/stop").status_code == 202  # nothing left to do, but not refused
    assert api.delete(f"/vms/{vm_name}").status_code == 202
    wait_for_state(api, vm_name, "Deleted")
    assert resources_named(sim, vm_name) == []


def test_a_transition_that_never_finishes_settles_with_an_error(
    api: httpx.Client, sim: httpx.Client, settings: Settings, vm_name: str
) -> None:
    running(api, vm_name)
    sim.patch("/config", json={"transition_seconds": 24 * 3600}).raise_for_status()
    assert api.post(f"/vms/{vm_name}/stop").status_code == 202
    eventually(lambda: power(sim, vm_name) == "deallocating", what="the deallocate sent")
    svc = clocked(settings, Clock(datetime.now(UTC) + ACTION_TIMEOUT + timedelta(minutes=1)))
    record = operations.refresh(svc, svc.store.get_vm(vm_name))  # type: ignore[arg-type]
    assert record.state == VmState.STOPPED
    assert record.error_code == "ActionTimedOut"
    assert api.delete(f"/vms/{vm_name}").status_code == 202


# --- 4. cost is accrued whenever the power state changes, whoever sees it ------------------------------


def test_a_power_change_seen_by_a_get_bills_the_time_before_it_at_the_old_state(
    api: httpx.Client, sim: httpx.Client, settings: Settings, vm_name: str
) -> None:
    running(api, vm_name, idle={"enabled": False})
    assert api.post(f"/vms/{vm_name}/stop").status_code == 202
    # The simulator moves a VM along when it is asked something; a clock call asks without a GET of ours.
    eventually(lambda: advance(sim, 0) is not None and power(sim, vm_name) == "deallocated", what="the deallocate")
    svc = clocked(settings, Clock(datetime.now(UTC)))
    before = svc.store.get_vm(vm_name)
    assert before is not None and before.power_state == "running" and before.cost_at is not None
    prices = operations.known_prices(svc)
    svc.clock.now = before.cost_at + timedelta(minutes=55)  # type: ignore[attr-defined]
    seen = operations.refresh(svc, before)
    assert seen.power_state == "deallocated"
    expected_running = accrue_record(before, prices, svc.clock()).record.cost_usd
    assert seen.cost_usd == pytest.approx(expected_running)
    assert seen.cost_usd - before.cost_usd > 0.1, "55 minutes of an E4s_v5's compute were billed"

    # The sweeper bills only the 5 minutes after the change, at the deallocated (disk only) rate.
    hour = before.cost_at + timedelta(minutes=60)
    sweep(svc, Webhook(None), hour)
    swept = svc.store.get_vm(vm_name)
    assert swept is not None
    assert swept.cost_usd == pytest.approx(accrue_record(seen, prices, hour).record.cost_usd)
    assert swept.cost_usd - seen.cost_usd < 0.01


# --- 5. a failed or throttled create can be retried exactly as advised ----------------------------------


def test_a_create_the_queue_refuses_leaves_nothing_and_the_same_request_then_succeeds(
    stack: Stack, store: Store, user_name: str, vm_name: str
) -> None:
    token = issue(store, user_name)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"gone-{vm_name}"}
    request = body(vm_name)
    with api_process(stack, "api-noqueue", DSVM_WORK_QUEUE="gone-queue") as url:
        assert httpx.get(f"{url}/health").status_code == 200  # builds its services, creating its queues
        gone = QueueClient.from_connection_string(stack.queue_connection, "gone-queue")
        gone.delete_queue()
        refused = httpx.post(f"{url}/vms", json=request, headers=headers)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"]
        assert "127.0.0.1" not in refused.text and "AccountKey" not in refused.text
        assert httpx.get(f"{url}/vms/{vm_name}", headers=headers).status_code == 404, "the record was rolled back"
        gone.create_queue()
    with httpx.Client(base_url=stack.api_url, headers=headers) as api:
        again = api.post("/vms", json=request)
        assert again.status_code == 202, again.text
        assert "idempotent-replayed" not in again.headers, "the failure was not stored as the key's answer"
        wait_for_state(api, vm_name, "Running")


# --- 6. a create never takes over a VM it does not own; nothing is sent to a VM that is not ours --------


def test_a_create_never_takes_over_a_vm_of_the_same_name(
    api: httpx.Client, sim: httpx.Client, settings: Settings, vm_name: str
) -> None:
    name = f"{vm_name}00000"
    sim.post(
        "/bulk_vms",
        json={
            "subscription": settings.subscription_id,
            "resource_group": settings.resource_group,
            "location": settings.location,
            "count": 1,
            "prefix": vm_name,
            "subnet_id": settings.subnet_id,
            "tags": {"team": "someone-else"},
        },
    ).raise_for_status()
    assert api.post("/vms", json=body(name)).status_code == 202
    failed = wait_for_state(api, name, "Failed")
    assert failed["error_code"] == "NameInUse"
    theirs = next(r for r in resources_named(sim, name) if r["type"].endswith("virtualMachines"))
    assert theirs["properties"]["powerState"] == "running"
    assert api.delete(f"/vms/{name}").status_code == 202
    wait_for_state(api, name, "Deleted")
    assert power(sim, name) == "running", "deleting our record never deletes their VM"


def test_nothing_is_sent_to_a_vm_whose_tag_names_another_record(
    api: httpx.Client, sim: httpx.Client, settings: Settings, vm_name: str
) -> None:
    running(api, vm_name)
    arm = clocked(settings, Clock(datetime.now(UTC))).arm
    arm.compute.virtual_machines.begin_update(
        settings.resource_group, vm_name, {"tags": {"dsvm-record": "someone-elses-record"}}
    ).result()
    assert api.post(f"/vms/{vm_name}/stop").status_code == 202
    eventually(lambda: any("not this record's" in e["reason"] for e in events(api, vm_name)), what="the refusal event")
    assert power(sim, vm_name) == "running"


# --- 7. request-path calls never wait out a long throttle --------------------------------------------


def test_a_throttled_read_answers_503_with_retry_after_at_once(
    api: httpx.Client, sim: httpx.Client, vm_name: str
) -> None:
    running(api, vm_name)
    sim.post(
        "/faults", json=get_fault(vm_name, 429, "SubscriptionRequestsThrottled", count=4, retry_after=25)
    ).raise_for_status()
    started = time.monotonic()
    response = api.get(f"/vms/{vm_name}")
    assert time.monotonic() - started < 10
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "25"


# --- 8. an Idempotency-Key left "in progress" by a dead instance is taken over ---------------------------


def test_a_retry_takes_over_a_dead_requests_key_and_finishes_its_half_made_create(
    api: httpx.Client, store: Store, settings: Settings, user_name: str, vm_name: str
) -> None:
    request = body(vm_name)
    key = f"dead-{vm_name}"
    raw = CreateVm.model_validate(request).model_dump(mode="json", exclude={"admin_password"})
    salt = idempotency.new_salt()
    died = datetime.now(UTC) - idempotency.CLAIM_LEASE - timedelta(seconds=5)
    store.claim_idempotency(user_name, idempotency.key_hash(key), idempotency.fingerprint(raw, salt), salt, died)
    # What the dead instance left: its record, written before it could enqueue the create.
    svc = clocked(settings, Clock(died))
    user = User(name=user_name)
    half = operations.new_record(
        CreateVm.model_validate(request),
        user,
        svc.policy_for(user_name),
        settings,
        None,
        died,
        idempotency.key_hash(key),
    )
    store.create_vm(half)

    retried = api.post("/vms", json=request, headers={"Idempotency-Key": key})
    assert retried.status_code == 202, retried.text
    assert retried.json()["id"] == half.id
    wait_for_state(api, vm_name, "Running")
    replay = api.post("/vms", json=request, headers={"Idempotency-Key": key})
    assert (replay.status_code, replay.headers["idempotent-replayed"]) == (202, "true")


def test_a_live_claim_answers_409_with_when_to_retry(
    api: httpx.Client, store: Store, user_name: str, vm_name: str
) -> None:
    request = body(vm_name)
    raw = CreateVm.model_validate(request).model_dump(mode="json", exclude={"admin_password"})
    salt = idempotency.new_salt()
    key = f"live-{vm_name}"
    store.claim_idempotency(
        user_name, idempotency.key_hash(key), idempotency.fingerprint(raw, salt), salt, datetime.now(UTC)
    )
    busy = api.post("/vms", json=request, headers={"Idempotency-Key": key})
    assert busy.status_code == 409
    assert 1 <= int(busy.headers["retry-after"]) <= idempotency.CLAIM_LEASE.total_seconds() + 1


# --- 9. every stop is warned ahead or announced when it happens -----------------------------------------


def test_a_dry_run_does_not_count_as_a_warning(
    api: httpx.Client, sim: httpx.Client, settings: Settings, receiver: Receiver, vm_name: str
) -> None:
    running(api, vm_name, ttl_hours=1, idle={"enabled": False})
    now = advance(sim, 2)
    svc = clocked(settings, Clock(now))
    sweep(svc, Webhook(receiver.url), now, dry_run=True)
    assert receiver.messages == []
    live = sweep(svc, Webhook(receiver.url), now)
    assert live.actions == [], "the first live pass warns before it stops"
    assert [m for m in receiver.messages if "will be deallocated" in m["text"]]
    later = sweep(svc, Webhook(receiver.url), now + timedelta(minutes=31))
    assert [a["rule"] for a in later.actions] == ["time-limit"]
    assert [m for m in receiver.messages if "was deallocated" in m["text"]]


def test_with_no_lead_time_a_stop_is_announced_when_it_happens(
    api: httpx.Client, sim: httpx.Client, settings: Settings, receiver: Receiver, vm_name: str
) -> None:
    running(api, vm_name, ttl_hours=1, idle={"enabled": False})
    now = advance(sim, 2)
    svc = clocked(settings.model_copy(update={"notify_lead_minutes": 0}), Clock(now))
    report = sweep(svc, Webhook(receiver.url), now)
    assert [a["rule"] for a in report.actions] == ["time-limit"]
    assert [m for m in receiver.messages if vm_name in m["text"] and "was deallocated" in m["text"]]


# --- 10. a VM stopped for its budget stays stopped until the budget is raised ---------------------------


def test_a_vm_stopped_for_its_budget_cannot_be_started(
    api: httpx.Client, sim: httpx.Client, settings: Settings, vm_name: str
) -> None:
    running(api, vm_name, budget_usd=0.05, idle={"enabled": False})
    now = advance(sim, 2)
    report = sweep(clocked(settings, Clock(now)), Webhook(None), now)
    assert [a["rule"] for a in report.actions] == ["budget"]
    wait_for_state(api, vm_name, "Stopped")
    refused = api.post(f"/vms/{vm_name}/start")
    assert refused.status_code == 409
    assert "budget of $0.05" in refused.json()["detail"]


# --- 11. events survive a crash, the right dependency is named, one clock -------------------------------


def test_an_event_left_in_a_record_by_a_crash_is_written_by_the_next_pass(
    api: httpx.Client, sim: httpx.Client, settings: Settings, store: Store, vm_name: str
) -> None:
    running(api, vm_name)
    record = store.get_vm(vm_name)
    assert record is not None
    # The state a crash between the record write and the events write leaves behind.
    lost = Event(time=datetime.now(UTC), actor="system:sweeper", action="deallocate", reason="stopped before the crash")
    store.update_vm(record.model_copy(update={"pending_events": [lost]}))
    now = advance(sim, 0.01)
    sweep(clocked(settings, Clock(now)), Webhook(None), now)
    assert any(e["reason"] == "stopped before the crash" for e in events(api, vm_name))
    assert store.get_vm(vm_name).pending_events == []  # type: ignore[union-attr]


def test_an_unreachable_arm_is_named_as_arm_without_its_address(
    stack: Stack, store: Store, api: httpx.Client, user_name: str, vm_name: str
) -> None:
    running(api, vm_name)
    headers = {"Authorization": f"Bearer {issue(store, user_name)}"}
    with api_process(stack, "api-noarm", ARM_ENDPOINT="https://127.0.0.1:9") as url:
        response = httpx.get(f"{url}/vms/{vm_name}", headers=headers, timeout=60)
    assert response.status_code == 503, response.text
    problem = response.json()
    assert problem["title"] == "Azure is unavailable"
    assert "Table" not in problem["detail"]
    assert "127.0.0.1" not in response.text and ":9" not in problem["detail"]


def test_every_timestamp_of_a_create_comes_from_the_services_clock(
    sim: httpx.Client, settings: Settings, user_name: str, vm_name: str
) -> None:
    then = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
    svc = clocked(settings, Clock(then), patient=False)
    record, _ = operations.create(
        svc, User(name=user_name), CreateVm.model_validate(body(vm_name, ttl_hours=3)), "203.0.113.9"
    )
    stored = svc.store.get_vm(vm_name)
    assert stored is not None
    assert (stored.created_at, stored.action_at, stored.cost_at, stored.updated_at) == (then, then, then, then)
    assert stored.keep_until == then + timedelta(hours=3)
    assert [e.time for e in svc.store.list_events(record.id) if e.actor == user_name] == [then]
