"""API figures on the local stack. Prints JSON; exits 1 if a check fails.

The VMs belong to a team (`--per-owner` VMs a person, 10 by default); an admin raises the team policy to
that many VMs a person through `PUT /api/policy`, within the policy's bounds, as a team lead would. Reported:
create-accept latency (p50, p99 of the first `--creates`), the ARM requests the API itself made while accepting
them (the queue worker is started only afterwards, so every ARM request counted is the handlers'), the time
from create to Running once the worker runs (p50, p99), GET of one Running VM by its owner (p50, p99), an
admin's list of all `--list-size` VMs (first and median of 5), and the cold `import function_app` (median of
`--imports` fresh interpreters).

`--profile azure` runs the simulator with Azure's timing (docs/azure-timing.md): network operations that stay
Updating for seconds with Retry-After, VM creates that take a minute or two. `--sim-speed N` runs the
simulator's clock N times faster (its durations shrink; the API's latency does not).

    .venv/bin/python bench/api.py [--creates 200] [--gets 300] [--list-size 1000] [--per-owner 10] [--imports 5]
                                  [--profile instant|azure] [--sim-speed 1]
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
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.auth import issue_token  # noqa: E402
from shared.azure.tables import Store  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.support.keys import ed25519_key  # noqa: E402
from tests.support.polling import wait_for_state  # noqa: E402
from tools.devstack import PYTHON, Stack  # noqa: E402

SIZE = "Standard_D2s_v5"
IMPORT_COMMAND = [PYTHON, "-c", "import function_app"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(call: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = call()
    return (time.perf_counter() - start) * 1000, response


def cold_import(env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(IMPORT_COMMAND, cwd=ROOT, env={**os.environ, **env}, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def raise_vms_per_user(admin: httpx.Client, vms: int) -> None:
    """The team lead's way: edit the live policy (ETag-checked), never past its bounds."""
    current = admin.get("/policy").raise_for_status()
    policy = current.json()
    if policy["max_vms_per_user"] < vms:
        policy["max_vms_per_user"] = vms
        admin.put("/policy", json=policy, headers={"If-Match": current.headers["ETag"]}).raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=200, help="creates timed (of the --list-size made)")
    parser.add_argument("--gets", type=int, default=300)
    parser.add_argument("--list-size", type=int, default=1000, help="VMs created and listed")
    parser.add_argument("--per-owner", type=int, default=10, help="VMs per owner")
    parser.add_argument("--imports", type=int, default=5, help="cold imports of function_app (median)")
    parser.add_argument("--profile", choices=["instant", "azure"], default="instant", help="the simulator's timing")
    parser.add_argument("--sim-speed", type=float, default=1.0, help="the simulator clock's speed")
    args = parser.parse_args()
    args.creates = min(args.creates, args.list_size)

    with tempfile.TemporaryDirectory() as state:
        stack = Stack.on_free_ports(Path(state))
        clients: list[httpx.Client] = []
        try:
            stack.start_tables(in_memory=True)
            stack.start_queue(in_memory=True)
            if args.profile == "azure":
                stack.start_arm("--no-throttle", "--profile", "azure")
            else:
                stack.start_arm("--no-throttle", "--provision-seconds", "0", "--transition-seconds", "0")
            sim = httpx.Client(base_url=f"{stack.arm_url}/_sim", verify=str(stack.arm_ca), timeout=60)
            sim.post("/clock", json={"speed": args.sim_speed}).raise_for_status()
            stack.start_api()
            store = Store.from_settings(Settings.model_validate(stack.app_env()))
            store.ensure_tables()

            def client(user: str, admin: bool = False) -> httpx.Client:
                token = issue_token(store, user, admin)[1]
                made = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
                clients.append(made)
                return made

            admin = client("lead@example.com", admin=True)
            raise_vms_per_user(admin, args.per_owner)
            owners = [client(f"owner{i:04d}@example.com") for i in range(-(-args.list_size // args.per_owner))]
            names = [f"bench-{i:05d}" for i in range(args.list_size)]
            owner_of = {name: owners[i // args.per_owner] for i, name in enumerate(names)}
            key = ed25519_key()

            def create(name: str) -> httpx.Response:
                body = {"name": name, "size": SIZE, "ssh_public_key": key, "allowed_cidrs": ["203.0.113.7/32"]}
                return owner_of[name].post("/vms", json=body)

            create_ms, create_status, accepted, accepted_at = [], Counter[int](), [], {}
            sim.delete("/counters").raise_for_status()
            for index, name in enumerate(names):
                ms, response = timed(lambda name=name: create(name))
                create_status[response.status_code] += 1
                if response.status_code == 202:
                    accepted.append(name)
                    accepted_at[name] = time.perf_counter()
                if index < args.creates:
                    create_ms.append(ms)
            # Nothing but the handlers has run yet: every ARM request counted is one a create handler made.
            handler_arm = sim.get("/counters").raise_for_status().json()["requests"]
            stack.start_worker("--every", "0.05")
            running_s = []
            for name in accepted:
                wait_for_state(owner_of[name], name, "Running", timeout=900)
                running_s.append(time.perf_counter() - accepted_at[name])
            sim.close()

            get_ms, get_status = [], Counter[int]()
            for index in range(args.gets if accepted else 0):
                name = accepted[index % len(accepted)]
                ms, response = timed(lambda name=name: owner_of[name].get(f"/vms/{name}"))
                get_status[response.status_code] += 1
                get_ms.append(ms)

            list_ms, listed = [], []
            for _ in range(5):
                ms, response = timed(lambda: admin.get("/vms"))
                listed.append(len(response.raise_for_status().json()["value"]))
                list_ms.append(ms)
            import_s = cold_import(stack.app_env(), args.imports)
        finally:
            for made in clients:
                made.close()
            stack.stop()

    checks = {
        f"all {args.list_size} creates accepted (202)": create_status == {202: args.list_size},
        f"all {args.gets} GETs answered 200": get_status == {200: args.gets},
        "create handlers make no ARM write and wait on nothing": set(handler_arm) <= {"VirtualMachineSizes_List"},
        f"the admin lists all {args.list_size} VMs": set(listed) == {args.list_size},
    }
    results = {
        "owners": len(owners),
        "create_accept_ms": {
            "p50": round(percentile(create_ms, 0.5), 1),
            "p99": round(percentile(create_ms, 0.99), 1),
            "n": len(create_ms),
        },
        "create_status": dict(create_status),
        "profile": args.profile,
        "sim_speed": args.sim_speed,
        "arm_requests_in_create_handlers": handler_arm,
        # Measured from each create's acceptance, so the later ones include the queue they waited in.
        "create_to_running_s": {
            "p50": round(percentile(running_s, 0.5), 2),
            "p99": round(percentile(running_s, 0.99), 2),
            "n": len(running_s),
        },
        "get_vm_ms": {
            "p50": round(percentile(get_ms, 0.5), 1),
            "p99": round(percentile(get_ms, 0.99), 1),
            "n": len(get_ms),
        },
        "list_vms_ms": {
            "vms": args.list_size,
            # the first list after a change fetches ARM's list; the next reuse it (<=10 s)
            "first": round(list_ms[0], 1),
            "median": round(statistics.median(list_ms), 1),
        },
        "cold_import_function_app_s": {"median": round(import_s, 3), "runs": args.imports, "command": IMPORT_COMMAND},
        "checks": checks,
    }
    print(json.dumps(results, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
