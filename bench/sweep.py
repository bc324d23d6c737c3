"""Sweeper figures against the simulator with ARM-like throttling on. Prints JSON; exits 1 if a check fails.

For N VMs (default 100, 1,000, 10,000) spread over owners (`--per-owner`, 10 each, so nobody's month-to-date
comes near the monthly budget), all running and busy: one sweep pass in a fresh process. Reported: wall time
and its phases, ARM requests by kind (the simulator's counters), Table requests by method, and the peak RSS of
the process that ran the pass (VmHWM; after imports and after the pass). The busy pass must stop
nothing and write nothing to ARM. Then `--deallocate` VMs, each over its own budget: one pass must deallocate
them all, paced under ARM's write limits.

The simulated VMs carry the tags the product puts on its own (`managed-by`, `owner`, `dsvm-record` = the
record's id), set through the same SDK client the product uses.

    .venv/bin/python bench/sweep.py [--sizes 100 1000 10000] [--per-owner 10] [--deallocate 1000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from azure.data.tables import TableServiceClient, UpdateMode  # noqa: E402

from shared.azure.arm import Arm, arm_tags  # noqa: E402
from shared.azure.queue import WorkQueue  # noqa: E402
from shared.azure.tables import Store, _record_entity  # noqa: E402
from shared.azure.webhook import Webhook  # noqa: E402
from shared.core.models import DiskType, IdleRule, ImagePreset, VmRecord, VmState  # noqa: E402
from shared.services import Services  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.sweeper import sweep  # noqa: E402
from tools.armsim.vm import TRANSITIONAL  # noqa: E402
from tools.devstack import Stack  # noqa: E402

SIZE = "Standard_D2s_v5"
# What each record has cost so far this month: with 10 VMs an owner stands at 5 USD of the 500 USD default.
MONTH_COST_USD = 0.5
# Counter names of ARM reads; every other ARM operation the simulator counts is a write.
READ_SUFFIXES = ("_Get", "_List", "_ListByResourceGroup", "_InstanceView", "_CheckExistence", "Metrics_Batch")
SETUP_THREADS = 8


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


def owner_of(index: int, per_owner: int) -> str:
    return f"owner{index // per_owner:05d}@example.com"


def records(names: list[str], per_owner: int, now: datetime, budget: float | None) -> list[VmRecord]:
    """Running records as the sweeper finds them in steady state: costs last written 5 minutes ago."""
    created = now - timedelta(hours=2)
    return [
        VmRecord(
            id=uuid.uuid4().hex,
            name=name,
            owner=owner_of(index, per_owner),
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
            cost_usd=MONTH_COST_USD,
            month_cost_usd=MONTH_COST_USD,
        )
        for index, name in enumerate(names)
    ]


def load(store: Store, items: list[VmRecord]) -> None:
    for start in range(0, len(items), 100):
        store.vms.submit_transaction(
            [("upsert", _record_entity(r), {"mode": UpdateMode.REPLACE}) for r in items[start : start + 100]]
        )


def clear(store: Store) -> None:
    by_partition: dict[str, list[Any]] = {}
    for entity in store.vms.list_entities(select=["PartitionKey", "RowKey"]):
        by_partition.setdefault(entity["PartitionKey"], []).append(entity)
    for entities in by_partition.values():
        for start in range(0, len(entities), 100):
            store.vms.submit_transaction([("delete", e) for e in entities[start : start + 100]])


def tag_and_load(settings: Settings, sim: httpx.Client, items: list[VmRecord], cpu: float) -> None:
    """Tag each VM as the product tags its own, and give it a CPU and network load."""
    arm = Arm(settings)
    compute = arm.compute

    def one(record: VmRecord) -> None:
        compute.virtual_machines.begin_update(
            settings.resource_group, record.name, {"tags": arm_tags(record)}, polling=False
        )
        # By id: the simulator finds a VM by name with a scan of every resource.
        load = {"id": arm.vm_id(record.name), "cpu_percent": cpu, "network_in_bytes_per_min": 10**7 if cpu else 0}
        sim.post("/load", json=load).raise_for_status()

    with ThreadPoolExecutor(max_workers=SETUP_THREADS) as pool:
        list(pool.map(one, items))


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: after fork+exec, Linux carries the parent's
    peak into the child's ru_maxrss, and the parent holds every bench record."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def run_pass(env: dict[str, str], now: str) -> dict[str, Any]:
    """One sweep pass; runs in a fresh process so its peak RSS is the pass's own."""
    settings = Settings.model_validate(env)
    counting = CountingStore(settings)
    svc = Services(settings=settings, store=counting.store, arm=Arm(settings, patient=True), queue=WorkQueue(settings))
    rss_after_imports = peak_rss_mb()
    started = time.perf_counter()
    report = sweep(svc, Webhook(None), datetime.fromisoformat(now))
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 2),
        "phases_s": report.seconds,
        "report": report.as_dict(),
        "table_requests": dict(counting.requests),
        "rss_after_imports_mb": rss_after_imports,
        "peak_rss_mb": peak_rss_mb(),
    }


def scenario(
    stack: Stack, sim: httpx.Client, n: int, per_owner: int, budget: float | None, cpu: float
) -> dict[str, Any]:
    sim.post("/reset").raise_for_status()
    stack.seed()
    env = stack.app_env()
    settings = Settings.model_validate(env)
    # Setup is not what is measured: throttling goes on just before the pass.
    sim.patch("/config", json={"throttle": False, "provision_seconds": 0, "transition_seconds": 0}).raise_for_status()
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
    items = records([f"{prefix}{i:05d}" for i in range(n)], per_owner, now, budget)
    tag_and_load(settings, sim, items, cpu)
    store = Store.from_settings(settings)
    clear(store)
    load(store, items)
    sim.delete("/counters").raise_for_status()
    sim.patch("/config", json={"throttle": True}).raise_for_status()

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        measured = pool.submit(run_pass, env, now.isoformat()).result()
    report = measured.pop("report")
    arm = {k: v for k, v in sim.get("/counters").json()["requests"].items() if not k.startswith("Sim_")}
    reads = {k: v for k, v in arm.items() if k.endswith(READ_SUFFIXES)}
    return {
        "vms": n,
        "owners": -(-n // per_owner),
        **measured,
        "arm_requests": arm,
        "arm_reads": sum(reads.values()),
        "arm_read_budget": f"list pages {reads.get('VirtualMachines_List', 0)} + ceil(N/50) = {-(-n // 50)} metric batches",
        "arm_writes": sum(v for k, v in arm.items() if k not in reads and k != "Throttled"),
        "observed": report["observed"],
        "state_changes": report["state_changes"],
        "stopped": len(report["actions"]),
        "stop_rules": dict(Counter(a["rule"] for a in report["actions"])),
        "actions_failed": report["actions_failed"],
    }


def power_states_once_settled(settings: Settings, timeout: float = 60.0) -> dict[str, int]:
    """The VMs' power states as ARM lists them, once none is in transition (a deallocate ends after its 202)."""
    arm = Arm(settings)
    deadline = time.monotonic() + timeout
    while True:
        states = Counter(vm.power_state for vm in arm.list_vms().values())
        if not TRANSITIONAL.intersection(states) or time.monotonic() > deadline:
            return dict(states)
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10000])
    parser.add_argument("--per-owner", type=int, default=10, help="VMs per owner")
    parser.add_argument("--deallocate", type=int, default=1000, help="VMs over budget in the last pass (0: none)")
    args = parser.parse_args()
    checks: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as state:
        stack = Stack.on_free_ports(Path(state))
        try:
            stack.start_tables(in_memory=True)
            stack.start_queue(in_memory=True)
            stack.start_arm("--throttle")
            Store.from_settings(Settings.model_validate(stack.app_env())).ensure_tables()
            results: dict[str, Any] = {"sweeps": []}
            with httpx.Client(base_url=f"{stack.arm_url}/_sim", verify=str(stack.arm_ca), timeout=120) as sim:
                for n in args.sizes:
                    run = scenario(stack, sim, n, args.per_owner, budget=None, cpu=50.0)
                    results["sweeps"].append(run)
                    checks[f"busy pass of {n} stops nothing"] = run["stopped"] == 0 and run["arm_writes"] == 0
                    checks[f"busy pass of {n} sees every VM"] = run["observed"] == n
                if args.deallocate:
                    n = args.deallocate
                    run = scenario(stack, sim, n, args.per_owner, budget=0.001, cpu=0.0)
                    sim.patch("/config", json={"throttle": False}).raise_for_status()
                    run["power_states_after"] = power_states_once_settled(Settings.model_validate(stack.app_env()))
                    results["deallocate_throttled"] = run
                    checks[f"over-budget pass deallocates all {n}"] = (
                        run["power_states_after"] == {"deallocated": n}
                        and run["stop_rules"] == {"budget": n}
                        and run["actions_failed"] == 0
                    )
        finally:
            stack.stop()
    results["checks"] = checks
    print(json.dumps(results, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
