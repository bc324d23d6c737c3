"""Throughput of the ARM simulator through the real ComputeManagementClient.

Starts the simulator (throttling off), creates one VM, then measures GET VM requests per second
with 1 and 8 concurrent clients (one client per thread), plus bulk creation and a paged
statusOnly list-all over 10,000 VMs. Prints one JSON object; exits 1 if a check fails.

    .venv/bin/python bench/armsim.py [--seconds 5] [--vms 10000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from azure.mgmt.compute import ComputeManagementClient

from tools.armsim.client import SimProcess, StaticTokenCredential, sdk_kwargs

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
GROUP = "rg-bench"


def _client(sim: SimProcess) -> ComputeManagementClient:
    return ComputeManagementClient(StaticTokenCredential(), SUBSCRIPTION, **sdk_kwargs(sim.url, sim.ca))


def get_rps(sim: SimProcess, threads: int, seconds: float) -> float:
    clients = [_client(sim) for _ in range(threads)]
    for client in clients:
        client.virtual_machines.get(GROUP, "bench00000")  # warm the connection
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def work(index: int) -> None:
        client = clients[index]
        while time.monotonic() < deadline:
            client.virtual_machines.get(GROUP, "bench00000")
            counts[index] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    for client in clients:
        client.close()
    return round(sum(counts) / elapsed, 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--vms", type=int, default=10000)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as cert_dir, SimProcess(cert_dir, "--no-throttle") as sim:
        control = sim.control()
        control.bulk_vms(subscription=SUBSCRIPTION, resource_group=GROUP, location="eastus", count=1, prefix="bench")
        results["get_vm_rps_1"] = get_rps(sim, 1, args.seconds)
        results["get_vm_rps_8"] = get_rps(sim, 8, args.seconds)

        started = time.monotonic()
        control.bulk_vms(
            subscription=SUBSCRIPTION, resource_group="rg-many", location="eastus", count=args.vms, prefix="many"
        )
        results["bulk_create_seconds"] = round(time.monotonic() - started, 2)
        client = _client(sim)
        started = time.monotonic()
        listed = sum(1 for _ in client.virtual_machines.list_all(status_only="true"))
        results["list_all_status_only_vms"] = listed
        results["list_all_status_only_seconds"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        client.virtual_machines.get("rg-many", f"many{args.vms - 1:05d}")
        results["get_vm_ms_at_scale"] = round((time.monotonic() - started) * 1000, 1)
        client.close()
        control.close()
    # The subscription holds the bulk VMs and the one GET was measured on.
    results["checks"] = {
        f"list-all returns all {args.vms + 1} VMs": results["list_all_status_only_vms"] == args.vms + 1
    }
    print(json.dumps(results))
    return 0 if all(results["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
