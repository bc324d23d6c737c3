"""The sweeper against Azurite and the ARM simulator: the simulator's clock and CPU loads are set, a pass
runs, and exactly the expected VMs are deallocated, with events and webhook warnings."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shared.azure.arm import Arm
from shared.azure.queue import WorkQueue
from shared.azure.tables import Store
from shared.azure.webhook import Webhook
from shared.services import Services
from shared.settings import Settings
from shared.sweeper import current_prices, sweep
from tests.api.test_lifecycle import body
from tests.support.polling import eventually, wait_for_state
from tests.unit.test_pricing import item


class Receiver:
    """A local webhook endpoint that records what it is sent (or fails on purpose)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.messages: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                receiver.messages.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def svc(settings: Settings, store: Store) -> Services:
    return Services(settings=settings, store=store, arm=Arm(settings, patient=True), queue=WorkQueue(settings))


def advance(sim: httpx.Client, hours: float) -> datetime:
    """Move the simulator's clock; the sweep is then run at the simulator's `now`."""
    clock = sim.post("/clock", json={"advance_seconds": hours * 3600}).raise_for_status().json()
    return datetime.fromisoformat(clock["now"].replace("Z", "+00:00"))


def sim_now(sim: httpx.Client) -> datetime:
    return datetime.fromisoformat(sim.get("/clock").json()["now"].replace("Z", "+00:00"))


def events(api: httpx.Client, name: str) -> list[dict[str, Any]]:
    return api.get(f"/vms/{name}/events").json()["value"]


def power(sim: httpx.Client, name: str) -> str:
    vm = next(r for r in sim.get("/resources").json()["value"] if r["name"] == name)
    return str(vm["properties"]["powerState"])


def test_a_pass_deallocates_exactly_the_idle_expired_and_over_budget_vms(
    api: httpx.Client, sim: httpx.Client, svc: Services, receiver: Receiver, vm_name: str
) -> None:
    names = {rule: f"{vm_name}-{rule}" for rule in ("idle", "busy", "expired", "budget", "young")}
    idle = {"window_minutes": 15, "cpu_percent": 5, "network_in_mb": 50}
    assert api.post("/vms", json=body(names["idle"], idle=idle)).status_code == 202
    assert api.post("/vms", json=body(names["busy"], idle=idle)).status_code == 202
    assert api.post("/vms", json=body(names["expired"], ttl_hours=1, idle={"enabled": False})).status_code == 202
    assert api.post("/vms", json=body(names["budget"], budget_usd=0.05, idle={"enabled": False})).status_code == 202
    for name in list(names.values())[:4]:
        wait_for_state(api, name, "Running")
    sim.put(f"/load/{names['busy']}", json={"cpu_percent": 80, "network_in_bytes_per_min": 10**7}).raise_for_status()
    now = advance(sim, 2)
    assert api.post("/vms", json=body(names["young"], idle=idle)).status_code == 202
    wait_for_state(api, names["young"], "Running")

    webhook = Webhook(receiver.url)
    report = sweep(svc, webhook, now)
    acted = {a["vm"]: a["rule"] for a in report.actions}
    assert acted == {names["budget"]: "budget"}
    assert report.actions_failed == 0
    # The time limit passed an hour ago, but the owner has not been warned yet: warned now, stopped later.
    warned = [m["text"] for m in receiver.messages if names["expired"] in m["text"]]
    assert len(warned) == 1 and "snooze" in warned[0]
    # Idle: warned one pass ahead, so someone still at it can snooze or touch a key.
    (idle_warning,) = [m["text"] for m in receiver.messages if names["idle"] in m["text"]]
    assert "unless it is used" in idle_warning and "snooze" in idle_warning
    assert power(sim, names["idle"]) == "running"

    # The next pass, five minutes on: still idle, so it goes; nobody else is stopped without warning.
    now = advance(sim, 5 / 60)
    report = sweep(svc, webhook, now)
    assert {a["vm"]: a["rule"] for a in report.actions} == {names["idle"]: "idle"}
    announced = [m["text"] for m in receiver.messages if "was deallocated" in m["text"]]
    assert len(announced) == 2

    for name in (names["idle"], names["budget"]):
        assert wait_for_state(api, name, "Stopped")["power_state"] == "deallocated"
        stop = next(e for e in events(api, name) if e["action"] == "deallocate")
        assert stop["actor"] == "system:sweeper"
        assert stop["reason"]
        assert stop["evidence"]["rule"] in ("idle", "budget")
    idle_stop = next(e for e in events(api, names["idle"]) if e["action"] == "deallocate")
    assert idle_stop["evidence"]["cpu_max_percent"] is not None or idle_stop["evidence"].get("samples")
    budget_stop = next(e for e in events(api, names["budget"]) if e["action"] == "deallocate")
    assert "cost" in json.dumps(budget_stop["evidence"])
    for name in (names["busy"], names["expired"], names["young"]):
        assert power(sim, name) == "running"

    # What it cost: per VM (with burn rate) and per owner for this month.
    stopped = api.get(f"/vms/{names['budget']}").json()
    running = api.get(f"/vms/{names['busy']}").json()
    assert running["cost_usd"] > 0.4  # two hours of an E4s_v5 and its disk
    assert 0 < stopped["burn_usd_per_hour"] < running["burn_usd_per_hour"]  # deallocated: the disk only
    report_month = api.get("/costs", params={"month": now.strftime("%Y-%m")}).json()
    by_vm = {row["name"]: row["usd"] for row in report_month["by_vm"]}
    assert set(by_vm) == set(names.values())
    assert report_month["by_owner"] == {running["owner"]: pytest.approx(sum(by_vm.values()), abs=1e-3)}

    # Same pass again at the same moment: nothing new happens and no cost is counted twice.
    costs = {n: api.get(f"/vms/{n}").json()["cost_usd"] for n in names.values()}
    again = sweep(svc, webhook, now)
    assert again.actions == [] and again.warnings == 0
    assert {n: api.get(f"/vms/{n}").json()["cost_usd"] for n in names.values()} == costs

    # Past the warning's lead time, the expired VM is stopped (the young one is kept busy by now).
    sim.put(f"/load/{names['young']}", json={"cpu_percent": 60, "network_in_bytes_per_min": 10**7}).raise_for_status()
    later = advance(sim, 0.6)
    third = sweep(svc, webhook, later)
    assert {a["vm"]: a["rule"] for a in third.actions} == {names["expired"]: "time-limit"}
    assert wait_for_state(api, names["expired"], "Stopped")["power_state"] == "deallocated"
    assert power(sim, names["busy"]) == "running"


def test_snooze_holds_off_the_time_limit_but_not_a_budget(
    api: httpx.Client, sim: httpx.Client, svc: Services, receiver: Receiver, vm_name: str
) -> None:
    limited, capped = f"{vm_name}-ttl", f"{vm_name}-cap"
    assert api.post("/vms", json=body(limited, ttl_hours=1, idle={"enabled": False})).status_code == 202
    assert api.post("/vms", json=body(capped, budget_usd=0.05, idle={"enabled": False})).status_code == 202
    wait_for_state(api, limited, "Running")
    wait_for_state(api, capped, "Running")
    for name in (limited, capped):
        assert api.post(f"/vms/{name}/snooze", json={"hours": 12}).status_code == 200
    assert api.post(f"/vms/{limited}/snooze", json={"hours": 100}).status_code == 422
    now = advance(sim, 2)
    report = sweep(svc, Webhook(receiver.url), now)
    assert {a["vm"] for a in report.actions} == {capped}


def test_the_minutes_after_its_own_stop_are_billed_as_deallocated_though_seen_a_pass_later(
    api: httpx.Client, sim: httpx.Client, svc: Services, vm_name: str
) -> None:
    assert api.post("/vms", json=body(vm_name, budget_usd=0.05, idle={"enabled": False})).status_code == 202
    wait_for_state(api, vm_name, "Running")
    now = advance(sim, 2)
    assert {a["vm"] for a in sweep(svc, Webhook(None), now).actions} == {vm_name}
    at_stop = svc.store.get_vm(vm_name)
    assert at_stop is not None and at_stop.power_state == "running"  # the deallocation is seen next pass

    later = advance(sim, 5 / 60)
    sweep(svc, Webhook(None), later)
    seen = svc.store.get_vm(vm_name)
    assert seen is not None and seen.power_state == "deallocated"
    stopped_rate = api.get(f"/vms/{vm_name}").json()["burn_usd_per_hour"]
    # ARM dates the deallocation (the instance view's provisioning time): the five minutes are disk only.
    assert seen.cost_usd - at_stop.cost_usd == pytest.approx(stopped_rate * 5 / 60, rel=0.05)


def test_a_fault_mid_sweep_then_a_rerun_acts_once_and_counts_cost_once(
    api: httpx.Client, sim: httpx.Client, svc: Services, vm_name: str
) -> None:
    assert api.post("/vms", json=body(vm_name, budget_usd=0.05, idle={"enabled": False})).status_code == 202
    wait_for_state(api, vm_name, "Running")
    now = advance(sim, 3)
    fault = {
        "method": "POST",
        "path": f"{vm_name}/deallocate",
        "count": 50,
        "status": 500,
        "code": "InternalServerError",
    }
    sim.post("/faults", json=fault).raise_for_status()
    first = sweep(svc, Webhook(None), now)
    assert first.actions_failed == 1
    record = svc.store.get_vm(vm_name)
    assert record is not None and record.state.value == "Stopping"
    cost = record.cost_usd
    assert cost > 0

    sim.delete("/faults").raise_for_status()
    rerun = sweep(svc, Webhook(None), now)
    assert rerun.actions == []
    assert svc.store.get_vm(vm_name).cost_usd == cost  # type: ignore[union-attr]

    # After reconcile's grace, the owed deallocate is sent again (by the queue worker), once.
    later = now + timedelta(minutes=3)
    sweep(svc, Webhook(None), later)
    eventually(lambda: power(sim, vm_name) in ("deallocating", "deallocated"), what="the deallocate re-sent")
    stops = [e for e in events(api, vm_name) if e["action"] == "deallocate"]
    assert len(stops) == 1


def test_dry_run_records_decisions_without_acting(
    api: httpx.Client, sim: httpx.Client, svc: Services, receiver: Receiver, vm_name: str
) -> None:
    assert api.post("/vms", json=body(vm_name, budget_usd=0.05, idle={"enabled": False})).status_code == 202
    wait_for_state(api, vm_name, "Running")
    now = advance(sim, 2)
    report = sweep(svc, Webhook(receiver.url), now, dry_run=True)
    assert report.dry_run and report.actions == []
    assert power(sim, vm_name) == "running"
    assert receiver.messages == []
    dry = [e for e in events(api, vm_name) if e["action"] == "dry-run"]
    assert len(dry) == 1 and "would deallocate" in dry[0]["reason"]
    sweep(svc, Webhook(receiver.url), now, dry_run=True)
    assert len([e for e in events(api, vm_name) if e["action"] == "dry-run"]) == 1


def test_a_failing_webhook_never_blocks_a_sweep(
    api: httpx.Client, sim: httpx.Client, svc: Services, vm_name: str
) -> None:
    broken = Receiver(status=500)
    try:
        assert api.post("/vms", json=body(vm_name, ttl_hours=1, idle={"enabled": False})).status_code == 202
        wait_for_state(api, vm_name, "Running")
        now = advance(sim, 2)
        report = sweep(svc, Webhook(broken.url), now)
        assert report.warnings == 1 and report.webhooks_failed == 1
        warn = [e for e in events(api, vm_name) if e["action"] == "warn"]
        assert len(warn) == 1 and warn[0]["evidence"]["webhook"] is False
        # The warning is recorded even though the webhook failed, so the stop still comes after the lead.
        report = sweep(svc, Webhook(broken.url), now + timedelta(minutes=31))
        assert [a["rule"] for a in report.actions] == ["time-limit"]
    finally:
        broken.close()


class PricePages:
    """Serves two recorded pages of the Retail Prices API; `down` makes it refuse."""

    def __init__(self) -> None:
        pages = self.pages = {
            "/prices": {
                "BillingCurrency": "USD",
                "CustomerEntityId": "Default",
                "CustomerEntityType": "Retail",
                "Items": [item("Standard_D2s_v5", 0.5)],
                "NextPageLink": None,
                "Count": 1,
            },
            "/prices/page2": {
                "BillingCurrency": "USD",
                "Items": [item("Standard_E4s_v5", 0.9)],
                "NextPageLink": None,
                "Count": 1,
            },
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                page = dict(pages[path])
                if path == "/prices":
                    page["NextPageLink"] = f"http://127.0.0.1:{self.server.server_address[1]}/prices/page2"
                data = json.dumps(page).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/prices"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_prices_refresh_from_the_api_is_cached_and_falls_back_when_it_is_down(settings: Settings, store: Store) -> None:
    from shared.core.prices import load_catalogue
    from shared.operations import forget_prices

    store.prices.delete_entity("prices", settings.location)
    forget_prices()
    pages = PricePages()
    live = Services(
        settings=settings.model_copy(update={"prices_url": pages.url}),
        store=store,
        arm=Arm(settings),
        queue=WorkQueue(settings),
    )
    now = datetime.now(UTC)
    try:
        prices = current_prices(live, now, ["Standard_D2s_v5", "Standard_E4s_v5"])
    finally:
        pages.close()
    assert prices[("Standard_D2s_v5", "eastus")] == 0.5
    assert prices[("Standard_E4s_v5", "eastus")] == 0.9  # from the second page
    assert store.get_prices("eastus") is not None

    # A day later the API is down: the cached figures are used, not the catalogue's.
    stale = current_prices(live, now + timedelta(days=2), ["Standard_D2s_v5"])
    assert stale[("Standard_D2s_v5", "eastus")] == 0.5

    # No cache and no API: the shipped catalogue.
    store.prices.delete_entity("prices", settings.location)
    forget_prices()
    fallback = current_prices(live, now, ["Standard_D2s_v5"])
    assert fallback[("Standard_D2s_v5", "eastus")] == load_catalogue().prices[("Standard_D2s_v5", "eastus")]


def test_sizes_lists_what_the_caller_may_create_with_prices(api: httpx.Client, settings: Settings) -> None:
    sizes = api.get("/sizes").json()
    assert sizes["region"] == settings.location
    by_name = {s["name"]: s for s in sizes["value"]}
    assert set(by_name) == set(settings.allowed_sizes)
    assert by_name["Standard_E4s_v5"]["vcpus"] == 4
    assert by_name["Standard_E4s_v5"]["hourly_usd"] > 0
