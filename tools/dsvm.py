"""dsvm: the command line for the DSVM control plane (a thin client of its HTTP API; stdlib only).

It reads DSVM_API and DSVM_TOKEN from the environment, or from .devstack/env when `make dev` runs.

  dsvm list [--owner EMAIL] [--deleted]   your VMs (admins: everyone's, or one owner's)
  dsvm create NAME --size SIZE [--key ~/.ssh/id_ed25519.pub] [--cidr 203.0.113.7/32] [--ttl 8] [--budget 40]
  dsvm show NAME                          state, URLs, ssh command, cost so far
  dsvm start|stop|restart|delete NAME     stop deallocates (compute billing stops)
  dsvm snooze NAME --hours N              hold off automatic stops (not budget caps)
  dsvm events NAME                        the audit trail, newest first
  dsvm sizes | dsvm costs [--month YYYY-MM] | dsvm me
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ENV_FILE = Path(__file__).resolve().parent.parent / ".devstack" / "env"


def config() -> tuple[str, str]:
    values = dict(os.environ)
    if ("DSVM_API" not in values or "DSVM_TOKEN" not in values) and ENV_FILE.exists():
        # Values are shell-quoted (KEY='value'); shlex undoes the quoting as sh does.
        for line in ENV_FILE.read_text().splitlines():
            for word in shlex.split(line, comments=True):
                key, _, value = word.partition("=")
                values.setdefault(key, value)
    if "DSVM_API" not in values or "DSVM_TOKEN" not in values:
        raise SystemExit("set DSVM_API and DSVM_TOKEN (or run `make dev`, which writes .devstack/env)")
    return values["DSVM_API"].rstrip("/"), values["DSVM_TOKEN"]


def call(method: str, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    api, token = config()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{api}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        problem = json.loads(error.read() or b"{}")
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in problem.get("errors", []))
        raise SystemExit(
            f"{error.code} {problem.get('title', '')}: {problem.get('detail', '')} {fields}".strip()
        ) from None
    return json.loads(raw) if raw else None


def show(vm: dict[str, Any]) -> None:
    print(f"{vm['name']}  {vm['state']} ({vm.get('power_state') or '-'})  {vm['size']}  owner {vm['owner']}")
    for label, key in (("JupyterHub", "jupyterhub_url"), ("RStudio", "rstudio_url"), ("ssh", "ssh")):
        if vm.get(key):
            print(f"  {label:<10} {vm[key]}")
    burn = vm.get("burn_usd_per_hour")
    print(f"  cost so far ${vm['cost_usd']:.2f}" + (f", ${burn:.3f}/h now" if burn is not None else ""))
    print(
        f"  keep until {vm['keep_until']}"
        + (f", snoozed until {vm['snoozed_until']}" if vm.get("snoozed_until") else "")
    )
    if vm.get("error_code"):
        print(f"  error {vm['error_code']}: {vm.get('error_message')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dsvm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="your VMs")
    listing.add_argument("--owner", help="admins: only this owner's VMs")
    listing.add_argument("--deleted", action="store_true", help="include deleted VMs (tombstones)")
    create = commands.add_parser("create", help="create a Data Science VM")
    create.add_argument("name")
    create.add_argument("--size", required=True, help="see `dsvm sizes`")
    create.add_argument("--key", type=Path, default=Path.home() / ".ssh" / "id_ed25519.pub", help="SSH public key file")
    create.add_argument("--cidr", action="append", help="who may connect (default: your address /32)")
    create.add_argument("--ttl", type=int, help="hours until it is stopped automatically")
    create.add_argument("--budget", type=float, help="USD after which it is deallocated")
    create.add_argument("--disk", type=int, help="OS disk size in GB")
    for name in ("show", "start", "stop", "restart", "delete", "events"):
        commands.add_parser(name).add_argument("name")
    snooze = commands.add_parser("snooze", help="hold off automatic stops")
    snooze.add_argument("name")
    snooze.add_argument("--hours", type=float, required=True)
    costs = commands.add_parser("costs", help="cost per VM and per owner for a month")
    costs.add_argument("--month", help="YYYY-MM (default: this month)")
    commands.add_parser("sizes", help="sizes you may create, with prices")
    commands.add_parser("me", help="who you are and your usage")
    args = parser.parse_args(argv)

    if args.command == "list":
        query = urllib.parse.urlencode(
            {"include_deleted": str(args.deleted).lower(), **({"owner": args.owner} if args.owner else {})}
        )
        for vm in call("GET", f"/vms?{query}")["value"]:
            print(
                f"{vm['name']:<40} {vm['state']:<10} {vm.get('power_state') or '-':<12} {vm['size']:<18} {vm['owner']}"
            )
    elif args.command == "create":
        body: dict[str, Any] = {"name": args.name, "size": args.size, "ssh_public_key": args.key.read_text().strip()}
        for key, value in (
            ("allowed_cidrs", args.cidr),
            ("ttl_hours", args.ttl),
            ("budget_usd", args.budget),
            ("os_disk_gb", args.disk),
        ):
            if value is not None:
                body[key] = value
        show(call("POST", "/vms", body, {"Idempotency-Key": uuid.uuid4().hex}))
        print(f"creating; `dsvm show {args.name}` until it is Running")
    elif args.command in ("show",):
        show(call("GET", f"/vms/{args.name}"))
    elif args.command in ("start", "stop", "restart"):
        show(call("POST", f"/vms/{args.name}/{args.command}"))
    elif args.command == "delete":
        show(call("DELETE", f"/vms/{args.name}"))
    elif args.command == "snooze":
        show(call("POST", f"/vms/{args.name}/snooze", {"hours": args.hours}))
    elif args.command == "events":
        for event in call("GET", f"/vms/{args.name}/events")["value"]:
            print(f"{event['time']}  {event['actor']:<28} {event['action']:<10} {event['reason']}")
    elif args.command == "costs":
        report = call("GET", "/costs" + (f"?month={args.month}" if args.month else ""))
        for row in report["by_vm"]:
            print(f"{row['name']:<40} {row['owner']:<32} ${row['usd']:.2f}")
        print(f"{report['month']} total ${report['total_usd']:.2f}")
    elif args.command == "sizes":
        for size in call("GET", "/sizes")["value"]:
            price = f"${size['hourly_usd']:.3f}/h" if size["hourly_usd"] is not None else "price unknown"
            print(f"{size['name']:<20} {size['vcpus'] or '?':>3} vCPU {size['memory_gib'] or '?':>5} GiB  {price}")
    else:
        print(json.dumps(call("GET", "/me"), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
