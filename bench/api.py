"""API figures on the local stack (simulator latency 0): create-accept p99, GET one VM p50, list of 1,000
VMs, and the cold import of function_app. Prints JSON.

    .venv/bin/python bench/api.py [--creates 200] [--gets 300] [--list-size 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.auth import issue_token  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store import Store  # noqa: E402
from tests.support.keys import ed25519_key  # noqa: E402
from tools.devstack import PYTHON, Stack  # noqa: E402

# Limits out of the way: this measures the path, not the guardrails.
BENCH_ENV = {
    "DSVM_MAX_VMS_PER_USER": "100000",
    "DSVM_MAX_VCPUS_PER_USER": "10000000",
    "DSVM_RATE_LIMIT_PER_MINUTE": "1000000",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(call: object) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = call()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000, response


def cold_import(env: dict[str, str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([PYTHON, "-c", "import function_app"], cwd=ROOT, env={**os.environ, **env}, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--gets", type=int, default=300)
    parser.add_argument("--list-size", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as state:
        stack = Stack.on_free_ports(Path(state))
        try:
            stack.start_tables(in_memory=True)
            stack.start_arm("--no-throttle", "--provision-seconds", "0", "--transition-seconds", "0")
            stack.start_api(BENCH_ENV)
            store = Store.from_settings(Settings.model_validate(stack.app_env()))
            store.ensure_tables()
            token = issue_token(store, "bench@example.com", False)[1]
            key = ed25519_key()
            with httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"}) as api:

                def create(name: str) -> httpx.Response:
                    body = {
                        "name": name,
                        "size": "Standard_D2s_v5",
                        "ssh_public_key": key,
                        "allowed_cidrs": ["203.0.113.7/32"],
                    }
                    return api.post("/vms", json=body)

                create_ms = []
                for i in range(args.creates):
                    ms, response = timed(lambda i=i: create(f"bench-{i:05d}"))
                    assert response.status_code == 202, response.text
                    create_ms.append(ms)
                for i in range(args.creates, args.list_size):
                    assert create(f"bench-{i:05d}").status_code == 202

                api.get("/vms/bench-00000")
                get_ms = []
                for i in range(args.gets):
                    ms, response = timed(lambda i=i: api.get(f"/vms/bench-{i % args.creates:05d}"))
                    assert response.status_code == 200
                    get_ms.append(ms)

                list_ms = []
                for _ in range(5):
                    ms, response = timed(lambda: api.get("/vms"))
                    assert len(response.json()["value"]) == args.list_size
                    list_ms.append(ms)

            print(
                json.dumps(
                    {
                        "create_accept_ms": {
                            "p50": round(percentile(create_ms, 0.5), 1),
                            "p99": round(percentile(create_ms, 0.99), 1),
                            "n": len(create_ms),
                        },
                        "get_vm_ms": {
                            "p50": round(percentile(get_ms, 0.5), 1),
                            "p99": round(percentile(get_ms, 0.99), 1),
                        },
                        "list_vms_ms": {
                            "vms": args.list_size,
                            # the first list after a change fetches ARM's list; the next reuse it (<=10 s)
                            "first": round(list_ms[0], 1),
                            "median": round(statistics.median(list_ms), 1),
                        },
                        "cold_import_function_app_s": round(cold_import(stack.app_env()), 3),
                    },
                    indent=2,
                )
            )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
