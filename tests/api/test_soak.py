"""A seeded fault soak (issue 9): create / stop / start / delete cycles across several users while the simulator
injects 429s (with Retry-After), 500s, 404 blips, latency and allocation failures. At the end every record is
settled, nothing is left in Azure, nothing was deleted that nobody asked to delete, and the cost the control
plane accrued matches an independent recount from the simulator's power history within 1 %.

The soak runs its own API and worker (tables and queue of their own) on the simulator's clock
(DSVM_CLOCK_URL), so that the simulator can jump an hour between steps and both sides see the same time:
the recount is then about hours of use, not about seconds of polling lag.

SOAK_CYCLES (default 16 in `make test`; the closing report used 200) and SOAK_SEED choose the run.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from shared.azure.arm import Arm
from shared.azure.queue import WorkQueue
from shared.azure.tables import Store
from shared.azure.webhook import Webhook
from shared.clock import SimulatorClock
from shared.core.prices import HOURS_PER_MONTH, disk_monthly_price, hourly_price
from shared.services import Services
from shared.settings import Settings
from shared.sweeper import sweep
from tests.api.test_lifecycle import body
from tests.conftest import WORKER_ENV, issue
from tests.support.polling import wait_for_state
from tools.devstack import PYTHON, Stack, free_port, spawn, wait_for_port

pytestmark = pytest.mark.soak

CYCLES = int(os.environ.get("SOAK_CYCLES", "16"))
SEED = int(os.environ.get("SOAK_SEED", "20261128"))
USERS = 4
PARALLEL = 8
FAILING_SIZE = "Standard_D2s_v5"
ALLOCATED = {"starting", "running", "stopping", "stopped", "deallocating"}
HOUR = 3600.0


@dataclass
class Soak:
    url: str
    tokens: list[str]
    svc: Services
    settings: Settings


@pytest.fixture
def soak(stack: Stack, settings: Settings, sim: httpx.Client) -> Iterator[Soak]:
    env = {
        "DSVM_CLOCK_URL": f"{stack.arm_url}/_sim/clock",
        "DSVM_TABLE_PREFIX": "soak",
        "DSVM_WORK_QUEUE": "soak-work",
        # The soak is about Azure's faults: its few users act faster than people do.
        "DSVM_RATE_LIMIT_PER_MINUTE": "600",
        **WORKER_ENV,
    }
    soak_settings = Settings.model_validate({**stack.app_env(), **env})
    clock = SimulatorClock(env["DSVM_CLOCK_URL"], str(stack.arm_ca))
    store = Store.from_settings(soak_settings, clock)
    store.ensure_tables()
    queue = WorkQueue(soak_settings)
    queue.ensure()
    svc = Services(soak_settings, store, Arm(soak_settings, patient=True), queue, clock)
    port = free_port()
    api_args = [PYTHON, "-m", "uvicorn", "--factory", "shared.api.app:app_from_env", "--port", str(port)]
    api = spawn("soak-api", api_args, stack.state_dir / "soak-api.log", {**stack.app_env(), **env})
    worker = spawn(
        "soak-worker",
        [PYTHON, "-m", "shared.worker", "--every", "0.05", "--retry-seconds", "1"],
        stack.state_dir / "soak-worker.log",
        {**stack.app_env(), **env},
    )
    try:
        wait_for_port(port, api.process)
        tokens = [issue(store, f"soak-{i}@example.com") for i in range(USERS)]
        yield Soak(f"http://127.0.0.1:{port}/api", tokens, svc, soak_settings)
    finally:
        worker.stop()
        api.stop()


class Faults:
    """Seeded random faults on one VM's ARM paths, counted by kind."""

    def __init__(self, sim: httpx.Client, seed: int) -> None:
        self.sim, self.random, self.injected = sim, random.Random(seed), Counter[str]()

    def inject(self, name: str) -> None:
        kind = self.random.choice(["none", "none", "429", "500", "404", "latency", "nsg"])
        vm = f"/virtualMachines/{name}(/|$)"
        fault: dict[str, Any]
        if kind == "429":
            fault = {"path": vm, "status": 429, "code": "TooManyRequests", "retry_after": 1, "count": 2}
        elif kind == "500":
            fault = {"path": vm, "method": "POST", "status": 500, "code": "InternalServerError", "count": 2}
        elif kind == "404":
            fault = {"path": f"/virtualMachines/{name}$", "method": "GET", "status": 404, "code": "NotFound"}
        elif kind == "latency":
            fault = {"path": vm, "status": 0, "latency_ms": 250, "count": 3}
        elif kind == "nsg":
            fault = {"path": f"/networkSecurityGroups/{name}-nsg$", "status": 500, "code": "InternalError", "count": 1}
        else:
            return
        self.sim.post("/faults", json={"method": "*", **fault}).raise_for_status()
        self.injected[kind] += 1


def act(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """Send a request, following the API's advice: a 409, 429 or 503 with Retry-After is sent again after it."""
    for _ in range(30):
        response = client.request(method, path, **kwargs)
        if response.status_code in (409, 429, 503) and "retry-after" in response.headers:
            time.sleep(min(float(response.headers["retry-after"]), 2.0))
            continue
        return response
    raise AssertionError(f"{method} {path} never went through: {response.text}")


def jump(sim: httpx.Client, soak: Soak, seconds: float) -> None:
    """An hour passes for everyone (the simulator, and the soak's API and worker that read its clock)."""
    sim.post("/clock", json={"advance_seconds": seconds}).raise_for_status()
    time.sleep(0.1)  # past the clock's resync interval
    sweep(soak.svc, Webhook(None))


def recount(history: dict[str, Any], prices: dict[tuple[str, str], float], until: datetime) -> float:
    """What the simulator's record of each VM's life says it cost: compute while allocated, disk while it existed."""
    total = 0.0
    for life in history["vms"]:
        created = datetime.fromisoformat(life["created"].replace("Z", "+00:00"))
        ended = datetime.fromisoformat(life["deleted"].replace("Z", "+00:00")) if life["deleted"] else until
        compute = hourly_price(prices, life["size"], life["location"].replace(" ", "").lower()) or 0.0
        disk = disk_monthly_price(life["os_disk"]["type"], life["os_disk"]["size_gb"]) / HOURS_PER_MONTH
        total += disk * (ended - created).total_seconds() / HOUR
        changes = sorted(life["transitions"], key=lambda t: t["at"])
        for change, following in zip(changes, [*changes[1:], None], strict=True):
            start = datetime.fromisoformat(change["at"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(following["at"].replace("Z", "+00:00")) if following else ended
            if change.get("power") in ALLOCATED:
                total += compute * (min(end, ended) - start).total_seconds() / HOUR
    return total


@pytest.mark.timeout(120 + 10 * CYCLES)
def test_fault_soak(soak: Soak, sim: httpx.Client, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    sim.patch("/config", json={"unavailable_sizes": {FAILING_SIZE: "AllocationFailed"}}).raise_for_status()
    faults = Faults(sim, SEED)
    chooser = random.Random(SEED + 1)
    clients = [
        httpx.Client(base_url=soak.url, headers={"Authorization": f"Bearer {t}"}, timeout=60) for t in soak.tokens
    ]
    names: list[str] = []
    failed_creates = 0
    pool = ThreadPoolExecutor(max_workers=PARALLEL)
    try:
        for first in range(0, CYCLES, PARALLEL):
            batch = [
                (f"sk{SEED % 1000}-{index:04d}", clients[index % USERS])
                for index in range(first, min(first + PARALLEL, CYCLES))
            ]
            names += [name for name, _ in batch]
            sizes = {name: FAILING_SIZE if chooser.random() < 0.1 else "Standard_E4s_v5" for name, _ in batch}

            def create(item: tuple[str, httpx.Client], sizes: dict[str, str] = sizes) -> str:
                name, client = item
                faults.inject(name)
                request = body(name, size=sizes[name], idle={"enabled": False}, ttl_hours=48)
                answer = act(client, "POST", "/vms", json=request, headers={"Idempotency-Key": f"soak-{name}"})
                assert answer.status_code == 202, answer.text
                return str(wait_for_state(client, name, "Running", "Failed", timeout=120)["state"])

            states = dict(zip([n for n, _ in batch], pool.map(create, batch), strict=True))
            failed_creates += sum(1 for s in states.values() if s == "Failed")
            # A failed create's VM never ran; wait until its clean-up removed it before time moves on.
            for name, state in states.items():
                if state == "Failed":
                    wait_gone(sim, name)
            live = [(n, c) for n, c in batch if states[n] == "Running"]
            jump(sim, soak, HOUR)
            for action, target in (("stop", "Stopped"), ("start", "Running")):

                def step(item: tuple[str, httpx.Client], action: str = action, target: str = target) -> None:
                    name, client = item
                    faults.inject(name)
                    answer = act(client, "POST", f"/vms/{name}/{action}")
                    assert answer.status_code == 202, answer.text
                    wait_for_state(client, name, target, timeout=120)

                list(pool.map(step, live))
                jump(sim, soak, HOUR)

            def delete(item: tuple[str, httpx.Client]) -> None:
                name, client = item
                faults.inject(name)
                answer = act(client, "DELETE", f"/vms/{name}")
                assert answer.status_code == 202, answer.text
                wait_for_state(client, name, "Deleted", timeout=120)

            list(pool.map(delete, batch))
    finally:
        pool.shutdown()
        for client in clients:
            client.close()
    sim.delete("/faults").raise_for_status()

    records = {r.name: r for r in soak.svc.store.list_vms(include_deleted=True) if r.name in names}
    assert set(records) == set(names)
    unsettled = {n: r.state.value for n, r in records.items() if r.state.value not in ("Deleted",)}
    assert unsettled == {}, "every cycle ends deleted"
    leaks = [
        r["name"]
        for r in sim.get("/resources").json()["value"]
        if any(r["name"] == n or r["name"].startswith(f"{n}-") for n in names)
    ]
    assert leaks == [], "no Azure resource without a live record"

    history = sim.get("/history").json()
    ours = [life for life in history["vms"] if life["name"] in names]
    wrong = []
    for name, record in records.items():
        trail = soak.svc.store.list_events(record.id, 1000)
        asked = [e.time for e in trail if e.action == "delete" and e.actor.endswith("@example.com")]
        failed_create = any(e.reason.startswith(("Azure failed the create", "the create failed")) for e in trail)
        for request in history["requests"]:
            if request["name"] != name or request["operation"] != "VirtualMachines_Delete":
                continue
            at = datetime.fromisoformat(request["at"].replace("Z", "+00:00"))
            if not failed_create and (not asked or at < min(asked)):
                wrong.append(request)
    assert wrong == [], "nothing was deleted that nobody asked to delete"

    from shared.operations import known_prices

    accrued = sum(r.cost_usd for r in records.values())
    counted = recount({"vms": ours}, dict(known_prices(soak.svc)), soak.svc.clock())
    tally = {
        "cycles": CYCLES,
        "seed": SEED,
        "failed_creates": failed_creates,
        "faults_injected": dict(faults.injected),
        "leaks": len(leaks),
        "wrong_deletions": len(wrong),
        "cost_accrued_usd": round(accrued, 4),
        "cost_recounted_usd": round(counted, 4),
        "cost_difference_percent": round(100 * abs(accrued - counted) / counted, 3) if counted else 0.0,
        "seconds": round(time.monotonic() - started, 1),
    }
    with capsys.disabled():
        print("\nsoak:", json.dumps(tally))
    assert accrued == pytest.approx(counted, rel=0.01)


def wait_gone(sim: httpx.Client, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [r for r in sim.get("/resources").json()["value"] if r["name"].startswith(name)]:
            return
        time.sleep(0.1)
    raise AssertionError(f"the failed create of {name} left resources behind")
