"""Sweeper figures against the simulator with ARM-like throttling on. Prints JSON.

For N VMs (default 100, 1,000, 10,000), all running and busy, one sweep pass: wall time, ARM requests by
kind (from the simulator's counters), Table requests, peak RSS of this process so far. Then N=1,000 VMs all over
budget: one pass deallocates them all, paced under the write limits; failed actions are counted.

    .venv/bin/python bench/sweep.py [--sizes 100 1000 10000] [--deallocate 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from azure.data.tables import TableServiceClient, UpdateMode  # noqa: E402

from shared.cloud import Arm  # noqa: E402
from shared.models import DiskType, IdleRule, ImagePreset, VmRecord, VmState  # noqa: E402
from shared.notify import Webhook  # noqa: E402
from shared.operations import Services  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store import Store, _record_entity  # noqa: E402
from shared.sweeper import sweep  # noqa: E402
from tools.devstack import Stack  # noqa: E402

SIZE = "Standard_D2s_v5"


class CountingStore:
    """A Store whose Table client counts every HTTP request it sends."""

    def __init__(self, settings: Settings) -> None:
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

        def hook(request: Any) -> None:
            with self._lock:
                self.requests[request.http_request.method] += 1

        service = TableServiceClient.from_connection_string(settings.tables_connection or "", raw_request_hook=hook)
        self.store = Store(service, settings.table_prefix)


def records(names: list[str], owner: str, now: datetime, budget: float | None) -> list[VmRecord]:
    created = now - timedelta(hours=2)
    return [
        VmRecord(
            id=uuid.uuid4().hex,
            name=name,
            owner=owner,
            state=VmState.RUNNING,
            power_state="running",
            power_since=created,
            size=SIZE,
            location="eastus",
            image=ImagePreset.DSVM_UBUNTU_2204,
            os_disk_gb=128,
            os_disk_type=DiskType.PREMIUM_LRS,
            admin_username="azureuser",
            allowed_cidrs=["203.0.113.7/32"],
            ttl_hours=72,
            budget_usd=budget,
            idle=IdleRule(window_minutes=60),
            public_ip="203.0.113.10",
            created_at=created,
            updated_at=created,
            action_at=created,
            keep_until=now + timedelta(hours=70),
            cost_at=now - timedelta(minutes=5),
            month=now.strftime("%Y-%m"),
            cost_usd=0.5,
            month_cost_usd=0.5,
        )
        for name in names
    ]


def load(store: Store, items: list[VmRecord]) -> None:
    for start in range(0, len(items), 100):
        store.vms.submit_transaction(
            [("upsert", _record_entity(r), {"mode": UpdateMode.REPLACE}) for r in items[start : start + 100]]
        )


def clear(store: Store) -> None:
    for start_entities in [list(store.vms.list_entities(select=["PartitionKey", "RowKey"]))]:
        by_partition: dict[str, list[Any]] = {}
        for entity in start_entities:
            by_partition.setdefault(entity["PartitionKey"], []).append(entity)
        for entities in by_partition.values():
            for start in range(0, len(entities), 100):
                store.vms.submit_transaction([("delete", e) for e in entities[start : start + 100]])


def scenario(
    stack: Stack, sim: httpx.Client, settings: Settings, n: int, budget: float | None, cpu: float
) -> dict[str, Any]:
    sim.post("/reset").raise_for_status()
    stack.seed()
    sim.patch("/config", json={"throttle": True, "provision_seconds": 0, "transition_seconds": 0}).raise_for_status()
    now = datetime.now(UTC)
    prefix = f"b{uuid.uuid4().hex[:4]}"
    sim.post(
        "/bulk_vms",
        json={
            "subscription": settings.subscription_id,
            "resource_group": settings.resource_group,
            "location": settings.location,
            "count": n,
            "prefix": prefix,
            "size": SIZE,
            "power_state": "running",
            "since": (now - timedelta(hours=2)).isoformat(),
        },
        timeout=600,
    ).raise_for_status()
    names = [f"{prefix}{i:05d}" for i in range(n)]
    for name in names if cpu else []:
        sim.put(f"/load/{name}", json={"cpu_percent": cpu, "network_in_bytes_per_min": 10**7}).raise_for_status()
    counting = CountingStore(settings)
    clear(counting.store)
    load(counting.store, records(names, "bench@example.com", now, budget))
    counting.requests.clear()
    sim.delete("/counters").raise_for_status()

    svc = Services(settings=settings, store=counting.store, arm=Arm(settings))
    started = time.perf_counter()
    report = sweep(svc, Webhook(None), now)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    arm = sim.get("/counters").json()
    reads = {k: v for k, v in arm["requests"].items() if not k.startswith(("Sim_",))}
    list_pages = reads.get("VirtualMachines_List", 0)
    metric_calls = reads.get("Metrics_Batch", 0)
    return {
        "vms": n,
        "wall_s": round(wall, 2),
        "phases_s": report.seconds,
        "arm_requests": reads,
        "arm_reads": list_pages + metric_calls,
        "arm_read_budget": f"list pages {list_pages} + ceil(N/50) = {-(-n // 50)}",
        "table_requests": dict(counting.requests),
        "peak_rss_mb_so_far": round(peak / 2**20, 1),
        "actions": len(report.actions),
        "actions_failed": report.actions_failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10000])
    parser.add_argument("--deallocate", type=int, default=1000)
    # Records last written 5 minutes ago, as in steady state; a pass writes only what changed.
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        stack = Stack.on_free_ports(Path(state))
        try:
            stack.start_tables(in_memory=True)
            stack.start_arm("--throttle")
            settings = Settings.model_validate({**stack.app_env(), "PRICES_URL": ""})
            Store.from_settings(settings).ensure_tables()
            results: dict[str, Any] = {"sweeps": []}
            with httpx.Client(base_url=f"{stack.arm_url}/_sim", verify=str(stack.arm_ca), timeout=120) as sim:
                for n in args.sizes:
                    results["sweeps"].append(scenario(stack, sim, settings, n, budget=None, cpu=50.0))
                if args.deallocate:
                    run = scenario(stack, sim, settings, args.deallocate, budget=0.001, cpu=0.0)
                    states = Counter(
                        r["properties"].get("powerState")
                        for r in sim.get("/resources", params={"type": "Microsoft.Compute/virtualMachines"}).json()[
                            "value"
                        ]
                    )
                    run["power_states_after"] = dict(states)
                    results["deallocate_throttled"] = run
            print(json.dumps(results, indent=2))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
