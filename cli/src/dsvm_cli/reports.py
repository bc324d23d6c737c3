"""What things cost: sizes with their prices, and a month's costs per VM and per owner."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import click

from dsvm_cli.options import common, connect
from dsvm_cli.render import Out, hourly, money

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_month(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not MONTH.match(value):
        raise click.BadParameter(f"{value!r} is not a month such as 2026-11")
    return value


@click.command()
@common
def sizes(output: str) -> None:
    """The sizes you may create, with vCPUs, memory and hourly price."""
    body = connect().json("GET", "sizes")
    out = Out(output)
    if out.is_json:
        out.json(body)
        return
    rows: list[list[Any]] = [
        [
            str(size.get("name")),
            "?" if size.get("vcpus") is None else str(size["vcpus"]),
            "?" if size.get("memory_gib") is None else f"{size['memory_gib']:g} GiB",
            "unknown" if size.get("hourly_usd") is None else hourly(size["hourly_usd"]),
        ]
        for size in body.get("value", [])
    ]
    out.line(f"Sizes you may create in {body.get('region')} (Linux pay-as-you-go list prices):")
    out.table(["SIZE", "VCPUS", "MEMORY", "PRICE"], rows, "None: ask an admin to allow some sizes.")


@click.command()
@click.option("--month", callback=check_month, metavar="YYYY-MM", help="A calendar month, UTC [default: this one].")
@click.option("--owner", metavar="EMAIL", help="Admins: only this person's VMs.")
@common
def costs(month: str | None, owner: str | None, output: str) -> None:
    """Cost per VM and per owner for a month."""
    params = {key: value for key, value in (("month", month), ("owner", owner)) if value}
    body = connect().json("GET", "costs", params=params)
    out = Out(output)
    if out.is_json:
        out.json(body)
        return
    rows = body.get("by_vm", [])
    # A name deleted and created again within the month is two VMs: the record id tells them apart.
    repeated = {name for name, count in Counter(str(row.get("name")) for row in rows).items() if count > 1}
    vm_rows: list[list[Any]] = [
        [
            f"{row['name']} ({str(row['id'])[:8]})"
            if row.get("name") in repeated and row.get("id")
            else str(row.get("name")),
            str(row.get("owner")),
            money(row.get("usd")),
        ]
        for row in rows
    ]
    out.table(["VM", "OWNER", "COST"], vm_rows, f"No costs recorded for {body.get('month')}.")
    owners = body.get("by_owner", {})
    if len(owners) > 1:
        out.line()
        out.table(["OWNER", "COST"], [[owner, money(usd)] for owner, usd in owners.items()], "")
    out.line(f"{body.get('month')} total {money(body.get('total_usd'))}", style="bold")
